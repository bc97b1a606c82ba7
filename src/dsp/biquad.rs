//! Biquad filters (RBJ Audio EQ Cookbook designs) with f64 coefficients and state, shared by
//! the high-pass, the de-esser's band split and the test meters, so filter code lives once.
//!
//! Sections run in transposed direct form II. State is f64 because an 80 Hz high-pass at
//! 192 kHz has poles within 0.003 of the unit circle, where f32 state adds audible noise and
//! response error. Every design is the bilinear transform of its analog prototype, prewarped
//! at the design frequency, so cascades obey the same identities as their prototypes (e.g. a
//! Linkwitz-Riley low-pass plus high-pass equals the matching all-pass exactly).

use std::f64::consts::PI;

/// Normalized biquad coefficients (`a0 == 1`):
/// `y = b0·x + b1·x[n-1] + b2·x[n-2] − a1·y[n-1] − a2·y[n-2]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coeffs {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

/// Intermediate cookbook values for one design frequency and Q.
struct Design {
    cos_w0: f64,
    alpha: f64,
}

impl Design {
    fn new(sample_rate: f64, freq: f64, q: f64) -> Self {
        // Keep the design strictly inside (0, Nyquist): tan/cos blow up at the edges.
        let freq = freq.clamp(1e-3, 0.499 * sample_rate);
        let w0 = 2.0 * PI * freq / sample_rate;
        Self {
            cos_w0: w0.cos(),
            alpha: w0.sin() / (2.0 * q.max(1e-6)),
        }
    }
}

impl Coeffs {
    fn normalized(b0: f64, b1: f64, b2: f64, a0: f64, a1: f64, a2: f64) -> Self {
        Self {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: a1 / a0,
            a2: a2 / a0,
        }
    }

    /// Passes the signal unchanged.
    pub fn identity() -> Self {
        Self {
            b0: 1.0,
            b1: 0.0,
            b2: 0.0,
            a1: 0.0,
            a2: 0.0,
        }
    }

    /// Second-order low-pass, −3 dB at `freq` when `q` = 1/√2.
    pub fn lowpass(sample_rate: f64, freq: f64, q: f64) -> Self {
        let d = Design::new(sample_rate, freq, q);
        let b1 = 1.0 - d.cos_w0;
        Self::normalized(b1 / 2.0, b1, b1 / 2.0, 1.0 + d.alpha, -2.0 * d.cos_w0, 1.0 - d.alpha)
    }

    /// Second-order high-pass, −3 dB at `freq` when `q` = 1/√2.
    pub fn highpass(sample_rate: f64, freq: f64, q: f64) -> Self {
        let d = Design::new(sample_rate, freq, q);
        let b0 = (1.0 + d.cos_w0) / 2.0;
        Self::normalized(b0, -2.0 * b0, b0, 1.0 + d.alpha, -2.0 * d.cos_w0, 1.0 - d.alpha)
    }

    /// Band-pass with 0 dB gain at the centre `freq`; `q` sets the bandwidth.
    pub fn bandpass(sample_rate: f64, freq: f64, q: f64) -> Self {
        let d = Design::new(sample_rate, freq, q);
        Self::normalized(d.alpha, 0.0, -d.alpha, 1.0 + d.alpha, -2.0 * d.cos_w0, 1.0 - d.alpha)
    }

    /// Second-order all-pass: unit magnitude, phase turning through −180° at `freq`.
    pub fn allpass(sample_rate: f64, freq: f64, q: f64) -> Self {
        let d = Design::new(sample_rate, freq, q);
        let (a0, a1, a2) = (1.0 + d.alpha, -2.0 * d.cos_w0, 1.0 - d.alpha);
        Self::normalized(a2, a1, a0, a0, a1, a2)
    }

    /// Peaking EQ: `gain_db` at `freq`, 0 dB far from it.
    pub fn peaking(sample_rate: f64, freq: f64, q: f64, gain_db: f64) -> Self {
        let d = Design::new(sample_rate, freq, q);
        let a = 10f64.powf(gain_db / 40.0);
        Self::normalized(
            1.0 + d.alpha * a,
            -2.0 * d.cos_w0,
            1.0 - d.alpha * a,
            1.0 + d.alpha / a,
            -2.0 * d.cos_w0,
            1.0 - d.alpha / a,
        )
    }

    /// High shelf: 0 dB well below `freq`, `gain_db` well above, half the gain at `freq`.
    pub fn high_shelf(sample_rate: f64, freq: f64, q: f64, gain_db: f64) -> Self {
        let d = Design::new(sample_rate, freq, q);
        let a = 10f64.powf(gain_db / 40.0);
        let two_sqrt_a_alpha = 2.0 * a.sqrt() * d.alpha;
        let c = d.cos_w0;
        Self::normalized(
            a * ((a + 1.0) + (a - 1.0) * c + two_sqrt_a_alpha),
            -2.0 * a * ((a - 1.0) + (a + 1.0) * c),
            a * ((a + 1.0) + (a - 1.0) * c - two_sqrt_a_alpha),
            (a + 1.0) - (a - 1.0) * c + two_sqrt_a_alpha,
            2.0 * ((a - 1.0) - (a + 1.0) * c),
            (a + 1.0) - (a - 1.0) * c - two_sqrt_a_alpha,
        )
    }

    /// Magnitude of the designed response at `freq` (linear, not dB).
    pub fn magnitude(&self, sample_rate: f64, freq: f64) -> f64 {
        let w = 2.0 * PI * freq / sample_rate;
        // H(e^jw) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2), z^-1 = e^-jw.
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num_re = self.b0 + self.b1 * c1 + self.b2 * c2;
        let num_im = -(self.b1 * s1 + self.b2 * s2);
        let den_re = 1.0 + self.a1 * c1 + self.a2 * c2;
        let den_im = -(self.a1 * s1 + self.a2 * s2);
        ((num_re * num_re + num_im * num_im) / (den_re * den_re + den_im * den_im)).sqrt()
    }
}

/// Q of each second-order section of an even-order Butterworth filter (`order` 2 → [0.7071],
/// 4 → [0.5412, 1.3066]). Odd orders are rounded up to the next even order.
pub fn butterworth_qs(order: usize) -> impl Iterator<Item = f64> {
    let n = order.max(2).div_ceil(2) * 2;
    (1..=n / 2).map(move |k| 1.0 / (2.0 * ((2 * k - 1) as f64 * PI / (2 * n) as f64).cos()))
}

/// Sections of an even-order Butterworth high-pass, −3 dB at `freq`.
pub fn butterworth_highpass(sample_rate: f64, freq: f64, order: usize) -> Vec<Coeffs> {
    butterworth_qs(order)
        .map(|q| Coeffs::highpass(sample_rate, freq, q))
        .collect()
}

/// Sections of an even-order Butterworth low-pass, −3 dB at `freq`.
pub fn butterworth_lowpass(sample_rate: f64, freq: f64, order: usize) -> Vec<Coeffs> {
    butterworth_qs(order)
        .map(|q| Coeffs::lowpass(sample_rate, freq, q))
        .collect()
}

/// The all-pass whose phase matches a Linkwitz-Riley crossover built from an even-order
/// Butterworth of `order`: LR low-pass + LR high-pass = this all-pass.
pub fn butterworth_allpass(sample_rate: f64, freq: f64, order: usize) -> Vec<Coeffs> {
    butterworth_qs(order)
        .map(|q| Coeffs::allpass(sample_rate, freq, q))
        .collect()
}

/// Transposed direct form II state of one section on one channel.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct State {
    s1: f64,
    s2: f64,
}

impl State {
    /// Filters one sample.
    #[inline(always)]
    pub fn tick(&mut self, c: &Coeffs, x: f64) -> f64 {
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        y
    }
}

/// A cascade of biquad sections with independent state per channel.
///
/// Non-finite input is filtered as silence, and if the state ever overflows (absurd but
/// finite input) the channel's state is cleared, so NaN can never get stuck in the filter.
#[derive(Debug, Clone, Default)]
pub struct Cascade {
    sections: Vec<Coeffs>,
    /// `channels × sections`, channel-major.
    states: Vec<State>,
}

/// Larger than any sane intermediate value; beyond it the state is treated as blown up.
const STATE_LIMIT: f64 = 1e30;

impl Cascade {
    pub fn new(sections: Vec<Coeffs>) -> Self {
        Self {
            sections,
            states: Vec::new(),
        }
    }

    /// Allocates cleared state for `channels` channels.
    pub fn prepare(&mut self, channels: usize) {
        self.states = vec![State::default(); channels * self.sections.len()];
    }

    /// Clears all state.
    pub fn reset(&mut self) {
        self.states.fill(State::default());
    }

    pub fn sections(&self) -> &[Coeffs] {
        &self.sections
    }

    /// Number of channels prepared.
    pub fn channels(&self) -> usize {
        self.states.len().checked_div(self.sections.len()).unwrap_or(0)
    }

    /// Filters one sample of `channel` (which must be below the prepared channel count).
    #[inline]
    pub fn tick(&mut self, channel: usize, x: f64) -> f64 {
        let n = self.sections.len();
        let states = &mut self.states[channel * n..(channel + 1) * n];
        let mut y = if x.is_finite() { x } else { 0.0 };
        for (state, c) in states.iter_mut().zip(&self.sections) {
            y = state.tick(c, y);
        }
        if y.is_nan() || y.abs() > STATE_LIMIT {
            states.fill(State::default());
            return 0.0;
        }
        y
    }

    /// Filters `samples` of `channel` in place.
    pub fn process(&mut self, channel: usize, samples: &mut [f32]) {
        for s in samples {
            *s = self.tick(channel, *s as f64) as f32;
        }
    }

    /// Magnitude of the designed response of the whole cascade at `freq` (linear).
    pub fn magnitude(&self, sample_rate: f64, freq: f64) -> f64 {
        self.sections.iter().map(|c| c.magnitude(sample_rate, freq)).product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{rms_db, sine};

    fn measured_db(cascade: &mut Cascade, sample_rate: u32, freq: f64) -> f64 {
        cascade.prepare(1);
        let mut x = sine(freq, 0.5, sample_rate, sample_rate as usize * 3 / 2);
        let reference = rms_db(&x[sample_rate as usize / 2..]);
        cascade.process(0, &mut x);
        rms_db(&x[sample_rate as usize / 2..]) - reference
    }

    #[test]
    fn designs_have_their_cookbook_landmarks() {
        let fs = 48_000.0;
        let db = |c: Coeffs, f: f64| 20.0 * c.magnitude(fs, f).log10();
        let q = std::f64::consts::FRAC_1_SQRT_2;
        assert!((db(Coeffs::lowpass(fs, 1000.0, q), 1000.0) + 3.01).abs() < 0.01);
        assert!(db(Coeffs::lowpass(fs, 1000.0, q), 50.0).abs() < 0.01);
        assert!((db(Coeffs::highpass(fs, 1000.0, q), 1000.0) + 3.01).abs() < 0.01);
        assert!(db(Coeffs::highpass(fs, 1000.0, q), 20_000.0).abs() < 0.01);
        assert!(db(Coeffs::bandpass(fs, 3000.0, 2.0), 3000.0).abs() < 1e-9);
        assert!(db(Coeffs::bandpass(fs, 3000.0, 2.0), 300.0) < -20.0);
        assert!((db(Coeffs::peaking(fs, 2000.0, 1.0, 6.0), 2000.0) - 6.0).abs() < 1e-9);
        assert!(db(Coeffs::peaking(fs, 2000.0, 1.0, 6.0), 20.0).abs() < 0.01);
        assert!((db(Coeffs::high_shelf(fs, 4000.0, q, -8.0), 4000.0) + 4.0).abs() < 1e-9);
        assert!((db(Coeffs::high_shelf(fs, 4000.0, q, -8.0), 22_000.0) + 8.0).abs() < 0.1);
        assert!(db(Coeffs::high_shelf(fs, 4000.0, q, -8.0), 100.0).abs() < 0.01);
        for f in [10.0, 500.0, 4000.0, 23_000.0] {
            assert!(db(Coeffs::allpass(fs, 4000.0, 0.54), f).abs() < 1e-9);
        }
    }

    #[test]
    fn butterworth_qs_match_the_tables() {
        let q4: Vec<f64> = butterworth_qs(4).collect();
        assert!((q4[0] - 0.541_196).abs() < 1e-5 && (q4[1] - 1.306_563).abs() < 1e-5);
        let q2: Vec<f64> = butterworth_qs(2).collect();
        assert!((q2[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }

    #[test]
    fn measured_response_matches_designed_response() {
        for sample_rate in [44_100u32, 48_000] {
            let mut hp = Cascade::new(butterworth_highpass(sample_rate as f64, 200.0, 4));
            let mut lp = Cascade::new(butterworth_lowpass(sample_rate as f64, 3000.0, 4));
            for freq in [50.0, 200.0, 1000.0, 5000.0] {
                for cascade in [&mut hp, &mut lp] {
                    let designed = 20.0 * cascade.magnitude(sample_rate as f64, freq).log10();
                    let measured = measured_db(cascade, sample_rate, freq);
                    assert!(
                        (measured - designed).abs() < 0.05,
                        "{freq} Hz at {sample_rate}: measured {measured:.3}, designed {designed:.3}"
                    );
                }
            }
        }
    }

    #[test]
    fn linkwitz_riley_bands_sum_to_the_allpass() {
        let fs = 48_000.0;
        let lr = |mut v: Vec<Coeffs>| {
            v.extend(v.clone());
            Cascade::new(v)
        };
        let mut lp = lr(butterworth_lowpass(fs, 4000.0, 4));
        let mut hp = lr(butterworth_highpass(fs, 4000.0, 4));
        let mut ap = Cascade::new(butterworth_allpass(fs, 4000.0, 4));
        for c in [&mut lp, &mut hp, &mut ap] {
            c.prepare(1);
        }
        let x = crate::dsp::testutil::white_noise(10_000, 3);
        for &s in &x {
            let s = s as f64;
            let sum = lp.tick(0, s) + hp.tick(0, s);
            assert!((sum - ap.tick(0, s)).abs() < 1e-9);
        }
    }

    #[test]
    fn non_finite_input_never_poisons_state() {
        let mut c = Cascade::new(butterworth_highpass(192_000.0, 80.0, 4));
        c.prepare(2);
        assert_eq!(c.channels(), 2);
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, 0.5] {
            assert!(c.tick(1, x).is_finite());
        }
        assert!(c.tick(1, 0.1).is_finite());
    }
}
