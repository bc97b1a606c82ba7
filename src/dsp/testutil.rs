//! Shared checks of the `Stage` contract, so every stage is held to the same rules.

use super::Stage;

/// Runs `input` (planar) through `stage` in blocks of `block` frames; returns planar output.
pub fn run(stage: &mut dyn Stage, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
    let channels = input.len();
    let len = input[0].len();
    let mut out = vec![Vec::with_capacity(len); channels];
    let mut buf = vec![vec![0.0f32; block]; channels];
    let mut pos = 0;
    while pos < len {
        let n = block.min(len - pos);
        for (b, x) in buf.iter_mut().zip(input) {
            b[..n].copy_from_slice(&x[pos..pos + n]);
        }
        stage.process(&mut buf, n);
        for (o, b) in out.iter_mut().zip(&buf) {
            o.extend_from_slice(&b[..n]);
        }
        pos += n;
    }
    out
}

/// Runs `input` (planar) through `aligned` in blocks of `block` frames and flushes the tail:
/// the output lines up with the input frame for frame, with the stage's latency removed.
pub fn run_aligned<S: Stage>(aligned: &mut super::AlignedChain<S>, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::with_capacity(input[0].len()); input.len()];
    let mut buf = vec![vec![0.0f32; block]; input.len()];
    for start in (0..input[0].len()).step_by(block) {
        let n = block.min(input[0].len() - start);
        for (b, x) in buf.iter_mut().zip(input) {
            b[..n].copy_from_slice(&x[start..start + n]);
        }
        let range = aligned.process(&mut buf, n);
        for (o, b) in out.iter_mut().zip(&buf) {
            o.extend_from_slice(&b[range.clone()]);
        }
    }
    while let Some(range) = aligned.flush(&mut buf) {
        for (o, b) in out.iter_mut().zip(&buf) {
            o.extend_from_slice(&b[range.clone()]);
        }
    }
    out
}

/// The block sizes every stage must be indifferent to.
pub const BLOCK_SIZES: [usize; 4] = [1, 7, 480, 4096];

/// Asserts identical output for block sizes 1, 7, 480 and 4096, and that `reset()` reproduces
/// the output of a fresh stage.
pub fn assert_block_size_invariant(make: &dyn Fn() -> Box<dyn Stage>, sample_rate: u32, input: &[Vec<f32>]) {
    let channels = input.len();
    let mut reference_stage = make();
    reference_stage.prepare(sample_rate, channels, 4096).unwrap();
    let reference = run(reference_stage.as_mut(), input, 4096);
    for &block in &BLOCK_SIZES {
        let mut stage = make();
        stage.prepare(sample_rate, channels, block.max(1)).unwrap();
        let out = run(stage.as_mut(), input, block);
        assert_eq!(out, reference, "{}: block size {block} differs", stage.name());
    }
    reference_stage.reset();
    let again = run(reference_stage.as_mut(), input, 4096);
    assert_eq!(
        again,
        reference,
        "{}: reset() does not reproduce",
        reference_stage.name()
    );
}

/// Asserts NaN, ±Inf and a full-scale DC input never produce NaN/Inf, and that the stage
/// recovers (finite, bounded output) on normal signal afterwards.
pub fn assert_survives_garbage(make: &dyn Fn() -> Box<dyn Stage>, sample_rate: u32, channels: usize) {
    let mut stage = make();
    stage.prepare(sample_rate, channels, 4096).unwrap();
    let len = sample_rate as usize / 2;
    let mut input = vec![vec![0.0f32; len * 3]; channels];
    for ch in input.iter_mut() {
        for (i, s) in ch.iter_mut().enumerate() {
            *s = match i {
                i if i < len => match i % 5 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    _ => 0.3,
                },
                i if i < 2 * len => 1.0,
                i => 0.25 * (i as f32 * 0.05).sin(),
            };
        }
    }
    let out = run(stage.as_mut(), &input, 512);
    for ch in &out {
        assert!(ch.iter().all(|s| s.is_finite()), "{}: non-finite output", stage.name());
        let tail_peak = ch[ch.len() - len / 2..].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(
            tail_peak < 4.0,
            "{}: did not recover after garbage (peak {tail_peak})",
            stage.name()
        );
    }
}

/// Cross-correlation lag (in frames, within ±`max_lag`) that best aligns `output` to `input`.
pub fn best_lag(input: &[f32], output: &[f32], max_lag: usize) -> isize {
    let mut best = (0isize, f64::MIN);
    for lag in -(max_lag as isize)..=(max_lag as isize) {
        let mut acc = 0.0f64;
        for (i, &x) in input.iter().enumerate() {
            let j = i as isize + lag;
            if j >= 0 && (j as usize) < output.len() {
                acc += x as f64 * output[j as usize] as f64;
            }
        }
        if acc > best.1 {
            best = (lag, acc);
        }
    }
    best.0
}

/// RMS level in dBFS of a slice.
pub fn rms_db(x: &[f32]) -> f64 {
    let energy: f64 = x.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * energy.max(1e-30).log10()
}

/// A sine of `freq` Hz at `amplitude`, `len` frames long.
pub fn sine(freq: f64, amplitude: f64, sample_rate: u32, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / sample_rate as f64).sin()) as f32)
        .collect()
}

/// Deterministic white noise in ±1 (xorshift), so tests need no RNG crate.
pub fn white_noise(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
