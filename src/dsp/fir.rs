//! Linear-phase FIR design shared by the stages that need one (the rumble filter, the
//! de-esser's cut): a zero-phase magnitude response sampled on a dense grid and turned into
//! taps by an inverse FFT. Windowing is the caller's: each stage wants a different one.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

/// The `taps` (odd) centred samples of the impulse response whose frequency response is the
/// real, even `magnitude(freq_hz)`: tap `taps / 2` is time 0. The response is sampled every
/// `sample_rate / grid` Hz with `grid ≥ 4·taps`, so its time aliasing lies far beyond the taps
/// kept; the two halves are averaged so that the taps are symmetric to the last bit (a
/// symmetric filter delays every frequency by exactly `taps / 2` samples).
pub fn zero_phase_taps(sample_rate: f64, taps: usize, magnitude: impl Fn(f64) -> f64) -> Vec<f64> {
    debug_assert!(taps % 2 == 1, "linear-phase taps come in odd numbers");
    let grid = (4 * taps).next_power_of_two();
    let inverse = RealFftPlanner::<f64>::new().plan_fft_inverse(grid);
    let mut spectrum = inverse.make_input_vec();
    for (k, bin) in spectrum.iter_mut().enumerate() {
        *bin = Complex::new(magnitude(k as f64 * sample_rate / grid as f64), 0.0);
    }
    let mut response = inverse.make_output_vec();
    // A real, even spectrum always has zero imaginary DC and Nyquist bins, so this can't fail.
    let done = inverse.process(&mut spectrum, &mut response);
    debug_assert!(done.is_ok());
    let scale = 1.0 / grid as f64;
    let centre = taps / 2;
    let mut h = vec![0.0; taps];
    for k in 0..=centre {
        let value = 0.5 * (response[k] + response[(grid - k) % grid]) * scale;
        h[centre + k] = value;
        h[centre - k] = value;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat response is a unit impulse at the centre; a response that is 1 below a quarter
    /// of the sample rate and 0 above gives symmetric taps whose sum (the DC gain) is 1.
    #[test]
    fn known_responses() {
        let impulse = zero_phase_taps(48_000.0, 9, |_| 1.0);
        for (i, &t) in impulse.iter().enumerate() {
            let want = if i == 4 { 1.0 } else { 0.0 };
            assert!((t - want).abs() < 1e-12, "tap {i}: {t}");
        }
        let lowpass = zero_phase_taps(48_000.0, 101, |f| if f < 12_000.0 { 1.0 } else { 0.0 });
        for k in 0..50 {
            assert_eq!(lowpass[50 - k], lowpass[50 + k], "tap ±{k}");
        }
        let dc: f64 = lowpass.iter().sum();
        assert!((dc - 1.0).abs() < 0.02, "DC gain {dc}");
    }
}
