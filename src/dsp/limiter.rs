//! Look-ahead true-peak limiter: the last stage before the encoder, so that after the loudness
//! gain no output exceeds the true-peak ceiling, as an independent meter measures it.
//!
//! How the gain is made (all channels share it):
//!
//! 1. [`TruePeakDetector`] gives, per frame, the true peak `tp` of the interval around it; the
//!    required gain is `r = min(1, threshold / tp)`, kept as a deficit `1 − r`.
//! 2. A sliding maximum of the deficit over `W = L + 2H` frames (monotonic deque), where `L` is
//!    the look-ahead and `H` the detector's half support: every frame within `H` of a peak gets
//!    the peak's gain too, so the gain is flat across the interpolation filter of a meter.
//! 3. Instant attack; release never above the sliding maximum, multiplying the gain by
//!    `1 + c·(1 − gain)` per frame: exponential with time constant `release_ms` near unity
//!    gain, and no faster than 8.7 dB per time constant from deep reductions (a release that is
//!    exponential in linear gain would climb out of −30 dB in a few milliseconds).
//! 4. A moving average of length `L`. Every value averaged into the gain of a peak's frame is
//!    at least the peak's deficit, so the gain there is at most `r`.
//! 5. The audio is delayed by `detector latency + (L − 1) + H` to line up.
//!
//! `L` is `lookahead_ms` rounded to frames, but at least the detector's support (32 frames:
//! 4 ms at 8 kHz, 0.7 ms at 48 kHz).
//!
//! When no peak exceeds the threshold every deficit is exactly 0 and the gain exactly 1.0: the
//! signal passes bit-exactly, only delayed.

use super::truepeak::TruePeakDetector;
use super::{amp_to_db, db_to_amp, Stage};

/// Default look-ahead (= attack time). 5 ms keeps attacks on speech free of clicks.
pub const DEFAULT_LOOKAHEAD_MS: f64 = 5.0;
/// Default release time constant.
pub const DEFAULT_RELEASE_MS: f64 = 100.0;
/// Default internal safety margin under the ceiling. The detector reads at least as high as
/// the `ebur128` crate's meter and (within 0.0013 dB) FFmpeg's; the margin covers that and
/// the residual effect of gain changes near (not at) a peak. Measured worst overshoot of
/// `ceiling − margin` on overdriven speech-like noise, noise bursts and tones at 8–96 kHz:
/// 0.002 dB at the defaults, 0.006 dB (FFmpeg, 88.2 kHz) with 1–2 ms of look-ahead.
pub const DEFAULT_MARGIN_DB: f64 = 0.02;

/// Deficits (1 − gain) that the release has decayed below this are taken as 0, so the gain
/// returns to exactly 1.0 (≈ 14 release time constants after it is within a few dB of it).
const RELEASE_SNAP: f64 = 1.0 / (1u64 << 20) as f64;

/// A look-ahead, channel-linked true-peak limiter.
pub struct Limiter {
    ceiling_dbtp: f64,
    lookahead_ms: f64,
    release_ms: f64,
    margin_db: f64,
    /// `ceiling − margin`, linear.
    threshold: f32,
    /// Release per frame: c = 1 − e^(−1/τ).
    release_rate: f64,
    detector: Option<TruePeakDetector>,
    /// Look-ahead `L` and hold `H`, in frames.
    lookahead: usize,
    hold: usize,
    latency: usize,
    /// Per-block scratch: detector readings, then gains.
    peaks: Vec<f32>,
    gains: Vec<f32>,
    /// Sliding maximum of deficits over `W` frames: ring of (frame, deficit) with a
    /// power-of-two length, zeros never stored (an empty deque means 0).
    deque: Vec<(u64, f64)>,
    deque_head: usize,
    deque_len: usize,
    frame: u64,
    /// Deficit after attack/release.
    deficit: f64,
    /// Moving average of the last `L` deficits: ring, sum, and count of non-zero entries.
    box_ring: Vec<f64>,
    box_pos: usize,
    box_sum: f64,
    box_nonzero: usize,
    /// Per-channel delay lines of `latency` frames.
    delay: Vec<Vec<f32>>,
    delay_pos: usize,
    /// Smallest gain applied so far.
    min_gain: f32,
    /// Output energy (sum of squares over channels) of frames the limiter left alone, and of
    /// all frames.
    untouched_energy: f64,
    total_energy: f64,
}

impl Limiter {
    /// A limiter holding true peaks at or below `ceiling_dbtp` (minus the safety margin), with
    /// `lookahead_ms` of look-ahead (also the attack time) and a release time constant of
    /// `release_ms` (0 = as fast as the release law allows). Latency after `prepare`:
    /// `L + 31` frames, `L` = `lookahead_ms` in frames (at least 32).
    pub fn new(ceiling_dbtp: f64, lookahead_ms: f64, release_ms: f64) -> Self {
        assert!(
            ceiling_dbtp.is_finite(),
            "ceiling_dbtp must be finite, got {ceiling_dbtp}"
        );
        assert!(
            lookahead_ms.is_finite() && lookahead_ms >= 0.0,
            "lookahead_ms must be >= 0, got {lookahead_ms}"
        );
        assert!(
            release_ms.is_finite() && release_ms >= 0.0,
            "release_ms must be >= 0, got {release_ms}"
        );
        Self {
            ceiling_dbtp,
            lookahead_ms,
            release_ms,
            margin_db: DEFAULT_MARGIN_DB,
            threshold: db_to_amp(ceiling_dbtp - DEFAULT_MARGIN_DB) as f32,
            release_rate: 1.0,
            detector: None,
            lookahead: 1,
            hold: 0,
            latency: 0,
            peaks: Vec::new(),
            gains: Vec::new(),
            deque: Vec::new(),
            deque_head: 0,
            deque_len: 0,
            frame: 0,
            deficit: 0.0,
            box_ring: Vec::new(),
            box_pos: 0,
            box_sum: 0.0,
            box_nonzero: 0,
            delay: Vec::new(),
            delay_pos: 0,
            min_gain: 1.0,
            untouched_energy: 0.0,
            total_energy: 0.0,
        }
    }

    /// Sets the internal safety margin in dB under the ceiling (default
    /// [`DEFAULT_MARGIN_DB`]). The pipeline raises it when verification of the written file
    /// finds a true peak over the ceiling. Takes effect immediately.
    pub fn with_margin_db(mut self, margin_db: f64) -> Self {
        self.set_margin_db(margin_db);
        self
    }

    /// See [`Limiter::with_margin_db`].
    pub fn set_margin_db(&mut self, margin_db: f64) {
        assert!(
            margin_db.is_finite() && margin_db >= 0.0,
            "margin_db must be >= 0, got {margin_db}"
        );
        self.margin_db = margin_db;
        self.threshold = db_to_amp(self.ceiling_dbtp - margin_db) as f32;
        if let Some(detector) = self.detector.as_mut() {
            detector.set_floor(self.threshold);
        }
    }

    pub fn ceiling_dbtp(&self) -> f64 {
        self.ceiling_dbtp
    }

    pub fn margin_db(&self) -> f64 {
        self.margin_db
    }

    /// Largest gain reduction applied so far, in dB (0.0 if none).
    pub fn max_reduction_db(&self) -> f64 {
        0.0 - amp_to_db(self.min_gain.max(f32::MIN_POSITIVE) as f64)
    }

    /// Share of the output's energy in frames the limiter did not touch (1.0 when it never
    /// acted). Raising the input gain by δ dB raises those frames by δ dB while the frames it
    /// holds at the threshold stay put, so this is a lower bound on the slope of output
    /// loudness over input gain (frames in release grow too).
    pub fn untouched_energy_share(&self) -> f64 {
        if self.total_energy > 0.0 {
            self.untouched_energy / self.total_energy
        } else {
            1.0
        }
    }

    /// Estimated slope of output loudness over input gain (dB per dB) around the current gain,
    /// for the first step of a loudness search: the untouched share, raised towards 1 for the
    /// frames in release (exponent fitted on speech limited by 2–7 dB, measured slopes 0.46–0.84),
    /// and never below 0.5 so a wrong guess overshoots by at most the miss itself.
    pub fn loudness_slope_estimate(&self) -> f64 {
        self.untouched_energy_share().powf(0.75).clamp(0.5, 1.0)
    }

    /// Computes one gain per frame from the detector readings in `self.peaks[..frames]`.
    fn compute_gains(&mut self, frames: usize) {
        let threshold = self.threshold;
        let window = (self.lookahead + 2 * self.hold) as u64;
        let release_rate = self.release_rate;
        let inv_len = 1.0 / self.lookahead as f64;
        // State in locals for the loop (the compiler cannot keep fields of `self` in
        // registers across the slice writes); written back below.
        let deque = &mut self.deque[..];
        let mask = deque.len() - 1;
        let box_ring = &mut self.box_ring[..];
        let (mut head, mut len, mut t) = (self.deque_head, self.deque_len, self.frame);
        let (mut deficit, mut box_pos, mut box_sum, mut box_nonzero) =
            (self.deficit, self.box_pos, self.box_sum, self.box_nonzero);
        let mut min_gain = self.min_gain;
        for (&peak, gain) in self.peaks[..frames].iter().zip(&mut self.gains[..frames]) {
            // 1. Required deficit; 2. sliding maximum over the window.
            if peak > threshold {
                let need = 1.0 - threshold as f64 / peak as f64;
                while len > 0 && deque[(head + len - 1) & mask].1 <= need {
                    len -= 1;
                }
                deque[(head + len) & mask] = (t, need);
                len += 1;
            }
            if len > 0 && deque[head].0 + window <= t {
                head = (head + 1) & mask;
                len -= 1;
            }
            let held = if len > 0 { deque[head].1 } else { 0.0 };
            t += 1;
            // 3. Instant attack; release multiplies the gain by 1 + c·(1 − gain) per frame:
            // exponential (time constant τ) near unity, at most 8.7 dB per τ from deep down.
            let released = deficit * (1.0 - release_rate * (1.0 - deficit));
            let released = if released < RELEASE_SNAP { 0.0 } else { released };
            deficit = if held > released { held } else { released };
            // 4. Moving average.
            let old = box_ring[box_pos];
            box_ring[box_pos] = deficit;
            box_pos += 1;
            if box_pos == box_ring.len() {
                box_pos = 0;
            }
            box_nonzero = box_nonzero + usize::from(deficit > 0.0) - usize::from(old > 0.0);
            *gain = if box_nonzero == 0 {
                box_sum = 0.0;
                1.0
            } else {
                box_sum += deficit - old;
                (1.0 - box_sum * inv_len).max(0.0) as f32
            };
            if *gain < min_gain {
                min_gain = *gain;
            }
        }
        (self.deque_head, self.deque_len, self.frame) = (head, len, t);
        (self.deficit, self.box_pos, self.box_sum, self.box_nonzero) = (deficit, box_pos, box_sum, box_nonzero);
        self.min_gain = min_gain;
    }
}

impl Stage for Limiter {
    fn name(&self) -> &'static str {
        "limiter"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), super::PrepareError> {
        let max_block = max_block.max(1);
        let mut detector = TruePeakDetector::new(sample_rate, channels, max_block);
        // Only readings above the threshold change the gain, so the detector may skip quiet
        // stretches.
        detector.set_floor(self.threshold);
        // Never shorter than the interpolation filter's support: a gain that moves faster
        // than that changes the waveform a meter reconstructs between samples (measured:
        // 8 frames of look-ahead overshoot the threshold by up to 0.017 dB, 32 by 0.005).
        self.lookahead = ((self.lookahead_ms * sample_rate as f64 / 1000.0).round() as usize).max(detector.support());
        self.hold = detector.support() / 2;
        self.latency = detector.latency() + self.lookahead - 1 + self.hold;
        self.detector = Some(detector);
        let release_frames = self.release_ms * sample_rate as f64 / 1000.0;
        self.release_rate = if release_frames > 0.0 {
            -(-1.0 / release_frames).exp_m1()
        } else {
            1.0
        };
        self.peaks = vec![0.0; max_block];
        self.gains = vec![1.0; max_block];
        // The deque never holds more than W entries.
        let capacity = (self.lookahead + 2 * self.hold + 1).next_power_of_two();
        self.deque = vec![(0, 0.0); capacity];
        self.box_ring = vec![0.0; self.lookahead];
        self.delay = vec![vec![0.0; self.latency]; channels];
        self.reset();
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        let Some(detector) = self.detector.as_mut() else {
            panic!("Limiter::process called before prepare");
        };
        for channel in block.iter_mut() {
            for s in &mut channel[..frames] {
                if !s.is_finite() {
                    *s = 0.0;
                }
            }
        }
        detector.process(block, frames, &mut self.peaks);
        self.compute_gains(frames);
        let len = self.latency;
        let gains = &self.gains[..frames];
        for (channel, line) in block.iter_mut().zip(&mut self.delay) {
            // Swap the block through the delay line in contiguous runs, then apply the gain.
            let mut pos = self.delay_pos;
            let mut done = 0;
            while done < frames {
                let run = (frames - done).min(len - pos);
                channel[done..done + run].swap_with_slice(&mut line[pos..pos + run]);
                done += run;
                pos += run;
                if pos == len {
                    pos = 0;
                }
            }
            let (mut untouched, mut total) = (0.0f32, 0.0f32);
            for (s, &g) in channel[..frames].iter_mut().zip(gains) {
                *s *= g;
                let e = *s * *s;
                total += e;
                if g == 1.0 {
                    untouched += e;
                }
            }
            self.untouched_energy += untouched as f64;
            self.total_energy += total as f64;
        }
        self.delay_pos = (self.delay_pos + frames) % len;
    }

    fn latency(&self) -> usize {
        self.latency
    }

    fn reset(&mut self) {
        if let Some(detector) = self.detector.as_mut() {
            detector.reset();
        }
        self.deque_head = 0;
        self.deque_len = 0;
        self.frame = 0;
        self.deficit = 0.0;
        self.box_ring.fill(0.0);
        self.box_pos = 0;
        self.box_sum = 0.0;
        self.box_nonzero = 0;
        for line in &mut self.delay {
            line.fill(0.0);
        }
        self.delay_pos = 0;
        self.min_gain = 1.0;
        self.untouched_energy = 0.0;
        self.total_energy = 0.0;
    }

    fn metrics(&self) -> Vec<(&'static str, f64)> {
        vec![("max_reduction_db", self.max_reduction_db())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{assert_block_size_invariant, assert_survives_garbage, run, sine};
    use crate::dsp::truepeak::measure;
    use crate::dsp::{AlignedChain, Stage};
    use ebur128::{EbuR128, Mode};
    use std::f64::consts::PI;

    /// What a run reports: aligned output, `max_reduction_db()` and `metrics()`.
    struct Run {
        out: Vec<Vec<f32>>,
        reduction_db: f64,
        metrics: Vec<(&'static str, f64)>,
    }

    /// Runs `input` through `limiter` in blocks of `block` frames with its latency trimmed, so
    /// output frame i lines up with input frame i.
    fn limit(limiter: Limiter, rate: u32, input: &[Vec<f32>], block: usize) -> Run {
        let mut aligned = AlignedChain::new(limiter, rate, input.len(), block).unwrap();
        let out = crate::dsp::testutil::run_aligned(&mut aligned, input, block);
        Run {
            out,
            reduction_db: aligned.stage().max_reduction_db(),
            metrics: aligned.stage().metrics(),
        }
    }

    fn db(x: f64) -> f64 {
        amp_to_db(x)
    }

    /// Deterministic white noise, uniform in ±1 (xorshift).
    use crate::dsp::testutil::white_noise;

    /// Asserts two planar signals are bit-identical, naming the first frame that differs.
    fn assert_identical(out: &[Vec<f32>], expected: &[Vec<f32>], what: &str) {
        for (c, (o, e)) in out.iter().zip(expected).enumerate() {
            assert_eq!(o.len(), e.len(), "{what}: channel {c} length");
            if let Some(i) = o.iter().zip(e).position(|(a, b)| a.to_bits() != b.to_bits()) {
                panic!("{what}: channel {c} frame {i}: {} != {}", o[i], e[i]);
            }
        }
    }

    /// True peak (dBTP, max over channels) as the `ebur128` crate measures it.
    fn ebur128_true_peak_db(rate: u32, input: &[Vec<f32>]) -> f64 {
        let mut meter = EbuR128::new(input.len() as u32, rate, Mode::TRUE_PEAK).expect("meter");
        let planar: Vec<&[f32]> = input.iter().map(Vec::as_slice).collect();
        meter.add_frames_planar_f32(&planar).expect("add frames");
        let tail = vec![0.0f32; 64];
        let silence: Vec<&[f32]> = input.iter().map(|_| tail.as_slice()).collect();
        meter.add_frames_planar_f32(&silence).expect("add frames");
        let peak = (0..input.len() as u32)
            .map(|c| meter.true_peak(c).expect("true peak"))
            .fold(0.0, f64::max);
        db(peak)
    }

    /// A +100 dB step (997 Hz sine from −60 to +40 dBFS and back), +20 dB white-noise bursts,
    /// an fs/4 sine at 45° (samples at full scale, waveform at +3 dBTP) and a loud sine near
    /// Nyquist; the two channels differ.
    fn torture(rate: u32) -> Vec<Vec<f32>> {
        let ms = |t: usize| rate as usize * t / 1000;
        let mut left = Vec::new();
        let mut right = Vec::new();
        left.extend(sine(997.0, 0.001, rate, ms(400)));
        left.extend(sine(997.0, 100.0, rate, ms(400)));
        left.extend(sine(997.0, 0.001, rate, ms(200)));
        right.extend(sine(150.0, 0.25, rate, ms(1000)));
        for burst in 0..4 {
            let noise: Vec<f32> = white_noise(ms(30), burst + 1).iter().map(|s| s * 10.0).collect();
            left.extend(&noise);
            left.extend(std::iter::repeat_n(0.0, ms(120)));
            right.extend(std::iter::repeat_n(0.0, ms(75)));
            right.extend(&noise[..ms(15)]);
            right.extend(std::iter::repeat_n(0.0, ms(60)));
        }
        let quarter = |amplitude: f64, len: usize| -> Vec<f32> {
            (0..len)
                .map(|i| (amplitude * (PI / 2.0 * i as f64 + PI / 4.0).sin()) as f32)
                .collect()
        };
        left.extend(quarter(std::f64::consts::SQRT_2, ms(300)));
        right.extend(quarter(1.0, ms(300)));
        left.extend(sine(0.45 * rate as f64, 2.0, rate, ms(200)));
        right.extend(sine(0.3 * rate as f64, 1.5, rate, ms(200)));
        let len = left.len().max(right.len()) + ms(300);
        left.resize(len, 0.0);
        right.resize(len, 0.0);
        vec![left, right]
    }

    #[test]
    fn extreme_input_never_exceeds_the_ceiling() {
        let mut worst_ours = f64::MIN;
        let mut worst_ebur = f64::MIN;
        for rate in [8_000, 44_100, 48_000] {
            let input = torture(rate);
            for ceiling in [-1.0, -2.0] {
                let limiter = Limiter::new(ceiling, DEFAULT_LOOKAHEAD_MS, DEFAULT_RELEASE_MS);
                let Run { out, reduction_db, .. } = limit(limiter, rate, &input, 480);
                assert!(out.iter().flatten().all(|s| s.is_finite()));
                let ours = db(measure(rate, &out) as f64);
                let theirs = ebur128_true_peak_db(rate, &out);
                assert!(
                    ours <= ceiling,
                    "{rate} Hz, ceiling {ceiling}: our detector reads {ours:.4} dBTP"
                );
                assert!(
                    theirs <= ceiling,
                    "{rate} Hz, ceiling {ceiling}: ebur128 reads {theirs:.4} dBTP"
                );
                // ... and no lower than the margin needs (no over-limiting).
                assert!(
                    theirs > ceiling - DEFAULT_MARGIN_DB - 0.01,
                    "{rate} Hz, ceiling {ceiling}: ebur128 reads only {theirs:.4} dBTP"
                );
                // Everything but the −60 dBFS sine was limited; the +40 dBFS sine by ≈ 41 dB.
                assert!(reduction_db > 40.0 - ceiling, "max reduction {reduction_db:.2} dB");
                worst_ours = worst_ours.max(ours - ceiling);
                worst_ebur = worst_ebur.max(theirs - ceiling);
            }
        }
        eprintln!("closest to the ceiling: ours {worst_ours:+.4} dB, ebur128 {worst_ebur:+.4} dB");
    }

    #[test]
    fn untouched_share_predicts_how_output_level_follows_gain() {
        // A steady tone with loud bursts on 10 % of the time: the limiter holds the bursts,
        // so raising the gain raises the output by less than the gain.
        let rate = 48_000;
        let tone = sine(440.0, 0.3, rate, rate as usize * 4);
        let input = [tone
            .iter()
            .enumerate()
            .map(|(i, v)| if (i / 4_800) % 10 == 0 { v * 4.0 } else { *v })
            .collect::<Vec<f32>>()];
        let energy_db = |gain_db: f64| {
            let gain = db_to_amp(gain_db) as f32;
            let scaled: Vec<Vec<f32>> = input.iter().map(|c| c.iter().map(|v| v * gain).collect()).collect();
            let mut aligned = AlignedChain::new(
                Limiter::new(-1.0, DEFAULT_LOOKAHEAD_MS, DEFAULT_RELEASE_MS),
                rate,
                1,
                480,
            )
            .unwrap();
            let out = crate::dsp::testutil::run_aligned(&mut aligned, &scaled, 480);
            let energy: f64 = out[0].iter().map(|&v| (v as f64) * (v as f64)).sum();
            (10.0 * energy.log10(), aligned.stage().loudness_slope_estimate())
        };
        let (low, estimate) = energy_db(0.0);
        let (high, _) = energy_db(1.0);
        let slope = high - low;
        assert!(
            (0.2..0.9).contains(&slope),
            "the limiter should flatten the slope: {slope:.3}"
        );
        assert!(
            (estimate - slope).abs() < 0.1,
            "estimated slope {estimate:.3} vs measured {slope:.3}"
        );
        let (_, idle) = energy_db(-30.0);
        assert_eq!(idle, 1.0);
    }

    #[test]
    fn signal_under_the_ceiling_passes_bit_exactly() {
        let rate = 48_000;
        let input = vec![
            white_noise(50_000, 3).iter().map(|s| s * 0.4).collect::<Vec<f32>>(),
            sine(1_000.0, 0.85, rate, 50_000),
        ];
        let peak = db(measure(rate, &input) as f64);
        assert!(
            (-1.6..-1.0 - DEFAULT_MARGIN_DB).contains(&peak),
            "test signal peaks at {peak:.3} dBTP"
        );
        for block in [1, 480, 4096] {
            let run = limit(Limiter::new(-1.0, 5.0, 100.0), rate, &input, block);
            assert_identical(&run.out, &input, &format!("block {block}"));
            assert_eq!(run.reduction_db, 0.0);
            assert_eq!(run.metrics, vec![("max_reduction_db", 0.0)]);
        }
    }

    #[test]
    fn latency_is_exact() {
        for rate in [8_000, 44_100, 48_000, 96_000] {
            let mut limiter = Limiter::new(-1.0, 5.0, 100.0);
            limiter.prepare(rate, 1, 64).unwrap();
            let lookahead = (5.0 * rate as f64 / 1000.0).round() as usize;
            assert_eq!(limiter.latency(), 2 * 16 + lookahead - 1, "{rate} Hz");
            // Look-ahead never shorter than the detector's 32-frame support.
            let mut short = Limiter::new(-1.0, 0.1, 100.0);
            short.prepare(rate, 1, 64).unwrap();
            assert_eq!(
                short.latency(),
                2 * 16 + 32.max((0.1 * rate as f64 / 1000.0).round() as usize) - 1
            );
            let mut input = vec![vec![0.0f32; 3_000]];
            input[0][1_234] = 0.5;
            for block in [1, 7, 64] {
                let out = limit(Limiter::new(-1.0, 5.0, 100.0), rate, &input, block).out;
                assert_identical(&out, &input, &format!("{rate} Hz, block {block}"));
            }
        }
    }

    #[test]
    fn obeys_the_stage_contract() {
        let rate = 48_000;
        let input = torture(rate)
            .into_iter()
            .map(|c| c[..30_000].to_vec())
            .collect::<Vec<_>>();
        let mut loud = input.clone();
        // Limiting throughout: noise 10 dB over the ceiling.
        loud[0][..10_000].copy_from_slice(&white_noise(10_000, 9).iter().map(|s| s * 3.0).collect::<Vec<_>>());
        assert_block_size_invariant(&|| Box::new(Limiter::new(-1.0, 5.0, 100.0)), rate, &loud);
        assert_block_size_invariant(&|| Box::new(Limiter::new(-2.0, 2.0, 50.0)), 8_000, &input);
        assert_survives_garbage(&|| Box::new(Limiter::new(-1.0, 5.0, 100.0)), rate, 2);
        assert_survives_garbage(&|| Box::new(Limiter::new(-1.0, 0.0, 0.0)), 44_100, 1);
        // Non-finite input comes out as silence, not as NaN, and the limiter carries on.
        let mut limiter = Limiter::new(-1.0, 5.0, 100.0);
        limiter.prepare(rate, 1, 512).unwrap();
        let garbage = [[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30].repeat(256)];
        let out = run(&mut limiter, &garbage, 512);
        assert!(out[0].iter().all(|s| s.is_finite() && s.abs() <= 1.0));
    }

    #[test]
    fn release_restores_unity_gain_away_from_peaks() {
        let rate = 48_000;
        let ceiling = -1.0;
        let len = rate as usize * 7;
        // Program well under the ceiling (≈ −9 dBTP) with three 20 ms bursts of a 480 Hz sine
        // (whole cycles, so no step at their ends) 3 dB over it.
        let mut x: Vec<f32> = white_noise(len, 5).iter().map(|s| s * 0.25).collect();
        let peaks = [rate as usize, rate as usize * 5 / 2, rate as usize * 4];
        let burst = ms_frames(rate, 20.0);
        let over = db_to_amp(ceiling + 3.0) as f32;
        for &p in &peaks {
            for (i, s) in x[p..p + burst].iter_mut().enumerate() {
                *s = over * (2.0 * std::f32::consts::PI * 480.0 * i as f32 / rate as f32).sin();
            }
        }
        let input = vec![x.clone(), x];
        let Run {
            out,
            reduction_db: reduction,
            ..
        } = limit(Limiter::new(ceiling, 5.0, 100.0), rate, &input, 4096);
        assert!(ebur128_true_peak_db(rate, &out) <= ceiling);
        assert!((3.0..3.1).contains(&reduction), "max reduction {reduction:.4} dB");
        // Reach of a peak: look-ahead plus hold before it; after it, that plus the release
        // decaying to exactly 1.0 (≈ 14 time constants).
        let lookahead = ms_frames(rate, 5.0);
        let before = lookahead + 16 + 1;
        let after = lookahead + 16 + ms_frames(rate, 1_450.0);
        let mut untouched = 0;
        for i in 0..len {
            let near = peaks.iter().any(|&p| i + before >= p && i < p + burst + after);
            if !near {
                assert!(
                    out[0][i].to_bits() == input[0][i].to_bits(),
                    "frame {i} was changed far from any peak"
                );
                untouched += 1;
            } else if peaks.iter().any(|&p| (p..p + burst).contains(&i)) && input[0][i].abs() > 0.1 {
                // At the peaks the gain is down by the overshoot (3 dB + margin), ± 0.15 dB.
                let gain_db = db((out[0][i] / input[0][i]) as f64);
                assert!((-3.2..-2.95).contains(&gain_db), "gain {gain_db:.3} dB at frame {i}");
            }
        }
        assert!(untouched > len / 3);
    }

    fn ms_frames(rate: u32, ms: f64) -> usize {
        (ms * rate as f64 / 1000.0).round() as usize
    }

    #[test]
    fn max_reduction_reports_the_applied_gain() {
        let rate = 48_000;
        for (ceiling, over) in [(-1.0, 6.0), (-2.0, 0.5), (-1.0, 20.0)] {
            let amplitude = db_to_amp(ceiling + over);
            let input = vec![sine(1_000.0, amplitude, rate, rate as usize)];
            let Run {
                out,
                reduction_db: reported,
                metrics,
            } = limit(Limiter::new(ceiling, 5.0, 100.0), rate, &input, 480);
            let applied = input[0]
                .iter()
                .zip(&out[0])
                .filter(|(x, _)| x.abs() > 0.01)
                .map(|(x, y)| y / x)
                .fold(f32::MAX, f32::min);
            assert!(
                (reported + db(applied as f64)).abs() < 1e-4,
                "reported {reported:.5} dB, applied {:.5} dB",
                -db(applied as f64)
            );
            // A steady sine needs the overshoot plus the margin (plus what the ebur128
            // replica over-reads at 1 kHz, ≈ 0.01 dB).
            let expected = over + DEFAULT_MARGIN_DB;
            assert!(
                (expected - 0.001..expected + 0.02).contains(&reported),
                "{over} dB over: reported {reported:.4} dB"
            );
            assert_eq!(metrics, vec![("max_reduction_db", reported)]);
        }
    }

    #[test]
    fn margin_lowers_the_effective_ceiling() {
        let rate = 44_100;
        let input = torture(rate);
        let out = limit(Limiter::new(-1.0, 5.0, 100.0).with_margin_db(0.5), rate, &input, 1024).out;
        let peak = ebur128_true_peak_db(rate, &out);
        assert!(peak <= -1.5 + 0.001, "peak {peak:.4} dBTP");
        assert!(peak > -1.6, "peak {peak:.4} dBTP: margin applied twice?");
    }
}
