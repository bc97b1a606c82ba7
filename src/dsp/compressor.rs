//! Voice compressor: evens out the level between loud and soft passages (and between
//! speakers) before loudness normalization, and takes the top off speech's peaks, so the
//! normalized file has a steady level and the true-peak limiter has little left to do.
//!
//! Feed-forward, stereo-linked, gain computed in dB with the soft-knee static curve of
//! Giannoulis, Massberg & Reiss (2012), and the gain reduction smoothed in the dB domain by
//! an attack/release follower (branching).
//!
//! # Relative threshold (the default)
//!
//! The compressor runs before normalization, on the raw level of the recording. With a fixed
//! threshold in dBFS a quiet recording would pass untouched and a hot one would be crushed:
//! the treatment would depend on the recording level, not on the voice. So by default
//! (`threshold_mode = "relative"`) `threshold_db` is counted from a running **speech
//! reference level** that the stage measures itself, and the same voice gets the same
//! compression at any recording level (the test suite holds a copy of real speech 20 dB down
//! to the same gain reduction within 0.5 dB, sample by sample).
//!
//! The reference, exactly (every length counted in samples, so it is indifferent to the
//! caller's block size):
//!
//! * **Blocks.** The input is cut into hops of 10 ms (`round(fs / 100)` frames). A hop's
//!   level is the mean square of its loudest channel (stereo-linked, like the detector). At
//!   the end of every hop, the last 10 hops form a 100 ms *block* whose level is their mean
//!   (blocks overlap by 90 %; the first block ends 100 ms into the signal).
//! * **Admission.** A block enters the statistics only if its level is above −70 dBFS (the
//!   absolute gate of ITU-R BS.1770) and, once there is a reference, no more than 20 dB
//!   below it. Pauses, breaths and the noise floor therefore never pull the reference down,
//!   however long they last. (The flip side: if the voice itself drops by more than 20 dB
//!   for good, it is taken for noise; use `absolute` for such material.)
//! * **Statistics.** Admitted blocks go into a level histogram (0.5 dB bins from −70 to
//!   +20 dBFS; each bin keeps the summed weight, mean square and dB level of its blocks).
//!   Each admission first multiplies every weight by `exp(−10 ms / 3 s)` and then adds the
//!   new block with weight 1: the statistics are a plain average over the first ~3 s of
//!   admitted signal and an exponentially forgetting one (time constant 3 s of *admitted*
//!   signal, so pauses do not count) after that.
//! * **Reference.** As in BS.1770's integrated loudness, the bins whose mean square is more
//!   than 10 dB below the (power) mean of everything admitted are left out (so a noise floor
//!   that got in before the voice started is dropped as soon as the voice arrives); the
//!   reference is the weighted mean **dB level** of the remaining blocks. Averaging in dB
//!   rather than in power keeps one loud word from dragging the reference (and with it the
//!   threshold) up. On the speech fixture it reads −22.1 dBFS, about 2 dB under the RMS of
//!   the active speech (−19.9 dBFS; integrated loudness −21.0 LUFS).
//! * **Start.** The reference counts once 400 ms of blocks have been admitted (40 hops);
//!   until then the stage does not compress. It is recomputed after every admitted block
//!   (every 10 ms during speech).
//! * **Look-ahead.** The reference reads the input 500 ms before the gain computer does:
//!   the audio goes through a 500 ms delay line, so that the first syllable of a file is
//!   already compressed from a reference built on the first ~0.45 s of speech. Hence a
//!   **latency of 500 ms** in relative mode (reported by `latency()`; `AlignedChain` removes
//!   it). The detector itself reads the delayed audio 10 ms before it leaves the line, so
//!   the gain is already falling when a syllable's first peak goes out: without that, a
//!   causal compressor lets exactly the peaks the limiter has to deal with through.
//!
//! The effective threshold is `reference + threshold_db`, in dB of the detector level (so
//! with the peak detector: peak level over the speech reference level).
//!
//! `threshold_mode = "absolute"` is the plain compressor: `threshold_db` in dBFS, no
//! reference, no look-ahead, latency 0. (The stage as it was before the relative mode is
//! `threshold_mode = "absolute"`, `threshold_db = -24`, `detector = "rms"`,
//! `attack_ms = 10`.)
//!
//! # Defaults
//!
//! Peak detector, +8 dB over the reference, ratio 3, 6 dB knee, attack 5 ms, release 120 ms:
//! the knee starts 5 dB over the reference, so it works on the top of speech's 15–20 dB of
//! peak-to-RMS, riding 1–3 dB on the loud syllables (up to 4–8 dB on the loudest peaks).
//! Measured on the speech fixture (CMU ARCTIC aew a0001, 16 kHz): peak-to-loudness ratio
//! (true peak − integrated loudness, `ebur128`) 18.13 → 16.27 dB, mean reduction 1.6 dB,
//! max 4.5 dB, identical 20 dB down. On the fixture and six more speech clips (3.5–14 s,
//! LibriSpeech, VCTK, ARCTIC, an audiobook, a speech; not in the repository) the ratio fell by
//! 1.1–3.3 dB (mean 2.0); normalized to −14 LUFS, a −1 dBTP limiter then had to take
//! 1.5–3.9 dB off the peaks instead of 2.8–5.2 dB and cost 0.1–1.3 LU of loudness instead of
//! 0.5–2.0 LU (one clip needed no limiting either way). With the RMS detector, or without the
//! detector look-ahead, the ratio did not fall (the loud syllables' bodies were compressed,
//! their first peaks were not).

use serde::{Deserialize, Serialize};

use super::check_range;
use super::envelope::{AttackRelease, MeanSquare, SlidingMax};
use super::Stage;

/// What the compressor measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Mean square over an exponential window of `rms_window_ms`; a steady sine reads its
    /// RMS level (peak − 3.01 dB).
    Rms,
    /// Largest |sample| of the last 10 ms (instant attack, held 10 ms); a steady sine of
    /// 50 Hz or more reads exactly its peak level.
    Peak,
}

/// How `threshold_db` is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThresholdMode {
    /// dB above the running speech reference level (see the module documentation).
    Relative,
    /// dBFS of the detector level, whatever the recording level.
    Absolute,
}

/// `[compressor]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressorSettings {
    pub enabled: bool,
    /// Whether `threshold_db` is relative to the speech level or in dBFS.
    pub threshold_mode: ThresholdMode,
    /// Detector level at the centre of the knee: dB above the speech reference level
    /// (`relative`, −30…+30) or dBFS (`absolute`, −60…0).
    pub threshold_db: f64,
    /// Input dB above threshold per output dB above threshold.
    pub ratio: f64,
    /// Width of the soft knee in dB (0 = hard knee).
    pub knee_db: f64,
    /// Time constant for gain reduction to grow (63 % of a step), ms.
    pub attack_ms: f64,
    /// Time constant for gain reduction to recover (63 % of a step), ms.
    pub release_ms: f64,
    /// Fixed gain after compression, dB.
    pub makeup_db: f64,
    pub detector: Detector,
    /// RMS detector window (time constant), ms. Ignored by the peak detector.
    pub rms_window_ms: f64,
}

impl Default for CompressorSettings {
    /// Tuned on raw and processed speech (module documentation, "Defaults"): a peak
    /// compressor riding 1–3 dB on the loud syllables, taking 2 dB off speech's
    /// peak-to-loudness ratio.
    fn default() -> Self {
        Self {
            enabled: true,
            // Same treatment at any recording level.
            threshold_mode: ThresholdMode::Relative,
            // Knee centred 8 dB over the speech level, starting at +5: the top of speech's
            // 15–20 dB of peak-to-RMS is compressed, not its body.
            threshold_db: 8.0,
            ratio: 3.0,
            knee_db: 6.0,
            // With the detector reading 10 ms ahead, a 5 ms attack has the gain down before
            // a syllable's first peak; 120 ms recovers between syllables without pumping.
            attack_ms: 5.0,
            release_ms: 120.0,
            // Loudness normalization sets the final level; makeup would only eat headroom.
            makeup_db: 0.0,
            // Peaks, not RMS, are what the true-peak limiter has to deal with afterwards.
            detector: Detector::Peak,
            rms_window_ms: 20.0,
        }
    }
}

impl CompressorSettings {
    /// Checks every value's range; the message names the key. The threshold's range depends
    /// on the mode: −30…+30 dB relative, −60…0 dBFS absolute.
    pub fn validate(&self) -> Result<(), String> {
        match self.threshold_mode {
            ThresholdMode::Relative => check_range("compressor.threshold_db", self.threshold_db, -30.0, 30.0)?,
            ThresholdMode::Absolute => check_range("compressor.threshold_db", self.threshold_db, -60.0, 0.0)?,
        }
        check_range("compressor.ratio", self.ratio, 1.0, 20.0)?;
        check_range("compressor.knee_db", self.knee_db, 0.0, 24.0)?;
        check_range("compressor.attack_ms", self.attack_ms, 0.1, 500.0)?;
        check_range("compressor.release_ms", self.release_ms, 1.0, 5000.0)?;
        check_range("compressor.makeup_db", self.makeup_db, -12.0, 24.0)?;
        check_range("compressor.rms_window_ms", self.rms_window_ms, 1.0, 500.0)
    }
}

/// Output level (dB) of the soft-knee static curve for input level `x` (dB): threshold `t`,
/// ratio `r`, knee width `w` (Giannoulis, Massberg & Reiss 2012, eq. 4).
pub fn static_curve(x: f64, t: f64, r: f64, w: f64) -> f64 {
    if 2.0 * (x - t) < -w {
        x
    } else if 2.0 * (x - t) <= w && w > 0.0 {
        let d = x - t + w / 2.0;
        x + (1.0 / r - 1.0) * d * d / (2.0 * w)
    } else {
        t + (x - t) / r
    }
}

/// How long the peak detector holds a peak: covers half a period of anything ≥ 50 Hz.
const PEAK_HOLD_MS: f64 = 10.0;

/// Reduction (dB) above which a frame counts as "compressing" in the metrics.
const ACTIVE_DB: f64 = 0.1;

/// Reduction (dB) below which the gain is exactly the make-up gain: 2.5e-7 dB is a factor
/// of 1 − 2.9e-8, under half an f32 step below 1.0, and the release tail would otherwise cost
/// an `exp` per frame for seconds after every compressed peak.
const IDENTITY_DB: f64 = 2.5e-7;

/// Speech reference (see the module documentation): hop length, hops per block.
const HOP_MS: f64 = 10.0;
const BLOCK_HOPS: usize = 10;
/// Forgetting time constant of the reference, in seconds of admitted signal.
const REFERENCE_TAU_S: f64 = 3.0;
/// Absolute gate: blocks at or below this level (dBFS) are never admitted.
const ABSOLUTE_GATE_DB: f64 = -70.0;
/// Blocks more than this far below the current reference are not admitted.
const ADMIT_BELOW_DB: f64 = 20.0;
/// Bins more than this far below the power mean of the admitted blocks are left out.
const RELATIVE_GATE_DB: f64 = 10.0;
/// Admitted hops before the reference is used (40 × 10 ms = 400 ms).
const INIT_HOPS: u64 = 40;
/// How far ahead of the gain computer the reference reads (relative mode's latency): long
/// enough for the reference to be established from the first 400 ms of speech before the
/// first syllable reaches the gain computer.
const LOOKAHEAD_MS: f64 = 500.0;
/// Relative mode: the detector reads the audio this long before it is output, so the gain
/// starts to fall before a transient instead of after it.
const GAIN_LOOKAHEAD_MS: f64 = 10.0;
/// Histogram: bin width and range (dBFS) of block levels; louder blocks go in the top bin.
const BIN_DB: f64 = 0.5;
const BINS: usize = 180;
/// Histogram weights below this are flushed to zero (no subnormals after hours of speech).
const FLUSH: f64 = 1e-30;

/// One histogram bin: summed weight, weighted mean square and weighted dB level.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    weight: f64,
    power: f64,
    level: f64,
}

/// The running speech reference level (module documentation, "Relative threshold").
#[derive(Debug, Clone, Default)]
struct SpeechReference {
    /// Frames per hop.
    hop: usize,
    /// Weight factor applied to the statistics per admitted block.
    decay: f64,
    /// Frames into the current hop.
    pos: usize,
    /// Sum of squares of each channel over the current hop.
    channel_energy: Vec<f64>,
    /// Linked mean square of the last `BLOCK_HOPS` hops (ring), and how many are filled.
    hops: [f64; BLOCK_HOPS],
    hops_filled: usize,
    next_hop: usize,
    bins: Vec<Bin>,
    admitted: u64,
    /// Current reference level (dBFS of mean square), meaningful once `admitted > 0`.
    level_db: f64,
}

impl SpeechReference {
    fn new(sample_rate: u32, channels: usize) -> Self {
        let hop = ((HOP_MS * 1e-3 * sample_rate as f64).round() as usize).max(1);
        Self {
            hop,
            decay: (-(hop as f64) / (REFERENCE_TAU_S * sample_rate as f64)).exp(),
            channel_energy: vec![0.0; channels],
            bins: vec![Bin::default(); BINS],
            ..Self::default()
        }
    }

    fn reset(&mut self) {
        self.pos = 0;
        self.channel_energy.fill(0.0);
        self.hops = [0.0; BLOCK_HOPS];
        self.hops_filled = 0;
        self.next_hop = 0;
        self.bins.fill(Bin::default());
        self.admitted = 0;
        self.level_db = 0.0;
    }

    /// Whether the reference is established (400 ms admitted).
    #[inline]
    fn valid(&self) -> bool {
        self.admitted >= INIT_HOPS
    }

    /// Adds one frame's squared sample of channel `ch`.
    #[inline(always)]
    fn add(&mut self, ch: usize, squared: f64) {
        self.channel_energy[ch] += squared;
    }

    /// Ends a frame (after `add` for every channel). Returns true when the reference changed.
    #[inline(always)]
    fn end_frame(&mut self) -> bool {
        self.pos += 1;
        if self.pos < self.hop {
            return false;
        }
        self.pos = 0;
        self.end_hop()
    }

    fn end_hop(&mut self) -> bool {
        let loudest = self.channel_energy.iter().fold(0.0f64, |m, &e| m.max(e));
        self.channel_energy.fill(0.0);
        self.hops[self.next_hop] = loudest / self.hop as f64;
        self.next_hop = (self.next_hop + 1) % BLOCK_HOPS;
        self.hops_filled = (self.hops_filled + 1).min(BLOCK_HOPS);
        if self.hops_filled < BLOCK_HOPS {
            return false;
        }
        let block = self.hops.iter().sum::<f64>() / BLOCK_HOPS as f64;
        let block_db = 10.0 * block.log10();
        // Samples are sanitized, so `block` is finite (silence: −∞ dB).
        if block_db <= ABSOLUTE_GATE_DB || (self.admitted > 0 && block_db < self.level_db - ADMIT_BELOW_DB) {
            return false;
        }
        for bin in &mut self.bins {
            if bin.weight > 0.0 {
                bin.weight *= self.decay;
                bin.power *= self.decay;
                bin.level *= self.decay;
                if bin.weight < FLUSH {
                    *bin = Bin::default();
                }
            }
        }
        let index = (((block_db - ABSOLUTE_GATE_DB) / BIN_DB) as usize).min(BINS - 1);
        let bin = &mut self.bins[index];
        bin.weight += 1.0;
        bin.power += block.min(1e10);
        bin.level += block_db.min(100.0);
        self.admitted += 1;

        let (weight, power) = self
            .bins
            .iter()
            .fold((0.0, 0.0), |(w, p), b| (w + b.weight, p + b.power));
        let gate = power / weight * 10f64.powf(-RELATIVE_GATE_DB / 10.0);
        let (weight, level) = self
            .bins
            .iter()
            .filter(|b| b.weight > 0.0 && b.power >= gate * b.weight)
            .fold((0.0, 0.0), |(w, l), b| (w + b.weight, l + b.level));
        self.level_db = level / weight;
        true
    }
}

/// The compressor stage. Latency: 500 ms in relative mode (the reference's look-ahead), 0 in
/// absolute mode.
pub struct CompressorStage {
    settings: CompressorSettings,
    smoother: AttackRelease,
    rms: MeanSquare,
    /// Detector state per channel (mean square), for the RMS detector.
    channel_ms: Vec<f64>,
    peak: SlidingMax,
    reference: SpeechReference,
    /// Relative mode: frames the audio is delayed by (the reference's look-ahead), the delay
    /// line of each channel and the write position in it. Absolute mode: 0, no delay.
    lookahead: usize,
    delay: Vec<Vec<f32>>,
    delay_pos: usize,
    /// Relative mode: how many frames before the audio leaves the delay line the detector
    /// reads it (`GAIN_LOOKAHEAD_MS`).
    gain_lookahead: usize,
    /// Frames of the delay line's initial silence still to come out (not counted in stats).
    preroll: usize,
    /// This frame's detector input, per channel.
    detect: Vec<f64>,
    /// Smoothed gain reduction in dB (≥ 0).
    reduction: f64,
    /// Effective threshold (dB of detector level) now in force; +∞ while a relative
    /// threshold has no reference yet.
    threshold: f64,
    /// Linear detector level (RMS: mean square; peak: amplitude) below which the curve is
    /// flat, so quiet passages skip the log.
    knee_start: f64,
    gains: Vec<f32>,
    stats: Stats,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    max_reduction: f64,
    active_sum: f64,
    active_frames: u64,
    frames: u64,
    /// Sum of the reference level over the frames it was in force, and their count.
    reference_sum: f64,
    reference_frames: u64,
}

impl CompressorStage {
    pub fn new(settings: &CompressorSettings) -> Self {
        Self {
            settings: settings.clone(),
            smoother: AttackRelease::default(),
            rms: MeanSquare::default(),
            channel_ms: Vec::new(),
            peak: SlidingMax::new(1),
            reference: SpeechReference::default(),
            lookahead: 0,
            delay: Vec::new(),
            delay_pos: 0,
            gain_lookahead: 0,
            preroll: 0,
            detect: Vec::new(),
            reduction: 0.0,
            threshold: f64::INFINITY,
            knee_start: f64::INFINITY,
            gains: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn relative(&self) -> bool {
        self.settings.threshold_mode == ThresholdMode::Relative
    }

    /// Sets the effective threshold from the settings and the reference.
    fn update_threshold(&mut self) {
        let s = &self.settings;
        self.threshold = match s.threshold_mode {
            ThresholdMode::Absolute => s.threshold_db,
            ThresholdMode::Relative if self.reference.valid() => self.reference.level_db + s.threshold_db,
            ThresholdMode::Relative => f64::INFINITY,
        };
        // Start of the knee, minus a little so the flat region is exactly where the curve is.
        let knee_start_db = self.threshold - s.knee_db / 2.0 - 0.01;
        self.knee_start = match s.detector {
            Detector::Rms => 10f64.powf(knee_start_db / 10.0),
            Detector::Peak => 10f64.powf(knee_start_db / 20.0),
        };
    }

    /// Target reduction (dB, ≥ 0) for a detector level in dB.
    #[inline]
    fn target_reduction(&self, level_db: f64) -> f64 {
        let s = &self.settings;
        (level_db - static_curve(level_db, self.threshold, s.ratio, s.knee_db)).max(0.0)
    }

    /// Computes the linked gain of `frames` frames into `self.gains`, sanitizing the block.
    fn compute_gains(&mut self, block: &mut [Vec<f32>], start: usize, frames: usize) {
        let makeup = self.settings.makeup_db;
        let makeup_gain = db_to_gain(makeup) as f32;
        let relative = self.relative();
        for i in 0..frames {
            if relative {
                // The reference reads the input now. The audio leaves the delay line
                // `latency` frames later; the detector reads it `gain_lookahead` frames
                // before it leaves.
                let at = self.delay_pos;
                let tap = match at + self.gain_lookahead {
                    t if t >= self.lookahead => t - self.lookahead,
                    t => t,
                };
                for (c, ch) in block.iter_mut().enumerate() {
                    let x = sanitized(&mut ch[start + i]);
                    self.reference.add(c, x * x);
                    let line = &mut self.delay[c];
                    self.detect[c] = line[tap] as f64;
                    ch[start + i] = std::mem::replace(&mut line[at], x as f32);
                }
                self.delay_pos = if at + 1 == self.lookahead { 0 } else { at + 1 };
                // A new reference applies from the next frame's gain on.
                if self.reference.end_frame() {
                    self.update_threshold();
                }
            } else {
                for (d, ch) in self.detect.iter_mut().zip(block.iter_mut()) {
                    *d = sanitized(&mut ch[start + i]);
                }
            }
            let mut loudest = 0.0f64;
            let target = match self.settings.detector {
                Detector::Rms => {
                    for (&x, ms) in self.detect.iter().zip(self.channel_ms.iter_mut()) {
                        loudest = loudest.max(self.rms.step(ms, x * x));
                    }
                    if loudest > self.knee_start {
                        self.target_reduction(10.0 * loudest.log10())
                    } else {
                        0.0
                    }
                }
                Detector::Peak => {
                    for &x in &self.detect {
                        loudest = loudest.max(x.abs());
                    }
                    let peak = self.peak.push(loudest);
                    if peak > self.knee_start {
                        self.target_reduction(20.0 * peak.log10())
                    } else {
                        0.0
                    }
                }
            };
            let reduction = self.smoother.step(&mut self.reduction, target);
            self.gains[i] = if reduction < IDENTITY_DB {
                makeup_gain
            } else {
                db_to_gain(makeup - reduction) as f32
            };
            // The first `latency` frames out are the delay line's initial silence: the chain
            // drops them, so they do not count.
            if self.preroll > 0 {
                self.preroll -= 1;
            } else {
                let st = &mut self.stats;
                st.frames += 1;
                if reduction > st.max_reduction {
                    st.max_reduction = reduction;
                }
                if reduction > ACTIVE_DB {
                    st.active_sum += reduction;
                    st.active_frames += 1;
                }
                if relative && self.threshold.is_finite() {
                    st.reference_sum += self.reference.level_db;
                    st.reference_frames += 1;
                }
            }
        }
    }

    /// The current speech reference level (dBFS), once established (relative mode only).
    pub fn reference_db(&self) -> Option<f64> {
        (self.relative() && self.reference.valid()).then_some(self.reference.level_db)
    }
}

/// Reads a sample as f64, replacing NaN/Inf with silence in the block too (so they never
/// reach the output).
#[inline(always)]
fn sanitized(sample: &mut f32) -> f64 {
    if !sample.is_finite() {
        *sample = 0.0;
    }
    *sample as f64
}

#[inline(always)]
fn db_to_gain(db: f64) -> f64 {
    (db * (std::f64::consts::LN_10 / 20.0)).exp()
}

impl Stage for CompressorStage {
    fn name(&self) -> &'static str {
        "compressor"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), super::PrepareError> {
        let s = &self.settings;
        self.smoother = AttackRelease::new(s.attack_ms, s.release_ms, sample_rate);
        self.rms = MeanSquare::new(s.rms_window_ms, sample_rate);
        self.channel_ms = vec![0.0; channels];
        let hold = (PEAK_HOLD_MS * 1e-3 * sample_rate as f64).round() as usize;
        self.peak = SlidingMax::new(hold);
        self.reference = SpeechReference::new(sample_rate, channels);
        self.lookahead = match s.threshold_mode {
            ThresholdMode::Relative => ((LOOKAHEAD_MS * 1e-3 * sample_rate as f64).round() as usize).max(1),
            ThresholdMode::Absolute => 0,
        };
        self.delay = vec![vec![0.0; self.lookahead]; channels];
        self.gain_lookahead =
            ((GAIN_LOOKAHEAD_MS * 1e-3 * sample_rate as f64).round() as usize).min(self.lookahead.saturating_sub(1));
        self.detect = vec![0.0; channels];
        self.gains = vec![1.0; max_block.max(1)];
        self.reset();
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        let chunk = self.gains.len();
        let mut start = 0;
        while start < frames {
            let n = chunk.min(frames - start);
            self.compute_gains(block, start, n);
            for ch in block.iter_mut() {
                for (s, &g) in ch[start..start + n].iter_mut().zip(&self.gains[..n]) {
                    *s *= g;
                }
            }
            start += n;
        }
    }

    fn latency(&self) -> usize {
        self.lookahead
    }

    fn reset(&mut self) {
        self.channel_ms.fill(0.0);
        self.peak.reset();
        self.reference.reset();
        for line in &mut self.delay {
            line.fill(0.0);
        }
        self.delay_pos = 0;
        self.preroll = self.lookahead;
        self.reduction = 0.0;
        self.stats = Stats::default();
        self.update_threshold();
    }

    /// `max_reduction_db`: the largest gain reduction; `mean_reduction_db`: mean reduction
    /// over the frames that were compressed (reduction > 0.1 dB); `active_percent`: share of
    /// frames compressed; in relative mode, once the reference was established,
    /// `mean_reference_db`: the speech reference level (dBFS) averaged over the frames it was
    /// in force.
    fn metrics(&self) -> Vec<(&'static str, f64)> {
        let st = &self.stats;
        let mut metrics = vec![
            ("max_reduction_db", st.max_reduction),
            ("mean_reduction_db", st.active_sum / st.active_frames.max(1) as f64),
            (
                "active_percent",
                100.0 * st.active_frames as f64 / st.frames.max(1) as f64,
            ),
        ];
        if st.reference_frames > 0 {
            metrics.push(("mean_reference_db", st.reference_sum / st.reference_frames as f64));
        }
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{assert_block_size_invariant, assert_survives_garbage, rms_db, run, sine, white_noise};

    fn stage(settings: CompressorSettings) -> Box<dyn Stage> {
        Box::new(CompressorStage::new(&settings))
    }

    /// The pre-change stage: −24 dBFS absolute threshold, RMS detector, 10/120 ms.
    fn absolute() -> CompressorSettings {
        CompressorSettings {
            threshold_mode: ThresholdMode::Absolute,
            threshold_db: -24.0,
            attack_ms: 10.0,
            detector: Detector::Rms,
            ..CompressorSettings::default()
        }
    }

    /// The CMU ARCTIC fixture (16 kHz mono speech, −21 LUFS, −2.8 dBTP) as f32 in ±1.
    fn speech_16k() -> Vec<f32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_aew_a0001.wav");
        let mut reader = hound::WavReader::open(path).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32_768.0).collect()
    }

    /// Runs `input` through a prepared stage in blocks of `block` with the latency trimmed and
    /// the tail flushed, like `AlignedChain`: output\[n\] lines up with input\[n\].
    fn run_aligned(s: &mut CompressorStage, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
        let lat = s.latency();
        let padded: Vec<Vec<f32>> = input
            .iter()
            .map(|c| c.iter().copied().chain(std::iter::repeat_n(0.0, lat)).collect())
            .collect();
        let mut out = run(s, &padded, block);
        for c in &mut out {
            c.drain(..lat);
        }
        out
    }

    fn processed(settings: &CompressorSettings, fs: u32, input: &[Vec<f32>]) -> (Vec<Vec<f32>>, CompressorStage) {
        let mut s = CompressorStage::new(settings);
        s.prepare(fs, input.len(), 4096).unwrap();
        let out = run_aligned(&mut s, input, 4096);
        (out, s)
    }

    /// Gain reduction (dB, ≥ 0 when compressing) per sample, where the input is within 26 dB
    /// of `peak` (elsewhere the ratio of two tiny numbers says little); `None` elsewhere.
    fn reduction_trace(input: &[f32], output: &[f32], peak: f32) -> Vec<Option<f64>> {
        input
            .iter()
            .zip(output)
            .map(|(&i, &o)| (i.abs() >= 0.05 * peak).then(|| -20.0 * (o as f64 / i as f64).log10()))
            .collect()
    }

    /// Largest |a − b| over the samples both traces define.
    fn max_trace_difference(a: &[Option<f64>], b: &[Option<f64>]) -> f64 {
        a.iter()
            .zip(b)
            .filter_map(|(x, y)| Some((x.as_ref()? - y.as_ref()?).abs()))
            .fold(0.0, f64::max)
    }

    fn metric(s: &CompressorStage, name: &str) -> f64 {
        s.metrics().iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap()
    }

    /// (integrated loudness LUFS, true peak dBTP) by the `ebur128` crate.
    fn loudness(fs: u32, x: &[f32]) -> (f64, f64) {
        use ebur128::{EbuR128, Mode};
        let mut m = EbuR128::new(1, fs, Mode::I | Mode::TRUE_PEAK).unwrap();
        m.add_frames_f32(x).unwrap();
        (m.loudness_global().unwrap(), 20.0 * m.true_peak(0).unwrap().log10())
    }

    /// Steady 1 kHz sines at 10 levels from −54 to 0 dBFS peak: the steady-state output level
    /// (after 1 s) must sit on the static curve within 0.5 dB. The detector decides the level
    /// the curve is read at: the sine's RMS level (peak − 3.01 dB) for `rms`, its peak for `peak`.
    /// Absolute mode, so the gain computer is tested exactly.
    #[test]
    fn static_curve_matches_formula() {
        let fs = 48_000u32;
        for detector in [Detector::Rms, Detector::Peak] {
            let settings = CompressorSettings { detector, ..absolute() };
            for step in 0..10 {
                let peak_db = -54.0 + 6.0 * step as f64;
                let mut s = stage(settings.clone());
                s.prepare(fs, 1, 4096).unwrap();
                assert_eq!(s.latency(), 0);
                let x = vec![sine(1000.0, crate::dsp::db_to_amp(peak_db), fs, fs as usize * 2)];
                let y = run(s.as_mut(), &x, 4096);
                let gain = rms_db(&y[0][fs as usize..]) - rms_db(&x[0][fs as usize..]);
                let level = match detector {
                    Detector::Rms => peak_db - 10.0 * 2f64.log10(),
                    Detector::Peak => peak_db,
                };
                let expected = static_curve(level, settings.threshold_db, settings.ratio, settings.knee_db) - level;
                assert!(
                    (gain - expected).abs() < 0.5,
                    "{detector:?} at {level:.1} dB: gain {gain:.3} dB, curve {expected:.3} dB"
                );
            }
        }
    }

    /// Gain of each sample of a ±A square wave (|x| constant, so out/in is the gain itself).
    fn gain_trace(settings: &CompressorSettings, levels_db: &[(f64, usize)]) -> Vec<f64> {
        let fs = 48_000;
        let mut x = Vec::new();
        for &(db, len) in levels_db {
            let a = crate::dsp::db_to_amp(db) as f32;
            x.extend((0..len).map(|i| if (i / 240) % 2 == 0 { a } else { -a }));
        }
        let mut s = stage(settings.clone());
        s.prepare(fs, 1, 4096).unwrap();
        let y = run(s.as_mut(), std::slice::from_ref(&x), 480);
        y[0].iter()
            .zip(&x)
            .map(|(o, i)| 20.0 * (o / i).abs().log10() as f64)
            .collect()
    }

    /// Time (ms) from `from` until the trace has covered 63.2 % of its way to its final value.
    fn time_constant_ms(trace: &[f64], from: usize) -> f64 {
        let (start, end) = (trace[from - 1], trace[trace.len() - 1]);
        let goal = start + (end - start) * (1.0 - (-1.0f64).exp());
        let crossed = trace[from..]
            .iter()
            .position(|&g| if end < start { g <= goal } else { g >= goal })
            .expect("trace never crosses 63 %");
        (crossed + 1) as f64 / 48.0
    }

    /// Level steps −40 → 0 → −40 dBFS through a hard-knee 4:1 at −30 dBFS (absolute mode, peak
    /// detector, so the detector itself is instant): attack and release time constants read
    /// off the gain must be within 20 % of the settings. The release includes the detector's
    /// 10 ms hold.
    #[test]
    fn attack_and_release_times_match_settings() {
        for (attack_ms, release_ms) in [(10.0, 120.0), (2.0, 60.0), (30.0, 400.0)] {
            let settings = CompressorSettings {
                threshold_mode: ThresholdMode::Absolute,
                threshold_db: -30.0,
                ratio: 4.0,
                knee_db: 0.0,
                attack_ms,
                release_ms,
                detector: Detector::Peak,
                ..CompressorSettings::default()
            };
            let seg = 48_000 * 2;
            let trace = gain_trace(&settings, &[(-40.0, seg), (0.0, seg), (-40.0, seg)]);
            assert!(
                (trace[2 * seg - 1] + 22.5).abs() < 0.01,
                "steady reduction {}",
                trace[2 * seg - 1]
            );
            let attack = time_constant_ms(&trace[..2 * seg], seg);
            let release = time_constant_ms(&trace, 2 * seg);
            assert!(
                (attack / attack_ms - 1.0).abs() < 0.2,
                "attack {attack:.2} ms vs {attack_ms}"
            );
            assert!(
                (release / release_ms - 1.0).abs() < 0.2,
                "release {release:.2} ms vs {release_ms}"
            );
        }
    }

    /// Relative mode delays by exactly its latency (500 ms), and a steady tone — whose level
    /// *is* the reference, so its peak sits 3 dB above it, under the knee — passes bit-exactly
    /// (only delayed) at any level.
    #[test]
    fn relative_mode_passes_a_steady_tone_delayed_and_unchanged() {
        let fs = 48_000;
        for level_db in [-60.0, -30.0, -3.0] {
            let x = sine(220.0, crate::dsp::db_to_amp(level_db), fs, 3 * fs as usize);
            let mut s = CompressorStage::new(&CompressorSettings::default());
            s.prepare(fs, 1, 4096).unwrap();
            assert_eq!(s.latency(), 24_000);
            let y = run_aligned(&mut s, std::slice::from_ref(&x), 4096);
            assert_eq!(y[0], x, "{level_db} dBFS");
            assert_eq!(metric(&s, "max_reduction_db"), 0.0);
            let reference = metric(&s, "mean_reference_db");
            assert!(
                (reference - (level_db - 3.01)).abs() < 0.1,
                "{level_db}: reference {reference}"
            );
        }
    }

    #[test]
    fn stereo_link_applies_the_same_gain_to_both_channels() {
        let fs = 48_000;
        let loud = sine(440.0, 0.9, fs, 48_000);
        let quiet = sine(440.0, 0.01, fs, 48_000);
        for detector in [Detector::Rms, Detector::Peak] {
            let mut s = stage(CompressorSettings { detector, ..absolute() });
            s.prepare(fs, 2, 4096).unwrap();
            let y = run(s.as_mut(), &[loud.clone(), quiet.clone()], 4096);
            let g0 = rms_db(&y[0][24_000..]) - rms_db(&loud[24_000..]);
            let g1 = rms_db(&y[1][24_000..]) - rms_db(&quiet[24_000..]);
            assert!(g0 < -5.0 && (g0 - g1).abs() < 0.01, "{detector:?}: {g0} vs {g1}");
            let m = s.metrics();
            assert!(m[0].1 > 5.0 && m[1].1 > 5.0 && m[2].1 > 90.0, "{m:?}");
        }
        // Relative mode: speech left, the same 40 dB down right; the reference follows the
        // louder channel and both get its gain.
        let speech = speech_16k();
        let soft: Vec<f32> = speech.iter().map(|s| s * 0.01).collect();
        let (y, s) = processed(&CompressorSettings::default(), 16_000, &[speech.clone(), soft.clone()]);
        assert!(metric(&s, "max_reduction_db") > 3.0);
        let left = reduction_trace(&speech, &y[0], 0.5);
        let right = reduction_trace(&soft, &y[1], 0.005);
        assert!(max_trace_difference(&left, &right) < 0.01);
    }

    #[test]
    fn quiet_signal_passes_unchanged() {
        let fs = 48_000;
        let x = sine(200.0, 0.01, fs, 48_000);
        let mut s = stage(absolute());
        s.prepare(fs, 1, 4096).unwrap();
        let y = run(s.as_mut(), std::slice::from_ref(&x), 4096);
        assert_eq!(y[0], x);
        assert_eq!(s.metrics()[0], ("max_reduction_db", 0.0));
    }

    #[test]
    fn contract() {
        let speechy: Vec<f32> = white_noise(60_000, 5)
            .iter()
            .enumerate()
            .map(|(i, s)| s * if (i / 3000) % 2 == 0 { 0.8 } else { 0.02 } * if i > 30_000 { 0.1 } else { 1.0 })
            .collect();
        let input = vec![speechy.clone(), speechy.iter().map(|s| s * 0.5).collect()];
        for mode in [ThresholdMode::Relative, ThresholdMode::Absolute] {
            for detector in [Detector::Rms, Detector::Peak] {
                let settings = CompressorSettings {
                    threshold_mode: mode,
                    threshold_db: if mode == ThresholdMode::Relative { 0.0 } else { -24.0 },
                    detector,
                    makeup_db: 3.0,
                    ..CompressorSettings::default()
                };
                let make = || stage(settings.clone());
                assert_block_size_invariant(&make, 48_000, &input);
                assert_survives_garbage(&make, 48_000, 2);
                assert_survives_garbage(&make, 8_000, 1);
                let mut s = make();
                s.prepare(48_000, 2, 4096).unwrap();
                let y = run(s.as_mut(), &input, 4096);
                assert!(s.metrics()[0].1 > 1.0, "{mode:?} {detector:?}: {:?}", s.metrics());
                let lag = crate::dsp::testutil::best_lag(&input[0][..20_000], &y[0][..20_000 + s.latency()], 30_000);
                assert_eq!(lag, s.latency() as isize, "{mode:?} {detector:?}");
            }
        }
    }

    #[test]
    fn settings_parse_and_validate() {
        let s: CompressorSettings = toml::from_str("detector = \"rms\"\nratio = 4.0").unwrap();
        assert_eq!(s.detector, Detector::Rms);
        assert_eq!(s.ratio, 4.0);
        assert_eq!(s.threshold_mode, ThresholdMode::Relative);
        assert!(s.validate().is_ok());
        assert!(toml::from_str::<CompressorSettings>("detector = \"loud\"").is_err());
        assert!(toml::from_str::<CompressorSettings>("treshold_db = -20.0").is_err());
        assert!(toml::from_str::<CompressorSettings>("threshold_mode = \"dbfs\"").is_err());
        let bad = CompressorSettings {
            ratio: 0.5,
            ..CompressorSettings::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "compressor.ratio must be between 1 and 20, got 0.5"
        );
        let relative: CompressorSettings = toml::from_str("threshold_db = 50.0").unwrap();
        assert_eq!(
            relative.validate().unwrap_err(),
            "compressor.threshold_db must be between -30 and 30, got 50"
        );
        let absolute: CompressorSettings =
            toml::from_str("threshold_mode = \"absolute\"\nthreshold_db = -24.0").unwrap();
        assert_eq!(absolute.threshold_mode, ThresholdMode::Absolute);
        assert!(absolute.validate().is_ok());
        let absolute: CompressorSettings = toml::from_str("threshold_mode = \"absolute\"\nthreshold_db = 6.0").unwrap();
        assert_eq!(
            absolute.validate().unwrap_err(),
            "compressor.threshold_db must be between -60 and 0, got 6"
        );
        assert!(CompressorSettings::default().validate().is_ok());
        let round_trip: CompressorSettings = toml::from_str(&toml::to_string(&absolute).unwrap()).unwrap();
        assert_eq!(round_trip, absolute);
    }

    #[test]
    fn static_curve_is_continuous_at_the_knee_edges() {
        let (t, r, w) = (-24.0, 3.0, 6.0);
        for x in [t - w / 2.0, t + w / 2.0] {
            let below = static_curve(x - 1e-9, t, r, w);
            let above = static_curve(x + 1e-9, t, r, w);
            assert!((below - above).abs() < 1e-6);
        }
        assert_eq!(static_curve(-40.0, t, r, w), -40.0);
        assert!((static_curve(0.0, t, r, w) - (-16.0)).abs() < 1e-12);
    }

    /// The key property: the same recording 20 dB quieter gets the same gain reduction,
    /// sample by sample (within 0.5 dB) and in the metrics, and a reference 20 dB lower. The
    /// absolute threshold, for contrast, treats the two very differently.
    #[test]
    fn gain_reduction_does_not_depend_on_the_recording_level() {
        let speech = speech_16k();
        let quiet: Vec<f32> = speech.iter().map(|s| s * 0.1).collect();
        let (y, s) = processed(&CompressorSettings::default(), 16_000, std::slice::from_ref(&speech));
        let (yq, sq) = processed(&CompressorSettings::default(), 16_000, std::slice::from_ref(&quiet));
        eprintln!("original: {:?}\n-20 dB:   {:?}", s.metrics(), sq.metrics());
        for key in ["max_reduction_db", "mean_reduction_db"] {
            assert!((metric(&s, key) - metric(&sq, key)).abs() < 0.5, "{key}");
        }
        assert!((metric(&s, "active_percent") - metric(&sq, "active_percent")).abs() < 1.0);
        let shift = metric(&s, "mean_reference_db") - metric(&sq, "mean_reference_db");
        assert!((shift - 20.0).abs() < 0.1, "reference shift {shift}");
        let difference = max_trace_difference(
            &reduction_trace(&speech, &y[0], 0.55),
            &reduction_trace(&quiet, &yq[0], 0.055),
        );
        eprintln!("largest per-sample difference: {difference:.4} dB");
        assert!(difference < 0.5);
        assert!(metric(&s, "mean_reduction_db") > 1.0);

        let (_, a) = processed(&absolute(), 16_000, std::slice::from_ref(&speech));
        let (_, aq) = processed(&absolute(), 16_000, std::slice::from_ref(&quiet));
        eprintln!("absolute: {:?}\n-20 dB:   {:?}", a.metrics(), aq.metrics());
        assert!(metric(&a, "mean_reduction_db") - metric(&aq, "mean_reduction_db") > 2.0);
    }

    /// On real speech the default settings take the peak-to-loudness ratio (true peak minus
    /// integrated loudness, both by `ebur128`) down by more than 1.5 dB (measured: 18.13 →
    /// 16.27 dB), at any recording level.
    #[test]
    fn defaults_reduce_the_peak_to_loudness_ratio_of_real_speech() {
        let speech = speech_16k();
        for gain in [1.0f32, 0.1] {
            let x: Vec<f32> = speech.iter().map(|s| s * gain).collect();
            let (y, s) = processed(&CompressorSettings::default(), 16_000, std::slice::from_ref(&x));
            let (li, tpi) = loudness(16_000, &x);
            let (lo, tpo) = loudness(16_000, &y[0]);
            let (before, after) = (tpi - li, tpo - lo);
            eprintln!(
                "x{gain}: in {li:.2} LUFS / {tpi:.2} dBTP, PLR {before:.2}; out {lo:.2} LUFS / {tpo:.2} dBTP, PLR \
                 {after:.2} ({:+.2} dB); {:?}",
                after - before,
                s.metrics()
            );
            assert!(after < before - 1.5, "PLR {before:.2} -> {after:.2}");
        }
    }

    /// Speech, 5 s of near-silence (digital silence, or a −50 dBFS noise floor: above the
    /// absolute gate, ~30 dB under the speech), the same speech again: the pause does not move
    /// the reference, so the utterance after it is compressed as if there had been no pause
    /// (per sample within 0.5 dB; measured 0.03 dB) and like the one before it (mean reduction
    /// within 0.5 dB). A first utterance runs ahead of both, because the very first one is
    /// compressed from a reference built on its first 0.5 s only (its loud first word: 2.1
    /// instead of 2.7 dB mean reduction on this fixture).
    #[test]
    fn pauses_do_not_pull_the_reference_down() {
        let fs = 16_000;
        let speech = speech_16k();
        let n = speech.len();
        let settings = CompressorSettings::default();
        let joined = |gap: &[f32]| -> Vec<f32> { [&speech[..], &speech[..], gap, &speech[..]].concat() };
        let (no_pause, _) = processed(&settings, fs, &[joined(&[])]);
        let after_without_pause = reduction_trace(&speech, &no_pause[0][2 * n..], 0.55);
        let mean = |t: &[Option<f64>]| {
            let v: Vec<f64> = t.iter().flatten().copied().filter(|&r| r > ACTIVE_DB).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let noise: Vec<f32> = white_noise(5 * fs as usize, 3)
            .iter()
            .map(|s| s * crate::dsp::db_to_amp(-50.0 + 4.77) as f32)
            .collect();
        for (name, gap) in [("silence", vec![0.0f32; 5 * fs as usize]), ("noise", noise)] {
            let x = joined(&gap);
            let mut s = CompressorStage::new(&settings);
            s.prepare(fs, 1, 4096).unwrap();
            // The reference reads 0.5 s ahead: 1 s into the gap, the speech has passed it.
            let split = 2 * n + fs as usize;
            let lat = s.latency();
            let mut y = run(&mut s, &[x[..split].to_vec()], 4096).remove(0);
            let at_gap = s.reference_db().unwrap();
            y.extend(run(&mut s, &[x[split..x.len() - n].to_vec()], 4096).remove(0));
            let after_gap = s.reference_db().unwrap();
            let tail = [&x[x.len() - n..], &vec![0.0; lat][..]].concat();
            y.extend(run(&mut s, &[tail], 4096).remove(0));
            y.drain(..lat);
            let before = reduction_trace(&speech, &y[n..2 * n], 0.55);
            let after = reduction_trace(&speech, &y[2 * n + gap.len()..], 0.55);
            let difference = max_trace_difference(&after, &after_without_pause);
            eprintln!(
                "{name}: reference 1 s into the gap {at_gap:.3}, at its end {after_gap:.3} dBFS; after the gap vs \
                 no gap: largest difference {difference:.4} dB; mean reduction before {:.2} / after {:.2} dB",
                mean(&before),
                mean(&after)
            );
            assert_eq!(at_gap, after_gap, "{name}");
            assert!(difference < 0.5, "{name}: {difference}");
            assert!((mean(&before) - mean(&after)).abs() < 0.5, "{name}");
        }
    }

    /// A noise floor that gets into the statistics before the voice starts (2 s at −50 dBFS,
    /// above the absolute gate) is dropped by the relative gate as soon as speech arrives: the
    /// speech is compressed as without it (mean reduction within 0.5 dB).
    #[test]
    fn noise_before_the_speech_does_not_set_the_reference() {
        let fs = 16_000;
        let speech = speech_16k();
        let noise: Vec<f32> = white_noise(2 * fs as usize, 8)
            .iter()
            .map(|s| s * crate::dsp::db_to_amp(-50.0 + 4.77) as f32)
            .collect();
        let x = [&noise[..], &speech[..]].concat();
        let (y, s) = processed(&CompressorSettings::default(), fs, std::slice::from_ref(&x));
        let (clean, c) = processed(&CompressorSettings::default(), fs, std::slice::from_ref(&speech));
        let with_noise = reduction_trace(&speech, &y[0][noise.len()..], 0.55);
        let without = reduction_trace(&speech, &clean[0], 0.55);
        let mean = |t: &[Option<f64>]| t.iter().flatten().sum::<f64>() / t.iter().flatten().count() as f64;
        eprintln!(
            "mean reduction {:.2} vs {:.2} dB; final reference {:?} vs {:?}",
            mean(&with_noise),
            mean(&without),
            s.reference_db(),
            c.reference_db()
        );
        assert!((mean(&with_noise) - mean(&without)).abs() < 0.5);
        assert!((s.reference_db().unwrap() - c.reference_db().unwrap()).abs() < 0.5);
    }
}
