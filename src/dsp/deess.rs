//! De-esser: turns down harsh "s"/"sh" sibilance (5–10 kHz) only while it sticks out, without
//! dulling the voice in between — a compressor or EQ alone would do one or the other.
//!
//! **Cut: linear phase.** The output is `y = x(t − D) − (1 − g)·F(x)`, where `F` is a
//! symmetric FIR of `2D + 1` taps (D = 1.5 ms: 72 samples at 48 kHz) and `g ≤ 1` the
//! sidechain's gain. A symmetric filter delays every frequency by exactly `D`, so the cut is a
//! real-valued `1 − (1 − g)·A(f)` with `A` the filter's amplitude: it changes the level of the
//! sibilance band and nothing of its timing or phase, at any depth (a minimum-phase bell, the
//! former design, turned 2 kHz by −7.6° at 10 dB of cut and tilted the output's correlation
//! with its input by up to 0.43 sample while it cut). The stage reports `D` as its latency and
//! the chain takes it out; the sidechain hears the input `D` before it is played, so the cut
//! also opens 1.5 ms ahead of an "s". `A` is a raised-cosine rise from 0.6 to 1.3 ×
//! `frequency_hz`, flat to 2×, and a fall to 0 at 3×, designed by windowing (Blackman) its
//! inverse Fourier transform: at the default 5 kHz and 10 dB of reduction the cut is −0.1 dB
//! at 3 kHz, −1.3 at 4, −4.7 at 5, −8.9 at 6, −10 from 7 to 10 kHz and −5.1 at 12 kHz; the
//! window's side lobes keep it within 0.001 dB of 0 dB below 2.5 kHz, and it never boosts.
//! The shape does not depend on the sample rate: 16–24 kHz files, whose band runs into
//! Nyquist, get the same cut up to Nyquist (−7.3 dB at 5.6 kHz, −9.8 at 6.5, −10 at 7.5 kHz),
//! which two biquad bells could not give them (a band-pass is zero at Nyquist).
//!
//! Measured through the CLI (`bench/deess/run.sh`; the test `sibilant_speech_is_de_essed_
//! and_plain_speech_keeps_its_presence` checks the same on the clips in `tests/fixtures/deess/`):
//! on the twelve most sibilant of 57 LibriSpeech/ARCTIC/VCTK/Valentini/JFK recordings the
//! sibilance index (energy 5–10 kHz over 0.1–4 kHz, whole file) drops by 5.7 dB on average at
//! 48 kHz (4.3 dB at least) and by 5.8 dB at their own 16 kHz (4.4 dB at least), while that of
//! the twelve least sibilant ones drops by 0.7 dB on average and their presence (2–5 kHz over
//! 0.1–4 kHz, and over the full band) moves by 0.18 dB at most. A detector that judged each
//! "s" against its own full-band power (the previous design, −12 dB) cut both classes: 6.1 and
//! 2.4 dB at 48 kHz. The former bells cut 16 kHz files less than 48 kHz ones (4.7 dB).
//!
//! **No reduction means no processing.** The dry path is a pure delay: with `g = 1` the
//! output is the input `D` later, bit for bit (reductions below 1e-6 dB, a change under one
//! f32 step, count as none), so a voice without sibilance passes untouched. With the latency
//! taken out, the output/input cross-correlation peaks at lag 0 to within 0.001 sample, also on
//! speech that is being de-essed a third of the time.
//!
//! **Sidechain.** The short-term power (3 ms mean square) of the sibilance band — an 8th-order
//! Linkwitz-Riley high-pass at `frequency_hz`, low-passed at 2.2·`frequency_hz` (5–11 kHz by
//! default) — is compared with the level of the voice around it: the larger of the full band's
//! short-term power and a follower of the power outside the band that rises in 5 ms and falls
//! over 300 ms. Inside an "s" the follower still holds the vowels before it, so what decides is
//! how loud the "s" is against the voice, not its spectrum: every "s" has most of its power in
//! the band (a detector that compares the band with the full band alone sees 0…−6 dB in all of
//! them and cuts them all alike), but only a harsh one comes near its vowels' level. After a
//! pause the follower has fallen and a sibilant that opens the phrase is judged against itself.
//! The threshold is that ratio in dB, so quiet and loud voices are treated alike, and the
//! reduction is as many dB as the ratio exceeds the threshold (up to `max_reduction_db`),
//! smoothed by `attack_ms`/`release_ms`: a sibilant that barely sticks out is touched lightly,
//! a piercing one is brought down to the threshold, so sibilants keep their order of loudness
//! instead of all being flattened to one (lisping) level. Starting the band at 5 kHz rather
//! than 4 keeps fricatives and formants of the 4–5 kHz presence region from triggering it.
//! Channels are linked: powers are summed over channels and all get the same gain.
//!
//! At sample rates where the band does not exist (`frequency_hz` above 0.4·fs: 8 and
//! 11.025 kHz input at the default), the stage passes audio through untouched and reports
//! `bypassed = 1`. Otherwise the sidechain's upper edge is clamped to 0.45·fs (16 kHz input:
//! 5–7.2 kHz).

use serde::{Deserialize, Serialize};

use super::biquad::{butterworth_highpass, butterworth_lowpass, Cascade};
use super::check_range;
use super::envelope::{AttackRelease, MeanSquare};
use super::Stage;

/// `[deess]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeessSettings {
    pub enabled: bool,
    /// Lower edge of the sibilance band, in Hz: the sidechain listens to
    /// `frequency_hz … 2.2·frequency_hz` (5–11 kHz at 5 kHz), and the cut is full from 1.3× to
    /// 2× it (6.5–10 kHz).
    pub frequency_hz: f64,
    /// How far the band's power may come up to the voice's level (dB, ≤ 0: the larger of the
    /// full band now and the level of the vowels around) before reduction starts.
    pub threshold_db: f64,
    /// The most the band is ever turned down (where the cut is full, 1.3–2× `frequency_hz`),
    /// in dB.
    pub max_reduction_db: f64,
    /// Time constant for reduction to grow, ms.
    pub attack_ms: f64,
    /// Time constant for reduction to recover, ms.
    pub release_ms: f64,
}

impl Default for DeessSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            frequency_hz: 5000.0,
            // In voiced speech the 5–11 kHz band sits 25–45 dB below the voice; an "s" has most
            // of its power in it, and what tells a harsh one from an ordinary one is how close
            // it comes to the level of the vowels around it. On the de-esser bench, the twelve
            // most and twelve least sibilant of 48 LibriSpeech/ARCTIC recordings, at their own
            // 16 kHz, lose 4.7 and 0.7 dB of sibilance index at −18 dB, 4.1 and 0.3 dB at −15,
            // 3.1 and 0.1 dB at −12 (too little on the sibilant ones: the weakest lost 1.8 dB).
            threshold_db: -18.0,
            // A sibilant that sticks out by more than this keeps some of its edge: deeper cuts
            // start to sound like a lisp.
            max_reduction_db: 10.0,
            // Fast enough to catch the onset of an "s", slow enough to recover without
            // chattering between sibilant and vowel.
            attack_ms: 1.0,
            release_ms: 60.0,
        }
    }
}

impl DeessSettings {
    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_range("deess.frequency_hz", self.frequency_hz, 2000.0, 12000.0)?;
        check_range("deess.threshold_db", self.threshold_db, -40.0, 0.0)?;
        check_range("deess.max_reduction_db", self.max_reduction_db, 0.0, 30.0)?;
        check_range("deess.attack_ms", self.attack_ms, 0.1, 50.0)?;
        check_range("deess.release_ms", self.release_ms, 5.0, 1000.0)
    }
}

/// Sidechain power window (time constant), ms.
const DETECTOR_MS: f64 = 3.0;
/// The voice level that sibilance is judged against follows the power outside the sibilance
/// band: it rises within a few milliseconds of a vowel's onset and falls over 300 ms, so across
/// an "s" (100–250 ms) it still holds the level of the vowels around it, while after a pause it
/// has fallen far enough that a sibilant opening the next phrase is judged against itself.
const VOICE_ATTACK_MS: f64 = 5.0;
const VOICE_RELEASE_MS: f64 = 300.0;
/// Power added to the full-band power before the ratio (−50 dBFS), so hiss in pauses, whose
/// spectrum is mostly "high band", is not mistaken for sibilance.
const FLOOR_POWER: f64 = 1e-5;
/// Reduction (dB) above which a frame counts as de-essed in the metrics.
const ACTIVE_DB: f64 = 0.1;
/// Upper edge of the sidechain band, as a multiple of `frequency_hz`.
const SIDECHAIN_TOP: f64 = 2.2;
/// The cut's shape, as multiples of `frequency_hz`: its share of the reduction rises (raised
/// cosine) from 0 at the first value to all of it at the second, so 2–4 kHz presence is
/// spared while 6.5 kHz and up is cut in full…
const CUT_RISE: (f64, f64) = (0.6, 1.3);
/// …and falls back to 0 between these two: the cut covers the sibilance of 5–12 kHz and
/// leaves the air above it.
const CUT_FALL: (f64, f64) = (2.0, 3.0);
/// Half the cut filter's span, ms: the stage's latency. Its frequency resolution (a
/// Blackman-windowed span of 3 ms blurs the shape by about ±1 kHz) is what the rise needs.
const CUT_HALF_SPAN_MS: f64 = 1.5;
/// Reduction (dB) below which the output is the input untouched. 1e-6 dB scales the band by
/// 1 − 1.2e-7, less than one step of f32, so skipping it changes nothing audible or
/// measurable, but lets the output return to bit-exact as soon as the release has settled.
const IDENTITY_DB: f64 = 1e-6;

/// The de-esser stage. Latency: half the cut filter (1.5 ms), 0 when bypassed.
pub struct DeessStage {
    settings: DeessSettings,
    bypassed: bool,
    /// Sidechain: high-pass (LR8) then low-pass, giving the detection band.
    split_high: Cascade,
    side_lowpass: Cascade,
    /// The cut filter `F`: a symmetric FIR (linear phase), `2·latency + 1` taps.
    cut_taps: Vec<f32>,
    /// Per channel, the last `cut_taps.len()` input samples, stored twice over so that they
    /// always read as one slice: sample `t` at `t mod n` and `t mod n + n`.
    history: Vec<Vec<f32>>,
    /// Where the next input sample goes in `history`.
    history_pos: usize,
    detector: MeanSquare,
    smoother: AttackRelease,
    voice_follower: AttackRelease,
    band_power: f64,
    full_power: f64,
    /// The voice's level around now: power outside the sibilance band, held over an "s".
    voice_power: f64,
    /// Smoothed reduction in dB (≥ 0).
    reduction: f64,
    /// Band/full power ratio (linear) at the threshold.
    threshold: f64,
    /// Per frame of the current chunk: Σ band² and Σ x² over channels, then `1 − g`.
    band_sq: Vec<f64>,
    full_sq: Vec<f64>,
    stats: Stats,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    max_reduction: f64,
    active_sum: f64,
    active_frames: u64,
    frames: u64,
}

impl DeessStage {
    pub fn new(settings: &DeessSettings) -> Self {
        Self {
            settings: settings.clone(),
            bypassed: false,
            split_high: Cascade::default(),
            side_lowpass: Cascade::default(),
            cut_taps: Vec::new(),
            history: Vec::new(),
            history_pos: 0,
            detector: MeanSquare::default(),
            smoother: AttackRelease::default(),
            voice_follower: AttackRelease::default(),
            band_power: 0.0,
            full_power: 0.0,
            voice_power: 0.0,
            reduction: 0.0,
            threshold: 1.0,
            band_sq: Vec::new(),
            full_sq: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Processes one chunk of at most `self.band_sq.len()` frames.
    fn process_chunk(&mut self, block: &mut [Vec<f32>], start: usize, frames: usize) {
        let band_sq = &mut self.band_sq[..frames];
        let full_sq = &mut self.full_sq[..frames];
        band_sq.fill(0.0);
        full_sq.fill(0.0);
        // Pass 1, per channel: silence non-finite input, run the sidechain filters and sum
        // their powers over channels.
        for (ch, samples) in block.iter_mut().enumerate() {
            for (i, s) in samples[start..start + frames].iter_mut().enumerate() {
                if !s.is_finite() {
                    *s = 0.0;
                }
                let x = *s as f64;
                let band = self.side_lowpass.tick(ch, self.split_high.tick(ch, x));
                band_sq[i] += band * band;
                full_sq[i] += x * x;
            }
        }
        // Pass 2, per frame: linked gain, stored over `band_sq` as (1 − g).
        let max_reduction = self.settings.max_reduction_db;
        let threshold_db = self.settings.threshold_db;
        for (b, &f) in band_sq.iter_mut().zip(full_sq.iter()) {
            let band = self.detector.step(&mut self.band_power, *b);
            let full = self.detector.step(&mut self.full_power, f);
            let voice = self.voice_follower.step(&mut self.voice_power, (full - band).max(0.0));
            let reference = full.max(voice) + FLOOR_POWER;
            let target = if band > self.threshold * reference {
                (10.0 * (band / reference).log10() - threshold_db).min(max_reduction)
            } else {
                0.0
            };
            let reduction = self.smoother.step(&mut self.reduction, target);
            *b = if reduction > IDENTITY_DB {
                1.0 - (-reduction * (std::f64::consts::LN_10 / 20.0)).exp()
            } else {
                0.0
            };
            self.stats.frames += 1;
            self.stats.max_reduction = self.stats.max_reduction.max(reduction);
            if reduction > ACTIVE_DB {
                self.stats.active_sum += reduction;
                self.stats.active_frames += 1;
            }
        }
        // Pass 3, per channel: y = x delayed by the latency, minus (1 − g)·F(x). The gain was
        // measured on the input as it arrives, so it leads the delayed output by the latency:
        // the cut starts that much before the "s" does. Samples without reduction are the
        // delayed input itself.
        let taps = self.cut_taps.as_slice();
        let n = taps.len();
        let centre = n / 2;
        let mut pos = self.history_pos;
        for (history, samples) in self.history.iter_mut().zip(block.iter_mut()) {
            pos = self.history_pos;
            for (s, &cut) in samples[start..start + frames].iter_mut().zip(band_sq.iter()) {
                history[pos] = *s;
                history[pos + n] = *s;
                pos = if pos + 1 == n { 0 } else { pos + 1 };
                // Oldest first; the newest sample is the last.
                let window = &history[pos..pos + n];
                *s = if cut == 0.0 {
                    window[centre]
                } else {
                    (window[centre] as f64 - cut * dot(window, taps) as f64) as f32
                };
            }
        }
        self.history_pos = pos;
    }
}

/// `Σ a·b`, in eight independent sums so that the compiler can keep them in vector registers
/// (a single running sum must be added in order and cannot be vectorised).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// The share of the reduction the cut applies at `freq`: 0 below `CUT_RISE.0·bottom`, all of
/// it from `CUT_RISE.1·bottom` to `CUT_FALL.0·bottom`, raised-cosine ramps between.
fn cut_shape(freq: f64, bottom: f64) -> f64 {
    let ramp = |from: f64, to: f64| {
        let x = ((freq / bottom - from) / (to - from)).clamp(0.0, 1.0);
        0.5 - 0.5 * (std::f64::consts::PI * x).cos()
    };
    ramp(CUT_RISE.0, CUT_RISE.1) * (1.0 - ramp(CUT_FALL.0, CUT_FALL.1))
}

/// The cut filter: `2·half + 1` taps whose zero-phase response is [`cut_shape`] (a real, even
/// response, so the filter is linear-phase: a pure delay of `half` samples at every
/// frequency), Blackman-windowed, whose side lobes (−58 dB) keep the response within 0.003 of
/// the shape away from its ramps.
fn cut_filter(sample_rate: f64, bottom: f64, half: usize) -> Vec<f32> {
    let taps = super::fir::zero_phase_taps(sample_rate, 2 * half + 1, |freq| cut_shape(freq, bottom));
    let span = (half + 1) as f64;
    taps.iter()
        .enumerate()
        .map(|(i, &h)| {
            let phase = std::f64::consts::PI * (i as f64 - half as f64) / span;
            (h * (0.42 + 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos())) as f32
        })
        .collect()
}

impl Stage for DeessStage {
    fn name(&self) -> &'static str {
        "deess"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), super::PrepareError> {
        let fs = sample_rate as f64;
        let bottom = self.settings.frequency_hz;
        let top = (bottom * SIDECHAIN_TOP).min(0.45 * fs);
        self.bypassed = bottom > 0.4 * fs;
        let mut lr8 = butterworth_highpass(fs, bottom, 4);
        lr8.extend_from_within(..);
        self.split_high = Cascade::new(lr8);
        self.side_lowpass = Cascade::new(butterworth_lowpass(fs, top, 2));
        let half = if self.bypassed {
            0
        } else {
            (fs * CUT_HALF_SPAN_MS / 1000.0).round() as usize
        };
        self.cut_taps = cut_filter(fs, bottom, half);
        self.history = vec![vec![0.0; 2 * self.cut_taps.len()]; channels];
        self.split_high.prepare(channels);
        self.side_lowpass.prepare(channels);
        self.detector = MeanSquare::new(DETECTOR_MS, sample_rate);
        self.smoother = AttackRelease::new(self.settings.attack_ms, self.settings.release_ms, sample_rate);
        self.voice_follower = AttackRelease::new(VOICE_ATTACK_MS, VOICE_RELEASE_MS, sample_rate);
        self.threshold = 10f64.powf(self.settings.threshold_db / 10.0);
        let chunk = max_block.max(1);
        self.band_sq = vec![0.0; chunk];
        self.full_sq = vec![0.0; chunk];
        self.reset();
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        if self.bypassed {
            super::sanitize(block, frames);
            return;
        }
        let chunk = self.band_sq.len();
        let mut start = 0;
        while start < frames {
            let n = chunk.min(frames - start);
            self.process_chunk(block, start, n);
            start += n;
        }
    }

    fn latency(&self) -> usize {
        self.cut_taps.len() / 2
    }

    fn reset(&mut self) {
        self.split_high.reset();
        self.side_lowpass.reset();
        for history in &mut self.history {
            history.fill(0.0);
        }
        self.history_pos = 0;
        self.band_power = 0.0;
        self.full_power = 0.0;
        self.voice_power = 0.0;
        self.reduction = 0.0;
        self.stats = Stats::default();
    }

    /// `max_reduction_db`: the most the band was turned down (where the cut is full);
    /// `mean_reduction_db`: mean reduction over the frames that were de-essed (reduction above
    /// 0.1 dB), not over all frames (sibilance is a few percent of speech); `active_percent`:
    /// share of frames de-essed; `bypassed`: 1 if the sample rate is too low for a sibilance
    /// band.
    fn metrics(&self) -> Vec<(&'static str, f64)> {
        let st = &self.stats;
        vec![
            ("max_reduction_db", st.max_reduction),
            ("mean_reduction_db", st.active_sum / st.active_frames.max(1) as f64),
            (
                "active_percent",
                100.0 * st.active_frames as f64 / st.frames.max(1) as f64,
            ),
            ("bypassed", if self.bypassed { 1.0 } else { 0.0 }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::biquad::Coeffs;
    use crate::dsp::testutil::{
        assert_block_size_invariant, assert_survives_garbage, best_lag, rms_db, run, sine, white_noise,
    };
    use std::f64::consts::PI;

    const FS: u32 = 48_000;

    fn stage() -> Box<dyn Stage> {
        Box::new(DeessStage::new(&DeessSettings::default()))
    }

    fn prepared(fs: u32) -> DeessStage {
        let mut s = DeessStage::new(&DeessSettings::default());
        s.prepare(fs, 1, 4096).unwrap();
        s
    }

    /// A vowel stand-in: 150 Hz harmonics up to 2850 Hz with 1/k amplitudes, scaled to `rms_db`,
    /// fading in over 5 ms as a voice does (a hard start would be a broadband click).
    fn voiced(len: usize, rms_db_target: f64, fs: u32) -> Vec<f32> {
        let fade = fs as f64 / 200.0;
        let raw: Vec<f64> = (0..len)
            .map(|i| {
                let t = i as f64 / fs as f64;
                let onset = 0.5 - 0.5 * (PI * (i as f64 / fade).min(1.0)).cos();
                onset
                    * (1..=19)
                        .map(|k| (2.0 * PI * 150.0 * k as f64 * t + k as f64).sin() / k as f64)
                        .sum::<f64>()
            })
            .collect();
        let rms = (raw.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
        let scale = crate::dsp::db_to_amp(rms_db_target) / rms;
        raw.iter().map(|v| (v * scale) as f32).collect()
    }

    /// Sibilance stand-in: white noise band-limited to `lo`–`hi` Hz (8th-order Butterworth
    /// high- and low-pass), scaled to `rms_db` over `on` and silent outside it.
    fn hiss_burst(len: usize, on: std::ops::Range<usize>, rms_db_target: f64, lo: f64, hi: f64) -> Vec<f32> {
        let mut noise = white_noise(len, 77);
        let mut sections = butterworth_highpass(FS as f64, lo, 8);
        sections.extend(butterworth_lowpass(FS as f64, hi, 8));
        filter(&mut noise, sections);
        let scale = crate::dsp::db_to_amp(rms_db_target - rms_db(&noise[on.clone()])) as f32;
        for (i, s) in noise.iter_mut().enumerate() {
            *s = if on.contains(&i) { *s * scale } else { 0.0 };
        }
        noise
    }

    fn mix(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }

    fn filter(x: &mut [f32], sections: Vec<Coeffs>) {
        let mut c = Cascade::new(sections);
        c.prepare(1);
        c.process(0, x);
    }

    /// Energy (dB) in `range` below 3 kHz (8th-order Butterworth low-pass).
    fn below_3k_db(x: &[f32], range: std::ops::Range<usize>) -> f64 {
        let mut y = x.to_vec();
        filter(&mut y, butterworth_lowpass(FS as f64, 3000.0, 8));
        rms_db(&y[range])
    }

    /// Energy (dB) in `range` between `lo` and `hi` Hz (8th-order Butterworth high- and
    /// low-pass) at sample rate `fs`.
    fn band_db(x: &[f32], fs: u32, lo: f64, hi: f64, range: std::ops::Range<usize>) -> f64 {
        let mut y = x.to_vec();
        let mut sections = butterworth_highpass(fs as f64, lo, 8);
        sections.extend(butterworth_lowpass(fs as f64, hi, 8));
        filter(&mut y, sections);
        rms_db(&y[range])
    }

    /// The prepared stage's output with its latency taken out: `input` padded with `latency`
    /// zeros, run in blocks of `block` frames, the first `latency` frames dropped, so that
    /// output frame `i` is input frame `i`.
    fn run_in_sync(s: &mut dyn Stage, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
        let latency = s.latency();
        let padded: Vec<Vec<f32>> = input
            .iter()
            .map(|x| x.iter().copied().chain(std::iter::repeat_n(0.0, latency)).collect())
            .collect();
        run(s, &padded, block)
            .into_iter()
            .map(|y| y[latency..].to_vec())
            .collect()
    }

    fn process(s: &mut dyn Stage, input: &[Vec<f32>]) -> Vec<Vec<f32>> {
        s.prepare(FS, input.len(), 4096).unwrap();
        run_in_sync(s, input, 4096)
    }

    /// The cut filter's response at `freq`, as a delay of the latency times a real amplitude:
    /// the amplitude (the taps are symmetric about the centre, so the phase is exactly that
    /// delay), and the imaginary part left after removing the delay, which must be 0.
    fn cut_filter_response(s: &DeessStage, fs: u32, freq: f64) -> (f64, f64) {
        let centre = s.latency() as f64;
        let w = 2.0 * PI * freq / fs as f64;
        s.cut_taps.iter().enumerate().fold((0.0, 0.0), |(re, im), (i, &h)| {
            let t = i as f64 - centre;
            (re + h as f64 * (w * t).cos(), im - h as f64 * (w * t).sin())
        })
    }

    /// Magnitude (dB) of the prepared stage's cut at `freq` while it reduces by `reduction_db`:
    /// `1 − (1 − g)·F` with `F` the cut filter's zero-phase amplitude.
    fn cut_db(s: &DeessStage, fs: u32, freq: f64, reduction_db: f64) -> f64 {
        let depth = 1.0 - crate::dsp::db_to_amp(-reduction_db);
        let (amplitude, _) = cut_filter_response(s, fs, freq);
        20.0 * (1.0 - depth * amplitude).abs().log10()
    }

    /// Whole-signal band energies from one FFT, as the bench measures them: sibilance index
    /// (5–10 kHz over 0.1–4 kHz), presence over 0.1–4 kHz and presence over the full band
    /// (2–5 kHz in both), all in dB.
    fn indices(x: &[f32], fs: u32) -> [f64; 3] {
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(x.len());
        let mut input: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut spectrum = fft.make_output_vec();
        fft.process(&mut input, &mut spectrum).unwrap();
        let bin_hz = fs as f64 / x.len() as f64;
        let energy = |lo: f64, hi: f64| -> f64 {
            spectrum
                .iter()
                .enumerate()
                .filter(|(k, _)| (lo..hi).contains(&(*k as f64 * bin_hz)))
                .map(|(_, c)| c.norm_sqr())
                .sum::<f64>()
                + 1e-30
        };
        let db = |a: f64, b: f64| 10.0 * (a / b).log10();
        let low = energy(100.0, 4000.0);
        let presence = energy(2000.0, 5000.0);
        [
            db(energy(5000.0, 10_000.0), low),
            db(presence, low),
            db(presence, energy(20.0, fs as f64 / 2.0)),
        ]
    }

    /// Cross-correlation `Σ input[i]·output[i + lag]` (the convention of `best_lag`).
    fn xcorr(input: &[f32], output: &[f32], lag: isize) -> f64 {
        input
            .iter()
            .enumerate()
            .filter_map(|(i, &x)| {
                let j = i as isize + lag;
                (j >= 0 && (j as usize) < output.len()).then(|| x as f64 * output[j as usize] as f64)
            })
            .sum()
    }

    /// Lag of the cross-correlation peak to a fraction of a sample: `best_lag` refined by a
    /// parabola through the peak and its two neighbours.
    fn subsample_lag(input: &[f32], output: &[f32]) -> f64 {
        let lag = best_lag(input, output, 50);
        let (before, at, after) = (
            xcorr(input, output, lag - 1),
            xcorr(input, output, lag),
            xcorr(input, output, lag + 1),
        );
        lag as f64 + 0.5 * (before - after) / (before - 2.0 * at + after)
    }

    /// A 16 kHz mono 16-bit fixture as f32 in ±1.
    fn fixture_16k(name: &str) -> Vec<f32> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut reader = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(reader.spec().sample_rate, 16_000, "{path}");
        reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32_768.0).collect()
    }

    /// The CMU ARCTIC fixture (16 kHz mono speech).
    fn speech_16k() -> Vec<f32> {
        fixture_16k("speech_aew_a0001.wav")
    }

    /// Upsamples by 3 (16 → 48 kHz) with a Hann-windowed sinc, 64 taps per output sample,
    /// cut off at 0.9 of the input's Nyquist.
    fn upsample_3x(x: &[f32]) -> Vec<f32> {
        const HALF: isize = 32;
        const CUTOFF: f64 = 0.9;
        let tap = |u: f64| {
            if u.abs() >= HALF as f64 {
                return 0.0;
            }
            let window = 0.5 * (1.0 + (PI * u / HALF as f64).cos());
            let sinc = if u == 0.0 {
                1.0
            } else {
                (PI * CUTOFF * u).sin() / (PI * CUTOFF * u)
            };
            CUTOFF * sinc * window
        };
        (0..x.len() * 3)
            .map(|m| {
                let t = m as f64 / 3.0;
                let k0 = (m / 3) as isize;
                let acc: f64 = (k0 - HALF + 1..=k0 + HALF)
                    .filter(|&k| k >= 0 && (k as usize) < x.len())
                    .map(|k| x[k as usize] as f64 * tap(t - k as f64))
                    .sum();
                acc as f32
            })
            .collect()
    }

    /// Three seconds of voice at −20 dBFS with three 150 ms sibilant bursts (white noise
    /// band-limited to 5–10 kHz, −16 dBFS), 48 kHz.
    fn voice_with_sibilants() -> Vec<f32> {
        let len = 3 * FS as usize;
        let mut noise = white_noise(len, 21);
        let mut sections = butterworth_highpass(FS as f64, 5000.0, 4);
        sections.extend(butterworth_lowpass(FS as f64, 10_000.0, 4));
        filter(&mut noise, sections);
        let scale = crate::dsp::db_to_amp(-16.0 - rms_db(&noise)) as f32;
        let bursts = [20_000..27_200, 60_000..67_200, 110_000..117_200];
        voiced(len, -20.0, FS)
            .iter()
            .zip(&noise)
            .enumerate()
            .map(|(i, (v, n))| {
                if bursts.iter().any(|b| b.contains(&i)) {
                    v + n * scale
                } else {
                    *v
                }
            })
            .collect()
    }

    /// The cut's shape, from the prepared filter: linear phase (a pure delay of the latency at
    /// every frequency); at any depth up to 30 dB no boost above 0.001 dB and no change above
    /// 0.005 dB below 2.5 kHz (the window's side lobes); at the full 10 dB, 8–12 dB down across
    /// 6–10 kHz, while the presence region keeps most of its level (≤ 2 dB down at 4 kHz).
    #[test]
    fn cut_covers_5_to_10_khz_in_linear_phase_and_never_boosts() {
        let s = prepared(FS);
        assert_eq!(s.latency(), 72);
        assert_eq!(s.cut_taps.len(), 2 * 72 + 1);
        let grid: Vec<f64> = (0..=300).map(|k| 20.0 * 1000f64.powf(k as f64 / 300.0)).collect();
        for &f in &grid {
            let (_, residual_phase) = cut_filter_response(&s, FS, f);
            assert!(residual_phase.abs() < 1e-12, "{f} Hz: phase term {residual_phase:.2e}");
        }
        for reduction in [0.5, 3.0, 10.0, 30.0] {
            let worst = grid
                .iter()
                .map(|&f| cut_db(&s, FS, f, reduction))
                .fold(f64::MIN, f64::max);
            assert!(worst <= 1e-3, "{reduction} dB: boost of {worst:.2e} dB");
            let below_2k5 = grid
                .iter()
                .filter(|&&f| f <= 2500.0)
                .map(|&f| cut_db(&s, FS, f, reduction).abs())
                .fold(0.0, f64::max);
            assert!(below_2k5 <= 5e-3, "{reduction} dB: {below_2k5:.3} dB below 2.5 kHz");
            eprintln!("{reduction} dB: largest boost {worst:.4} dB, largest change below 2.5 kHz {below_2k5:.4} dB");
        }
        let at = |f: f64| cut_db(&s, FS, f, 10.0);
        let shape: Vec<String> = [
            1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0, 9000.0, 10_000.0, 12_000.0,
        ]
        .iter()
        .map(|&f| format!("{:.0} Hz {:.1}", f, at(f)))
        .collect();
        eprintln!("cut at 10 dB: {}", shape.join(", "));
        for f in [6000.0, 7000.0, 8000.0, 9000.0, 10_000.0] {
            assert!((-12.0..=-8.0).contains(&at(f)), "{f} Hz: {:.2} dB", at(f));
        }
        assert!(at(5000.0) < -3.0, "5 kHz: {:.2} dB", at(5000.0));
        assert!(at(4000.0) > -2.0, "4 kHz: {:.2} dB", at(4000.0));
        assert!(at(2000.0) > -0.4, "2 kHz: {:.2} dB", at(2000.0));
        assert!(at(1000.0) > -0.1, "1 kHz: {:.2} dB", at(1000.0));
        assert_eq!(cut_db(&s, FS, 7000.0, 0.0), 0.0);
    }

    /// Known answers on steady tones: a 1 kHz "voice" at −20 dBFS and a 7 kHz "sibilant" at a
    /// set level. The reduction equals how far the sidechain's band/full power ratio (computed
    /// from the filters' responses) exceeds the default −18 dB threshold, capped at 10 dB, within
    /// 0.2 dB (the 3 ms mean square ripples at 2 kHz by ±0.1 dB and the 1 ms attack follows
    /// its peaks); the 7 kHz tone loses what the cut's response says; the 1 kHz tone only the
    /// filter's side lobes (under 0.05 dB); a tone below the threshold leaves the output bit
    /// for bit equal to the input.
    #[test]
    fn reduction_follows_how_far_the_sibilance_sticks_out() {
        let len = FS as usize;
        let voice = sine(1000.0, crate::dsp::db_to_amp(-17.0), FS, len);
        let settle = FS as usize / 2..len;
        for relative_db in [-20.0, -12.0, -9.0, -6.0, 0.0, 6.0] {
            let sib_amp = crate::dsp::db_to_amp(-17.0 + relative_db);
            let hiss = sine(7000.0, sib_amp, FS, len);
            let x = mix(&voice, &hiss);
            let mut s = prepared(FS);
            let y = run_in_sync(&mut s, std::slice::from_ref(&x), 4096);
            let side_gain = s.split_high.magnitude(FS as f64, 7000.0) * s.side_lowpass.magnitude(FS as f64, 7000.0);
            let band_power = (sib_amp * side_gain).powi(2) / 2.0;
            let full_power = (crate::dsp::db_to_amp(-17.0).powi(2) + sib_amp.powi(2)) / 2.0 + FLOOR_POWER;
            let threshold_db = DeessSettings::default().threshold_db;
            let expected = (10.0 * (band_power / full_power).log10() - threshold_db).clamp(0.0, 10.0);
            let sib_change =
                band_db(&y[0], FS, 6000.0, 8000.0, settle.clone()) - band_db(&x, FS, 6000.0, 8000.0, settle.clone());
            let voice_change = below_3k_db(&y[0], settle.clone()) - below_3k_db(&x, settle.clone());
            eprintln!(
                "7 kHz at {relative_db:+} dB: reduction {:.3} dB (expected {expected:.3}), 7 kHz {sib_change:.2} dB \
                 (cut {:.2}), 1 kHz {voice_change:.4} dB",
                s.reduction,
                cut_db(&s, FS, 7000.0, s.reduction)
            );
            assert!(
                (s.reduction - expected).abs() < 0.2,
                "{relative_db}: {:.3} vs {expected:.3}",
                s.reduction
            );
            assert!(
                (sib_change - cut_db(&s, FS, 7000.0, s.reduction)).abs() < 0.2,
                "{relative_db}: {sib_change:.2}"
            );
            // The 1 kHz tone only feels the filter's side lobes: what the response says, under 0.05 dB.
            let skirt = cut_db(&s, FS, 1000.0, s.reduction);
            assert!(
                (voice_change - skirt).abs() < 0.02 && skirt.abs() < 0.05,
                "{relative_db}: 1 kHz changed {voice_change:.4} dB, skirt {skirt:.4} dB"
            );
            if expected == 0.0 {
                assert!(y[0] == x, "{relative_db}: not bit for bit below the threshold");
            }
        }
    }

    /// A 5–10 kHz burst as loud as the voice under it must lose at least 7 dB in 5.5–9.5 kHz
    /// while the energy below 3 kHz moves less than 0.5 dB, at a loud and a quiet level alike
    /// (the threshold is relative).
    #[test]
    fn sibilance_is_reduced_and_the_voice_is_not() {
        let len = FS as usize * 3 / 2;
        let burst = FS as usize / 2..FS as usize;
        let measure = burst.start + FS as usize / 10..burst.end;
        for level in [-12.0, -42.0] {
            let voice = voiced(len, level, FS);
            let x = mix(&voice, &hiss_burst(len, burst.clone(), level, 5000.0, 10_000.0));
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            let band = |x: &[f32], r: std::ops::Range<usize>| band_db(x, FS, 5500.0, 9500.0, r);
            let band_change = band(&y[0], measure.clone()) - band(&x, measure.clone());
            let band_change_burst = band(&y[0], burst.clone()) - band(&x, burst.clone());
            let low_change = below_3k_db(&y[0], measure.clone()) - below_3k_db(&x, measure.clone());
            let low_change_all = below_3k_db(&y[0], 0..len) - below_3k_db(&x, 0..len);
            eprintln!(
                "{level} dB: 5.5-9.5 kHz {band_change:.2} dB (whole burst {band_change_burst:.2}), \
                 <3 kHz {low_change:.3} dB in burst, {low_change_all:.3} dB overall, {:?}",
                s.metrics()
            );
            assert!(
                band_change < -7.0 && band_change_burst < -7.0,
                "{level} dB: sibilance band changed {band_change:.2} / {band_change_burst:.2} dB"
            );
            assert!(
                low_change.abs() < 0.5,
                "{level} dB: below 3 kHz changed {low_change:.3} dB during the burst"
            );
            assert!(
                low_change_all.abs() < 0.5,
                "{level} dB: below 3 kHz changed {low_change_all:.3} dB"
            );
            // Before the burst nothing was reduced, so nothing changed at all (the cut leads
            // the burst by the latency: the sidechain hears the input before it is played).
            let lead = s.latency();
            assert_eq!(y[0][..burst.start - lead], x[..burst.start - lead], "{level} dB");
            let m = s.metrics();
            assert!(m[0].1 > 6.0 && m[0].1 <= 10.0, "{m:?}");
            assert_eq!(m[3], ("bypassed", 0.0));
        }
    }

    /// Sibilance is judged against the voice around it, not against itself: a 150 ms hiss
    /// (5–10 kHz) right after half a second of voice at −20 dBFS is cut by at least 7 dB when it
    /// is as loud as the voice, and left bit for bit when it lies 26 dB under it, as the "s" of
    /// a speaker without harsh sibilance does. The same soft hiss after 1.5 s of silence has
    /// nothing louder around it and counts as sibilance again (≥ 7 dB).
    #[test]
    fn sibilance_is_judged_against_the_voice_around_it() {
        let len = FS as usize * 5 / 2;
        let hiss_after_voice = FS as usize / 2..FS as usize * 13 / 20;
        let hiss_after_pause = 2 * FS as usize..FS as usize * 43 / 20;
        let voice: Vec<f32> = voiced(len, -20.0, FS)
            .iter()
            .enumerate()
            .map(|(i, &v)| if i < hiss_after_voice.start { v } else { 0.0 })
            .collect();
        let band = |x: &[f32], r: std::ops::Range<usize>| band_db(x, FS, 5500.0, 9500.0, r);
        for (hiss_db, on, expect_cut) in [
            (-20.0, hiss_after_voice.clone(), true),
            (-46.0, hiss_after_voice.clone(), false),
            (-46.0, hiss_after_pause.clone(), true),
        ] {
            let x = mix(&voice, &hiss_burst(len, on.clone(), hiss_db, 5000.0, 10_000.0));
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            let change = band(&y[0], on.clone()) - band(&x, on.clone());
            eprintln!(
                "hiss at {hiss_db} dBFS from {} ms: 5.5-9.5 kHz {change:.2} dB, {:?}",
                on.start * 1000 / FS as usize,
                s.metrics()
            );
            if expect_cut {
                assert!(change < -7.0, "{hiss_db} dB at {}: changed {change:.2} dB", on.start);
            } else {
                assert_eq!(s.metrics()[0], ("max_reduction_db", 0.0));
                assert!(y[0] == x, "{hiss_db} dB at {}: not bit for bit", on.start);
            }
        }
    }

    /// The voiced signal alone, quiet and loud, passes bit for bit: no reduction, and no
    /// filter in the path when there is none.
    #[test]
    fn voice_without_sibilance_passes_unchanged() {
        let len = FS as usize;
        for level in [-45.0, -6.0] {
            let x = voiced(len, level, FS);
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            assert_eq!(s.metrics()[0], ("max_reduction_db", 0.0));
            assert!(y[0] == x, "{level} dB: output is not the input bit for bit");
        }
    }

    /// Real recordings (16 kHz LibriSpeech and CMU ARCTIC clips in `tests/fixtures/deess/`),
    /// de-essed at their own rate and brought to 48 kHz: on the sibilant-heavy ones the
    /// sibilance index (5–10 kHz over 0.1–4 kHz, whole clip) drops by at least
    /// `SIBILANT_MIN_DROP` dB each and `SIBILANT_MEAN_DROP` on average; on the non-sibilant
    /// ones the 2–5 kHz presence, against 0.1–4 kHz and against the full band, moves by less
    /// than 0.8 dB (the target is ±1 dB), and their index by less than `PLAIN_MAX_DROP`: their
    /// "s" sit far under their vowels and are mostly left alone (a detector that compared each
    /// "s" with itself took 3–4.5 dB off two of them).
    #[test]
    fn sibilant_speech_is_de_essed_and_plain_speech_keeps_its_presence() {
        const SIBILANT_MIN_DROP: f64 = 3.0;
        const SIBILANT_MEAN_DROP: f64 = 4.0;
        const PLAIN_MAX_DROP: f64 = 3.0;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/deess");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".wav"))
            .collect();
        names.sort();
        let mut failures = Vec::new();
        for fs in [16_000, FS] {
            let mut sibilant_drops = Vec::new();
            let mut plain = 0;
            for name in &names {
                let speech = fixture_16k(&format!("deess/{name}"));
                let x = if fs == FS { upsample_3x(&speech) } else { speech };
                let mut s = prepared(fs);
                let y = run_in_sync(&mut s, std::slice::from_ref(&x), 4096);
                let (before, after) = (indices(&x, fs), indices(&y[0], fs));
                let change: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
                eprintln!(
                    "{fs} Hz {name}: index {:.2} dB, change {:.2} dB; presence/0.1-4k {:+.2} dB, \
                     presence/full {:+.2} dB; active {:.0} %",
                    before[0],
                    change[0],
                    change[1],
                    change[2],
                    s.metrics()[2].1
                );
                if name.starts_with("sibilant_") {
                    if change[0] > -SIBILANT_MIN_DROP {
                        failures.push(format!("{fs} Hz {name}: sibilance index only {:.2} dB down", change[0]));
                    }
                    sibilant_drops.push(change[0]);
                } else {
                    assert!(name.starts_with("plain_"), "{name}: fixtures are sibilant_* or plain_*");
                    if change[1].abs() >= 0.8 || change[2].abs() >= 0.8 {
                        failures.push(format!("{fs} Hz {name}: presence moved {change:?}"));
                    }
                    if change[0] <= -PLAIN_MAX_DROP {
                        failures.push(format!("{fs} Hz {name}: sibilance index {:.2} dB down", change[0]));
                    }
                    plain += 1;
                }
            }
            let mean = sibilant_drops.iter().sum::<f64>() / sibilant_drops.len() as f64;
            eprintln!("{fs} Hz: mean sibilance change {mean:.2} dB");
            assert!(sibilant_drops.len() >= 3 && plain >= 3, "fixtures missing in {dir}");
            assert!(
                mean <= -SIBILANT_MEAN_DROP,
                "{fs} Hz: mean sibilance drop only {mean:.2} dB"
            );
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// Sync with the latency taken out: the output/input cross-correlation peaks at lag 0 on
    /// real speech at 16 kHz (the band running into Nyquist) and upsampled to 48 kHz, and on a
    /// voice with loud sibilant bursts, all of them de-essed by up to the full 10 dB (with no
    /// reduction the output is the delayed input bit for bit, so the lag is trivially 0).
    ///
    /// The parabolic sub-sample peak is held to ±0.01 sample: the cut is linear-phase, so it
    /// moves no frequency in time while it cuts (the former minimum-phase bells tilted this
    /// peak by up to 0.43 sample).
    #[test]
    fn output_is_not_shifted_in_time() {
        let speech = speech_16k();
        let cases = [
            ("speech 16 kHz", 16_000, speech.clone(), 0.01),
            ("speech 48 kHz", FS, upsample_3x(&speech), 0.01),
            ("synthetic sibilants 48 kHz", FS, voice_with_sibilants(), 0.01),
        ];
        for (name, fs, x, tolerance) in cases {
            let mut s = stage();
            s.prepare(fs, 1, 4096).unwrap();
            let y = run_in_sync(s.as_mut(), std::slice::from_ref(&x), 4096);
            let lag = best_lag(&x, &y[0], 50);
            let fine = subsample_lag(&x, &y[0]);
            eprintln!("{name}: lag {lag}, sub-sample {fine:+.4}, {:?}", s.metrics());
            assert!(s.metrics()[0].1 > 9.0, "{name}: not de-essed, {:?}", s.metrics());
            assert_eq!(lag, 0, "{name}");
            assert!(fine.abs() < tolerance, "{name}: sub-sample lag {fine:+.4}");
        }
    }

    /// Real speech (the ARCTIC fixture upsampled to 48 kHz, a speaker with loud sibilants) with
    /// the default threshold: every run of frames dominated by 5–8 kHz (an "s") is de-essed by
    /// at least 9 dB at its peak and the sibilant frames by 7 dB on average, no voiced frame
    /// (5–8 kHz more than 20 dB down) ever makes the reduction grow — vowels only inherit the
    /// release of a preceding sibilant — and the reduction never exceeds the 10 dB maximum.
    #[test]
    fn real_speech_is_de_essed_on_sibilants_only() {
        let x = upsample_3x(&speech_16k());
        let mut s = DeessStage::new(&DeessSettings::default());
        s.prepare(FS, 1, 1).unwrap();
        let mut trace = Vec::with_capacity(x.len());
        let mut buf = vec![vec![0.0f32; 1]];
        for &v in &x {
            buf[0][0] = v;
            s.process(&mut buf, 1);
            trace.push(s.reduction);
        }
        // 10 ms frames: input level, share of the power above 5 kHz, reduction.
        let frame = FS as usize / 100;
        let mut hf = x.clone();
        filter(&mut hf, butterworth_highpass(FS as f64, 5000.0, 8));
        let (mut sibilant, mut vowel) = (Vec::new(), Vec::new());
        for f in 1..x.len() / frame {
            let r = f * frame..(f + 1) * frame;
            let level = rms_db(&x[r.clone()]);
            let hf_share = rms_db(&hf[r.clone()]) - level;
            let peak = trace[r.clone()].iter().fold(0.0f64, |m, &v| m.max(v));
            if level > -40.0 && hf_share < -20.0 {
                let rise = trace[r.clone()].windows(2).fold(0.0f64, |m, w| m.max(w[1] - w[0]));
                assert!(
                    rise < 1e-9,
                    "vowel frame at {f}0 ms raised the reduction by {rise:.3} dB"
                );
                vowel.push(peak);
            } else if level > -45.0 && hf_share > -3.0 {
                sibilant.push((f, peak));
            }
        }
        // Consecutive sibilant frames form one "s"; each keeps its deepest reduction.
        let mut run_peaks: Vec<f64> = Vec::new();
        let mut previous_frame = None;
        for &(f, peak) in &sibilant {
            match run_peaks.last_mut() {
                Some(run_peak) if previous_frame.map(|p| p + 1) == Some(f) => *run_peak = run_peak.max(peak),
                _ => run_peaks.push(peak),
            }
            previous_frame = Some(f);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let peaks: Vec<f64> = sibilant.iter().map(|&(_, p)| p).collect();
        let weakest_run = run_peaks.iter().fold(f64::MAX, |m, &v| m.min(v));
        let m = s.metrics();
        eprintln!(
            "{m:?}; {} sibilant frames in {} runs: mean {:.2} dB, weakest run peaks at {weakest_run:.2} dB; \
             {} vowel frames: mean {:.2} dB (release)",
            sibilant.len(),
            run_peaks.len(),
            mean(&peaks),
            vowel.len(),
            mean(&vowel),
        );
        assert!(sibilant.len() >= 15 && run_peaks.len() >= 3 && vowel.len() >= 100);
        // The first 20-30 ms of an "s" are judged against the vowel before it, so the cut ramps
        // up over the onset; then each reaches (nearly) the full 10 dB.
        assert!(weakest_run >= 9.0, "an \"s\" got only {weakest_run:.2} dB");
        assert!(
            mean(&peaks) >= 7.0,
            "sibilant frames got {:.2} dB on average",
            mean(&peaks)
        );
        assert!(m[0].1 <= 10.0 + 1e-9, "{m:?}");
    }

    #[test]
    fn channels_are_linked() {
        let len = FS as usize;
        let voice = voiced(len, -20.0, FS);
        let left = mix(&voice, &hiss_burst(len, 10_000..30_000, -20.0, 5000.0, 10_000.0));
        let right: Vec<f32> = voice.iter().map(|v| v * 0.5).collect();
        let mut s = stage();
        let y = process(s.as_mut(), &[left, right.clone()]);
        // The right channel has no sibilance of its own but gets the left's gain: its high
        // band (where the voice has almost nothing) is the only part that could change, so
        // compare with the right channel processed alone, which must pass unchanged.
        let mut alone = stage();
        let y_alone = process(alone.as_mut(), std::slice::from_ref(&right));
        assert_eq!(alone.metrics()[0].1, 0.0);
        assert!(y_alone[0] == right, "the right channel alone is not passed bit for bit");
        let lead = s.latency();
        assert!(
            y[1][..10_000 - lead] == right[..10_000 - lead],
            "changed before the linked burst"
        );
        assert!(s.metrics()[0].1 > 6.0);
        let diff: Vec<f32> = y[1].iter().zip(&y_alone[0]).map(|(a, b)| a - b).collect();
        assert!(
            rms_db(&diff[10_000..30_000]) > -140.0,
            "right channel ignored the linked gain"
        );
        assert!(rms_db(&diff[..9_000]) < -140.0);
    }

    #[test]
    fn contract() {
        let len = 30_000;
        let voice = voiced(len, -20.0, FS);
        let left = mix(&voice, &hiss_burst(len, 8_000..20_000, -18.0, 5000.0, 10_000.0));
        let input = vec![left, voice];
        for fs in [48_000, 44_100, 22_050, 16_000, 11_025, 8_000] {
            assert_block_size_invariant(&stage, fs, &input);
            assert_survives_garbage(&stage, fs, 2);
        }
        let mut s = stage();
        s.prepare(FS, 1, 64).unwrap();
        assert_eq!(s.latency(), 72);
    }

    /// 8 and 11.025 kHz have no 5 kHz band: passed through untouched, with no latency. At 16,
    /// 22.05 and 24 kHz the band runs into Nyquist, and the cut keeps its shape up to it (a
    /// band-pass bell would fall to nothing there): at the full 10 dB the whole 5.6–8 kHz range
    /// is cut by at least 7 dB and 4 kHz by less than 2.5 dB, and a 6.5 kHz hiss at 16 kHz loses
    /// more than 7 dB.
    #[test]
    fn low_sample_rates_bypass_or_clamp() {
        for fs in [8_000, 11_025] {
            let x = vec![white_noise(fs as usize, 4)];
            let mut s = prepared(fs);
            assert_eq!(s.latency(), 0, "{fs}");
            assert_eq!(run(&mut s, &x, 4096), x);
            assert_eq!(s.metrics()[3], ("bypassed", 1.0), "{fs}");
        }
        for fs in [16_000, 22_050, 24_000] {
            let s = prepared(fs);
            let grid: Vec<f64> = (0..=100)
                .map(|k| 20.0 * (fs as f64 / 40.0).powf(k as f64 / 100.0))
                .collect();
            let worst = grid.iter().map(|&f| cut_db(&s, fs, f, 10.0)).fold(f64::MIN, f64::max);
            assert!(worst <= 1e-3, "{fs}: boost of {worst:.2e} dB");
            let band: Vec<String> = [4000.0, 5000.0, 5600.0, 6500.0, 7500.0, 7900.0]
                .iter()
                .map(|&f| format!("{f:.0} Hz {:.1}", cut_db(&s, fs, f, 10.0)))
                .collect();
            eprintln!("{fs} Hz, cut at 10 dB: {}", band.join(", "));
            for f in [5600.0, 6500.0, 7500.0, 7900.0] {
                assert!(
                    cut_db(&s, fs, f, 10.0) < -7.0,
                    "{fs}: {f} Hz cut only {:.2} dB",
                    cut_db(&s, fs, f, 10.0)
                );
            }
            assert!(
                cut_db(&s, fs, 4000.0, 10.0) > -2.5,
                "{fs}: 4 kHz {:.2} dB",
                cut_db(&s, fs, 4000.0, 10.0)
            );
        }
        let fs = 16_000;
        let voice = voiced(fs as usize, -20.0, fs);
        let mut hiss = white_noise(fs as usize, 8);
        let mut c = Cascade::new(vec![Coeffs::bandpass(fs as f64, 6500.0, 3.0); 4]);
        c.prepare(1);
        c.process(0, &mut hiss);
        let gain = crate::dsp::db_to_amp(-20.0 - rms_db(&hiss)) as f32;
        hiss.iter_mut().for_each(|v| *v *= gain);
        let input = mix(&voice, &hiss);
        let mut s = prepared(fs);
        let y = run_in_sync(&mut s, std::slice::from_ref(&input), 4096);
        let measure = 1600..16_000;
        let change = band_db(&y[0], fs, 6000.0, 7000.0, measure.clone()) - band_db(&input, fs, 6000.0, 7000.0, measure);
        assert_eq!(s.metrics()[3], ("bypassed", 0.0));
        eprintln!(
            "16 kHz, 6.5 kHz hiss: 6–7 kHz changed {change:.2} dB, {:?}",
            s.metrics()
        );
        assert!(change < -7.0, "6–7 kHz changed {change:.2} dB, {:?}", s.metrics());
    }

    #[test]
    fn settings_parse_and_validate() {
        let s: DeessSettings = toml::from_str("enabled = true\nthreshold_db = -9.0").unwrap();
        assert_eq!(s.threshold_db, -9.0);
        assert_eq!(s.frequency_hz, 5000.0);
        assert!(s.validate().is_ok());
        assert!(toml::from_str::<DeessSettings>("frequency = 6000.0").is_err());
        let bad = DeessSettings {
            frequency_hz: 20_000.0,
            ..DeessSettings::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "deess.frequency_hz must be between 2000 and 12000, got 20000"
        );
    }
}
