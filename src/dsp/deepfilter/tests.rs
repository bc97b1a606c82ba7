//! Engine-level checks: the golden comparison against DeepFilterNet's own runtime, the level
//! guard for quiet speech, and the speech estimate.

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/deepfilter");
/// The clips of `tests/fixtures/deepfilter/` (Valentini noisy speech, 48 kHz, 3 s each).
const CLIPS: [&str; 3] = ["p287_002_48k", "p287_003_48k", "p287_004_48k"];

fn read_wav(path: &str) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (48_000, 1), "{path}");
    match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(|s| s.expect("sample")).collect(),
        hound::SampleFormat::Int => {
            let scale = (1u32 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.expect("sample") as f32 / scale)
                .collect()
        }
    }
}

fn read_lsnr(path: &str) -> Vec<f32> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| l.trim().parse().expect("number"))
        .collect()
}

/// Runs the engine over `x` (padded with silence to flush it) and returns the output aligned
/// with `x`, the per-frame speech probabilities and the stats.
pub(crate) fn run_engine(x: &[f32], dry: f32) -> (Vec<f32>, Vec<f32>, DeepFilterStats) {
    let networks = Networks::shared().expect("model");
    let mut engine = DeepFilter::new(networks, dry).expect("engine");
    let hops = x.len().div_ceil(HOP) + DELAY_HOPS;
    let mut padded = x.to_vec();
    padded.resize(hops * HOP, 0.0);
    let mut out = vec![0.0f32; hops * HOP];
    let mut speech = Vec::new();
    for (input, output) in padded.chunks(HOP).zip(out.chunks_mut(HOP)) {
        engine.process_hop(input, output, &mut speech);
    }
    let at = DELAY_HOPS * HOP;
    (out[at..at + x.len()].to_vec(), speech, engine.stats())
}

fn energy(x: impl Iterator<Item = f32>) -> f64 {
    x.map(|v| f64::from(v) * f64::from(v)).sum()
}

/// The main correctness check: podclean's engine against DeepFilterNet's own runtime (its C
/// API on tract 0.21, run frame by frame by `bench/deepfilter/golden.py`) on real noisy
/// speech, network output alone (no attenuation limit).
///
/// Metric: energy of the difference over energy of the golden output (as nnnoiseless tests its
/// port of RNNoise), not bit equality: both sides run the same float32 graphs, but podclean runs
/// them in blocks of 100 frames on tract 0.23 and the reference frame by frame on tract 0.21,
/// with different kernels and summation orders. Measured here: 1e-13 … 5e-13 (−130 … −123 dB),
/// float rounding. Tolerance 1e-6 (−60 dB): room for other CPUs' SIMD kernels and FMA, while
/// anything really wrong — a frame off in the look-ahead, a misordered filter tap, a wrong
/// feature normalisation or window scale — costs 1e-2 or more. The speech probability (from the
/// per-frame local SNR) must agree within 1e-3.
#[test]
fn matches_deepfilternet_runtime_on_real_noisy_speech() {
    for clip in CLIPS {
        let input = read_wav(&format!("{FIXTURES}/{clip}.wav"));
        let golden = read_wav(&format!("{FIXTURES}/{clip}.golden.wav"));
        let golden_lsnr = read_lsnr(&format!("{FIXTURES}/{clip}.golden.lsnr.txt"));
        assert_eq!(input.len(), golden.len(), "{clip}");
        let (out, speech, stats) = run_engine(&input, 0.0);
        assert_eq!(stats.max_level_boost_db, 0.0, "{clip}: fixtures are at normal level");
        assert_eq!(stats.failed_blocks, 0);
        let diff = energy(out.iter().zip(&golden).map(|(a, b)| a - b));
        let rel = diff / energy(golden.iter().copied());
        let removed = 10.0 * (energy(input.iter().copied()) / energy(golden.iter().copied())).log10();
        let lsnr_err = speech
            .iter()
            .zip(&golden_lsnr)
            .map(|(&p, &l)| (p - speech_probability(l)).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "{clip}: relative error energy {rel:.2e} ({:.1} dB), network removed {removed:.1} dB, \
             max speech-probability difference {lsnr_err:.2e}",
            10.0 * rel.log10()
        );
        assert!(rel < 1e-6, "{clip}: relative error energy {rel:.2e}");
        assert!(
            speech.len() >= golden_lsnr.len() - 1,
            "{clip}: {} frames judged",
            speech.len()
        );
        assert!(lsnr_err < 1e-3, "{clip}: speech probability differs by {lsnr_err}");
    }
}
