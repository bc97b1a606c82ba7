//! Rumble filter: a Butterworth high-pass that removes handling noise, desk thumps, HVAC
//! rumble and mains hum below the voice before the denoiser and compressor react to them.

use serde::{Deserialize, Serialize};

use super::biquad::{butterworth_highpass, Cascade};
use super::Stage;

/// `[highpass]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighpassSettings {
    pub enabled: bool,
    /// −3 dB corner in Hz. 80 Hz sits below the lowest male voice fundamentals (~85 Hz).
    pub frequency_hz: f64,
    /// Butterworth order: 2 (12 dB/octave) or 4 (24 dB/octave, two cascaded biquads).
    pub order: u32,
}

impl Default for HighpassSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            frequency_hz: 80.0,
            // 4th order: −24 dB at 40 Hz and −48 dB at 20 Hz, so rumble is really gone,
            // while 100 Hz and up loses less than 0.6 dB.
            order: 4,
        }
    }
}

impl HighpassSettings {
    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.frequency_hz.is_finite() && (10.0..=500.0).contains(&self.frequency_hz)) {
            return Err(format!(
                "highpass.frequency_hz must be between 10 and 500, got {}",
                self.frequency_hz
            ));
        }
        if !matches!(self.order, 2 | 4) {
            return Err(format!("highpass.order must be 2 or 4, got {}", self.order));
        }
        Ok(())
    }
}

/// Butterworth high-pass on every channel. Latency 0.
pub struct HighpassStage {
    settings: HighpassSettings,
    filter: Cascade,
}

impl HighpassStage {
    pub fn new(settings: &HighpassSettings) -> Self {
        Self {
            settings: settings.clone(),
            filter: Cascade::default(),
        }
    }
}

impl Stage for HighpassStage {
    fn name(&self) -> &'static str {
        "highpass"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, _max_block: usize) {
        let fs = sample_rate as f64;
        // Validated presets never get near Nyquist; this only guards absurd rates.
        let freq = self.settings.frequency_hz.min(0.45 * fs);
        self.filter = Cascade::new(butterworth_highpass(fs, freq, self.settings.order as usize));
        self.filter.prepare(channels);
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        let channels = self.filter.channels();
        for (ch, samples) in block.iter_mut().enumerate().take(channels) {
            self.filter.process(ch, &mut samples[..frames]);
        }
    }

    fn latency(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.filter.reset();
    }

    fn metrics(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("frequency_hz", self.settings.frequency_hz),
            ("order", self.settings.order as f64),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{assert_block_size_invariant, assert_survives_garbage, rms_db, sine, white_noise};

    fn stage(order: u32) -> Box<dyn Stage> {
        Box::new(HighpassStage::new(&HighpassSettings {
            order,
            ..HighpassSettings::default()
        }))
    }

    /// Steady sines: the RMS gain of the last second (after 0.5 s of settling) must match the
    /// analog Butterworth |H|² = 1/(1+(fc/f)^2n) within 0.5 dB.
    #[test]
    fn response_matches_butterworth() {
        for sample_rate in [44_100u32, 48_000, 192_000] {
            for order in [2u32, 4] {
                for freq in [20.0, 80.0, 200.0, 1000.0] {
                    let mut s = stage(order);
                    s.prepare(sample_rate, 1, 4096);
                    let fs = sample_rate as usize;
                    let x = vec![sine(freq, 0.5, sample_rate, fs * 3 / 2)];
                    let y = crate::dsp::testutil::run(s.as_mut(), &x, 4096);
                    let measured = rms_db(&y[0][fs / 2..]) - rms_db(&x[0][fs / 2..]);
                    let expected = -10.0 * (1.0 + (80.0 / freq).powi(2 * order as i32)).log10();
                    assert!(
                        (measured - expected).abs() < 0.5,
                        "order {order}, {freq} Hz at {sample_rate}: measured {measured:.3} dB, expected {expected:.3} dB"
                    );
                }
            }
        }
    }

    #[test]
    fn removes_dc() {
        let mut s = stage(4);
        s.prepare(48_000, 1, 4096);
        let y = crate::dsp::testutil::run(s.as_mut(), &[vec![0.5; 48_000]], 4096);
        assert!(y[0][24_000..].iter().all(|v| v.abs() < 1e-4));
    }

    #[test]
    fn contract() {
        for order in [2, 4] {
            let input = vec![white_noise(20_000, 1), white_noise(20_000, 2)];
            assert_block_size_invariant(&|| stage(order), 48_000, &input);
            assert_survives_garbage(&|| stage(order), 48_000, 2);
            assert_survives_garbage(&|| stage(order), 192_000, 1);
            assert_eq!(stage(order).latency(), 0);
        }
    }

    #[test]
    fn validate_names_the_key() {
        assert!(HighpassSettings::default().validate().is_ok());
        let bad = HighpassSettings {
            frequency_hz: 5000.0,
            ..HighpassSettings::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "highpass.frequency_hz must be between 10 and 500, got 5000"
        );
        let bad = HighpassSettings {
            order: 3,
            ..HighpassSettings::default()
        };
        assert!(bad.validate().unwrap_err().contains("highpass.order"));
    }

    #[test]
    fn metrics_report_the_design() {
        let s = stage(4);
        assert_eq!(s.metrics(), vec![("frequency_hz", 80.0), ("order", 4.0)]);
    }
}
