//! The "measure in pass A, apply in pass B" stage shape, for decisions that need the whole
//! file (a leveler's gain curve): analysis sees the cleaned audio once, a plan is made
//! between the passes, and pass B applies it — any number of times, with zero latency.
//!
//! Life of a [`TwoPassStage`] for one file:
//!
//! 1. `prepare(rate, channels, max_block)`, which may refuse the stream;
//! 2. pass A: `analyze(block, range)` for every aligned frame of the cleaned audio, in order
//!    (exactly what pass B will read back from the spool);
//! 3. between the passes: `plan(speech)` once, with the cleanup chain's speech estimate if a
//!    stage made one. It may fail: the file then fails with that sentence;
//! 4. pass B, repeated for each rerun: `rewind()`, then `apply(block, frames)` for every
//!    frame in order. `apply` is a function of the absolute frame position only, so output is
//!    the same for any block size and any rerun; it adds no latency and keeps the length.
//!
//! State kept between the passes must be small per second of audio (a value per 10 ms is
//! 1.4 MB an hour, not the audio itself).

use std::ops::Range;

use super::PrepareError;

/// A stage's speech estimate as a two-pass stage receives it (see
/// [`crate::dsp::Stage::speech_track`]): one probability in 0..=1 per `hop_s` seconds.
/// Hop `k` describes the aligned (latency-trimmed) audio at seconds
/// `[k·hop_s − offset_s, (k+1)·hop_s − offset_s)`.
#[derive(Debug, Clone, Copy)]
pub struct SpeechEstimate<'a> {
    pub probability: &'a [f32],
    pub hop_s: f64,
    /// The latency of the stages before the one that made the estimate, in seconds.
    pub offset_s: f64,
}

impl SpeechEstimate<'_> {
    /// The probability at `seconds` of the aligned audio (`None` outside the track).
    pub fn at(&self, seconds: f64) -> Option<f32> {
        let index = ((seconds + self.offset_s) / self.hop_s).floor();
        if index < 0.0 {
            return None;
        }
        self.probability.get(index as usize).copied()
    }
}

/// A stage that measures the whole file in pass A and applies its plan in pass B (module
/// documentation). Planar f32 blocks in ±1.0 full scale; neither `analyze` nor `apply`
/// allocates or does I/O.
pub trait TwoPassStage: Send {
    /// Short stable name used in reports.
    fn name(&self) -> &'static str;
    /// Allocates state for this rate / channel count / largest block. Called first. A stage
    /// that cannot run on this stream says why, as a [`Stage`](super::Stage) does.
    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), PrepareError>;
    /// Pass A: `range` of each channel of `block` is the next stretch of the file.
    fn analyze(&mut self, block: &[Vec<f32>], range: Range<usize>);
    /// Between the passes: turns what `analyze` saw into what `apply` will do.
    fn plan(&mut self, speech: Option<SpeechEstimate>) -> Result<(), String>;
    /// Pass B starts again from the first frame.
    fn rewind(&mut self);
    /// Pass B: processes the next `frames` frames of each channel of `block` in place.
    fn apply(&mut self, block: &mut [Vec<f32>], frames: usize);
    /// By how much (dB) the plan changes the integrated loudness (BS.1770) of the audio it
    /// was fed, so a loudness gain can be computed before pass B runs. Valid after `plan`.
    fn loudness_change_db(&self) -> f64 {
        0.0
    }
    /// Named figures for the report (valid after `plan`).
    fn metrics(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// Test helpers for two-pass stages: the whole life cycle with any block size.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Runs `input` through analysis (blocks of `analyze_block`), `plan`, then `apply` (blocks
    /// of `apply_block`); returns the output.
    pub fn run_two_pass(
        stage: &mut dyn TwoPassStage,
        input: &[Vec<f32>],
        sample_rate: u32,
        speech: Option<SpeechEstimate>,
        analyze_block: usize,
        apply_block: usize,
    ) -> Vec<Vec<f32>> {
        stage
            .prepare(sample_rate, input.len(), analyze_block.max(apply_block))
            .expect("prepare");
        let len = input[0].len();
        let mut buf = vec![vec![0.0f32; analyze_block.max(apply_block)]; input.len()];
        for start in (0..len).step_by(analyze_block) {
            let n = analyze_block.min(len - start);
            // Write at an offset inside the block to prove `range` is honoured.
            let offset = usize::from(n < buf[0].len());
            for (b, x) in buf.iter_mut().zip(input) {
                b[offset..offset + n].copy_from_slice(&x[start..start + n]);
            }
            stage.analyze(&buf, offset..offset + n);
        }
        stage.plan(speech).expect("plan");
        apply_only(stage, input, apply_block)
    }

    /// Rewinds and runs pass B alone.
    pub fn apply_only(stage: &mut dyn TwoPassStage, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
        stage.rewind();
        let len = input[0].len();
        let mut buf = vec![vec![0.0f32; block]; input.len()];
        let mut out = vec![Vec::with_capacity(len); input.len()];
        for start in (0..len).step_by(block) {
            let n = block.min(len - start);
            for (b, x) in buf.iter_mut().zip(input) {
                b[..n].copy_from_slice(&x[start..start + n]);
            }
            stage.apply(&mut buf, n);
            for (o, b) in out.iter_mut().zip(&buf) {
                o.extend_from_slice(&b[..n]);
            }
        }
        out
    }

    /// Asserts that output does not depend on the analysis or apply block size (1, 7, 480,
    /// 4096) and that a rewound rerun reproduces it.
    pub fn assert_two_pass_block_size_invariant(
        make: &dyn Fn() -> Box<dyn TwoPassStage>,
        sample_rate: u32,
        input: &[Vec<f32>],
    ) {
        let mut reference_stage = make();
        let reference = run_two_pass(reference_stage.as_mut(), input, sample_rate, None, 4096, 4096);
        for &block in &crate::dsp::testutil::BLOCK_SIZES {
            let mut stage = make();
            let out = run_two_pass(stage.as_mut(), input, sample_rate, None, block, 4096);
            assert_eq!(out, reference, "{}: analysis block size {block} differs", stage.name());
            let out = apply_only(stage.as_mut(), input, block);
            assert_eq!(out, reference, "{}: apply block size {block} differs", stage.name());
        }
        let again = apply_only(reference_stage.as_mut(), input, 4096);
        assert_eq!(again, reference, "{}: a rerun differs", reference_stage.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_estimate_maps_aligned_time_through_the_offset() {
        let probability = [0.0, 0.1, 0.2, 0.3];
        let estimate = SpeechEstimate {
            probability: &probability,
            hop_s: 0.01,
            offset_s: 0.015,
        };
        // Aligned 0 s is 15 ms into the track: hop 1.
        assert_eq!(estimate.at(0.0), Some(0.1));
        assert_eq!(estimate.at(0.006), Some(0.2));
        assert_eq!(estimate.at(-0.01), Some(0.0));
        assert_eq!(estimate.at(-0.02), None);
        assert_eq!(estimate.at(0.03), None);
    }
}
