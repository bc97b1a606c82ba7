//! The adaptive speech leveler: every voice in a file comes out at the same loudness — a
//! host close to the mic and a guest on a laptop alike — while pauses, breaths, coughs and
//! room tone are never lifted above the speech around them.
//!
//! A [`TwoPassStage`]: in pass A it reads the cleaned audio once and keeps, per 10 ms hop,
//! the K-weighted level (channels linked) and the features of the speech detector
//! ([`crate::dsp::speech`]); between the passes it finds the speech (with the denoiser's
//! speech estimate when there is one) and turns the speech level into a gain curve
//! ([`curve`]); in pass B it multiplies the audio by that curve, interpolated per sample
//! between the hop centres. No latency, same length, one gain for all channels (the stereo
//! image does not move). Memory: a few values per hop during analysis (about 5 MB per hour),
//! then one gain and one speech flag per hop (1.8 MB per hour).

pub mod curve;

use serde::{Deserialize, Serialize};

use super::speech::{detect, Detection, SpeechAnalyzer};
use super::twopass::{SpeechEstimate, TwoPassStage};
use super::{check_range, PrepareError};
use crate::loudness::gated_loudness;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelerSettings {
    pub enabled: bool,
    /// The most a passage is raised, in dB. The level every passage is brought to is the
    /// file's typical speech level, moved within the bounds when that levels every voice
    /// ([`curve`], step 4).
    pub max_boost_db: f64,
    /// The most a passage is lowered, in dB.
    pub max_cut_db: f64,
}

impl Default for LevelerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            // Voices up to 27 dB apart are brought level (a guest 15 dB under a host who
            // talks most, a host 12 dB over a guest who does); beyond that, the recording's
            // own noise would come up with the voice too far.
            max_boost_db: 15.0,
            max_cut_db: 12.0,
        }
    }
}

impl LevelerSettings {
    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_range("leveler.max_boost_db", self.max_boost_db, 0.0, 30.0)?;
        check_range("leveler.max_cut_db", self.max_cut_db, 0.0, 30.0)
    }
}

/// Below this rate the speech band (250 Hz–4 kHz, or what of it fits) is too narrow.
const MIN_SAMPLE_RATE: u32 = 4000;

/// Gating blocks for the loudness-change estimate: 400 ms, every 100 ms (BS.1770).
const GATING_BLOCK_HOPS: usize = 40;
const GATING_STEP_HOPS: usize = 10;

/// The leveler stage (module documentation).
pub struct Leveler {
    settings: LevelerSettings,
    sample_rate: u32,
    hop: usize,
    analyzer: Option<SpeechAnalyzer>,
    /// Per hop, after `plan`: whether it is speech, and the linear gain at its centre.
    speech: Vec<bool>,
    gain: Vec<f32>,
    figures: Figures,
    /// Next frame pass B will see.
    position: u64,
}

/// What `plan` decided, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Figures {
    max_boost_db: f64,
    max_cut_db: f64,
    speech_fraction: f64,
    loudness_change_db: f64,
    used_speech_estimate: bool,
}

impl Leveler {
    pub fn new(settings: &LevelerSettings) -> Leveler {
        Leveler {
            settings: settings.clone(),
            sample_rate: 0,
            hop: 1,
            analyzer: None,
            speech: Vec::new(),
            gain: Vec::new(),
            figures: Figures::default(),
            position: 0,
        }
    }

    /// Whether 100-ms block `k` of `block_frames` frames is speech (at least half of its
    /// hops are), for every block of a file of `frames` frames. Valid after `plan`.
    pub fn speech_blocks(&self, block_frames: usize, frames: u64) -> Vec<bool> {
        let blocks = (frames as usize).div_ceil(block_frames.max(1));
        (0..blocks)
            .map(|b| {
                let first = b * block_frames / self.hop;
                let last = (((b + 1) * block_frames).div_ceil(self.hop)).min(self.speech.len());
                let hops = last.saturating_sub(first);
                let speech = (first..last).filter(|&k| self.speech[k]).count();
                hops > 0 && 2 * speech >= hops
            })
            .collect()
    }

    /// Per 10-ms hop, whether it is speech. Valid after `plan`.
    pub fn speech_hops(&self) -> &[bool] {
        &self.speech
    }

    /// The largest boost the curve applies, in dB (≥ 0). Valid after `plan`.
    pub fn max_boost_db(&self) -> f64 {
        self.figures.max_boost_db
    }

    /// The largest cut the curve applies, in dB (≥ 0). Valid after `plan`.
    pub fn max_cut_db(&self) -> f64 {
        self.figures.max_cut_db
    }

    /// The gain curve, in dB per 10-ms hop (for plots and tests). Valid after `plan`.
    pub fn gain_db(&self) -> impl Iterator<Item = f64> + '_ {
        self.gain.iter().map(|&g| 20.0 * (g as f64).log10())
    }

    /// Frames per hop of the curve.
    pub fn hop_frames(&self) -> usize {
        self.hop
    }

    fn external_track(&self, estimate: &SpeechEstimate, hops: usize) -> Vec<f32> {
        (0..hops)
            .map(|k| {
                let centre = (k as f64 + 0.5) * self.hop as f64 / self.sample_rate as f64;
                estimate.at(centre).unwrap_or(f32::NAN)
            })
            .collect()
    }
}

impl TwoPassStage for Leveler {
    fn name(&self) -> &'static str {
        "leveler"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, _max_block: usize) -> Result<(), PrepareError> {
        if sample_rate < MIN_SAMPLE_RATE || channels == 0 {
            return Err(PrepareError {
                stage: "leveler",
                reason: format!(
                    "{channels} channels at {sample_rate} Hz: it needs at least one channel at {MIN_SAMPLE_RATE} Hz or more \
                     to tell speech from noise (switch it off with --no-level)"
                ),
            });
        }
        let analyzer = SpeechAnalyzer::new(sample_rate, channels);
        self.sample_rate = sample_rate;
        self.hop = analyzer.hop();
        self.analyzer = Some(analyzer);
        self.speech.clear();
        self.gain.clear();
        self.figures = Figures::default();
        self.position = 0;
        Ok(())
    }

    fn analyze(&mut self, block: &[Vec<f32>], range: std::ops::Range<usize>) {
        if let Some(analyzer) = self.analyzer.as_mut() {
            analyzer.add(block, range);
        }
    }

    fn plan(&mut self, speech: Option<SpeechEstimate>) -> Result<(), String> {
        let analyzer = self
            .analyzer
            .take()
            .ok_or_else(|| "internal error: the leveler was planned twice or never prepared".to_string())?;
        let features = analyzer.finish();
        let hops = features.energy.len();
        let external = speech.map(|estimate| self.external_track(&estimate, hops));
        let detection: Detection = detect(&features, external.as_deref());
        let curve = curve::gain_curve(
            &features.energy,
            &features.pitch_hz,
            &detection,
            self.settings.max_boost_db,
            self.settings.max_cut_db,
        );
        let gain_db = curve.map(|c| c.gain_db).unwrap_or_else(|| vec![0.0; hops]);
        let levelled: Vec<f32> = features
            .energy
            .iter()
            .zip(&gain_db)
            .map(|(&e, &g)| e * 10f32.powf(g / 10.0))
            .collect();
        let before = gating_blocks_loudness(&features.energy);
        let after = gating_blocks_loudness(&levelled);
        self.figures = Figures {
            max_boost_db: gain_db.iter().fold(0.0f32, |m, &g| m.max(g)) as f64,
            max_cut_db: gain_db.iter().fold(0.0f32, |m, &g| m.max(-g)) as f64,
            speech_fraction: detection.speech_hops() as f64 / hops.max(1) as f64,
            loudness_change_db: match (before, after) {
                (Some(b), Some(a)) => a - b,
                _ => 0.0,
            },
            used_speech_estimate: external.is_some(),
        };
        self.gain = gain_db.iter().map(|&g| 10f32.powf(g / 20.0)).collect();
        self.speech = detection.speech;
        Ok(())
    }

    fn rewind(&mut self) {
        self.position = 0;
    }

    fn apply(&mut self, block: &mut [Vec<f32>], frames: usize) {
        let Some(&last) = self.gain.last() else {
            self.position += frames as u64;
            return;
        };
        let hop = self.hop as f64;
        let centre = (hop - 1.0) / 2.0;
        for i in 0..frames {
            // Linear interpolation between hop centres; the ends hold.
            let pos = (self.position + i as u64) as f64 - centre;
            let g = if pos <= 0.0 {
                self.gain[0]
            } else {
                let k = (pos / hop).floor();
                let frac = (pos - k * hop) / hop;
                let k = k as usize;
                match (self.gain.get(k), self.gain.get(k + 1)) {
                    (Some(&a), Some(&b)) => a + (b - a) * frac as f32,
                    _ => last,
                }
            };
            for channel in block.iter_mut() {
                channel[i] *= g;
            }
        }
        self.position += frames as u64;
    }

    fn loudness_change_db(&self) -> f64 {
        self.figures.loudness_change_db
    }

    fn metrics(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("max_boost_db", self.figures.max_boost_db),
            ("max_cut_db", self.figures.max_cut_db),
            ("speech_fraction", self.figures.speech_fraction),
            (
                "used_speech_estimate",
                f64::from(u8::from(self.figures.used_speech_estimate)),
            ),
        ]
    }
}

/// BS.1770 integrated loudness of a per-hop energy track (400-ms blocks every 100 ms).
fn gating_blocks_loudness(energy: &[f32]) -> Option<f64> {
    let blocks: Vec<f64> = (0..energy.len().saturating_sub(GATING_BLOCK_HOPS - 1))
        .step_by(GATING_STEP_HOPS)
        .map(|j| energy[j..j + GATING_BLOCK_HOPS].iter().map(|&e| e as f64).sum::<f64>() / GATING_BLOCK_HOPS as f64)
        .collect();
    gated_loudness(&blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::speech::tests::harmonic_voice;
    use crate::dsp::testutil::{rms_db, white_noise};
    use crate::dsp::twopass::testutil::{apply_only, assert_two_pass_block_size_invariant, run_two_pass};
    use crate::io::ChannelRole;
    use crate::loudness::{Meter, MeterKind};

    const RATE: u32 = 16_000;

    /// Room tone with voices laid over it: `(start s, f0, seconds, rms dB)`.
    fn voices(seconds: f64, parts: &[(f64, f64, f64, f64)], seed: u64) -> Vec<f32> {
        let mut out: Vec<f32> = white_noise((seconds * RATE as f64) as usize, seed)
            .iter()
            .map(|x| x * 0.002)
            .collect();
        for &(at, f0, length, db) in parts {
            let start = (at * RATE as f64) as usize;
            for (o, s) in out[start..].iter_mut().zip(harmonic_voice(f0, length, RATE, db)) {
                *o += s;
            }
        }
        out
    }

    fn conversation() -> Vec<f32> {
        voices(
            12.0,
            &[
                (0.5, 140.0, 3.0, -20.0),
                (4.0, 210.0, 3.0, -32.0),
                (7.5, 140.0, 2.0, -20.0),
                (10.0, 210.0, 1.5, -32.0),
            ],
            1,
        )
    }

    fn span(seconds: std::ops::Range<f64>) -> std::ops::Range<usize> {
        (seconds.start * RATE as f64) as usize..(seconds.end * RATE as f64) as usize
    }

    #[test]
    fn output_is_the_same_for_any_block_size_and_rerun() {
        let a = conversation();
        let b = voices(12.0, &[(1.0, 180.0, 4.0, -26.0), (6.0, 120.0, 5.0, -36.0)], 2);
        let input = vec![a, b];
        let make = || Box::new(Leveler::new(&LevelerSettings::default())) as Box<dyn TwoPassStage>;
        assert_two_pass_block_size_invariant(&make, RATE, &input);
    }

    #[test]
    fn two_voices_twelve_db_apart_come_out_level_with_one_gain_for_both_channels() {
        let left = conversation();
        // The right channel carries the same voices 6 dB down plus its own noise: the image.
        let right: Vec<f32> = left
            .iter()
            .zip(white_noise(left.len(), 4))
            .map(|(x, n)| 0.5 * x + 0.001 * n)
            .collect();
        let input = vec![left, right];
        let mut leveler = Leveler::new(&LevelerSettings::default());
        let output = run_two_pass(&mut leveler, &input, RATE, None, 4096, 4096);
        assert_eq!(output[0].len(), input[0].len());
        let gain = |ch: usize, r: std::ops::Range<usize>| rms_db(&output[ch][r.clone()]) - rms_db(&input[ch][r]);
        let loud = span(1.0..3.0);
        let quiet = span(4.5..6.5);
        let levelled = (rms_db(&output[0][quiet.clone()])) - rms_db(&output[0][loud.clone()]);
        assert!(levelled.abs() < 1.0, "voices still {levelled:.2} dB apart");
        // The same gain on both channels, sample by sample.
        for i in (0..input[0].len()).step_by(97) {
            let (l, r) = (input[0][i], input[1][i]);
            if l.abs() > 1e-3 && r.abs() > 1e-3 {
                let (gl, gr) = (output[0][i] / l, output[1][i] / r);
                assert!((gl - gr).abs() <= 1e-4 * gl.abs(), "frame {i}: {gl} vs {gr}");
            }
        }
        assert!((gain(0, quiet.clone()) - gain(1, quiet)).abs() < 0.01);
        // The reference is the voice that talks longest (the loud one): the quiet one is
        // raised by about 12 dB, nothing is cut.
        assert!((leveler.max_boost_db() - 12.0).abs() < 1.0, "{:?}", leveler.metrics());
        assert!(leveler.max_cut_db() < 0.5, "{:?}", leveler.metrics());
    }

    #[test]
    fn room_tone_in_the_pauses_is_not_lifted_above_the_quiet_voice() {
        let input = vec![conversation()];
        let mut leveler = Leveler::new(&LevelerSettings::default());
        let output = run_two_pass(&mut leveler, &input, RATE, None, 4096, 4096);
        let quiet_gain = rms_db(&output[0][span(4.5..6.5)]) - rms_db(&input[0][span(4.5..6.5)]);
        for pause in [3.7..3.85, 6.8..7.3, 9.7..9.85, 11.7..11.95] {
            let gain = rms_db(&output[0][span(pause.clone())]) - rms_db(&input[0][span(pause.clone())]);
            assert!(
                gain <= quiet_gain + 0.5,
                "pause {pause:?}: {gain:.2} dB vs {quiet_gain:.2} dB"
            );
        }
    }

    #[test]
    fn the_predicted_loudness_change_is_what_the_meter_measures() {
        let input = vec![conversation()];
        let mut leveler = Leveler::new(&LevelerSettings::default());
        let output = run_two_pass(&mut leveler, &input, RATE, None, 4096, 4096);
        let measure = |x: &[Vec<f32>]| {
            let mut meter = Meter::new(RATE, &[ChannelRole::Center], MeterKind::IntegratedOnly).unwrap();
            meter.add(x, 0..x[0].len());
            meter.integrated().unwrap()
        };
        let change = measure(&output) - measure(&input);
        assert!(change.abs() > 1.0, "the test needs a change to predict: {change:.2}");
        assert!(
            (leveler.loudness_change_db() - change).abs() < 0.1,
            "predicted {:.3} LU, measured {change:.3} LU",
            leveler.loudness_change_db()
        );
    }

    #[test]
    fn a_denoiser_speech_estimate_decides_where_the_speech_is() {
        let input = vec![conversation()];
        let hops = input[0].len() / (RATE as usize / 100);
        // The estimate calls only the first voice speech, and arrives 20 ms late (the stages
        // before the denoiser delayed it): hop k of the track is aligned time k·10 ms − 20 ms.
        let probability: Vec<f32> = (0..hops + 2)
            .map(|k| if (52..352).contains(&k) { 0.95 } else { 0.02 })
            .collect();
        let estimate = SpeechEstimate {
            probability: &probability,
            hop_s: 0.01,
            offset_s: 0.02,
        };
        let mut leveler = Leveler::new(&LevelerSettings::default());
        run_two_pass(&mut leveler, &input, RATE, Some(estimate), 4096, 4096);
        let blocks = leveler.speech_blocks(1600, input[0].len() as u64);
        assert_eq!(blocks.len(), 120);
        assert!(blocks[6..34].iter().all(|&s| s), "{blocks:?}");
        assert!(!blocks[40..].iter().any(|&s| s), "{blocks:?}");
        assert_eq!(
            leveler
                .metrics()
                .iter()
                .find(|m| m.0 == "used_speech_estimate")
                .unwrap()
                .1,
            1.0
        );
        // With only one voice there is nothing to level.
        assert!(
            leveler.max_boost_db() < 0.5 && leveler.max_cut_db() < 0.5,
            "{:?}",
            leveler.metrics()
        );
    }

    #[test]
    fn silence_and_garbage_leave_the_audio_alone() {
        let mut leveler = Leveler::new(&LevelerSettings::default());
        let silence = vec![vec![0.0f32; 20_000]];
        let out = run_two_pass(&mut leveler, &silence, RATE, None, 4096, 4096);
        assert_eq!(out, silence);
        assert_eq!(leveler.loudness_change_db(), 0.0);
        let mut garbage = conversation();
        for (i, s) in garbage.iter_mut().enumerate().step_by(13) {
            *s = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
        }
        let mut leveler = Leveler::new(&LevelerSettings::default());
        leveler.prepare(RATE, 1, 4096).unwrap();
        leveler.analyze(&[garbage.clone()], 0..garbage.len());
        leveler.plan(None).unwrap();
        assert!(leveler.gain_db().all(|g| g.is_finite()));
        let clean = vec![conversation()];
        let out = apply_only(&mut leveler, &clean, 512);
        assert!(out[0].iter().all(|s| s.is_finite()));
    }

    #[test]
    fn a_stream_it_cannot_analyse_is_refused_with_the_reason() {
        let mut leveler = Leveler::new(&LevelerSettings::default());
        let err = leveler.prepare(2000, 1, 4096).unwrap_err();
        assert!(
            err.to_string().contains("2000 Hz") && err.to_string().contains("--no-level"),
            "{err}"
        );
        assert!(leveler.prepare(8000, 2, 4096).is_ok());
    }

    #[test]
    fn settings_are_checked_by_name() {
        let mut settings = LevelerSettings::default();
        assert!(settings.validate().is_ok());
        settings.max_boost_db = 45.0;
        assert!(settings.validate().unwrap_err().contains("leveler.max_boost_db"));
        settings.max_boost_db = 15.0;
        settings.max_cut_db = f64::NAN;
        assert!(settings.validate().unwrap_err().contains("leveler.max_cut_db"));
    }
}
