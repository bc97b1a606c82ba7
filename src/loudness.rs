//! Loudness metering (ITU-R BS.1770 / EBU R128) through the `ebur128` crate, with every
//! figure the report needs and `None` wherever a figure is undefined (silence, too short).

use ebur128::{Channel, EbuR128, Mode};
use serde::{Deserialize, Serialize};

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
}

/// What a meter measures: everything (for the report) or integrated loudness alone (cheap,
/// enough to compute a gain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterKind {
    Full,
    IntegratedOnly,
}

/// A streaming BS.1770 meter over planar f32 blocks.
pub struct Meter {
    inner: EbuR128,
    kind: MeterKind,
    /// Frames per 100 ms: momentary and short-term maxima are sampled on this grid.
    step: usize,
    frames_to_next_step: usize,
    max_momentary: f64,
    max_short_term: f64,
}

/// The most channels a file may have (the decoder rejects more).
pub const MAX_CHANNELS: usize = 32;

impl Meter {
    pub fn new(sample_rate: u32, roles: &[ChannelRole], kind: MeterKind) -> Result<Meter, String> {
        if roles.is_empty() || roles.len() > MAX_CHANNELS {
            return Err(format!("cannot meter {} channels (1 to {MAX_CHANNELS})", roles.len()));
        }
        let mode = match kind {
            MeterKind::Full => Mode::I | Mode::LRA | Mode::S | Mode::M | Mode::SAMPLE_PEAK | Mode::TRUE_PEAK,
            MeterKind::IntegratedOnly => Mode::I,
        };
        let mut inner = EbuR128::new(roles.len() as u32, sample_rate, mode)
            .map_err(|e| format!("cannot meter {} channels at {sample_rate} Hz: {e:?}", roles.len()))?;
        let map: Vec<Channel> = roles.iter().map(|&role| bs1770_channel(role, roles.len())).collect();
        inner
            .set_channel_map(&map)
            .map_err(|e| format!("bad channel map: {e:?}"))?;
        let step = (sample_rate as usize / 10).max(1);
        Ok(Meter {
            inner,
            kind,
            step,
            frames_to_next_step: step,
            max_momentary: f64::NEG_INFINITY,
            max_short_term: f64::NEG_INFINITY,
        })
    }

    /// Adds `range` of each channel of a planar block.
    pub fn add(&mut self, block: &[Vec<f32>], range: std::ops::Range<usize>) {
        let mut start = range.start;
        while start < range.end {
            let n = match self.kind {
                MeterKind::Full => self.frames_to_next_step.min(range.end - start),
                MeterKind::IntegratedOnly => range.end - start,
            };
            self.add_planar(block, start, n);
            start += n;
            if self.kind == MeterKind::Full {
                self.frames_to_next_step -= n;
                if self.frames_to_next_step == 0 {
                    self.frames_to_next_step = self.step;
                    if let Ok(m) = self.inner.loudness_momentary() {
                        self.max_momentary = self.max_momentary.max(m);
                    }
                    if let Ok(s) = self.inner.loudness_shortterm() {
                        self.max_short_term = self.max_short_term.max(s);
                    }
                }
            }
        }
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

    pub fn finish(&self) -> Measurement {
        let defined = |v: f64| Some(v).filter(|v| v.is_finite());
        let mut m = Measurement {
            integrated_lufs: self.integrated(),
            ..Measurement::default()
        };
        if self.kind == MeterKind::Full {
            let channels = self.inner.channels();
            let peak = |f: &dyn Fn(u32) -> Result<f64, ebur128::Error>| {
                (0..channels).filter_map(|c| f(c).ok()).fold(0.0f64, f64::max)
            };
            m.true_peak_dbtp = defined(20.0 * peak(&|c| self.inner.true_peak(c)).log10());
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
}
