//! DeepFilterNet's short-time Fourier transform: 960-point frames every 480 samples under a
//! Vorbis window, so that analysis followed by synthesis (overlap-add) gives the input back
//! exactly, one hop late.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Samples per hop (the network's frame rate is 48 kHz / 480 = 100 frames per second).
pub const HOP: usize = 480;
/// Samples per analysis window (= FFT size).
pub const WINDOW: usize = 2 * HOP;
/// Frequency bins per frame (0 Hz to 24 kHz in 50 Hz steps).
pub const BINS: usize = WINDOW / 2 + 1;

/// The Vorbis power-complementary window `sin(π/2 · sin²(π(n + ½)/H))`, `H` = half the
/// window: `w[n]² + w[n + H]² = 1`, so windowing on both sides reconstructs exactly.
fn vorbis_window() -> [f32; WINDOW] {
    let mut window = [0.0; WINDOW];
    for (n, w) in window.iter_mut().enumerate() {
        let s = (0.5 * std::f64::consts::PI * (n as f64 + 0.5) / HOP as f64).sin();
        *w = (0.5 * std::f64::consts::PI * s * s).sin() as f32;
    }
    window
}

/// Analysis and synthesis state of one channel. All buffers are allocated in [`Stft::new`].
pub struct Stft {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    window: [f32; WINDOW],
    /// The previous input hop (first half of the next analysis window).
    analysis_mem: [f32; HOP],
    /// The second half of the previous synthesised frame, waiting to be overlap-added.
    synthesis_mem: [f32; HOP],
    time: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Default for Stft {
    fn default() -> Self {
        Self::new()
    }
}

impl Stft {
    pub fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(WINDOW);
        let inverse = planner.plan_fft_inverse(WINDOW);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        Self {
            forward,
            inverse,
            window: vorbis_window(),
            analysis_mem: [0.0; HOP],
            synthesis_mem: [0.0; HOP],
            time: vec![0.0; WINDOW],
            scratch: vec![Complex32::default(); scratch_len],
        }
    }

    /// Spectrum of the window that ends with `input` (one hop). Scaled by `1/WINDOW` (the
    /// normalisation DeepFilterNet's features and networks were trained with), so that
    /// [`synthesis`](Self::synthesis) needs no scaling.
    pub fn analysis(&mut self, input: &[f32], spectrum: &mut [Complex32]) {
        debug_assert_eq!((input.len(), spectrum.len()), (HOP, BINS));
        let (first, second) = self.time.split_at_mut(HOP);
        let (w_first, w_second) = self.window.split_at(HOP);
        for ((t, &x), &w) in first.iter_mut().zip(&self.analysis_mem).zip(w_first) {
            *t = x * w;
        }
        for ((t, &x), &w) in second.iter_mut().zip(input).zip(w_second) {
            *t = x * w;
        }
        self.analysis_mem.copy_from_slice(input);
        // Lengths are fixed at construction, so the transform cannot fail.
        let done = self
            .forward
            .process_with_scratch(&mut self.time, spectrum, &mut self.scratch);
        debug_assert!(done.is_ok());
        let norm = 1.0 / WINDOW as f32;
        for x in spectrum.iter_mut() {
            *x *= norm;
        }
    }

    /// Inverse transform of `spectrum` (consumed as scratch), windowed and overlap-added: writes
    /// the hop that is now complete, which is the input hop *before* the one whose analysis
    /// produced `spectrum`.
    pub fn synthesis(&mut self, spectrum: &mut [Complex32], output: &mut [f32]) {
        debug_assert_eq!((spectrum.len(), output.len()), (BINS, HOP));
        // A real signal's spectrum has no imaginary part at 0 Hz and Nyquist; the inverse FFT
        // ignores them anyway, clearing them keeps it from reporting invalid input.
        spectrum[0].im = 0.0;
        spectrum[BINS - 1].im = 0.0;
        let done = self
            .inverse
            .process_with_scratch(spectrum, &mut self.time, &mut self.scratch);
        debug_assert!(done.is_ok());
        let (first, second) = self.time.split_at(HOP);
        let (w_first, w_second) = self.window.split_at(HOP);
        for (((out, &x), &w), &mem) in output.iter_mut().zip(first).zip(w_first).zip(&self.synthesis_mem) {
            *out = x * w + mem;
        }
        for ((mem, &x), &w) in self.synthesis_mem.iter_mut().zip(second).zip(w_second) {
            *mem = x * w;
        }
    }

    pub fn reset(&mut self) {
        self.analysis_mem.fill(0.0);
        self.synthesis_mem.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::white_noise;

    #[test]
    fn window_is_power_complementary() {
        let w = vorbis_window();
        for n in 0..HOP {
            let sum = w[n] * w[n] + w[n + HOP] * w[n + HOP];
            assert!((sum - 1.0).abs() < 1e-6, "n {n}: {sum}");
        }
    }

    /// Analysis then synthesis reproduces the input exactly one hop later.
    #[test]
    fn round_trip_is_identity_delayed_by_one_hop() {
        let x = white_noise(HOP * 20, 3);
        let mut stft = Stft::new();
        let mut spectrum = vec![Complex32::default(); BINS];
        let mut y = vec![0.0f32; x.len()];
        for (input, output) in x.chunks(HOP).zip(y.chunks_mut(HOP)) {
            stft.analysis(input, &mut spectrum);
            stft.synthesis(&mut spectrum, output);
        }
        let err = x[..x.len() - HOP]
            .iter()
            .zip(&y[HOP..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-5, "max error {err}");
        assert!(y[..HOP].iter().all(|&v| v.abs() < 1e-6), "first hop must be silent");
    }

    /// The `1/WINDOW` scaling: a full-scale cosine at a bin centre reads half the window's
    /// mean in magnitude (amplitude 1 → 1/2 per side, times the window's mean gain, ≈ 0.60).
    #[test]
    fn analysis_scale() {
        let bin = 40; // 2 kHz
        let x: Vec<f32> = (0..WINDOW)
            .map(|n| (2.0 * std::f64::consts::PI * bin as f64 * n as f64 / WINDOW as f64).cos() as f32)
            .collect();
        let mut stft = Stft::new();
        let mut spectrum = vec![Complex32::default(); BINS];
        stft.analysis(&x[..HOP], &mut spectrum);
        stft.analysis(&x[HOP..], &mut spectrum);
        let mag = spectrum[bin].norm();
        let window_mean = vorbis_window().iter().sum::<f32>() / WINDOW as f32;
        assert!((0.55..0.65).contains(&window_mean), "window mean {window_mean}");
        assert!((mag - 0.5 * window_mean).abs() < 1e-4, "magnitude {mag}");
    }
}
