//! Turns the networks' outputs for one STFT frame into its enhanced spectrum: ERB-band gains on
//! every bin, then the deep filter — a 5-tap complex filter across frames, two of them in the
//! future — replaces the low bins, and the noisy spectrum is mixed back to honour the
//! attenuation limit.

use realfft::num_complex::Complex32;

use super::features::DF_BINS;

/// Taps of the deep filter (frames), oldest first.
pub const ORDER: usize = 5;
/// Taps after the frame being filtered: the frame `LOOKAHEAD` back from the newest is the one
/// enhanced, so the whole engine runs that many frames behind its input.
pub const LOOKAHEAD: usize = 2;
/// Values per bin in the deep-filter decoder's output: `ORDER` taps × (re, im).
pub const COEFS_PER_BIN: usize = ORDER * 2;

/// Enhances frame `c` into `out`.
///
/// * `frames`: the noisy spectra of frames `c − 2 … c + 2` (oldest first);
/// * `gains`: one gain per ERB band (the ERB decoder's mask), applied to `frames[2]`;
/// * `coefs`: the deep-filter taps, `[bin][tap][re, im]` for the low [`DF_BINS`] bins;
/// * `bands`: bins per ERB band;
/// * `dry`: share of the noisy frame mixed back, `y = (1 − dry)·enhanced + dry·noisy`.
pub fn enhance(
    frames: &[&[Complex32]; ORDER],
    gains: &[f32],
    coefs: &[f32],
    bands: &[usize],
    dry: f32,
    out: &mut [Complex32],
) {
    debug_assert_eq!(coefs.len(), DF_BINS * COEFS_PER_BIN);
    debug_assert_eq!(gains.len(), bands.len());
    let noisy = frames[ORDER - 1 - LOOKAHEAD];
    let mut start = 0;
    for (&width, &gain) in bands.iter().zip(gains) {
        for (o, &x) in out[start..start + width].iter_mut().zip(&noisy[start..start + width]) {
            *o = x * gain;
        }
        start += width;
    }
    for (bin, (o, taps)) in out[..DF_BINS]
        .iter_mut()
        .zip(coefs.chunks_exact(COEFS_PER_BIN))
        .enumerate()
    {
        let mut acc = Complex32::default();
        for (frame, tap) in frames.iter().zip(taps.chunks_exact(2)) {
            acc += frame[bin] * Complex32::new(tap[0], tap[1]);
        }
        *o = acc;
    }
    if dry > 0.0 {
        let wet = 1.0 - dry;
        for (o, &x) in out.iter_mut().zip(noisy) {
            *o = *o * wet + x * dry;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::deepfilter::stft::BINS;

    fn frame(seed: f32) -> Vec<Complex32> {
        (0..BINS)
            .map(|k| Complex32::new((k as f32 * 0.37 + seed).sin(), (k as f32 * 0.11 - seed).cos()))
            .collect()
    }

    /// A filter with only the centre tap at 1 and unit gains passes the frame unchanged; a
    /// tap on the newest frame picks that frame; gains scale the high bins band by band.
    #[test]
    fn taps_gains_and_mix() {
        let frames: Vec<Vec<Complex32>> = (0..ORDER).map(|i| frame(i as f32)).collect();
        let refs: [&[Complex32]; ORDER] = std::array::from_fn(|i| frames[i].as_slice());
        let bands = vec![BINS / 2, BINS - BINS / 2];
        let mut coefs = vec![0.0; DF_BINS * COEFS_PER_BIN];
        let set_tap = |coefs: &mut Vec<f32>, tap: usize, value: Complex32| {
            coefs.fill(0.0);
            for taps in coefs.chunks_exact_mut(COEFS_PER_BIN) {
                taps[2 * tap] = value.re;
                taps[2 * tap + 1] = value.im;
            }
        };
        let mut out = vec![Complex32::default(); BINS];

        set_tap(&mut coefs, LOOKAHEAD, Complex32::new(1.0, 0.0));
        enhance(&refs, &[1.0, 1.0], &coefs, &bands, 0.0, &mut out);
        assert_eq!(out, frames[2]);

        set_tap(&mut coefs, ORDER - 1, Complex32::new(0.0, 2.0));
        enhance(&refs, &[0.5, 0.25], &coefs, &bands, 0.0, &mut out);
        for k in 0..BINS {
            let want = if k < DF_BINS {
                frames[4][k] * Complex32::new(0.0, 2.0)
            } else if k < BINS / 2 {
                frames[2][k] * 0.5
            } else {
                frames[2][k] * 0.25
            };
            assert!((out[k] - want).norm() < 1e-6, "bin {k}");
        }

        // Everything removed, 10 % of the noisy frame mixed back.
        enhance(
            &refs,
            &[0.0, 0.0],
            &vec![0.0; DF_BINS * COEFS_PER_BIN],
            &bands,
            0.1,
            &mut out,
        );
        for k in 0..BINS {
            assert!((out[k] - frames[2][k] * 0.1).norm() < 1e-6, "bin {k}");
        }
    }
}
