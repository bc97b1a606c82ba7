//! Voice denoise with RNNoise (nnnoiseless): pulls background noise down by up to
//! `amount_db` while leaving speech near unity. RNNoise only runs at 48 kHz on 480-frame
//! blocks in i16 scale, so this stage hides the framing, the scaling and — for any other
//! rate — the conversion to 48 kHz and back, with a delay that stays a whole number of frames.
//!
//! Mix law: `y = (1 − g)·wet + g·dry` with `g = 10^(−amount_db / 20)` and `dry` the input
//! delayed to line up with RNNoise's output. Where RNNoise removes everything (noise only),
//! `y = g·dry`: the noise floor sits `amount_db` below the input's. Where RNNoise passes
//! the signal (speech, `wet ≈ dry`), `y ≈ dry`. `amount_db = 100` uses RNNoise alone.

use nnnoiseless::DenoiseState;
use serde::{Deserialize, Serialize};

use super::resample::StreamResampler;
use super::Stage;

/// RNNoise's block size in frames at 48 kHz.
const FRAME: usize = DenoiseState::FRAME_SIZE;
/// The only rate RNNoise runs at.
const RNN_RATE: u32 = 48_000;
/// RNNoise wants samples in i16 scale.
const I16_SCALE: f32 = 32_768.0;
const I16_MAX: f32 = 32_767.0;
/// Frames whose voice-activity probability exceeds this count as speech in the metrics.
const SPEECH_VAD: f32 = 0.5;

/// `[denoise]` in a preset.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenoiseSettings {
    /// Run the denoiser at all.
    pub enabled: bool,
    /// How far the noise floor may be pulled down, in dB: 0 leaves the input unchanged
    /// (only delayed), 100 is RNNoise's output alone.
    pub amount_db: f64,
}

impl Default for DenoiseSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            amount_db: 20.0,
        }
    }
}

impl DenoiseSettings {
    pub const AMOUNT_DB_RANGE: (f64, f64) = (0.0, 100.0);

    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        let (min, max) = Self::AMOUNT_DB_RANGE;
        super::check_range("denoise.amount_db", self.amount_db, min, max)
    }

    /// Dry gain `g` of the mix law (0 at 100 dB: pure RNNoise).
    fn dry_gain(&self) -> f32 {
        let amount = self.amount_db.clamp(Self::AMOUNT_DB_RANGE.0, Self::AMOUNT_DB_RANGE.1);
        if amount >= Self::AMOUNT_DB_RANGE.1 {
            0.0
        } else {
            super::db_to_amp(-amount) as f32
        }
    }
}

/// One channel's RNNoise state and frame buffers (48 kHz domain).
struct Channel {
    rnn: Box<DenoiseState<'static>>,
    /// The frame being collected, i16 scale, sanitized and clamped.
    input: [f32; FRAME],
    /// The previous input frame: what RNNoise's current output lines up with.
    dry: [f32; FRAME],
    wet: [f32; FRAME],
    /// The last mixed output frame, ±1.0 scale.
    output: [f32; FRAME],
    stats: Stats,
}

impl Channel {
    fn new() -> Box<Self> {
        Box::new(Self {
            rnn: DenoiseState::new(),
            input: [0.0; FRAME],
            dry: [0.0; FRAME],
            wet: [0.0; FRAME],
            output: [0.0; FRAME],
            stats: Stats::default(),
        })
    }

    /// Denoises the collected frame into `output` and records its VAD statistics.
    fn run(&mut self, mix: Mix) {
        let vad = self.rnn.process_frame(&mut self.wet, &self.input);
        for ((out, &wet), &dry) in self.output.iter_mut().zip(&self.wet).zip(&self.dry) {
            let y = mix.wet * wet + mix.dry * dry;
            *out = if y.is_finite() { y } else { 0.0 };
        }
        self.dry = self.input;
        let vad = if vad.is_finite() { vad.clamp(0.0, 1.0) } else { 0.0 };
        self.stats.vad_sum += vad as f64;
        self.stats.frames += 1;
        self.stats.speech_frames += u64::from(vad > SPEECH_VAD);
    }
}

/// Voice-activity statistics for the report.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    vad_sum: f64,
    frames: u64,
    speech_frames: u64,
}

/// Gains of the mix law, pre-scaled back from i16 to ±1.0.
#[derive(Debug, Clone, Copy)]
struct Mix {
    wet: f32,
    dry: f32,
}

/// How samples reach RNNoise.
enum Path {
    /// Not prepared (or an unusable rate): the input passes unchanged with no delay.
    Bypass,
    /// 48 kHz: frames are collected in place; `fill` frames of the current one are in.
    Direct { fill: usize },
    /// Any other rate: converted to 48 kHz and back.
    Resampled(Box<Resampled>),
}

struct Resampled {
    up: StreamResampler,
    down: StreamResampler,
    /// One 480-frame planar frame at 48 kHz, between the converters and RNNoise.
    frame: Vec<Vec<f32>>,
    /// Silence put in front of RNNoise (48 kHz frames) so the 48 kHz-domain delay converts
    /// to a whole number of frames at the outer rate.
    pad_48k: usize,
    /// Silence put in front of the output (outer-rate frames) so that every call can be
    /// answered from what is already converted, whatever the block size.
    pad_out: usize,
}

impl Resampled {
    /// Converters and delays for an outer rate `rate` ≠ 48 kHz; returns the stage latency too.
    fn new(rate: u32, channels: usize) -> Option<(Self, usize)> {
        let (in_up, out_up) = StreamResampler::chunk_sizes(rate, RNN_RATE);
        let (in_down, out_down) = StreamResampler::chunk_sizes(RNN_RATE, rate);
        let (r, r48) = (rate as u64, RNN_RATE as u64);
        // 48 kHz-domain delay: converter in + RNNoise's one frame + padding, made a multiple
        // of 48000 / gcd(48000, rate) so it is a whole number of frames at `rate`.
        let step = r48 / gcd(r48, r);
        let delay_48k = (out_up / 2 + FRAME) as u64;
        let pad_48k = (step - delay_48k % step) % step;
        let delay_outer = (delay_48k + pad_48k) * r / r48;
        // Output due after k input frames is k; converted output after k frames is at least
        // k − (in_up − 1) − (FRAME − 2 + in_down − pad_48k)·rate/48000 (each of the three
        // block stages holds back less than one block). Pre-fill that much silence.
        let held = (FRAME as i64 - 2 + in_down as i64 - pad_48k as i64) * r as i64;
        let pad_out = (in_up as i64 - 1 + ceil_div(held, r48 as i64)).max(0) as usize;
        let latency = delay_outer as usize + out_down / 2 + pad_out;

        // FIFO sizes: the 48 kHz FIFO holds the padding, less than one frame and one chunk;
        // the output FIFO holds its padding, the converted lead from `pad_48k`, and one piece
        // (≤ in_up frames) plus one chunk of slack.
        let pad_48k = pad_48k as usize;
        let up_capacity = pad_48k + FRAME + out_up;
        let down_capacity = pad_out + (pad_48k * rate as usize).div_ceil(RNN_RATE as usize) + in_up + out_down + FRAME;
        let up = StreamResampler::new(rate, RNN_RATE, channels, up_capacity).ok()?;
        let down = StreamResampler::new(RNN_RATE, rate, channels, down_capacity).ok()?;
        debug_assert_eq!((up.chunk_in(), down.chunk_out()), (in_up, out_down));
        let mut resampled = Self {
            up,
            down,
            frame: vec![vec![0.0; FRAME]; channels],
            pad_48k,
            pad_out,
        };
        resampled.reset();
        Some((resampled, latency))
    }

    fn reset(&mut self) {
        self.up.reset();
        self.down.reset();
        self.up.delay_output(self.pad_48k);
        self.down.delay_output(self.pad_out);
    }
}

/// RNNoise as a [`Stage`]: per-channel `DenoiseState`, any sample rate, exact latency.
pub struct DenoiseStage {
    settings: DenoiseSettings,
    mix: Mix,
    channels: Vec<Box<Channel>>,
    path: Path,
    latency: usize,
}

impl DenoiseStage {
    pub fn new(settings: &DenoiseSettings) -> Self {
        let g = settings.dry_gain();
        Self {
            settings: settings.clone(),
            mix: Mix {
                wet: (1.0 - g) / I16_SCALE,
                dry: g / I16_SCALE,
            },
            channels: Vec::new(),
            path: Path::Bypass,
            latency: 0,
        }
    }

    pub fn settings(&self) -> &DenoiseSettings {
        &self.settings
    }
}

impl Stage for DenoiseStage {
    fn name(&self) -> &'static str {
        "denoise"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, _max_block: usize) -> Result<(), super::PrepareError> {
        self.channels = (0..channels).map(|_| Channel::new()).collect();
        (self.path, self.latency) = if channels == 0 {
            (Path::Bypass, 0)
        } else if sample_rate == RNN_RATE {
            // One frame collecting input while the previous frame's output is played, plus
            // RNNoise's own one-frame overlap-add delay.
            (Path::Direct { fill: 0 }, 2 * FRAME)
        } else {
            match Resampled::new(sample_rate, channels) {
                Some((resampled, latency)) => (Path::Resampled(Box::new(resampled)), latency),
                None => {
                    return Err(super::PrepareError {
                        stage: "denoise",
                        reason: format!("cannot convert {sample_rate} Hz to and from RNNoise's 48 kHz"),
                    })
                }
            }
        };
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        let channels = self.channels.len().min(block.len());
        let block = &mut block[..channels];
        match &mut self.path {
            Path::Bypass => {}
            Path::Direct { fill } => {
                let (start, mix) = (*fill, self.mix);
                for_each_channel(&mut self.channels, block, &|ch, samples| {
                    denoise_direct(ch, &mut samples[..frames], start, mix);
                });
                *fill = (start + frames) % FRAME;
            }
            Path::Resampled(rs) => {
                let mut pos = 0;
                while pos < frames {
                    // Pieces end on the input converter's chunk boundaries, which bounds
                    // every FIFO whatever the block size.
                    let take = (frames - pos).min(rs.up.chunk_in() - rs.up.pending_input());
                    for samples in block.iter_mut() {
                        for s in &mut samples[pos..pos + take] {
                            *s = if s.is_finite() { s.clamp(-1.0, 1.0) } else { 0.0 };
                        }
                    }
                    let pushed = rs.up.push(block, pos..pos + take);
                    debug_assert_eq!(pushed, take, "48 kHz FIFO overflow");
                    while rs.up.available() >= FRAME {
                        rs.up.pop(&mut rs.frame, 0..FRAME);
                        let mix = self.mix;
                        for_each_channel(&mut self.channels, &mut rs.frame, &|ch, samples| {
                            to_rnn_scale(&mut ch.input, samples);
                            ch.run(mix);
                            samples.copy_from_slice(&ch.output);
                        });
                        let pushed = rs.down.push(&rs.frame, 0..FRAME);
                        debug_assert_eq!(pushed, FRAME, "output FIFO overflow");
                    }
                    let popped = rs.down.pop(block, pos..pos + take);
                    debug_assert_eq!(popped, take, "output FIFO underrun");
                    if popped < take {
                        // Cannot happen with the padding computed in `prepare`; never leave
                        // input where output belongs.
                        block.iter_mut().for_each(|s| s[pos + popped..pos + take].fill(0.0));
                    }
                    pos += take;
                }
            }
        }
    }

    fn latency(&self) -> usize {
        self.latency
    }

    fn reset(&mut self) {
        for ch in &mut self.channels {
            *ch = Channel::new();
        }
        match &mut self.path {
            Path::Bypass => {}
            Path::Direct { fill } => *fill = 0,
            Path::Resampled(rs) => rs.reset(),
        }
    }

    fn metrics(&self) -> Vec<(&'static str, f64)> {
        let total = self.channels.iter().fold(Stats::default(), |sum, ch| Stats {
            vad_sum: sum.vad_sum + ch.stats.vad_sum,
            frames: sum.frames + ch.stats.frames,
            speech_frames: sum.speech_frames + ch.stats.speech_frames,
        });
        let frames = total.frames.max(1) as f64;
        vec![
            ("mean_speech_probability", total.vad_sum / frames),
            ("speech_frame_ratio", total.speech_frames as f64 / frames),
            ("amount_db", self.settings.amount_db),
        ]
    }
}

/// Copies ±1.0 samples into RNNoise's i16 scale, replacing NaN/Inf with silence and clamping,
/// so no input can poison its state.
#[inline]
fn to_rnn_scale(dst: &mut [f32], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = if s.is_finite() {
            (s * I16_SCALE).clamp(-I16_MAX, I16_MAX)
        } else {
            0.0
        };
    }
}

/// One channel of the 48 kHz path: collects `samples` into frames (the current one holds
/// `fill` frames already) and replaces them with the output one frame behind.
fn denoise_direct(ch: &mut Channel, samples: &mut [f32], mut fill: usize, mix: Mix) {
    let mut pos = 0;
    while pos < samples.len() {
        let take = (samples.len() - pos).min(FRAME - fill);
        let piece = &mut samples[pos..pos + take];
        to_rnn_scale(&mut ch.input[fill..fill + take], piece);
        piece.copy_from_slice(&ch.output[fill..fill + take]);
        fill += take;
        pos += take;
        if fill == FRAME {
            ch.run(mix);
            fill = 0;
        }
    }
}

/// Runs `f` on every channel with its samples. Channels are independent, so they run in
/// parallel when the thread pool has an idle thread (a stereo file in a batch with fewer files
/// left than workers); otherwise `join` runs them one after the other at no real cost.
fn for_each_channel(
    channels: &mut [Box<Channel>],
    block: &mut [Vec<f32>],
    f: &(dyn Fn(&mut Channel, &mut [f32]) + Sync),
) {
    match (channels, block) {
        ([channel], [samples]) => f(channel, samples),
        (channels, block) if channels.len() > 1 && block.len() > 1 => {
            let half = channels.len().min(block.len()) / 2;
            let (left_ch, right_ch) = channels.split_at_mut(half);
            let (left, right) = block.split_at_mut(half);
            rayon::join(
                || for_each_channel(left_ch, left, f),
                || for_each_channel(right_ch, right, f),
            );
        }
        _ => {}
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `ceil(a / b)` for a positive `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{self, best_lag, rms_db, white_noise};
    use crate::dsp::AlignedChain;

    type Metrics = Vec<(&'static str, f64)>;

    fn stage(amount_db: f64) -> DenoiseStage {
        DenoiseStage::new(&DenoiseSettings {
            amount_db,
            ..DenoiseSettings::default()
        })
    }

    /// Runs `input` through the stage behind an `AlignedChain` (latency trimmed, tail flushed).
    fn run_aligned(amount_db: f64, rate: u32, input: &[Vec<f32>], block: usize) -> (Vec<Vec<f32>>, Metrics) {
        let mut aligned = AlignedChain::new(stage(amount_db), rate, input.len(), block).unwrap();
        let out = testutil::run_aligned(&mut aligned, input, block);
        let metrics = aligned.stage().metrics();
        (out, metrics)
    }

    fn argmax_abs(x: &[f32]) -> usize {
        x.iter()
            .enumerate()
            .fold(
                (0, 0.0f32),
                |(bi, bv), (i, &v)| if v.abs() > bv { (i, v.abs()) } else { (bi, bv) },
            )
            .0
    }

    /// Speech fixture (16 kHz mono, ±1.0).
    fn speech_16k() -> Vec<f32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_aew_a0001.wav");
        let mut reader = hound::WavReader::open(path).expect("speech fixture");
        assert_eq!(reader.spec().sample_rate, 16_000);
        reader
            .samples::<i16>()
            .map(|s| s.expect("sample") as f32 / 32_768.0)
            .collect()
    }

    /// Pink-ish noise (Paul Kellet's filter on white noise), unit-free.
    fn pink_noise(len: usize, seed: u64) -> Vec<f32> {
        let white = white_noise(len, seed);
        let mut b = [0.0f32; 7];
        white
            .iter()
            .map(|&w| {
                b[0] = 0.99886 * b[0] + w * 0.055_518;
                b[1] = 0.99332 * b[1] + w * 0.075_076;
                b[2] = 0.96900 * b[2] + w * 0.153_852;
                b[3] = 0.86650 * b[3] + w * 0.310_486;
                b[4] = 0.55000 * b[4] + w * 0.532_952;
                b[5] = -0.7616 * b[5] - w * 0.016_898;
                let y = b.iter().sum::<f32>() + w * 0.5362;
                b[6] = w * 0.115_926;
                y
            })
            .collect()
    }

    fn resample_whole(x: &[f32], from: u32, to: u32) -> Vec<f32> {
        let mut rs = StreamResampler::new(from, to, 1, 1 << 20).unwrap();
        let want = (x.len() as u64 * to as u64).div_ceil(from as u64) as usize;
        let delay = rs.output_delay();
        let total = want + delay + 2 * rs.chunk_out();
        let mut out = vec![vec![0.0; total]];
        let mut got = 0;
        assert_eq!(rs.push(&[x.to_vec()], 0..x.len()), x.len());
        got += rs.pop(&mut out, got..total);
        while got < want + delay {
            rs.push_silence(rs.chunk_in());
            got += rs.pop(&mut out, got..total);
        }
        out[0][delay..delay + want].to_vec()
    }

    #[test]
    fn settings_defaults_validation_and_serde() {
        let d = DenoiseSettings::default();
        assert!(d.enabled);
        assert_eq!(d.amount_db, 20.0);
        assert!(d.validate().is_ok());
        let bad = DenoiseSettings {
            amount_db: 150.0,
            ..d.clone()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "denoise.amount_db must be between 0 and 100, got 150"
        );
        assert!(DenoiseSettings {
            amount_db: f64::NAN,
            ..d.clone()
        }
        .validate()
        .is_err());
        assert!(DenoiseSettings {
            amount_db: -1.0,
            ..d.clone()
        }
        .validate()
        .is_err());
        let parsed: DenoiseSettings = toml::from_str("amount_db = 12.5").unwrap();
        assert_eq!(parsed, DenoiseSettings { amount_db: 12.5, ..d });
        assert!(toml::from_str::<DenoiseSettings>("amount = 3.0").is_err());
        assert_eq!(stage(100.0).mix.dry, 0.0);
        assert_eq!(stage(20.0).name(), "denoise");
    }

    #[test]
    fn latency_is_whole_frames_at_every_rate() {
        let mut s = stage(20.0);
        s.prepare(48_000, 1, 4096).unwrap();
        assert_eq!(s.latency(), 960);
        for rate in [
            8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 88_200, 96_000, 176_400, 192_000,
        ] {
            let mut s = stage(20.0);
            s.prepare(rate, 2, 4096).unwrap();
            let Path::Resampled(rs) = &s.path else {
                panic!("{rate}: not resampled")
            };
            let delay_48k = rs.up.output_delay() + FRAME + rs.pad_48k;
            assert_eq!((delay_48k as u64 * rate as u64) % 48_000, 0, "{rate}");
            // Three block stages (converter in, RNNoise, converter out) hold back about a
            // block each: 84 ms at 192 kHz, 100 ms at 44.1 kHz, 404 ms at 8 kHz.
            assert!(s.latency() < rate as usize / 2, "{rate}: latency {}", s.latency());
        }
    }

    /// At 48 kHz an impulse comes out at the index it went in (after trimming the latency):
    /// exactly equal with amount 0 (dry path), at the same peak index with RNNoise mixed in.
    #[test]
    fn impulse_stays_in_place_at_48k() {
        let len = 48_000;
        let mut x = vec![0.0f32; len];
        let at = 12_345;
        x[at] = 0.5;
        let (dry, _) = run_aligned(0.0, 48_000, &[x.clone()], 4096);
        assert_eq!(dry[0].len(), len);
        assert_eq!(dry[0], x);
        for amount in [20.0, 100.0] {
            let (out, _) = run_aligned(amount, 48_000, &[x.clone()], 1000);
            assert_eq!(out[0].len(), len);
            assert_eq!(argmax_abs(&out[0]), at, "amount {amount}");
        }
    }

    /// At 44.1 and 16 kHz (resampled inside): length kept exactly through `AlignedChain`;
    /// the dry path (amount 0) reproduces a band-limited input sample by sample (so the
    /// latency is exact); with RNNoise on, speech comes out with cross-correlation lag 0.
    #[test]
    fn resampled_rates_keep_length_and_alignment() {
        let speech16 = speech_16k();
        for rate in [44_100u32, 16_000, 22_050, 8_000, 44_101, 192_000] {
            let speech = if rate == 16_000 {
                speech16.clone()
            } else {
                resample_whole(&speech16, 16_000, rate)
            };
            let len = speech.len() + 777;
            let mut x = vec![0.0f32; len];
            x[500..500 + speech.len()].copy_from_slice(&speech);
            let (dry, _) = run_aligned(0.0, rate, &[x.clone()], 4096);
            assert_eq!(dry[0].len(), len, "{rate}: length");
            // Residual against the input, and against the input shifted by one frame: only
            // the resamplers' band edge (≈ 0.95 × Nyquist) may differ, never the timing.
            let residual = |shift: usize| {
                let diff: Vec<f32> = dry[0][shift..].iter().zip(&x).map(|(a, b)| a - b).collect();
                rms_db(&diff) - rms_db(&x)
            };
            let (aligned, shifted) = (residual(0), residual(1));
            eprintln!("{rate}: dry residual {aligned:.1} dB, shifted by one frame {shifted:.1} dB");
            assert!(aligned < -30.0, "{rate}: dry path residual {aligned:.1} dB");
            assert!(shifted > aligned + 10.0, "{rate}: misaligned");
            let (wet, _) = run_aligned(20.0, rate, &[x.clone()], 480);
            assert_eq!(wet[0].len(), len, "{rate}: length");
            assert_eq!(best_lag(&x, &wet[0], 50), 0, "{rate}: lag");
        }
    }

    #[test]
    fn block_size_invariant_and_reset_reproduces() {
        for rate in [48_000u32, 44_100, 16_000] {
            let len = rate as usize * 3 / 5;
            let noise = white_noise(len, 7);
            let tone = testutil::sine(220.0, 0.3, rate, len);
            let left: Vec<f32> = noise.iter().zip(&tone).map(|(n, t)| 0.05 * n + t).collect();
            let right: Vec<f32> = noise.iter().map(|n| 0.1 * n).collect();
            testutil::assert_block_size_invariant(&|| Box::new(stage(20.0)), rate, &[left, right]);
        }
    }

    #[test]
    fn survives_garbage_and_keeps_working() {
        for rate in [48_000u32, 44_100] {
            testutil::assert_survives_garbage(&|| Box::new(stage(20.0)), rate, 2);
            // After NaN/Inf and full-scale DC the RNNoise state must still produce sound.
            let mut s = stage(20.0);
            s.prepare(rate, 1, 4096).unwrap();
            let n = rate as usize / 2;
            let mut x: Vec<f32> = (0..n)
                .map(|i| if i % 3 == 0 { f32::NAN } else { f32::INFINITY })
                .collect();
            x.extend(std::iter::repeat_n(1.0, n));
            x.extend(testutil::sine(300.0, 0.25, rate, 2 * n));
            let out = testutil::run(&mut s, &[x], 512);
            assert!(out[0].iter().all(|v| v.is_finite()));
            let tail = &out[0][out[0].len() - n / 2..];
            assert!(
                rms_db(tail) > -45.0,
                "{rate}: silent after garbage ({} dB)",
                rms_db(tail)
            );
            assert!(s.metrics().iter().all(|(_, v)| v.is_finite()));
        }
    }

    /// The main quality check: real speech with pink noise at 5 dB SNR, with 1 s of noise
    /// alone before, between two copies of the utterance, and after. At default settings the
    /// noise-only passages must drop by at least 15 dB and the speech passages stay within
    /// 3 dB. Run at the fixture's 16 kHz (resampled path) and at 48 kHz (direct path).
    #[test]
    fn pulls_noise_down_and_keeps_speech() {
        let speech16 = speech_16k();
        for rate in [16_000u32, 48_000] {
            let speech = if rate == 16_000 {
                speech16.clone()
            } else {
                resample_whole(&speech16, 16_000, rate)
            };
            let sec = rate as usize;
            let gap = sec;
            let s1 = gap..gap + speech.len();
            let s2 = s1.end + gap..s1.end + gap + speech.len();
            let len = s2.end + gap;
            let mut clean = vec![0.0f32; len];
            clean[s1.clone()].copy_from_slice(&speech);
            clean[s2.clone()].copy_from_slice(&speech);
            let speech_db = rms_db(&speech);
            let pink = pink_noise(len, 42);
            let noise_gain = 10f64.powf((speech_db - 5.0 - rms_db(&pink)) / 20.0) as f32;
            let input: Vec<f32> = clean.iter().zip(&pink).map(|(c, n)| c + noise_gain * n).collect();

            // Noise-only: skip the first 300 ms (RNNoise settling) and 150 ms next to speech.
            let margin = sec * 15 / 100;
            let noise_parts = [
                sec * 3 / 10..s1.start - margin,
                s1.end + margin..s2.start - margin,
                s2.end + margin..len - margin,
            ];
            let speech_parts = [s1.clone(), s2.clone()];
            let concat = |x: &[f32], parts: &[std::ops::Range<usize>]| -> Vec<f32> {
                parts.iter().flat_map(|r| x[r.clone()].iter().copied()).collect()
            };
            let measure = |amount_db: f64| {
                let (out, metrics) = run_aligned(amount_db, rate, std::slice::from_ref(&input), 4096);
                let out = &out[0];
                assert_eq!(out.len(), len);
                let noise_drop = rms_db(&concat(&input, &noise_parts)) - rms_db(&concat(out, &noise_parts));
                let speech_change = rms_db(&concat(out, &speech_parts)) - rms_db(&concat(&input, &speech_parts));
                eprintln!(
                    "{rate} Hz, amount {amount_db} dB: noise drop {noise_drop:.1} dB, speech change \
                     {speech_change:+.2} dB, {metrics:?}"
                );
                (noise_drop, speech_change, metrics)
            };
            let (noise_drop, speech_change, metrics) = measure(20.0);
            assert!(noise_drop >= 15.0, "{rate}: noise only dropped {noise_drop:.1} dB");
            assert!(
                speech_change.abs() <= 3.0,
                "{rate}: speech changed {speech_change:+.2} dB"
            );
            if rate == 16_000 {
                // The mix law: the floor follows amount_db; 100 dB is RNNoise alone.
                let (drop_6, _, _) = measure(6.0);
                assert!((5.0..=6.5).contains(&drop_6), "amount 6: noise dropped {drop_6:.1} dB");
                let (drop_100, change_100, _) = measure(100.0);
                assert!(drop_100 >= 30.0, "amount 100: noise dropped {drop_100:.1} dB");
                assert!(
                    change_100.abs() <= 3.0,
                    "amount 100: speech changed {change_100:+.2} dB"
                );
            }
            let get = |key: &str| metrics.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).unwrap();
            assert_eq!(get("amount_db"), 20.0);
            let ratio = get("speech_frame_ratio");
            assert!((0.2..0.8).contains(&ratio), "{rate}: speech frame ratio {ratio}");
            assert!(get("mean_speech_probability") > 0.1);
        }
    }
}
