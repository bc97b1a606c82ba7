//! Loudness metering (ITU-R BS.1770 / EBU R128) through the `ebur128` crate, with every
//! figure the report needs and `None` wherever a figure is undefined (silence, too short).

use ebur128::{Channel, EbuR128, Mode};
use serde::{Deserialize, Serialize};

use crate::dsp::biquad::Coeffs;
use crate::dsp::truepeak::TruePeakDetector;
use crate::io::ChannelRole;

/// One file's loudness figures. `None` means undefined (e.g. integrated loudness of silence),
/// never a made-up number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub integrated_lufs: Option<f64>,
    pub lra_lu: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    pub sample_peak_dbfs: Option<f64>,
    pub max_momentary_lufs: Option<f64>,
    pub max_short_term_lufs: Option<f64>,
    /// Unweighted RMS of the whole file, channels' powers averaged (ACX's "RMS"), in dBFS;
    /// this and the next three come from `check::acx::LevelMeter`.
    #[serde(default)]
    pub rms_dbfs: Option<f64>,
    /// RMS of the quietest 500 ms, in dBFS (`None`: shorter than 500 ms, or digital silence).
    #[serde(default)]
    pub noise_floor_dbfs: Option<f64>,
    /// Room tone before the narration starts, in seconds (`None`: no narration found).
    #[serde(default)]
    pub room_tone_head_s: Option<f64>,
    /// Room tone after the narration ends, in seconds.
    #[serde(default)]
    pub room_tone_tail_s: Option<f64>,
    /// BS.1770 integrated loudness over speech only (see [`SpeechLoudness`]); `None` where
    /// no speech was found or nothing looked for it (the leveler off).
    #[serde(default)]
    pub speech_integrated_lufs: Option<f64>,
    /// Speech-level spread: p90 − p10 of speech-gated short-term loudness, in LU (see
    /// [`SpeechLoudness`]).
    #[serde(default)]
    pub speech_spread_lu: Option<f64>,
}

impl Measurement {
    /// Every figure, for code that must treat them alike (e.g. dropping non-finite values).
    pub fn figures_mut(&mut self) -> [&mut Option<f64>; 12] {
        [
            &mut self.integrated_lufs,
            &mut self.lra_lu,
            &mut self.true_peak_dbtp,
            &mut self.sample_peak_dbfs,
            &mut self.max_momentary_lufs,
            &mut self.max_short_term_lufs,
            &mut self.rms_dbfs,
            &mut self.noise_floor_dbfs,
            &mut self.room_tone_head_s,
            &mut self.room_tone_tail_s,
            &mut self.speech_integrated_lufs,
            &mut self.speech_spread_lu,
        ]
    }

    /// Fills in the speech-gated figures.
    pub fn set_speech(&mut self, speech: SpeechLoudness) {
        self.speech_integrated_lufs = speech.integrated_lufs;
        self.speech_spread_lu = speech.spread_lu;
    }
}

/// What a meter measures: everything (for the report), integrated loudness and true peak
/// (what a pass that only searches the gain checks), or integrated loudness alone (enough to
/// compute a gain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterKind {
    Full,
    /// Integrated loudness and true peak, without the loudness range, momentary and
    /// short-term maxima and the 100-ms track that make up most of a `Full` meter's cost.
    LoudnessAndPeak,
    IntegratedOnly,
}

/// A streaming BS.1770 meter over planar f32 blocks.
pub struct Meter {
    inner: EbuR128,
    kind: MeterKind,
    /// Frames per 100 ms (the meter's own block grid): momentary and short-term maxima are
    /// sampled on this grid.
    step: usize,
    frames_to_next_step: usize,
    /// K-weighted energy of the last 30 100-ms blocks (a ring): momentary loudness is the mean
    /// of the last 4, short-term of all 30. Asking `ebur128` for momentary and short-term
    /// loudness every 100 ms would re-sum 3.4 s of audio per 100 ms; this sums each sample once.
    block_energies: [f64; SHORT_TERM_BLOCKS],
    blocks_seen: usize,
    max_momentary: f64,
    max_short_term: f64,
    /// True peak for `Full`: the limiter's detector (reads at least as high as `ebur128`'s and
    /// on FFmpeg's 192 kHz grid), floored at the running maximum so only the passages that
    /// could raise it are interpolated — a fraction of `ebur128`'s true-peak cost.
    true_peak: Option<TruePeakDetector>,
    peaks: Vec<f32>,
    max_true_peak: f32,
    /// K-weighted, channel-weighted mean-square energy of every completed 100-ms block, in
    /// order (`Full` only): the base of loudness-over-time plots and speech-gated measures.
    /// Ten values a second — 144 KB for an hour.
    block_track: Vec<f32>,
    /// True-peak readings above this (linear) mark their 100-ms block as an over; infinity: off.
    over_threshold: f32,
    /// Indices of the 100-ms blocks holding a true peak above `over_threshold`, ascending.
    over_blocks: Vec<u32>,
    /// Frames given to the true-peak detector so far.
    true_peak_frames: u64,
}

/// Frames per true-peak detector call.
const TRUE_PEAK_CHUNK: usize = 4096;

const MOMENTARY_BLOCKS: usize = 4;
const SHORT_TERM_BLOCKS: usize = 30;

/// The most channels a file may have (the decoder rejects more).
pub const MAX_CHANNELS: usize = 32;

impl Meter {
    pub fn new(sample_rate: u32, roles: &[ChannelRole], kind: MeterKind) -> Result<Meter, String> {
        if roles.is_empty() || roles.len() > MAX_CHANNELS {
            return Err(format!("cannot meter {} channels (1 to {MAX_CHANNELS})", roles.len()));
        }
        let mode = match kind {
            MeterKind::Full => Mode::I | Mode::LRA | Mode::S | Mode::M | Mode::SAMPLE_PEAK,
            MeterKind::LoudnessAndPeak | MeterKind::IntegratedOnly => Mode::I,
        };
        let mut inner = EbuR128::new(roles.len() as u32, sample_rate, mode)
            .map_err(|e| format!("cannot meter {} channels at {sample_rate} Hz: {e:?}", roles.len()))?;
        let map: Vec<Channel> = roles.iter().map(|&role| bs1770_channel(role, roles.len())).collect();
        inner
            .set_channel_map(&map)
            .map_err(|e| format!("bad channel map: {e:?}"))?;
        // The same rounding as ebur128's block length, so both grids line up.
        let step = ((sample_rate as usize + 5) / 10).max(1);
        Ok(Meter {
            inner,
            kind,
            step,
            frames_to_next_step: step,
            block_energies: [0.0; SHORT_TERM_BLOCKS],
            blocks_seen: 0,
            true_peak: (kind != MeterKind::IntegratedOnly)
                .then(|| TruePeakDetector::new(sample_rate, roles.len(), TRUE_PEAK_CHUNK)),
            peaks: vec![
                0.0;
                if kind == MeterKind::IntegratedOnly {
                    0
                } else {
                    TRUE_PEAK_CHUNK
                }
            ],
            max_true_peak: 0.0,
            max_momentary: f64::NEG_INFINITY,
            max_short_term: f64::NEG_INFINITY,
            block_track: Vec::new(),
            over_threshold: f32::INFINITY,
            over_blocks: Vec::new(),
            true_peak_frames: 0,
        })
    }

    /// Adds `range` of each channel of a planar block.
    pub fn add(&mut self, block: &[Vec<f32>], range: std::ops::Range<usize>) {
        if let Some(detector) = self.true_peak.as_mut() {
            let mut start = range.start;
            while start < range.end {
                let n = TRUE_PEAK_CHUNK.min(range.end - start);
                detector.process_at(block, start, n, &mut self.peaks);
                let chunk_max = self.peaks[..n].iter().fold(0.0f32, |m, &p| m.max(p));
                if chunk_max > self.over_threshold {
                    // Readings describe the frame `latency` frames back.
                    let first = self.true_peak_frames.saturating_sub(detector.latency() as u64);
                    for (i, _) in self.peaks[..n]
                        .iter()
                        .enumerate()
                        .filter(|(_, &p)| p > self.over_threshold)
                    {
                        let block = ((first + i as u64) / self.step as u64) as u32;
                        if self.over_blocks.last() != Some(&block) {
                            self.over_blocks.push(block);
                        }
                    }
                }
                self.max_true_peak = self.max_true_peak.max(chunk_max);
                // Readings under the floor may come out inexact: keep it at or below the over
                // threshold so every over is seen.
                detector.set_floor(self.max_true_peak.min(self.over_threshold));
                self.true_peak_frames += n as u64;
                start += n;
            }
        }
        let mut start = range.start;
        while start < range.end {
            let n = match self.kind {
                MeterKind::Full => self.frames_to_next_step.min(range.end - start),
                MeterKind::LoudnessAndPeak | MeterKind::IntegratedOnly => range.end - start,
            };
            self.add_planar(block, start, n);
            start += n;
            if self.kind == MeterKind::Full {
                self.frames_to_next_step -= n;
                if self.frames_to_next_step == 0 {
                    self.frames_to_next_step = self.step;
                    self.end_block();
                }
            }
        }
    }

    /// Records the 100-ms block that just ended and updates the momentary/short-term maxima.
    fn end_block(&mut self) {
        let Ok(loudness) = self.inner.loudness_window(100) else {
            return;
        };
        let slot = self.blocks_seen % SHORT_TERM_BLOCKS;
        self.block_energies[slot] = loudness_to_energy(loudness);
        self.block_track.push(self.block_energies[slot] as f32);
        self.blocks_seen += 1;
        let momentary: f64 = (0..MOMENTARY_BLOCKS)
            .map(|back| self.block_energies[(slot + SHORT_TERM_BLOCKS - back) % SHORT_TERM_BLOCKS])
            .sum::<f64>()
            / MOMENTARY_BLOCKS as f64;
        let short_term = self.block_energies.iter().sum::<f64>() / SHORT_TERM_BLOCKS as f64;
        self.max_momentary = self.max_momentary.max(energy_to_loudness(momentary));
        self.max_short_term = self.max_short_term.max(energy_to_loudness(short_term));
    }

    fn add_planar(&mut self, block: &[Vec<f32>], start: usize, n: usize) {
        let mut slices: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
        for (slice, channel) in slices.iter_mut().zip(block) {
            *slice = &channel[start..start + n];
        }
        let slices = &slices[..block.len().min(MAX_CHANNELS)];
        // Meter input is finite by construction (decoder and stages sanitize), so the only
        // possible error is a channel-count mismatch, which is a programming error.
        self.inner
            .add_frames_planar_f32(slices)
            .expect("meter fed the channel count it was built for");
    }

    /// Integrated loudness so far (`None` while undefined).
    pub fn integrated(&self) -> Option<f64> {
        self.inner.loudness_global().ok().filter(|v| v.is_finite())
    }

    /// Energy of every completed 100-ms block so far (see [`block_energy_to_lufs`]); empty
    /// but for `Full` meters. Block `k` covers frames `[k·step, (k+1)·step)` of what was added,
    /// with `step` the rate's 100 ms rounded as BS.1770 meters do.
    pub fn block_track(&self) -> &[f32] {
        &self.block_track
    }

    /// Frames per 100-ms block of [`Meter::block_track`].
    pub fn block_frames(&self) -> usize {
        self.step
    }

    /// Marks the 100-ms blocks whose true peak exceeds `dbtp` (see [`Meter::over_blocks`]);
    /// `Full` meters only. Call before adding audio.
    pub fn mark_overs_above(&mut self, dbtp: f64) {
        self.over_threshold = 10f64.powf(dbtp / 20.0) as f32;
    }

    /// Indices (on the [`Meter::block_track`] grid) of the blocks with a true peak above the
    /// threshold set by [`Meter::mark_overs_above`], ascending.
    pub fn over_blocks(&self) -> &[u32] {
        &self.over_blocks
    }

    /// The true peak including the last frames still inside the detector.
    fn final_true_peak(&self) -> f32 {
        let Some(detector) = self.true_peak.as_ref() else {
            return 0.0;
        };
        let mut detector = detector.clone();
        let silence = vec![vec![0.0f32; detector.support()]; self.inner.channels() as usize];
        let mut peaks = vec![0.0f32; detector.support()];
        detector.process(&silence, detector.support(), &mut peaks);
        peaks.iter().fold(self.max_true_peak, |m, &p| m.max(p))
    }

    pub fn finish(&self) -> Measurement {
        let defined = |v: f64| Some(v).filter(|v| v.is_finite());
        let mut m = Measurement {
            integrated_lufs: self.integrated(),
            ..Measurement::default()
        };
        if self.kind != MeterKind::IntegratedOnly {
            m.true_peak_dbtp = defined(20.0 * (self.final_true_peak() as f64).log10());
        }
        if self.kind == MeterKind::Full {
            let channels = self.inner.channels();
            let peak = |f: &dyn Fn(u32) -> Result<f64, ebur128::Error>| {
                (0..channels).filter_map(|c| f(c).ok()).fold(0.0f64, f64::max)
            };
            m.sample_peak_dbfs = defined(20.0 * peak(&|c| self.inner.sample_peak(c)).log10());
            m.max_momentary_lufs = defined(self.max_momentary);
            m.max_short_term_lufs = defined(self.max_short_term);
            // LRA needs short-term blocks above the gates; with none it is undefined.
            m.lra_lu = m
                .integrated_lufs
                .and_then(|_| self.inner.loudness_range().ok())
                .and_then(defined);
        }
        m
    }
}

/// Loudness in LUFS of a mean block energy from [`Meter::block_track`] (`-inf` for silence).
pub fn block_energy_to_lufs(energy: f64) -> f64 {
    energy_to_loudness(energy)
}

/// BS.1770: loudness = −0.691 + 10·log10(mean square of the K-weighted, channel-weighted sum).
fn loudness_to_energy(lufs: f64) -> f64 {
    if lufs.is_finite() {
        10f64.powf((lufs + 0.691) / 10.0)
    } else {
        0.0
    }
}

fn energy_to_loudness(energy: f64) -> f64 {
    if energy > 0.0 {
        10.0 * energy.log10() - 0.691
    } else {
        f64::NEG_INFINITY
    }
}

/// The BS.1770 K-weighting filter at `sample_rate`: the "pre-filter" high shelf (+4 dB above
/// about 1.7 kHz, the head's effect) and the RLB high-pass (38 Hz), as two biquad sections.
/// The same design as libebur128's (and the `ebur128` crate's) for any rate, so a meter built
/// on these sections reads what [`Meter`] reads.
pub fn k_weighting(sample_rate: f64) -> [Coeffs; 2] {
    use std::f64::consts::PI;
    let (f0, gain_db, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
    let k = (PI * f0 / sample_rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.4996667741545416);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Coeffs {
        b0: (vh + vb * k / q + k * k) / a0,
        b1: 2.0 * (k * k - vh) / a0,
        b2: (vh - vb * k / q + k * k) / a0,
        a1: 2.0 * (k * k - 1.0) / a0,
        a2: (1.0 - k / q + k * k) / a0,
    };
    let (f0, q) = (38.13547087602444, 0.5003270373238773);
    let k = (PI * f0 / sample_rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let highpass = Coeffs {
        b0: 1.0,
        b1: -2.0,
        b2: 1.0,
        a1: 2.0 * (k * k - 1.0) / a0,
        a2: (1.0 - k / q + k * k) / a0,
    };
    [shelf, highpass]
}

/// BS.1770 integrated loudness of gating blocks given by their mean energies: blocks under
/// the −70 LUFS absolute gate are dropped, then blocks more than 10 LU under the loudness of
/// the rest. `None` when nothing passes the gates.
pub fn gated_loudness(blocks: &[f64]) -> Option<f64> {
    let absolute = loudness_to_energy(ABSOLUTE_GATE_LUFS);
    let mean_above = |gate: f64| {
        let (sum, count) = blocks
            .iter()
            .filter(|&&e| e > gate)
            .fold((0.0, 0usize), |(s, n), &e| (s + e, n + 1));
        (count > 0).then(|| sum / count as f64)
    };
    let ungated = mean_above(absolute)?;
    let relative = loudness_to_energy(energy_to_loudness(ungated) + RELATIVE_GATE_LU);
    mean_above(relative.max(absolute)).map(energy_to_loudness)
}

const ABSOLUTE_GATE_LUFS: f64 = -70.0;
const RELATIVE_GATE_LU: f64 = -10.0;

/// Speech-gated figures of a signal, from its 100-ms [`Meter::block_track`] and a speech mask
/// on the same blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeechLoudness {
    /// BS.1770 integrated loudness over speech only: the 400-ms gating blocks (75 % overlap)
    /// of which at least 3 of the 4 100-ms blocks are speech, through both gates — the
    /// dialogue-gated measure ATSC A/85 allows.
    pub integrated_lufs: Option<f64>,
    /// How far apart the speech levels lie: p90 − p10 of the speech-gated short-term loudness
    /// (the energy mean of the speech blocks of each 3-s window, every 100 ms, over windows
    /// that are at least half speech and above −70 LUFS), in LU. `None` with fewer than
    /// [`MIN_SPREAD_WINDOWS`] such windows.
    pub spread_lu: Option<f64>,
}

/// Short-term windows needed for a speech-level spread (one second of them).
pub const MIN_SPREAD_WINDOWS: usize = 10;

/// Computes [`SpeechLoudness`]; `speech[k]` says whether 100-ms block `k` is speech (blocks
/// past the end of `speech` are not).
pub fn speech_loudness(block_track: &[f32], speech: &[bool]) -> SpeechLoudness {
    let is_speech = |k: usize| speech.get(k).copied().unwrap_or(false);
    let gating: Vec<f64> = (0..block_track.len().saturating_sub(MOMENTARY_BLOCKS - 1))
        .filter(|&j| (j..j + MOMENTARY_BLOCKS).filter(|&k| is_speech(k)).count() >= 3)
        .map(|j| {
            block_track[j..j + MOMENTARY_BLOCKS]
                .iter()
                .map(|&e| e as f64)
                .sum::<f64>()
                / MOMENTARY_BLOCKS as f64
        })
        .collect();
    let mut short_term: Vec<f64> = (0..block_track.len().saturating_sub(SHORT_TERM_BLOCKS - 1))
        .filter_map(|j| {
            let (sum, count) = (j..j + SHORT_TERM_BLOCKS)
                .filter(|&k| is_speech(k))
                .fold((0.0, 0usize), |(s, n), k| (s + block_track[k] as f64, n + 1));
            (2 * count >= SHORT_TERM_BLOCKS)
                .then(|| energy_to_loudness(sum / count as f64))
                .filter(|&l| l > ABSOLUTE_GATE_LUFS)
        })
        .collect();
    let spread_lu = (short_term.len() >= MIN_SPREAD_WINDOWS).then(|| {
        short_term.sort_by(f64::total_cmp);
        let at = |q: f64| short_term[((short_term.len() - 1) as f64 * q).round() as usize];
        at(0.9) - at(0.1)
    });
    SpeechLoudness {
        integrated_lufs: gated_loudness(&gating),
        spread_lu,
    }
}

/// BS.1770 channel weighting: L/R/C weight 1.0, surrounds 1.41, LFE excluded. A mono file is
/// measured as one channel (BS.1770 as written: 3 dB below the same signal as dual mono).
fn bs1770_channel(role: ChannelRole, channels: usize) -> Channel {
    match role {
        ChannelRole::Left => Channel::Left,
        ChannelRole::Right => Channel::Right,
        ChannelRole::Center if channels == 1 => Channel::Left,
        ChannelRole::Center => Channel::Center,
        ChannelRole::Lfe => Channel::Unused,
        ChannelRole::LeftSurround => Channel::LeftSurround,
        ChannelRole::RightSurround => Channel::RightSurround,
        ChannelRole::Other => Channel::Left,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine_block(freq: f64, amplitude: f64, rate: u32, seconds: f64, channels: usize) -> Vec<Vec<f32>> {
        let n = (rate as f64 * seconds) as usize;
        let ch: Vec<f32> = (0..n)
            .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32)
            .collect();
        vec![ch; channels]
    }

    #[test]
    fn stereo_1k_sine_at_minus_23_dbfs_reads_minus_23_lufs() {
        // EBU Tech 3341 case 1 in miniature: 1 kHz at −23 dBFS on both channels = −23 LUFS.
        let block = sine_block(1000.0, 10f64.powf(-23.0 / 20.0), 48_000, 10.0, 2);
        let mut meter = Meter::new(48_000, &[ChannelRole::Left, ChannelRole::Right], MeterKind::Full).unwrap();
        for start in (0..block[0].len()).step_by(4096) {
            meter.add(&block, start..(start + 4096).min(block[0].len()));
        }
        let m = meter.finish();
        assert!((m.integrated_lufs.unwrap() + 23.0).abs() < 0.05, "{m:?}");
        assert!((m.max_momentary_lufs.unwrap() + 23.0).abs() < 0.1, "{m:?}");
        assert!((m.max_short_term_lufs.unwrap() + 23.0).abs() < 0.1, "{m:?}");
        assert!((m.sample_peak_dbfs.unwrap() + 23.0).abs() < 0.05, "{m:?}");
        assert!(m.lra_lu.unwrap() < 0.5, "{m:?}");
    }

    #[test]
    fn momentary_and_short_term_maxima_match_ebur128_queried_every_100_ms() {
        // Speech-like bursts with a loud 1.3 s passage: the maxima depend on the window.
        let rate = 44_100;
        let n = rate as usize * 12;
        let signal: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                let envelope = if (4.0..5.3).contains(&t) {
                    0.8
                } else {
                    0.05 + 0.1 * (t * 3.1).sin().abs()
                };
                (envelope * (2.0 * std::f64::consts::PI * 440.0 * t).sin() * (1.0 + 0.3 * (t * 17.0).sin())) as f32
            })
            .collect();
        let block = vec![signal.clone(), signal.iter().map(|s| s * 0.5).collect()];
        let roles = [ChannelRole::Left, ChannelRole::Right];
        let mut meter = Meter::new(rate, &roles, MeterKind::Full).unwrap();
        for start in (0..n).step_by(1000) {
            meter.add(&block, start..(start + 1000).min(n));
        }
        let m = meter.finish();

        let mut reference = EbuR128::new(2, rate, Mode::M | Mode::S).unwrap();
        let (mut max_m, mut max_s) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        for start in (0..n).step_by(rate as usize / 10) {
            let end = (start + rate as usize / 10).min(n);
            reference
                .add_frames_planar_f32(&[&block[0][start..end], &block[1][start..end]])
                .unwrap();
            if end - start == rate as usize / 10 {
                max_m = max_m.max(reference.loudness_momentary().unwrap());
                max_s = max_s.max(reference.loudness_shortterm().unwrap());
            }
        }
        assert!((m.max_momentary_lufs.unwrap() - max_m).abs() < 1e-9, "{m:?} vs {max_m}");
        assert!(
            (m.max_short_term_lufs.unwrap() - max_s).abs() < 1e-9,
            "{m:?} vs {max_s}"
        );
        assert!(max_m - max_s > 1.0, "the test signal must tell the windows apart");
    }

    #[test]
    fn true_peak_reads_at_least_ebur128_and_within_its_tolerance() {
        // Loud bursts of a 7 kHz tone and a quiet tail: the running-maximum floor skips the
        // tail, and the peak sits between samples.
        let rate = 44_100;
        let n = rate as usize * 3;
        let channel = |gain: f64, freq: f64| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    let t = i as f64 / rate as f64;
                    let level = if t < 1.5 { gain } else { 0.01 };
                    (level * (2.0 * std::f64::consts::PI * freq * t + 0.7).sin()) as f32
                })
                .collect()
        };
        let block = vec![channel(0.5, 7_000.0), channel(0.8, 11_025.0 * 0.999)];
        let mut meter = Meter::new(rate, &[ChannelRole::Left, ChannelRole::Right], MeterKind::Full).unwrap();
        for start in (0..n).step_by(777) {
            meter.add(&block, start..(start + 777).min(n));
        }
        let ours = meter.finish().true_peak_dbtp.unwrap();
        let mut reference = EbuR128::new(2, rate, Mode::TRUE_PEAK).unwrap();
        reference.add_frames_planar_f32(&[&block[0], &block[1]]).unwrap();
        let theirs = 20.0
            * reference
                .true_peak(0)
                .unwrap()
                .max(reference.true_peak(1).unwrap())
                .log10();
        let analytic = 20.0 * 0.8f64.log10();
        assert!(ours >= theirs - 1e-4, "ours {ours} dBTP, ebur128 {theirs} dBTP");
        assert!(
            (ours - analytic).abs() < 0.2,
            "ours {ours} dBTP, analytic {analytic} dBTP"
        );
    }

    #[test]
    fn a_loudness_and_peak_meter_reads_what_a_full_meter_reads_and_nothing_else() {
        let rate = 48_000;
        let loud = sine_block(997.0, 0.5, rate, 2.0, 2);
        let quiet = sine_block(3_000.0, 0.05, rate, 3.0, 2);
        let signal: Vec<Vec<f32>> = loud.into_iter().zip(quiet).map(|(a, b)| [a, b].concat()).collect();
        let roles = [ChannelRole::Left, ChannelRole::Right];
        let measure = |kind: MeterKind| {
            let mut meter = Meter::new(rate, &roles, kind).unwrap();
            for start in (0..signal[0].len()).step_by(1_001) {
                meter.add(&signal, start..(start + 1_001).min(signal[0].len()));
            }
            meter.finish()
        };
        let full = measure(MeterKind::Full);
        let probe = measure(MeterKind::LoudnessAndPeak);
        assert!((probe.integrated_lufs.unwrap() - full.integrated_lufs.unwrap()).abs() < 1e-9);
        assert_eq!(probe.true_peak_dbtp, full.true_peak_dbtp);
        assert!((probe.true_peak_dbtp.unwrap() - 20.0 * 0.5f64.log10()).abs() < 0.01);
        assert!(full.lra_lu.is_some() && full.max_momentary_lufs.is_some());
        assert_eq!(
            (probe.lra_lu, probe.max_momentary_lufs, probe.sample_peak_dbfs),
            (None, None, None)
        );
    }

    #[test]
    fn silence_is_undefined_not_a_number() {
        let block = vec![vec![0.0f32; 48_000 * 3]; 2];
        let mut meter = Meter::new(48_000, &[ChannelRole::Left, ChannelRole::Right], MeterKind::Full).unwrap();
        meter.add(&block, 0..block[0].len());
        let m = meter.finish();
        assert_eq!(m, Measurement::default());
    }

    #[test]
    fn lfe_is_ignored_and_surrounds_weigh_more() {
        let roles = [
            ChannelRole::Left,
            ChannelRole::Right,
            ChannelRole::Center,
            ChannelRole::Lfe,
            ChannelRole::LeftSurround,
            ChannelRole::RightSurround,
        ];
        let measure = |active: usize| {
            let mut block = vec![vec![0.0f32; 48_000 * 5]; 6];
            block[active] = sine_block(1000.0, 0.1, 48_000, 5.0, 1).remove(0);
            let mut meter = Meter::new(48_000, &roles, MeterKind::IntegratedOnly).unwrap();
            meter.add(&block, 0..block[0].len());
            meter.integrated()
        };
        assert!(measure(3).is_none(), "LFE must not count");
        let front = measure(0).unwrap();
        let surround = measure(4).unwrap();
        assert!(
            (surround - front - 1.5).abs() < 0.05,
            "surround weight: {front} vs {surround}"
        );
    }

    #[test]
    fn block_track_holds_one_energy_per_100_ms_at_the_block_loudness() {
        // 3 s of a 1 kHz sine, then 2 s of it 10 dB lower: 30 equal blocks, then 20 blocks
        // 10 dB lower; block boundaries fall on 100 ms whatever the call size.
        let rate = 44_100;
        let loud = sine_block(1000.0, 0.1, rate, 3.0, 1).remove(0);
        let quiet = sine_block(1000.0, 0.1 * 10f64.powf(-0.5), rate, 2.0, 1).remove(0);
        let signal = [vec![[loud, quiet].concat()]];
        let mut meter = Meter::new(rate, &[ChannelRole::Center], MeterKind::Full).unwrap();
        for start in (0..signal[0][0].len()).step_by(777) {
            meter.add(&signal[0], start..(start + 777).min(signal[0][0].len()));
        }
        let track = meter.block_track();
        assert_eq!(track.len(), 50);
        assert_eq!(meter.block_frames(), 4410);
        let lufs = |k: usize| block_energy_to_lufs(track[k] as f64);
        let expected = meter.integrated().unwrap();
        for k in 1..29 {
            assert!((lufs(k) - lufs(5)).abs() < 0.01, "block {k}: {}", lufs(k));
        }
        for k in 31..50 {
            assert!((lufs(k) - (lufs(5) - 10.0)).abs() < 0.02, "block {k}: {}", lufs(k));
        }
        // Integrated loudness gates nothing here: it is the energy mean of all blocks.
        let mean = track.iter().map(|&e| e as f64).sum::<f64>() / track.len() as f64;
        assert!((block_energy_to_lufs(mean) - expected).abs() < 0.05, "{expected}");
    }

    #[test]
    fn overs_mark_the_blocks_whose_true_peak_tops_the_threshold() {
        // −20 dBFS tone with two 50-ms bursts peaking near −0.5 dBFS at 1.23 s and 2.5 s:
        // exactly their blocks are marked at −1 dBTP, none at 0 dBTP.
        let rate = 48_000;
        let mut signal = sine_block(997.0, 0.1, rate, 4.0, 2);
        for start_s in [1.23, 2.5] {
            let start = (start_s * rate as f64) as usize;
            for channel in &mut signal {
                for s in &mut channel[start..start + rate as usize / 20] {
                    *s *= 9.4;
                }
            }
        }
        let run = |dbtp: f64, chunk: usize| {
            let mut meter = Meter::new(rate, &[ChannelRole::Left, ChannelRole::Right], MeterKind::Full).unwrap();
            meter.mark_overs_above(dbtp);
            for start in (0..signal[0].len()).step_by(chunk) {
                meter.add(&signal, start..(start + chunk).min(signal[0].len()));
            }
            (meter.over_blocks().to_vec(), meter.finish())
        };
        let (overs, m) = run(-1.0, 4096);
        assert!(m.true_peak_dbtp.unwrap() > -1.0, "{m:?}");
        assert_eq!(overs, vec![12, 25]);
        assert_eq!(run(-1.0, 333).0, overs, "independent of the call size");
        assert!(run(0.0, 4096).0.is_empty());
    }

    #[test]
    fn k_weighting_has_the_bs1770_response() {
        // BS.1770-4 table: the pre-filter adds about +4 dB at high frequencies, and the
        // cascade is about −0.7 dB at 1 kHz... (0 dB at 997 Hz after the −0.691 offset).
        for rate in [44_100.0, 48_000.0] {
            let gain = |f: f64| {
                20.0 * k_weighting(rate)
                    .iter()
                    .map(|c| c.magnitude(rate, f))
                    .product::<f64>()
                    .log10()
            };
            assert!((gain(1000.0) - 0.691).abs() < 0.05, "{rate}: {}", gain(1000.0));
            assert!((gain(10_000.0) - 4.0).abs() < 0.3, "{rate}: {}", gain(10_000.0));
            assert!(gain(20.0) < -10.0, "{rate}: {}", gain(20.0));
        }
    }

    #[test]
    fn gating_drops_blocks_under_both_gates() {
        let e = |lufs: f64| loudness_to_energy(lufs);
        // Half the blocks at −20, half at −40: the relative gate (−10 LU under the ungated
        // −22.99) drops the quiet half.
        let blocks: Vec<f64> = (0..100).map(|i| if i % 2 == 0 { e(-20.0) } else { e(-40.0) }).collect();
        assert!((gated_loudness(&blocks).unwrap() + 20.0).abs() < 1e-9);
        // Everything under −70 LUFS: undefined.
        assert_eq!(gated_loudness(&[e(-75.0), e(-80.0)]), None);
        assert_eq!(gated_loudness(&[]), None);
    }

    #[test]
    fn speech_loudness_counts_speech_blocks_only() {
        let e = |lufs: f64| loudness_to_energy(lufs) as f32;
        // 20 s at −20 LUFS (speech), 10 s of −30 LUFS music (not speech), 20 s at −35 (speech).
        let track: Vec<f32> = (0..500)
            .map(|k| match k {
                0..200 => e(-20.0),
                200..300 => e(-30.0),
                _ => e(-35.0),
            })
            .collect();
        let speech: Vec<bool> = (0..500).map(|k| !(200..300).contains(&k)).collect();
        let figures = speech_loudness(&track, &speech);
        // The relative gate (−10 LU under the speech's ungated −22.9 LUFS) drops the −35 part.
        assert!((figures.integrated_lufs.unwrap() + 20.0).abs() < 0.01, "{figures:?}");
        // Speech-gated short-term loudness: −20 or −35 in most windows.
        assert!((figures.spread_lu.unwrap() - 15.0).abs() < 0.01, "{figures:?}");
        // Only two speech blocks: nothing defined.
        let little: Vec<bool> = (0..500).map(|k| k < 2).collect();
        assert_eq!(speech_loudness(&track, &little), SpeechLoudness::default());
    }
}
