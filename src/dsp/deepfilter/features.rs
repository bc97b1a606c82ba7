//! The two inputs DeepFilterNet's encoder was trained on, computed per STFT frame: ERB-band
//! log energies and the low-band complex spectrum, each with a running (exponential)
//! normalisation whose state carries from frame to frame.

use realfft::num_complex::Complex32;

use super::stft::BINS;

/// ERB bands of the gain decoder.
pub const ERB_BANDS: usize = 32;
/// Low bins (0–4.8 kHz) that get the deep filter, and whose complex spectrum is a feature.
pub const DF_BINS: usize = 96;
/// Fewest FFT bins per ERB band (the lowest bands would otherwise be narrower than a bin).
const MIN_BINS_PER_BAND: usize = 2;
/// Initial state of the ERB mean normalisation, dB: from the lowest to the highest band.
const MEAN_NORM_INIT: (f32, f32) = (-60.0, -90.0);
/// Initial state of the complex unit normalisation: from the lowest to the highest bin.
const UNIT_NORM_INIT: (f32, f32) = (0.001, 0.0001);
/// ERB features are divided by this after mean removal (the training scale).
const ERB_FEATURE_SCALE: f32 = 40.0;

/// Width in FFT bins of each ERB band at `rate` Hz with `fft_size`-point frames: the ERB scale
/// (Glasberg & Moore, `9.265·ln(1 + f/(24.7·9.265))`) cut into equal steps, band edges rounded
/// to bins, at least [`MIN_BINS_PER_BAND`] per band, all bins covered once.
pub fn erb_band_widths(rate: usize, fft_size: usize, bands: usize) -> Vec<usize> {
    // f32 throughout, like the network's training code: the rounding of band edges must match.
    let freq_to_erb = |hz: f32| 9.265 * (hz / (24.7 * 9.265)).ln_1p();
    let erb_to_freq = |erb: f32| 24.7 * 9.265 * ((erb / 9.265).exp() - 1.0);
    let bin_hz = rate as f32 / fft_size as f32;
    let step = (freq_to_erb((rate / 2) as f32) - freq_to_erb(0.0)) / bands as f32;
    let mut widths = Vec::with_capacity(bands);
    let (mut prev_edge, mut borrowed) = (0i64, 0i64);
    for band in 1..=bands {
        let edge = (erb_to_freq(band as f32 * step) / bin_hz).round() as i64;
        let mut width = edge - prev_edge - borrowed;
        if width < MIN_BINS_PER_BAND as i64 {
            borrowed = MIN_BINS_PER_BAND as i64 - width;
            width = MIN_BINS_PER_BAND as i64;
        } else {
            borrowed = 0;
        }
        widths.push(width as usize);
        prev_edge = edge;
    }
    // The top band also takes the Nyquist bin, and gives back what the minimum width borrowed.
    let bins = fft_size / 2 + 1;
    let total = widths.iter().sum::<usize>() + 1;
    if let Some(last) = widths.last_mut() {
        *last += 1;
        *last -= total.saturating_sub(bins).min(*last);
    }
    widths
}

/// Smoothing factor of the running normalisations: `exp(−hop/(rate·τ))`, rounded to the fewest
/// decimals (three or more) that keep it below 1 — the value the network was trained with.
pub fn norm_alpha(rate: usize, hop: usize, tau_s: f32) -> f32 {
    let alpha = (-(hop as f32 / rate as f32) / tau_s).exp();
    let mut decimals = 3;
    loop {
        let scale = 10f32.powi(decimals);
        let rounded = (alpha * scale).round() / scale;
        if rounded < 1.0 || decimals > 9 {
            return rounded;
        }
        decimals += 1;
    }
}

/// Running normalisation state of one channel.
pub struct Features {
    /// Bins per ERB band, low to high (sums to [`BINS`]).
    bands: Vec<usize>,
    alpha: f32,
    /// Running mean of each band's log energy, dB.
    erb_mean: [f32; ERB_BANDS],
    /// Running mean magnitude of each low bin.
    unit_mean: [f32; DF_BINS],
}

impl Features {
    pub fn new(bands: Vec<usize>, alpha: f32) -> Self {
        debug_assert_eq!(bands.len(), ERB_BANDS);
        debug_assert_eq!(bands.iter().sum::<usize>(), BINS);
        let mut features = Self {
            bands,
            alpha,
            erb_mean: [0.0; ERB_BANDS],
            unit_mean: [0.0; DF_BINS],
        };
        features.reset();
        features
    }

    pub fn bands(&self) -> &[usize] {
        &self.bands
    }

    pub fn reset(&mut self) {
        let lerp = |(from, to): (f32, f32), i: usize, n: usize| from + i as f32 * (to - from) / (n - 1) as f32;
        for (i, m) in self.erb_mean.iter_mut().enumerate() {
            *m = lerp(MEAN_NORM_INIT, i, ERB_BANDS);
        }
        for (i, m) in self.unit_mean.iter_mut().enumerate() {
            *m = lerp(UNIT_NORM_INIT, i, DF_BINS);
        }
    }

    /// Features of one frame: `erb` gets the band log energies (mean-removed, scaled), `re`
    /// and `im` the low bins divided by the square root of their running mean magnitude.
    /// `spectrum` is multiplied by `gain` first (the input leveller's gain for this frame).
    pub fn compute(&mut self, spectrum: &[Complex32], gain: f32, erb: &mut [f32], re: &mut [f32], im: &mut [f32]) {
        debug_assert_eq!(spectrum.len(), BINS);
        let (a, b) = (self.alpha, 1.0 - self.alpha);
        let power_gain = gain * gain;
        let mut start = 0;
        for ((&width, out), mean) in self.bands.iter().zip(erb.iter_mut()).zip(&mut self.erb_mean) {
            let band = &spectrum[start..start + width];
            let energy = band.iter().map(|x| x.norm_sqr()).sum::<f32>() * power_gain / width as f32;
            let db = 10.0 * (energy + 1e-10).log10();
            *mean = db * b + *mean * a;
            *out = (db - *mean) / ERB_FEATURE_SCALE;
            start += width;
        }
        for (((x, mean), re), im) in spectrum[..DF_BINS].iter().zip(&mut self.unit_mean).zip(re).zip(im) {
            let x = x * gain;
            *mean = x.norm() * b + *mean * a;
            let scale = 1.0 / mean.sqrt();
            *re = x.re * scale;
            *im = x.im * scale;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DeepFilterNet3 filter bank at 48 kHz / 960 points.
    const DFN3_BANDS: [usize; ERB_BANDS] = [
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 7, 7, 8, 10, 12, 13, 15, 18, 20, 24, 28, 31, 37, 42, 50, 56, 67,
    ];

    #[test]
    fn erb_bands_match_the_trained_filter_bank() {
        let widths = erb_band_widths(48_000, 960, ERB_BANDS);
        assert_eq!(widths, DFN3_BANDS);
        assert_eq!(widths.iter().sum::<usize>(), BINS);
    }

    #[test]
    fn alpha_for_one_second() {
        assert_eq!(norm_alpha(48_000, 480, 1.0), 0.99);
        // 10 ms against 0.1 s: exp(−0.1) = 0.904837 → 0.905.
        assert_eq!(norm_alpha(48_000, 480, 0.1), 0.905);
    }

    /// After the running means settle, a constant gain on the input leaves the ERB features
    /// alone but scales the complex ones by its square root (they are divided by the square
    /// root of a running magnitude): the network does see the input level, which is why quiet
    /// speech is levelled before it reaches the features.
    #[test]
    fn features_settle_to_level_independence() {
        let spectrum: Vec<Complex32> = (0..BINS)
            .map(|k| Complex32::new(1e-3 * (1.0 + (k % 7) as f32), -5e-4 * (k % 3) as f32))
            .collect();
        let run = |gain: f32| {
            let mut f = Features::new(DFN3_BANDS.to_vec(), 0.99);
            let (mut erb, mut re, mut im) = ([0.0; ERB_BANDS], [0.0; DF_BINS], [0.0; DF_BINS]);
            for _ in 0..3000 {
                f.compute(&spectrum, gain, &mut erb, &mut re, &mut im);
            }
            (erb, re, im)
        };
        let (e1, r1, _) = run(1.0);
        let (e2, r2, _) = run(0.01);
        for (a, b) in e1.iter().zip(&e2) {
            assert!((a - b).abs() < 1e-3, "erb {a} vs {b}");
        }
        for (a, b) in r1.iter().zip(&r2) {
            assert!((a * 0.1 - b).abs() <= 1e-3 * a.abs(), "re {a} × √0.01 vs {b}");
        }
    }
}
