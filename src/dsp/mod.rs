//! DSP stages: the `Stage` contract, the `Chain` that strings stages together, and
//! `AlignedChain`, which trims a chain's latency so output stays sample-locked to input.

pub mod biquad;
pub mod compressor;
pub mod deepfilter;
pub mod deess;
pub mod denoise;
pub mod envelope;
pub mod fir;
pub mod highpass;
pub mod leveler;
pub mod limiter;
pub mod resample;
pub mod speech;
pub mod truepeak;
pub mod twopass;

#[cfg(test)]
pub(crate) mod testutil;

use std::ops::Range;

/// One processing stage. Planar f32 blocks in ±1.0 full scale, processed in place.
///
/// Contract (tested for every stage): same output whatever block size it is fed, no NaN out
/// whatever comes in, `latency()` is the true delay in frames, `reset()` reproduces output,
/// and `process` neither allocates nor does I/O.
pub trait Stage: Send {
    /// Short stable name used in reports (`"highpass"`, `"denoise"`, ...).
    fn name(&self) -> &'static str;
    /// Allocate state for this rate / channel count / largest block. Called before `process`.
    /// A stage that cannot run on this stream says why: it never silently does nothing.
    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), PrepareError>;
    /// Process `frames` frames of each channel of `block` in place.
    fn process(&mut self, block: &mut [Vec<f32>], frames: usize);
    /// Frames of delay this stage adds (valid after `prepare`).
    fn latency(&self) -> usize;
    /// Forget all signal history (statistics too); output afterwards equals a fresh stage's.
    fn reset(&mut self);
    /// What the stage did so far, as named figures for the report (e.g. max reduction in dB).
    fn metrics(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// The stage's estimate of where speech is, if it makes one (a denoiser does): one
    /// probability in 0..=1 per [`SPEECH_HOP_S`] of the stage's *input* timeline — hop `k`
    /// covers input seconds `[k·hop, (k+1)·hop)`, whatever the stage's own latency or rate.
    /// Hops whose input has not been fully seen yet are not in it.
    fn speech_track(&self) -> Option<&[f32]> {
        None
    }
}

/// Why a stage cannot run on a stream (its rate or channel count, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage} cannot run on this stream: {reason}")]
pub struct PrepareError {
    pub stage: &'static str,
    pub reason: String,
}

/// Length of one hop of a [`Stage::speech_track`], in seconds (RNNoise's and DeepFilterNet's
/// 480 frames at 48 kHz).
pub const SPEECH_HOP_S: f64 = 0.01;

/// Stages run in order; latency is the sum of theirs.
#[derive(Default)]
pub struct Chain {
    stages: Vec<Box<dyn Stage>>,
}

impl Chain {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, stage: Box<dyn Stage>) {
        self.stages.push(stage);
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    pub fn stages(&self) -> &[Box<dyn Stage>] {
        &self.stages
    }

    /// The first speech estimate a stage of the chain makes, with the latency (in frames) of
    /// the stages before it: hop `k` of the track covers chain-input seconds
    /// `[k·hop, (k+1)·hop)` shifted by that latency, i.e. it describes the chain's aligned
    /// output at the same times once the upstream latency is subtracted.
    pub fn speech_track(&self) -> Option<(&[f32], usize)> {
        let mut upstream = 0;
        for stage in &self.stages {
            if let Some(track) = stage.speech_track() {
                return Some((track, upstream));
            }
            upstream += stage.latency();
        }
        None
    }
}

impl Stage for Chain {
    fn name(&self) -> &'static str {
        "chain"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), PrepareError> {
        for stage in &mut self.stages {
            stage.prepare(sample_rate, channels, max_block)?;
        }
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        for stage in &mut self.stages {
            stage.process(block, frames);
        }
    }

    fn latency(&self) -> usize {
        self.stages.iter().map(|s| s.latency()).sum()
    }

    fn reset(&mut self) {
        for stage in &mut self.stages {
            stage.reset();
        }
    }
}

/// Runs a stage (usually a `Chain`) so that its output is aligned with its input: the first
/// `latency()` output frames are dropped and the tail is flushed with silence, so N frames in
/// give exactly N frames out with zero time shift.
pub struct AlignedChain<S: Stage> {
    stage: S,
    skip_left: usize,
    flush_left: usize,
    max_block: usize,
}

impl<S: Stage> AlignedChain<S> {
    pub fn new(mut stage: S, sample_rate: u32, channels: usize, max_block: usize) -> Result<Self, PrepareError> {
        stage.prepare(sample_rate, channels, max_block)?;
        let latency = stage.latency();
        Ok(Self {
            stage,
            skip_left: latency,
            flush_left: latency,
            max_block,
        })
    }

    pub fn stage(&self) -> &S {
        &self.stage
    }

    pub fn latency(&self) -> usize {
        self.stage.latency()
    }

    /// Processes `frames` input frames in place; returns the range of `block` that holds
    /// aligned output (possibly empty while the latency is being consumed).
    pub fn process(&mut self, block: &mut [Vec<f32>], frames: usize) -> Range<usize> {
        debug_assert!(frames <= self.max_block);
        self.stage.process(block, frames);
        let start = self.skip_left.min(frames);
        self.skip_left -= start;
        start..frames
    }

    /// Feeds silence to push out the delayed tail. Call until it returns `None`; each
    /// `Some(range)` is aligned output in `block` to emit after everything else.
    pub fn flush(&mut self, block: &mut [Vec<f32>]) -> Option<Range<usize>> {
        if self.flush_left == 0 {
            return None;
        }
        let frames = self.flush_left.min(self.max_block);
        for channel in block.iter_mut() {
            channel[..frames].fill(0.0);
        }
        self.flush_left -= frames;
        Some(self.process(block, frames))
    }
}

/// Replaces NaN and ±Inf with silence and returns how many samples were replaced.
pub fn sanitize(block: &mut [Vec<f32>], frames: usize) -> usize {
    let mut replaced = 0;
    for channel in block.iter_mut() {
        for sample in &mut channel[..frames] {
            if !sample.is_finite() {
                *sample = 0.0;
                replaced += 1;
            }
        }
    }
    replaced
}

/// Checks a setting's range; the error names the key, the range and the bad value, e.g.
/// "compressor.ratio must be between 1 and 20, got 0.1".
pub fn check_range(key: &str, value: f64, min: f64, max: f64) -> Result<(), String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{key} must be between {min} and {max}, got {value}"))
    }
}

/// Converts decibels to a linear amplitude factor.
#[inline]
pub fn db_to_amp(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Converts a linear amplitude factor to decibels (`-inf` for zero).
#[inline]
pub fn amp_to_db(amp: f64) -> f64 {
    20.0 * amp.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pure delay of `n` frames: the simplest stage with latency.
    struct Delay {
        n: usize,
        lines: Vec<std::collections::VecDeque<f32>>,
    }

    impl Stage for Delay {
        fn name(&self) -> &'static str {
            "delay"
        }
        fn prepare(&mut self, _: u32, channels: usize, _: usize) -> Result<(), PrepareError> {
            self.lines = vec![std::iter::repeat_n(0.0, self.n).collect(); channels];
            Ok(())
        }
        fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
            for (line, channel) in self.lines.iter_mut().zip(block.iter_mut()) {
                for s in &mut channel[..frames] {
                    line.push_back(*s);
                    *s = line.pop_front().unwrap_or(0.0);
                }
            }
        }
        fn latency(&self) -> usize {
            self.n
        }
        fn reset(&mut self) {}
    }

    #[test]
    fn aligned_chain_removes_latency_and_keeps_length() {
        for (delay, len, block) in [(0, 100, 7), (5, 100, 7), (37, 20, 8), (300, 1000, 64)] {
            let mut chain = Chain::new();
            chain.push(Box::new(Delay {
                n: delay,
                lines: Vec::new(),
            }));
            let mut aligned = AlignedChain::new(chain, 48_000, 1, block).unwrap();
            let input: Vec<f32> = (0..len).map(|i| i as f32 + 1.0).collect();
            let mut out = Vec::new();
            let mut buf = vec![vec![0.0; block]];
            for chunk in input.chunks(block) {
                buf[0][..chunk.len()].copy_from_slice(chunk);
                let r = aligned.process(&mut buf, chunk.len());
                out.extend_from_slice(&buf[0][r]);
            }
            while let Some(r) = aligned.flush(&mut buf) {
                out.extend_from_slice(&buf[0][r]);
            }
            assert_eq!(out, input, "delay {delay} len {len} block {block}");
        }
    }

    #[test]
    fn sanitize_replaces_non_finite() {
        let mut block = vec![vec![1.0, f32::NAN, f32::INFINITY, -f32::INFINITY, 0.5]];
        assert_eq!(sanitize(&mut block, 5), 3);
        assert_eq!(block[0], vec![1.0, 0.0, 0.0, 0.0, 0.5]);
    }
}
