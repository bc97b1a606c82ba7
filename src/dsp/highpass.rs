//! Rumble filter: a high-pass with the Butterworth magnitude response that removes handling
//! noise, desk thumps, HVAC rumble and mains hum below the voice before the de-esser and
//! compressor react to them — and before RNNoise, but after DeepFilterNet, which reads
//! full-band input (`pipeline::build_chain` says why).
//!
//! The filter is a linear-phase FIR, not the usual minimum-phase IIR: an IIR Butterworth leads
//! the phase of the low voice band and moves the cross-correlation peak of male speech by up
//! to a sample, which breaks sample-exact sync with picture. The FIR has exactly the Butterworth
//! magnitude |H(f)|² = 1/(1+(fc/f)^2n) and a constant group delay of (N−1)/2 frames, which
//! `latency()` reports (plus the FFT block buffering) so `AlignedChain` trims it away.
//!
//! Design (once, in `prepare`): the zero-phase magnitude is sampled on a dense frequency grid,
//! inverse-FFT'd, centred, and cut to N taps with a Tukey window (flat top, 25 % cosine
//! tapers). A flat-top window matters here: bell windows (Kaiser, Blackman-Harris) curve the
//! centre of the impulse response and smear the steep f^2n stopband, costing several dB at
//! fc/4 for any sane length. The Butterworth impulse response decays like
//! exp(−2π·fc·sin(π/2n)·|t|), so 10 cycles of fc (order 4) or 6 (order 2) are enough for
//! ≤ 0.01 dB error down to fc/4 (−48 dB). The tap count is capped at 0.25 s to bound the
//! latency, which only applies to corners below 40 Hz (order 4) or 24 Hz (order 2); the
//! response there is slightly less exact (10 Hz, order 4: within 0.3 dB at fc and 0.03 dB
//! from 2·fc up, about 0.7 dB at fc/2).
//!
//! Filtering: FFT overlap-save (realfft, f32) per channel, FFT size M ≈ 2N (a 2^a or 3·2^a
//! size), hop L = M − N + 1. Input is buffered into hops internally, so the output is the
//! same for any block size, delayed by exactly L + (N−1)/2 frames.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use super::Stage;

/// `[highpass]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HighpassSettings {
    pub enabled: bool,
    /// −3 dB corner in Hz. 80 Hz sits below the lowest male voice fundamentals (~85 Hz).
    pub frequency_hz: f64,
    /// Butterworth order of the magnitude response: 2 (12 dB/octave) or 4 (24 dB/octave).
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

/// Longest FIR, in seconds (only reached for corners below 40 Hz).
const MAX_TAPS_SECONDS: f64 = 0.25;
/// Shortest FIR, in taps.
const MIN_TAPS: usize = 65;
/// Fraction of the Tukey window given to its two cosine tapers together.
const TUKEY_ALPHA: f64 = 0.25;
/// Input beyond ±this (absurd but finite) is clamped so the f32 FFT can never overflow.
const INPUT_LIMIT: f32 = 1e9;

/// Butterworth high-pass magnitude |H(f)| = 1/√(1+(fc/f)^2n).
fn butterworth_magnitude(freq: f64, corner: f64, order: u32) -> f64 {
    if freq <= 0.0 {
        return 0.0;
    }
    1.0 / (1.0 + (corner / freq).powi(2 * order as i32)).sqrt()
}

/// Odd FIR length for this corner: 10 cycles of the corner for order 4, 6 for order 2
/// (the order-2 impulse response decays almost twice as fast), capped at 0.25 s.
fn tap_count(sample_rate: f64, corner: f64, order: u32) -> usize {
    let cycles = if order >= 4 { 10.0 } else { 6.0 };
    let seconds = (cycles / corner).min(MAX_TAPS_SECONDS);
    ((seconds * sample_rate).round() as usize).max(MIN_TAPS) | 1
}

/// Linear-phase taps (odd length, exactly symmetric, exactly zero sum) whose magnitude is
/// the Butterworth high-pass of `order` with its −3 dB corner at `corner`.
fn design_taps(sample_rate: f64, corner: f64, order: u32) -> Vec<f64> {
    let taps = tap_count(sample_rate, corner, order);
    let zero_phase = super::fir::zero_phase_taps(sample_rate, taps, |freq| butterworth_magnitude(freq, corner, order));
    let centre = (taps - 1) / 2;
    let tukey = |k: usize| {
        // `k` is the distance from the centre; `x` the position from the nearer edge in 0..=0.5.
        let x = (centre - k) as f64 / (taps - 1) as f64;
        if x < TUKEY_ALPHA / 2.0 {
            0.5 * (1.0 - (2.0 * std::f64::consts::PI * x / TUKEY_ALPHA).cos())
        } else {
            1.0
        }
    };
    let mut h = vec![0.0; taps];
    let mut window = vec![0.0; taps];
    for k in 0..=centre {
        let w = tukey(k);
        h[centre + k] = zero_phase[centre + k] * w;
        h[centre - k] = zero_phase[centre - k] * w;
        window[centre + k] = w;
        window[centre - k] = w;
    }
    // Truncation leaves a tiny DC gain; remove it with a scaled copy of the (smooth, symmetric)
    // window so DC is blocked exactly and symmetry is kept.
    let dc = h.iter().sum::<f64>() / window.iter().sum::<f64>();
    for (t, w) in h.iter_mut().zip(&window) {
        *t -= dc * w;
    }
    h
}

/// Smallest FFT size of the form 2^a or 3·2^a that is at least `min`.
fn fft_size(min: usize) -> usize {
    let pow2 = min.next_power_of_two();
    if pow2 >= 4 && pow2 / 4 * 3 >= min {
        pow2 / 4 * 3
    } else {
        pow2
    }
}

/// Overlap-save FFT convolution of every channel with one FIR.
struct Convolver {
    taps: usize,
    hop: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// Spectrum of the zero-padded taps, already scaled by 1/M for the unnormalized inverse.
    filter: Vec<Complex<f32>>,
    /// Per channel, the last M input frames; new frames are written at `N − 1 + pos`.
    history: Vec<Vec<f32>>,
    /// Per channel, the hop of output being played out (computed from the previous hop).
    output: Vec<Vec<f32>>,
    time: Vec<f32>,
    freq: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Frames of the current hop received so far.
    pos: usize,
}

impl Convolver {
    fn new(taps: &[f64], channels: usize) -> Self {
        let n = taps.len();
        let size = fft_size(2 * n - 1);
        let hop = size - n + 1;

        let mut planner64 = RealFftPlanner::<f64>::new();
        let forward64 = planner64.plan_fft_forward(size);
        let mut padded = forward64.make_input_vec();
        padded[..n].copy_from_slice(taps);
        let mut spectrum = forward64.make_output_vec();
        let done = forward64.process(&mut padded, &mut spectrum);
        debug_assert!(done.is_ok());
        let scale = 1.0 / size as f64;
        let filter = spectrum
            .iter()
            .map(|c| Complex::new((c.re * scale) as f32, (c.im * scale) as f32))
            .collect();

        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        Self {
            taps: n,
            hop,
            time: forward.make_input_vec(),
            freq: forward.make_output_vec(),
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            forward,
            inverse,
            filter,
            history: vec![vec![0.0; size]; channels],
            output: vec![vec![0.0; hop]; channels],
            pos: 0,
        }
    }

    /// Delay in frames: the hop buffering plus the FIR's group delay.
    fn latency(&self) -> usize {
        self.hop + (self.taps - 1) / 2
    }

    fn reset(&mut self) {
        for channel in self.history.iter_mut().chain(self.output.iter_mut()) {
            channel.fill(0.0);
        }
        self.pos = 0;
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        // New frames go after the N − 1 frames of overlap kept from the previous hop.
        let head = self.taps - 1;
        let mut done = 0;
        while done < frames {
            let n = (self.hop - self.pos).min(frames - done);
            let (start, pos) = (head + self.pos, self.pos);
            let channels = block.iter_mut().zip(&mut self.history).zip(&self.output);
            for ((samples, history), output) in channels {
                let samples = &mut samples[done..done + n];
                let history = &mut history[start..start + n];
                for ((s, h), &o) in samples.iter_mut().zip(history).zip(&output[pos..pos + n]) {
                    // NaN/Inf become silence here: inside the FFT one would poison a whole hop.
                    *h = if s.is_finite() {
                        s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                    } else {
                        0.0
                    };
                    *s = o;
                }
            }
            self.pos += n;
            done += n;
            if self.pos == self.hop {
                self.convolve_hop();
                self.pos = 0;
            }
        }
    }

    /// Filters the completed hop of every channel into `output` and slides the history.
    fn convolve_hop(&mut self) {
        let last = self.freq.len() - 1;
        for (history, output) in self.history.iter_mut().zip(self.output.iter_mut()) {
            self.time.copy_from_slice(history);
            // Lengths are fixed in `new`, so neither transform can fail.
            let done = self
                .forward
                .process_with_scratch(&mut self.time, &mut self.freq, &mut self.scratch);
            debug_assert!(done.is_ok());
            for (x, h) in self.freq.iter_mut().zip(&self.filter) {
                *x *= *h;
            }
            self.freq[0].im = 0.0;
            self.freq[last].im = 0.0;
            let done = self
                .inverse
                .process_with_scratch(&mut self.freq, &mut self.time, &mut self.scratch);
            debug_assert!(done.is_ok());
            // The first N−1 outputs are circularly wrapped; the last `hop` are the valid ones.
            for (o, &y) in output.iter_mut().zip(&self.time[self.taps - 1..]) {
                *o = if y.is_finite() { y } else { 0.0 };
            }
            history.copy_within(self.hop.., 0);
        }
    }
}

/// Linear-phase high-pass with the Butterworth magnitude on every channel. Latency: FFT hop
/// plus half the FIR (≈ 0.19 s at the 80 Hz default), all of it a pure delay.
pub struct HighpassStage {
    settings: HighpassSettings,
    convolver: Option<Convolver>,
}

impl HighpassStage {
    pub fn new(settings: &HighpassSettings) -> Self {
        Self {
            settings: settings.clone(),
            convolver: None,
        }
    }
}

impl Stage for HighpassStage {
    fn name(&self) -> &'static str {
        "highpass"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, _max_block: usize) -> Result<(), super::PrepareError> {
        let fs = sample_rate as f64;
        // Validated presets never get near Nyquist; this only guards absurd rates.
        let corner = self.settings.frequency_hz.min(0.45 * fs);
        let taps = design_taps(fs, corner, self.settings.order);
        self.convolver = Some(Convolver::new(&taps, channels));
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        if let Some(convolver) = &mut self.convolver {
            convolver.process(block, frames);
        }
    }

    fn latency(&self) -> usize {
        self.convolver.as_ref().map_or(0, Convolver::latency)
    }

    fn reset(&mut self) {
        if let Some(convolver) = &mut self.convolver {
            convolver.reset();
        }
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
    use crate::dsp::testutil::{
        assert_block_size_invariant, assert_survives_garbage, best_lag, rms_db, run, sine, white_noise,
    };
    use crate::dsp::AlignedChain;

    fn settings(order: u32, frequency_hz: f64) -> HighpassSettings {
        HighpassSettings {
            order,
            frequency_hz,
            ..HighpassSettings::default()
        }
    }

    fn stage(order: u32) -> Box<dyn Stage> {
        Box::new(HighpassStage::new(&settings(order, 80.0)))
    }

    fn prepared(order: u32, frequency_hz: f64, sample_rate: u32, channels: usize) -> HighpassStage {
        let mut s = HighpassStage::new(&settings(order, frequency_hz));
        s.prepare(sample_rate, channels, 4096).unwrap();
        s
    }

    fn taps(s: &HighpassStage) -> usize {
        s.convolver.as_ref().map_or(0, |c| c.taps)
    }

    fn expected_db(freq: f64, corner: f64, order: u32) -> f64 {
        -10.0 * (1.0 + (corner / freq).powi(2 * order as i32)).log10()
    }

    /// Steady sines: after the latency and the FIR's length have passed, the output is the
    /// input delayed by `latency()` and scaled, so its RMS over one second against the same
    /// stretch of input must match the analog Butterworth |H|² = 1/(1+(fc/f)^2n) within 0.5 dB.
    #[test]
    fn response_matches_butterworth() {
        let cases: [(u32, &[f64]); 4] = [
            (8_000, &[20.0, 80.0, 200.0, 1000.0, 3000.0]),
            (44_100, &[20.0, 80.0, 200.0, 1000.0]),
            (48_000, &[20.0, 80.0, 200.0, 1000.0]),
            (192_000, &[20.0, 80.0, 200.0, 1000.0]),
        ];
        for (sample_rate, freqs) in cases {
            for order in [2u32, 4] {
                for &freq in freqs {
                    let mut s = prepared(order, 80.0, sample_rate, 1);
                    let (fs, latency, n) = (sample_rate as usize, s.latency(), taps(&s));
                    let start = latency + n;
                    let x = vec![sine(freq, 0.5, sample_rate, start + fs)];
                    let y = run(&mut s, &x, 4096);
                    let measured = rms_db(&y[0][start..]) - rms_db(&x[0][start - latency..fs + n]);
                    let expected = expected_db(freq, 80.0, order);
                    assert!(
                        (measured - expected).abs() < 0.5,
                        "order {order}, {freq} Hz at {sample_rate}: measured {measured:.3} dB, expected {expected:.3} dB"
                    );
                }
            }
        }
    }

    /// The designed taps themselves, over every supported corner and rate: their (real,
    /// linear-phase) response matches the Butterworth magnitude within 0.5 dB from fc/4 (or
    /// 10 Hz, whichever is higher) up.
    #[test]
    fn design_matches_butterworth_across_settings() {
        for sample_rate in [8_000.0, 16_000.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
            for corner in [10.0, 20.0, 40.0, 80.0, 150.0, 500.0] {
                for order in [2u32, 4] {
                    let h = design_taps(sample_rate, corner, order);
                    assert_eq!(h.len(), tap_count(sample_rate, corner, order));
                    assert!(h.len() % 2 == 1 && h.iter().sum::<f64>().abs() < 1e-12);
                    let c = (h.len() - 1) / 2;
                    for freq in [corner / 4.0, corner / 2.0, corner, 2.5 * corner, 12.5 * corner] {
                        if freq < 10.0 || freq > 0.45 * sample_rate {
                            continue;
                        }
                        let w = 2.0 * std::f64::consts::PI * freq / sample_rate;
                        let amp = h[c] + 2.0 * (1..=c).map(|k| h[c + k] * (w * k as f64).cos()).sum::<f64>();
                        let designed = 20.0 * amp.abs().log10();
                        let expected = expected_db(freq, corner, order);
                        assert!(
                            (designed - expected).abs() < 0.5,
                            "{corner} Hz order {order} at {sample_rate}: {freq} Hz is {designed:.3} dB, expected {expected:.3} dB"
                        );
                    }
                }
            }
        }
    }

    /// An impulse comes out exactly `latency()` frames later, as a symmetric (linear-phase)
    /// response centred on that frame.
    #[test]
    fn impulse_is_centred_on_the_latency() {
        for (sample_rate, order, at) in [(48_000u32, 4u32, 1234usize), (16_000, 2, 0), (44_100, 4, 77)] {
            let mut s = prepared(order, 80.0, sample_rate, 1);
            let (latency, half) = (s.latency(), (taps(&s) - 1) / 2);
            let mut x = vec![vec![0.0f32; at + latency + half + 1000]];
            x[0][at] = 1.0;
            let y = &run(&mut s, &x, 480)[0];
            let peak = (0..y.len()).max_by(|&a, &b| y[a].abs().total_cmp(&y[b].abs())).unwrap();
            assert_eq!(peak, at + latency, "{sample_rate} Hz order {order}");
            let centre = at + latency;
            for k in 1..=half {
                assert!(
                    (y[centre + k] - y[centre - k]).abs() < 1e-6,
                    "asymmetric at ±{k}: {} vs {}",
                    y[centre + k],
                    y[centre - k]
                );
            }
            let outside = y[..centre - half].iter().chain(&y[centre + half + 1..]);
            assert!(outside.into_iter().all(|v| v.abs() < 1e-6));
        }
    }

    #[test]
    fn removes_dc() {
        let mut s = prepared(4, 80.0, 48_000, 1);
        let start = s.latency() + taps(&s);
        let y = run(&mut s, &[vec![0.5; start + 48_000]], 4096);
        assert!(y[0][start..].iter().all(|v| v.abs() < 1e-4));
    }

    #[test]
    fn contract() {
        for order in [2, 4] {
            let input = vec![white_noise(60_000, 1), white_noise(60_000, 2)];
            assert_block_size_invariant(&|| stage(order), 48_000, &input);
            assert_block_size_invariant(&|| stage(order), 16_000, &input[..1]);
            assert_survives_garbage(&|| stage(order), 48_000, 2);
            assert_survives_garbage(&|| stage(order), 192_000, 1);
        }
        // Absurd but finite input must not overflow the FFT into NaN either.
        let mut s = prepared(4, 80.0, 48_000, 1);
        let mut x = vec![vec![0.0f32; 40_000]];
        x[0][..20_000].fill(f32::MAX);
        assert!(run(&mut s, &x, 512)[0].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn latency_is_the_hop_plus_half_the_fir() {
        assert_eq!(stage(4).latency(), 0, "nothing to delay before prepare");
        // 80 Hz, order 4 at 48 kHz: 6001 taps, FFT 12288, hop 6288.
        let s = prepared(4, 80.0, 48_000, 2);
        assert_eq!(taps(&s), 6001);
        assert_eq!(s.latency(), 6288 + 3000);
        for sample_rate in [8_000, 16_000, 44_100, 48_000, 96_000, 192_000] {
            for (order, corner) in [(2, 80.0), (4, 80.0), (4, 10.0), (2, 500.0)] {
                let s = prepared(order, corner, sample_rate, 1);
                let c = s.convolver.as_ref().unwrap();
                assert_eq!(c.hop + c.taps - 1, c.history[0].len());
                assert!(c.hop >= c.taps && s.latency() <= sample_rate as usize * 2 / 3);
            }
        }
    }

    /// Runs `input` (mono) through an `AlignedChain` around the high-pass in blocks, then
    /// flushes; returns the aligned output.
    fn aligned(settings: &HighpassSettings, sample_rate: u32, input: &[f32], block: usize) -> Vec<f32> {
        let mut chain = AlignedChain::new(HighpassStage::new(settings), sample_rate, 1, block).unwrap();
        let mut out = Vec::with_capacity(input.len());
        let mut buf = vec![vec![0.0f32; block]];
        for chunk in input.chunks(block) {
            buf[0][..chunk.len()].copy_from_slice(chunk);
            let r = chain.process(&mut buf, chunk.len());
            out.extend_from_slice(&buf[0][r]);
        }
        while let Some(r) = chain.flush(&mut buf) {
            out.extend_from_slice(&buf[0][r]);
        }
        out
    }

    /// Sub-sample position of the cross-correlation peak around lag 0 (parabolic fit).
    fn peak_offset(input: &[f32], output: &[f32]) -> f64 {
        let xcorr = |lag: isize| -> f64 {
            input
                .iter()
                .enumerate()
                .filter_map(|(i, &x)| {
                    let j = i as isize + lag;
                    (j >= 0 && (j as usize) < output.len()).then(|| x as f64 * output[j as usize] as f64)
                })
                .sum()
        };
        let (before, at, after) = (xcorr(-1), xcorr(0), xcorr(1));
        0.5 * (before - after) / (before - 2.0 * at + after)
    }

    fn assert_zero_lag(what: &str, input: &[f32], output: &[f32]) {
        assert_eq!(output.len(), input.len(), "{what}: length");
        assert_eq!(best_lag(input, output, 50), 0, "{what}: lag");
        let offset = peak_offset(input, output);
        assert!(offset.abs() < 0.05, "{what}: peak {offset:.4} samples off");
    }

    /// Real male speech (CMU ARCTIC aew, 16 kHz): the minimum-phase IIR this replaced moved
    /// the cross-correlation peak by −1 sample; the linear-phase FIR must leave it at 0.
    #[test]
    fn speech_keeps_zero_lag() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_aew_a0001.wav");
        let mut reader = hound::WavReader::open(path).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        let input: Vec<f32> = reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect();
        for order in [2, 4] {
            for corner in [80.0, 150.0] {
                let output = aligned(&settings(order, corner), 16_000, &input, 480);
                assert_zero_lag(&format!("speech, {corner} Hz order {order}"), &input, &output);
            }
        }
    }

    /// A synthetic low male voice at 48 kHz: a gliding 85–120 Hz pulse-like harmonic series
    /// (most energy near the corner, where the IIR's phase lead is largest) in syllables.
    #[test]
    fn low_voice_keeps_zero_lag_at_48k() {
        let fs = 48_000.0;
        let mut phase = 0.0f64;
        let input: Vec<f32> = (0..96_000)
            .map(|i| {
                let t = i as f64 / fs;
                let f0 = 100.0 + 15.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
                phase += 2.0 * std::f64::consts::PI * f0 / fs;
                let voice: f64 = (1..=30).map(|k| (k as f64 * phase).sin() / k as f64).sum();
                let syllables = (std::f64::consts::PI * 4.0 * t).sin().abs();
                (0.2 * voice * syllables) as f32
            })
            .collect();
        let output = aligned(&HighpassSettings::default(), 48_000, &input, 480);
        assert_zero_lag("low voice at 48 kHz", &input, &output);
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
