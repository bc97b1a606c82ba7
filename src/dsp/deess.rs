//! De-esser: turns down harsh "s"/"sh" sibilance (4–10 kHz) only while it sticks out, without
//! dulling the voice in between — a compressor or EQ alone would do one or the other.
//!
//! Dynamic-bell design. The output is `y = x + (g − 1)·B(x)`, where `B` is an RBJ
//! constant-0-dB-peak band-pass (one biquad, Q = 1.2) centred on `frequency_hz`, and `g ≤ 1` is
//! the sidechain's gain. That sum is exactly a peaking-EQ cut of depth `g` at the centre (a
//! band-pass has unit gain and zero phase there), so the sibilance band goes down by the full
//! reduction while the skirts fall off symmetrically: at the default 6 kHz and 10 dB of
//! reduction, −8.5 dB at 6.5 kHz, −3.7 dB at 4.5 kHz, −2 dB at 9 kHz, −0.9 dB at 3 kHz and
//! −0.3 dB at 2 kHz. Q = 1.2 puts `B`'s −3 dB edges at `f/1.5` and `1.5·f` (4–9 kHz).
//!
//! **No reduction means no processing.** The dry path holds no filter: with `g = 1` the output
//! is the input bit for bit (reductions below 1e-6 dB, a change under one f32 step, count as
//! none), so a voice without sibilance passes untouched and the stage never shifts timing —
//! the output/input cross-correlation peaks at lag 0, also on speech that is being de-essed
//! (the band that is cut has zero phase at its centre; its residual phase off-centre tilts
//! the peak by at most ~0.2 sample, and only while reducing). An earlier split-band design
//! (`allpass(x) − (1 − g)·high` with a Linkwitz-Riley crossover) turned the phase of
//! everything even when idle and moved the correlation peak of real speech by 3 samples.
//!
//! Sidechain: the short-term power (3 ms mean square) of the high band — an 8th-order
//! Linkwitz-Riley high-pass at `frequency_hz / 1.5`, low-passed at `frequency_hz · 5/3` (so
//! 4–10 kHz by default) — is compared with the short-term power of the full band. The
//! threshold is that ratio in dB, so quiet and loud voices are treated alike. Above it, the
//! band is turned down by as many dB as the ratio exceeds the threshold, up to
//! `max_reduction_db`, smoothed by `attack_ms`/`release_ms`. Channels are linked: powers are
//! summed over channels and all get the same gain. Latency 0.
//!
//! At sample rates where the band does not exist (crossover above 0.4·fs: 8 kHz input), the
//! stage passes audio through untouched and reports `bypassed = 1`; the sidechain's upper edge
//! is clamped to 0.45·fs otherwise (11.025 kHz input de-esses 4–5 kHz), and the bell's centre
//! to the geometric middle of the sidechain band when `frequency_hz` lies above it (4.5 kHz at
//! 11.025 kHz, 5.4 kHz at 16 kHz).

use serde::{Deserialize, Serialize};

use super::biquad::{butterworth_highpass, butterworth_lowpass, Cascade, Coeffs};
use super::check_range;
use super::envelope::{AttackRelease, MeanSquare};
use super::Stage;

/// `[deess]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeessSettings {
    pub enabled: bool,
    /// Centre of the band that is turned down, in Hz (its band-pass's −3 dB edges are at
    /// `f/1.5` and `1.5·f`); the sidechain band spans `f/1.5 … f·5/3` (4–10 kHz at 6 kHz).
    pub frequency_hz: f64,
    /// How far the band's power may come up to the full-band power (dB, ≤ 0) before
    /// reduction starts.
    pub threshold_db: f64,
    /// The most the band is ever turned down (at its centre), in dB.
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
            frequency_hz: 6000.0,
            // In voiced speech the 4–10 kHz band sits 25–40 dB below the full band; in an "s"
            // it carries most of the power (0…−3 dB). −12 dB lies clearly between, so vowels are
            // never touched and a sibilant is pulled down by 9–10 dB.
            threshold_db: -12.0,
            // Enough to tame a harsh "s"; more starts to sound like a lisp.
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
/// Power added to the full-band power before the ratio (−50 dBFS), so hiss in pauses, whose
/// spectrum is mostly "high band", is not mistaken for sibilance.
const FLOOR_POWER: f64 = 1e-5;
/// Reduction (dB) above which a frame counts as de-essed in the metrics.
const ACTIVE_DB: f64 = 0.1;
/// Q of the reduction band-pass: −3 dB edges at `f/1.5` and `1.5·f` (`1.5 − 1/1.5 = 1/Q`).
const BELL_Q: f64 = 1.2;
/// Reduction (dB) below which the output is the input untouched. 1e-6 dB scales the band by
/// 1 − 1.2e-7, less than one step of f32, so skipping it changes nothing audible or
/// measurable, but lets the output return to bit-exact as soon as the release has settled.
const IDENTITY_DB: f64 = 1e-6;

/// The de-esser stage. Latency 0.
pub struct DeessStage {
    settings: DeessSettings,
    bypassed: bool,
    /// Sidechain: high-pass (LR8) then low-pass, giving the detection band.
    split_high: Cascade,
    side_lowpass: Cascade,
    /// `B`: the band-pass whose output is subtracted, scaled by `1 − g`.
    bell: Cascade,
    detector: MeanSquare,
    smoother: AttackRelease,
    band_power: f64,
    full_power: f64,
    /// Smoothed reduction in dB (≥ 0).
    reduction: f64,
    /// Band/full power ratio (linear) at the threshold.
    threshold: f64,
    /// Per channel: `B(x)` of the current chunk.
    bell_out: Vec<Vec<f64>>,
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
            bell: Cascade::default(),
            detector: MeanSquare::default(),
            smoother: AttackRelease::default(),
            band_power: 0.0,
            full_power: 0.0,
            reduction: 0.0,
            threshold: 1.0,
            bell_out: Vec::new(),
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
        // Pass 1, per channel: silence non-finite input, run the sidechain filters and the
        // bell's band-pass, and sum the sidechain powers over channels.
        for (ch, (samples, bell_out)) in block.iter_mut().zip(self.bell_out.iter_mut()).enumerate() {
            let samples = &mut samples[start..start + frames];
            for (i, (s, b)) in samples.iter_mut().zip(bell_out.iter_mut()).enumerate() {
                if !s.is_finite() {
                    *s = 0.0;
                }
                let x = *s as f64;
                let band = self.side_lowpass.tick(ch, self.split_high.tick(ch, x));
                *b = self.bell.tick(ch, x);
                band_sq[i] += band * band;
                full_sq[i] += x * x;
            }
        }
        // Pass 2, per frame: linked gain, stored over `band_sq` as (1 − g).
        let max_reduction = self.settings.max_reduction_db;
        let threshold_db = self.settings.threshold_db;
        for (b, &f) in band_sq.iter_mut().zip(full_sq.iter()) {
            let band = self.detector.step(&mut self.band_power, *b);
            let full = self.detector.step(&mut self.full_power, f) + FLOOR_POWER;
            let target = if band > self.threshold * full {
                (10.0 * (band / full).log10() - threshold_db).min(max_reduction)
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
        // Pass 3, per channel: y = x − (1 − g)·B(x); samples without reduction are left as
        // they are.
        for (samples, bell_out) in block.iter_mut().zip(self.bell_out.iter()) {
            for ((s, &b), &cut) in samples[start..start + frames]
                .iter_mut()
                .zip(bell_out.iter())
                .zip(band_sq.iter())
            {
                if cut != 0.0 {
                    *s = (*s as f64 - cut * b) as f32;
                }
            }
        }
    }
}

impl Stage for DeessStage {
    fn name(&self) -> &'static str {
        "deess"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), super::PrepareError> {
        let fs = sample_rate as f64;
        let crossover = self.settings.frequency_hz / 1.5;
        let top = (self.settings.frequency_hz * 5.0 / 3.0).min(0.45 * fs);
        self.bypassed = crossover > 0.4 * fs;
        let centre = self.settings.frequency_hz.min((crossover * top).sqrt());
        let mut lr8 = butterworth_highpass(fs, crossover, 4);
        lr8.extend_from_within(..);
        self.split_high = Cascade::new(lr8);
        self.side_lowpass = Cascade::new(butterworth_lowpass(fs, top, 2));
        self.bell = Cascade::new(vec![Coeffs::bandpass(fs, centre, BELL_Q)]);
        for c in [&mut self.split_high, &mut self.side_lowpass, &mut self.bell] {
            c.prepare(channels);
        }
        self.detector = MeanSquare::new(DETECTOR_MS, sample_rate);
        self.smoother = AttackRelease::new(self.settings.attack_ms, self.settings.release_ms, sample_rate);
        self.threshold = 10f64.powf(self.settings.threshold_db / 10.0);
        let chunk = max_block.max(1);
        self.bell_out = vec![vec![0.0; chunk]; channels];
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
        0
    }

    fn reset(&mut self) {
        for c in [&mut self.split_high, &mut self.side_lowpass, &mut self.bell] {
            c.reset();
        }
        self.band_power = 0.0;
        self.full_power = 0.0;
        self.reduction = 0.0;
        self.stats = Stats::default();
    }

    /// `max_reduction_db`: the most the band was turned down (at its centre);
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
    use crate::dsp::testutil::{
        assert_block_size_invariant, assert_survives_garbage, best_lag, rms_db, run, white_noise,
    };
    use std::f64::consts::PI;

    const FS: u32 = 48_000;

    fn stage() -> Box<dyn Stage> {
        Box::new(DeessStage::new(&DeessSettings::default()))
    }

    /// A vowel stand-in: 150 Hz harmonics up to 2850 Hz with 1/k amplitudes, scaled to `rms_db`.
    fn voiced(len: usize, rms_db_target: f64, fs: u32) -> Vec<f32> {
        let raw: Vec<f64> = (0..len)
            .map(|i| {
                let t = i as f64 / fs as f64;
                (1..=19)
                    .map(|k| (2.0 * PI * 150.0 * k as f64 * t + k as f64).sin() / k as f64)
                    .sum()
            })
            .collect();
        let rms = (raw.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
        let scale = crate::dsp::db_to_amp(rms_db_target) / rms;
        raw.iter().map(|v| (v * scale) as f32).collect()
    }

    /// Sibilance stand-in: white noise band-limited around 6.5 kHz (four band-pass sections),
    /// scaled to `rms_db`, present only in `on`.
    fn hiss_burst(len: usize, on: std::ops::Range<usize>, rms_db_target: f64) -> Vec<f32> {
        let mut noise = white_noise(len, 77);
        filter(&mut noise, vec![Coeffs::bandpass(FS as f64, 6500.0, 3.0); 4]);
        let rms = rms_db(&noise[on.clone()]);
        let scale = crate::dsp::db_to_amp(rms_db_target - rms) as f32;
        for (i, s) in noise.iter_mut().enumerate() {
            *s = if on.contains(&i) { *s * scale } else { 0.0 };
        }
        noise
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

    fn process(s: &mut dyn Stage, input: &[Vec<f32>]) -> Vec<Vec<f32>> {
        s.prepare(FS, input.len(), 4096).unwrap();
        run(s, input, 4096)
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

    /// The CMU ARCTIC fixture (16 kHz mono speech) as f32 in ±1.
    fn speech_16k() -> Vec<f32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_aew_a0001.wav");
        let mut reader = hound::WavReader::open(path).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32_768.0).collect()
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
    /// band-limited to 4–9 kHz, −16 dBFS), 48 kHz.
    fn voice_with_sibilants() -> Vec<f32> {
        let len = 3 * FS as usize;
        let mut noise = white_noise(len, 21);
        let mut sections = butterworth_highpass(FS as f64, 4000.0, 4);
        sections.extend(butterworth_lowpass(FS as f64, 9000.0, 4));
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

    /// A 6.5 kHz burst as loud as the voice under it (band ≈ −3 dB of full band) must lose at
    /// least 6 dB in 5.5–7.5 kHz while the energy below 3 kHz moves less than 0.5 dB, at a loud
    /// and a quiet level alike (the threshold is relative).
    #[test]
    fn sibilance_is_reduced_and_the_voice_is_not() {
        let len = FS as usize * 3 / 2;
        let burst = FS as usize / 2..FS as usize;
        let measure = burst.start + FS as usize / 10..burst.end;
        for level in [-12.0, -42.0] {
            let voice = voiced(len, level, FS);
            let hiss = hiss_burst(len, burst.clone(), level);
            let x: Vec<f32> = voice.iter().zip(&hiss).map(|(v, h)| v + h).collect();
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            let band = |x: &[f32], r: std::ops::Range<usize>| band_db(x, FS, 5500.0, 7500.0, r);
            let band_change = band(&y[0], measure.clone()) - band(&x, measure.clone());
            let band_change_burst = band(&y[0], burst.clone()) - band(&x, burst.clone());
            let low_change = below_3k_db(&y[0], measure.clone()) - below_3k_db(&x, measure.clone());
            let low_change_all = below_3k_db(&y[0], 0..len) - below_3k_db(&x, 0..len);
            eprintln!(
                "{level} dB: 5.5-7.5 kHz {band_change:.2} dB (whole burst {band_change_burst:.2}), \
                 <3 kHz {low_change:.3} dB in burst, {low_change_all:.3} dB overall, {:?}",
                s.metrics()
            );
            assert!(
                band_change < -6.0 && band_change_burst < -6.0,
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
            // Before the burst nothing was reduced, so nothing changed at all.
            assert_eq!(y[0][..burst.start], x[..burst.start], "{level} dB");
            let m = s.metrics();
            assert!(m[0].1 > 6.0 && m[0].1 <= 10.0, "{m:?}");
            assert_eq!(m[3], ("bypassed", 0.0));
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
            let range = FS as usize / 10..len;
            let total = rms_db(&y[0][range.clone()]) - rms_db(&x[range.clone()]);
            let low = below_3k_db(&y[0], range.clone()) - below_3k_db(&x, range);
            assert!(
                total.abs() < 0.1 && low.abs() < 0.1,
                "{level} dB: {total:.3} / {low:.3} dB"
            );
            assert!(y[0] == x, "{level} dB: output is not the input bit for bit");
        }
    }

    /// Sample-exact sync: the output/input cross-correlation peaks at lag 0 on real speech at
    /// 16 kHz (clamped band) and upsampled to 48 kHz, and on a voice with loud sibilant bursts,
    /// all of them de-essed by up to the full 10 dB (with no reduction the output is the input
    /// bit for bit, so the lag is trivially 0).
    ///
    /// The parabolic sub-sample peak is within ±0.1 sample at 16 kHz. At 48 kHz it is held to
    /// ±0.25: while a band is being cut, a causal, zero-latency cut cannot be zero-phase (that
    /// needs an impulse response symmetric about 0), and its residual phase (lag below the
    /// centre, lead above) tilts the correlation peak by a fraction of a sample, one way or the
    /// other depending on where the sibilance sits (+0.20 for the upsampled speech, whose band
    /// stops at 7.2 kHz; −0.17 for the 4–9 kHz bursts). That is 4 µs, and only while de-essing.
    #[test]
    fn output_is_not_shifted_in_time() {
        let speech = speech_16k();
        let cases = [
            ("speech 16 kHz", 16_000, speech.clone(), 0.1),
            ("speech 48 kHz", FS, upsample_3x(&speech), 0.25),
            ("synthetic sibilants 48 kHz", FS, voice_with_sibilants(), 0.25),
        ];
        for (name, fs, x, tolerance) in cases {
            let mut s = stage();
            s.prepare(fs, 1, 4096).unwrap();
            let y = run(s.as_mut(), std::slice::from_ref(&x), 4096);
            let lag = best_lag(&x, &y[0], 50);
            let fine = subsample_lag(&x, &y[0]);
            eprintln!("{name}: lag {lag}, sub-sample {fine:+.4}, {:?}", s.metrics());
            assert!(s.metrics()[0].1 > 9.0, "{name}: not de-essed, {:?}", s.metrics());
            assert_eq!(lag, 0, "{name}");
            assert!(fine.abs() < tolerance, "{name}: sub-sample lag {fine:+.4}");
        }
    }

    /// Real speech (the fixture upsampled to 48 kHz) with the default threshold: every frame
    /// dominated by 4–8 kHz (an "s") is de-essed by at least 6 dB, no voiced frame (4–8 kHz
    /// more than 20 dB down) ever makes the reduction grow — vowels only inherit the release
    /// of a preceding sibilant — and the reduction never exceeds the 10 dB maximum.
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
        // 10 ms frames: input level, share of the power above 4 kHz, reduction.
        let frame = FS as usize / 100;
        let mut hf = x.clone();
        filter(&mut hf, butterworth_highpass(FS as f64, 4000.0, 8));
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
                sibilant.push(peak);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let min = sibilant.iter().fold(f64::MAX, |m, &r| m.min(r));
        let m = s.metrics();
        eprintln!(
            "{m:?}; {} sibilant frames: min {min:.2}, mean {:.2} dB; {} vowel frames: mean {:.2} dB (release)",
            sibilant.len(),
            mean(&sibilant),
            vowel.len(),
            mean(&vowel),
        );
        assert!(sibilant.len() >= 20 && vowel.len() >= 100);
        assert!(min >= 6.0, "a sibilant frame got only {min:.2} dB");
        assert!(m[0].1 <= 10.0 + 1e-9, "{m:?}");
    }

    #[test]
    fn channels_are_linked() {
        let len = FS as usize;
        let voice = voiced(len, -20.0, FS);
        let hiss = hiss_burst(len, 10_000..30_000, -20.0);
        let left: Vec<f32> = voice.iter().zip(&hiss).map(|(v, h)| v + h).collect();
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
        assert!(y[1][..10_000] == right[..10_000], "changed before the linked burst");
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
        let hiss = hiss_burst(len, 8_000..20_000, -18.0);
        let left: Vec<f32> = voice.iter().zip(&hiss).map(|(v, h)| v + h).collect();
        let input = vec![left, voice];
        for fs in [48_000, 44_100, 11_025, 8_000] {
            assert_block_size_invariant(&stage, fs, &input);
            assert_survives_garbage(&stage, fs, 2);
        }
        assert_eq!(stage().latency(), 0);
    }

    #[test]
    fn low_sample_rates_bypass_or_clamp() {
        let x = vec![white_noise(8_000, 4)];
        let mut s = stage();
        s.prepare(8_000, 1, 4096).unwrap();
        assert_eq!(run(s.as_mut(), &x, 4096), x);
        assert_eq!(s.metrics()[3], ("bypassed", 1.0));
        // 11.025 kHz: the band is clamped to 4–5 kHz and still works on a 4.6 kHz hiss.
        let fs = 11_025;
        let voice = voiced(fs as usize, -20.0, fs);
        let mut hiss = white_noise(fs as usize, 8);
        let mut c = Cascade::new(vec![Coeffs::bandpass(fs as f64, 4600.0, 3.0); 4]);
        c.prepare(1);
        c.process(0, &mut hiss);
        let gain = crate::dsp::db_to_amp(-20.0 - rms_db(&hiss)) as f32;
        hiss.iter_mut().for_each(|v| *v *= gain);
        let input: Vec<f32> = voice.iter().zip(&hiss).map(|(v, h)| v + h).collect();
        let mut s = stage();
        s.prepare(fs, 1, 4096).unwrap();
        let y = run(s.as_mut(), &[input], 4096);
        assert!(y[0].iter().all(|v| v.is_finite()));
        assert_eq!(s.metrics()[3], ("bypassed", 0.0));
        assert!(s.metrics()[0].1 > 3.0, "{:?}", s.metrics());
    }

    #[test]
    fn settings_parse_and_validate() {
        let s: DeessSettings = toml::from_str("enabled = true\nthreshold_db = -9.0").unwrap();
        assert_eq!(s.threshold_db, -9.0);
        assert_eq!(s.frequency_hz, 6000.0);
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
