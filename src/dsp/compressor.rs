//! Voice compressor: evens out the level between loud and soft passages (and between
//! speakers) before loudness normalization, so the normalized file has a steady level and
//! the true-peak limiter has little left to do.
//!
//! Feed-forward, stereo-linked, gain computed in dB with the soft-knee static curve of
//! Giannoulis, Massberg & Reiss (2012), and the gain reduction smoothed in the dB domain by
//! an attack/release follower (branching).
//!
//! The threshold is in dBFS of the detector level, and the compressor runs before
//! normalization, on the raw level of the recording: the default (−24 dBFS RMS) suits speech
//! recorded with peaks around −10…−3 dBFS. Much quieter recordings are barely compressed.

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

/// `[compressor]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressorSettings {
    pub enabled: bool,
    /// Detector level (dBFS) at the centre of the knee.
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
    fn default() -> Self {
        Self {
            enabled: true,
            // Speech recorded sensibly sits at −30…−18 dBFS RMS: −24 catches the louder
            // half of it; with ratio 3 and a 6 dB knee, a −12 dBFS shout loses 8 dB.
            threshold_db: -24.0,
            ratio: 3.0,
            knee_db: 6.0,
            // 10 ms lets syllable onsets through, 120 ms recovers between words without
            // audible pumping.
            attack_ms: 10.0,
            release_ms: 120.0,
            // Loudness normalization sets the final level; makeup would only eat headroom.
            makeup_db: 0.0,
            // RMS follows perceived loudness better than peaks on speech.
            detector: Detector::Rms,
            rms_window_ms: 20.0,
        }
    }
}

impl CompressorSettings {
    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_range("compressor.threshold_db", self.threshold_db, -60.0, 0.0)?;
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

/// The compressor stage. Latency 0.
pub struct CompressorStage {
    settings: CompressorSettings,
    smoother: AttackRelease,
    rms: MeanSquare,
    /// Detector state per channel (mean square), for the RMS detector.
    channel_ms: Vec<f64>,
    peak: SlidingMax,
    /// Smoothed gain reduction in dB (≥ 0).
    reduction: f64,
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
}

impl CompressorStage {
    pub fn new(settings: &CompressorSettings) -> Self {
        Self {
            settings: settings.clone(),
            smoother: AttackRelease::default(),
            rms: MeanSquare::default(),
            channel_ms: Vec::new(),
            peak: SlidingMax::new(1),
            reduction: 0.0,
            knee_start: 0.0,
            gains: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Target reduction (dB, ≥ 0) for a detector level in dB.
    #[inline]
    fn target_reduction(&self, level_db: f64) -> f64 {
        let s = &self.settings;
        (level_db - static_curve(level_db, s.threshold_db, s.ratio, s.knee_db)).max(0.0)
    }

    /// Computes the linked gain of `frames` frames into `self.gains`, sanitizing the block.
    fn compute_gains(&mut self, block: &mut [Vec<f32>], start: usize, frames: usize) {
        let makeup = self.settings.makeup_db;
        for i in 0..frames {
            let mut loudest = 0.0f64;
            let target = match self.settings.detector {
                Detector::Rms => {
                    for (ch, ms) in block.iter_mut().zip(self.channel_ms.iter_mut()) {
                        let x = sanitized(&mut ch[start + i]);
                        loudest = loudest.max(self.rms.step(ms, x * x));
                    }
                    if loudest > self.knee_start {
                        self.target_reduction(10.0 * loudest.log10())
                    } else {
                        0.0
                    }
                }
                Detector::Peak => {
                    for ch in block.iter_mut() {
                        loudest = loudest.max(sanitized(&mut ch[start + i]).abs());
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
            self.gains[i] = if reduction == 0.0 && makeup == 0.0 {
                1.0
            } else {
                db_to_gain(makeup - reduction) as f32
            };
            self.stats.frames += 1;
            if reduction > self.stats.max_reduction {
                self.stats.max_reduction = reduction;
            }
            if reduction > ACTIVE_DB {
                self.stats.active_sum += reduction;
                self.stats.active_frames += 1;
            }
        }
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

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) {
        let s = &self.settings;
        self.smoother = AttackRelease::new(s.attack_ms, s.release_ms, sample_rate);
        self.rms = MeanSquare::new(s.rms_window_ms, sample_rate);
        self.channel_ms = vec![0.0; channels];
        let hold = (PEAK_HOLD_MS * 1e-3 * sample_rate as f64).round() as usize;
        self.peak = SlidingMax::new(hold);
        // Start of the knee, minus a little so the flat region is exactly where the curve is.
        let knee_start_db = s.threshold_db - s.knee_db / 2.0 - 0.01;
        self.knee_start = match s.detector {
            Detector::Rms => 10f64.powf(knee_start_db / 10.0),
            Detector::Peak => 10f64.powf(knee_start_db / 20.0),
        };
        self.gains = vec![1.0; max_block.max(1)];
        self.reset();
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
        0
    }

    fn reset(&mut self) {
        self.channel_ms.fill(0.0);
        self.peak.reset();
        self.reduction = 0.0;
        self.stats = Stats::default();
    }

    /// `max_reduction_db`: the largest gain reduction; `mean_reduction_db`: mean reduction
    /// over the frames that were compressed (reduction > 0.1 dB); `active_percent`: share of
    /// frames compressed.
    fn metrics(&self) -> Vec<(&'static str, f64)> {
        let st = &self.stats;
        vec![
            ("max_reduction_db", st.max_reduction),
            ("mean_reduction_db", st.active_sum / st.active_frames.max(1) as f64),
            (
                "active_percent",
                100.0 * st.active_frames as f64 / st.frames.max(1) as f64,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{assert_block_size_invariant, assert_survives_garbage, rms_db, run, sine, white_noise};

    fn stage(settings: CompressorSettings) -> Box<dyn Stage> {
        Box::new(CompressorStage::new(&settings))
    }

    /// Steady 1 kHz sines at 10 levels from −54 to 0 dBFS peak: the steady-state output level
    /// (after 1 s) must sit on the static curve within 0.5 dB. The detector decides the level
    /// the curve is read at: the sine's RMS level (peak − 3.01 dB) for `rms`, its peak for `peak`.
    #[test]
    fn static_curve_matches_formula() {
        let fs = 48_000u32;
        for detector in [Detector::Rms, Detector::Peak] {
            let settings = CompressorSettings {
                detector,
                ..CompressorSettings::default()
            };
            for step in 0..10 {
                let peak_db = -54.0 + 6.0 * step as f64;
                let mut s = stage(settings.clone());
                s.prepare(fs, 1, 4096);
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
        s.prepare(fs, 1, 4096);
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

    /// Level steps −40 → 0 → −40 dBFS through a hard-knee 4:1 at −30 dBFS (peak detector, so
    /// the detector itself is instant): attack and release time constants read off the gain
    /// must be within 20 % of the settings. The release includes the detector's 10 ms hold.
    #[test]
    fn attack_and_release_times_match_settings() {
        for (attack_ms, release_ms) in [(10.0, 120.0), (2.0, 60.0), (30.0, 400.0)] {
            let settings = CompressorSettings {
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

    #[test]
    fn stereo_link_applies_the_same_gain_to_both_channels() {
        let fs = 48_000;
        let loud = sine(440.0, 0.9, fs, 48_000);
        let quiet = sine(440.0, 0.01, fs, 48_000);
        for detector in [Detector::Rms, Detector::Peak] {
            let mut s = stage(CompressorSettings {
                detector,
                ..CompressorSettings::default()
            });
            s.prepare(fs, 2, 4096);
            let y = run(s.as_mut(), &[loud.clone(), quiet.clone()], 4096);
            let g0 = rms_db(&y[0][24_000..]) - rms_db(&loud[24_000..]);
            let g1 = rms_db(&y[1][24_000..]) - rms_db(&quiet[24_000..]);
            assert!(g0 < -5.0 && (g0 - g1).abs() < 0.01, "{detector:?}: {g0} vs {g1}");
            let m = s.metrics();
            assert!(m[0].1 > 5.0 && m[1].1 > 5.0 && m[2].1 > 90.0, "{m:?}");
        }
    }

    #[test]
    fn quiet_signal_passes_unchanged() {
        let fs = 48_000;
        let x = sine(200.0, 0.01, fs, 48_000);
        let mut s = stage(CompressorSettings::default());
        s.prepare(fs, 1, 4096);
        let y = run(s.as_mut(), std::slice::from_ref(&x), 4096);
        assert_eq!(y[0], x);
        assert_eq!(s.metrics()[0], ("max_reduction_db", 0.0));
    }

    #[test]
    fn contract() {
        let speechy: Vec<f32> = white_noise(30_000, 5)
            .iter()
            .enumerate()
            .map(|(i, s)| s * if (i / 3000) % 2 == 0 { 0.8 } else { 0.02 })
            .collect();
        let input = vec![speechy.clone(), speechy.iter().map(|s| s * 0.5).collect()];
        for detector in [Detector::Rms, Detector::Peak] {
            let settings = CompressorSettings {
                detector,
                makeup_db: 3.0,
                ..CompressorSettings::default()
            };
            let make = || stage(settings.clone());
            assert_block_size_invariant(&make, 48_000, &input);
            assert_survives_garbage(&make, 48_000, 2);
            assert_survives_garbage(&make, 8_000, 1);
            assert_eq!(make().latency(), 0);
        }
    }

    #[test]
    fn settings_parse_and_validate() {
        let s: CompressorSettings = toml::from_str("detector = \"peak\"\nratio = 4.0").unwrap();
        assert_eq!(s.detector, Detector::Peak);
        assert_eq!(s.ratio, 4.0);
        assert!(s.validate().is_ok());
        assert!(toml::from_str::<CompressorSettings>("detector = \"loud\"").is_err());
        assert!(toml::from_str::<CompressorSettings>("treshold_db = -20.0").is_err());
        let bad = CompressorSettings {
            ratio: 0.5,
            ..CompressorSettings::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "compressor.ratio must be between 1 and 20, got 0.5"
        );
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
}
