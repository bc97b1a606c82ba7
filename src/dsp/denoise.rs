//! Voice denoise: pulls background noise down by up to `amount_db` while leaving speech near
//! unity, with one of two engines — DeepFilterNet3 (`deepfilter`, [`crate::dsp::deepfilter`])
//! or RNNoise (`rnnoise`, nnnoiseless). Both run at 48 kHz on 480-frame hops, so this stage
//! hides the framing, the engine's delay and — for any other rate — the conversion to 48 kHz
//! and back, with a delay that stays a whole number of frames. It also publishes the engine's
//! speech estimate ([`Stage::speech_track`]).
//!
//! Mix law (both engines): `y = (1 − g)·wet + g·dry` with `g = 10^(−amount_db / 20)` and `dry`
//! the input delayed to line up with the engine's output. Where the engine removes everything
//! (noise only), `y = g·dry`: the noise floor sits `amount_db` below the input's. Where it
//! passes the signal (speech, `wet ≈ dry`), `y ≈ dry`. `amount_db = 100` is the engine alone.
//! DeepFilterNet mixes in the STFT domain (its own "attenuation limit"), which is the same law:
//! the inverse STFT is linear.
//!
//! Speech estimate: RNNoise's voice-activity probability, or DeepFilterNet's local SNR per frame
//! mapped to a probability ([`crate::dsp::deepfilter::speech_probability`]); both are judged
//! per 960-sample window, interpolated to the 10 ms hops of the stage's input timeline, and the
//! channels are combined by taking the largest.

use nnnoiseless::DenoiseState;
use serde::{Deserialize, Serialize};

use super::deepfilter::{self, DeepFilter, ModelError, Networks};
use super::resample::StreamResampler;
use super::{PrepareError, Stage, SPEECH_HOP_S};

/// Both engines' hop in frames at 48 kHz.
const FRAME: usize = DenoiseState::FRAME_SIZE;
/// The only rate the engines run at.
const ENGINE_RATE: u32 = 48_000;
/// RNNoise wants samples in i16 scale.
const I16_SCALE: f32 = 32_768.0;
const I16_MAX: f32 = 32_767.0;
/// Frames whose speech probability exceeds this count as speech in the metrics.
const SPEECH_PROBABILITY: f32 = 0.5;
/// Speech-track hops reserved up front (10 minutes); longer files grow it by amortised pushes.
const SPEECH_TRACK_RESERVE: usize = 60_000;

/// Which network removes the noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DenoiseEngine {
    /// DeepFilterNet3 (2023): the stronger network (DeepFilterNet's own runtime, which this
    /// engine matches, was better than the input on every noise type measured); the engine
    /// alone runs at ≈ 40× real time on one core.
    DeepFilter,
    /// RNNoise (2017), the network of ffmpeg's `arnndn`: ≈ 190× real time on one core.
    Rnnoise,
}

impl DenoiseEngine {
    /// The name used in presets and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeepFilter => "deepfilter",
            Self::Rnnoise => "rnnoise",
        }
    }
}

impl std::fmt::Display for DenoiseEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DenoiseEngine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deepfilter" => Ok(Self::DeepFilter),
            "rnnoise" => Ok(Self::Rnnoise),
            other => Err(format!(
                "unknown denoise engine '{other}' (choose deepfilter or rnnoise)"
            )),
        }
    }
}

/// `[denoise]` in a preset.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenoiseSettings {
    /// Run the denoiser at all.
    pub enabled: bool,
    /// Which network: `"deepfilter"` or `"rnnoise"`.
    pub engine: DenoiseEngine,
    /// How far the noise floor may be pulled down, in dB: 0 leaves the input unchanged
    /// (only delayed), 100 is the engine's output alone.
    pub amount_db: f64,
}

impl Default for DenoiseSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            engine: DenoiseEngine::DeepFilter,
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

    /// Dry gain `g` of the mix law (0 at 100 dB: the engine alone).
    fn dry_gain(&self) -> f32 {
        let amount = self.amount_db.clamp(Self::AMOUNT_DB_RANGE.0, Self::AMOUNT_DB_RANGE.1);
        if amount >= Self::AMOUNT_DB_RANGE.1 {
            0.0
        } else {
            super::db_to_amp(-amount) as f32
        }
    }
}

/// RNNoise on one channel: one hop in, the hop before out.
struct Rnn {
    rnn: Box<DenoiseState<'static>>,
    /// The hop just fed, i16 scale: what the next output lines up with.
    dry: [f32; FRAME],
    scaled: [f32; FRAME],
    wet: [f32; FRAME],
    /// Mix gains, pre-scaled back from i16 to ±1.0.
    wet_gain: f32,
    dry_gain: f32,
    /// Hops fed so far (saturating): the first voice-activity value belongs to no window.
    hops: u8,
}

impl Rnn {
    fn new(dry: f32) -> Box<Self> {
        Box::new(Self {
            rnn: DenoiseState::new(),
            dry: [0.0; FRAME],
            scaled: [0.0; FRAME],
            wet: [0.0; FRAME],
            wet_gain: (1.0 - dry) / I16_SCALE,
            dry_gain: dry / I16_SCALE,
            hops: 0,
        })
    }

    fn process_hop(&mut self, input: &[f32], output: &mut [f32], speech: &mut Vec<f32>) {
        to_rnn_scale(&mut self.scaled, input);
        let vad = self.rnn.process_frame(&mut self.wet, &self.scaled);
        for ((out, &wet), &dry) in output.iter_mut().zip(&self.wet).zip(&self.dry) {
            let y = self.wet_gain * wet + self.dry_gain * dry;
            *out = if y.is_finite() { y } else { 0.0 };
        }
        self.dry = self.scaled;
        // RNNoise's voice activity describes the window one hop back (measured against clean
        // speech: taken as the window ending with this hop, it runs one hop late).
        if self.hops > 0 {
            speech.push(if vad.is_finite() { vad.clamp(0.0, 1.0) } else { 0.0 });
        }
        self.hops = self.hops.saturating_add(1);
    }

    fn reset(&mut self) {
        let (wet_gain, dry_gain) = (self.wet_gain, self.dry_gain);
        *self = *Self::new(0.0);
        (self.wet_gain, self.dry_gain) = (wet_gain, dry_gain);
    }
}

/// One channel's engine, 48 kHz hop in, hop out, [`Engine::delay_hops`] later.
enum Engine {
    Rnn(Box<Rnn>),
    DeepFilter(Box<DeepFilter>),
}

impl Engine {
    fn delay_hops(kind: DenoiseEngine) -> usize {
        match kind {
            DenoiseEngine::Rnnoise => 1,
            DenoiseEngine::DeepFilter => deepfilter::DELAY_HOPS,
        }
    }

    /// Denoises one hop (samples may be anything; non-finite ones count as silence) and pushes
    /// a speech probability for each window judged (window `c` ends with input hop `c`).
    fn process_hop(&mut self, input: &[f32], output: &mut [f32], speech: &mut Vec<f32>) {
        match self {
            Self::Rnn(rnn) => rnn.process_hop(input, output, speech),
            Self::DeepFilter(df) => df.process_hop(input, output, speech),
        }
    }

    fn reset(&mut self) -> Result<(), ModelError> {
        match self {
            Self::Rnn(rnn) => {
                rnn.reset();
                Ok(())
            }
            Self::DeepFilter(df) => df.reset(),
        }
    }
}

/// Voice-activity statistics for the report.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    probability_sum: f64,
    frames: u64,
    speech_frames: u64,
}

/// One channel: its engine and the hop being collected / played.
struct Lane {
    engine: Engine,
    input: [f32; FRAME],
    output: [f32; FRAME],
    /// Speech probabilities of windows judged since the stage last collected them.
    speech: Vec<f32>,
    stats: Stats,
}

impl Lane {
    fn run(&mut self) {
        self.engine.process_hop(&self.input, &mut self.output, &mut self.speech);
    }
}

/// How samples reach the engine.
enum Path {
    /// Not prepared (or an unusable rate): the input passes unchanged with no delay.
    Bypass,
    /// 48 kHz: hops are collected in place; `fill` frames of the current one are in.
    Direct { fill: usize },
    /// Any other rate: converted to 48 kHz and back.
    Resampled(Box<Resampled>),
}

struct Resampled {
    up: StreamResampler,
    down: StreamResampler,
    /// One 480-frame planar hop at 48 kHz, between the converters and the engine.
    frame: Vec<Vec<f32>>,
    /// Silence put in front of the engine (48 kHz frames) so the 48 kHz-domain delay converts
    /// to a whole number of frames at the outer rate.
    pad_48k: usize,
    /// Silence put in front of the output (outer-rate frames) so that every call can be
    /// answered from what is already converted, whatever the block size.
    pad_out: usize,
}

impl Resampled {
    /// Converters and delays for an outer rate `rate` ≠ 48 kHz around an engine that answers
    /// `engine_delay` 48 kHz frames late; returns the stage latency too.
    fn new(rate: u32, channels: usize, engine_delay: usize) -> Option<(Self, usize)> {
        let (in_up, out_up) = StreamResampler::chunk_sizes(rate, ENGINE_RATE);
        let (in_down, out_down) = StreamResampler::chunk_sizes(ENGINE_RATE, rate);
        let (r, r48) = (rate as u64, ENGINE_RATE as u64);
        // 48 kHz-domain delay: converter in + the engine's delay + padding, made a multiple
        // of 48000 / gcd(48000, rate) so it is a whole number of frames at `rate`.
        let step = r48 / gcd(r48, r);
        let delay_48k = (out_up / 2 + engine_delay) as u64;
        let pad_48k = (step - delay_48k % step) % step;
        let delay_outer = (delay_48k + pad_48k) * r / r48;
        // Output due after k input frames is k; converted output after k frames is at least
        // k − (in_up − 1) − (FRAME − 2 + in_down − pad_48k)·rate/48000 (each of the three
        // block stages — converter in, hop collection, converter out — holds back less than
        // one block; the engine's own delay is a pure delay counted above). Pre-fill that much
        // silence.
        let held = (FRAME as i64 - 2 + in_down as i64 - pad_48k as i64) * r as i64;
        let pad_out = (in_up as i64 - 1 + ceil_div(held, r48 as i64)).max(0) as usize;
        let latency = delay_outer as usize + out_down / 2 + pad_out;

        // FIFO sizes: the 48 kHz FIFO holds the padding, less than one hop and one chunk;
        // the output FIFO holds its padding, the converted lead from `pad_48k`, and one piece
        // (≤ in_up frames) plus one chunk of slack.
        let pad_48k = pad_48k as usize;
        let up_capacity = pad_48k + FRAME + out_up;
        let down_capacity =
            pad_out + (pad_48k * rate as usize).div_ceil(ENGINE_RATE as usize) + in_up + out_down + FRAME;
        let up = StreamResampler::new(rate, ENGINE_RATE, channels, up_capacity).ok()?;
        let down = StreamResampler::new(ENGINE_RATE, rate, channels, down_capacity).ok()?;
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

    /// 48 kHz frames by which the engine's input stream lags the stage's input.
    fn input_lag_48k(&self) -> usize {
        self.up.output_delay() + self.pad_48k
    }

    fn reset(&mut self) {
        self.up.reset();
        self.down.reset();
        self.up.delay_output(self.pad_48k);
        self.down.delay_output(self.pad_out);
    }
}

/// The speech estimate on the stage's input timeline: per-window probabilities from the
/// engines (largest over channels) interpolated to 10 ms hops of the input.
struct SpeechTrack {
    /// 48 kHz frames by which the engine's input lags the stage's input.
    lag_48k: usize,
    /// Combined probabilities of windows `base …` not yet needed by a later hop.
    windows: Vec<f32>,
    base: usize,
    hops: Vec<f32>,
}

impl SpeechTrack {
    fn new(lag_48k: usize, lanes: usize) -> Self {
        let mut hops = Vec::new();
        if lanes > 0 {
            hops.reserve(SPEECH_TRACK_RESERVE);
        }
        Self {
            lag_48k,
            windows: Vec::with_capacity(deepfilter::BLOCK + 64),
            base: 0,
            hops,
        }
    }

    fn reset(&mut self) {
        self.windows.clear();
        self.base = 0;
        self.hops.clear();
    }

    /// Takes the probabilities every lane judged since the last call (lanes judge the same
    /// windows), and publishes every hop whose two neighbouring windows are known. Window `c`
    /// spans 48 kHz frames `[480(c − 1), 480(c + 1))` of the engine's input, centred on
    /// `480c`; hop `k` of the stage's input is centred on `480k + 240 + lag` there.
    fn collect(&mut self, lanes: &mut [Lane]) {
        let judged = lanes.iter().map(|l| l.speech.len()).min().unwrap_or(0);
        for i in 0..judged {
            let p = lanes.iter().map(|l| l.speech[i]).fold(0.0f32, f32::max);
            self.windows.push(p);
        }
        for lane in lanes.iter_mut() {
            for &p in &lane.speech[..judged] {
                lane.stats.probability_sum += f64::from(p);
                lane.stats.frames += 1;
                lane.stats.speech_frames += u64::from(p > SPEECH_PROBABILITY);
            }
            lane.speech.drain(..judged);
        }
        loop {
            let centre = (self.hops.len() * FRAME + FRAME / 2 + self.lag_48k) as f64 / FRAME as f64;
            let window = centre.floor() as usize;
            let weight = (centre - window as f64) as f32;
            let (Some(i), true) = (
                window.checked_sub(self.base),
                window + 1 < self.base + self.windows.len(),
            ) else {
                break;
            };
            let p = self.windows[i] * (1.0 - weight) + self.windows[i + 1] * weight;
            self.hops.push(p);
        }
        // Windows before the next hop's are no longer needed.
        let next = (self.hops.len() * FRAME + FRAME / 2 + self.lag_48k) / FRAME;
        let drop = next.saturating_sub(self.base).min(self.windows.len());
        self.windows.drain(..drop);
        self.base += drop;
    }
}

/// The denoiser as a [`Stage`]: per-channel engine, any sample rate, exact latency.
pub struct DenoiseStage {
    settings: DenoiseSettings,
    lanes: Vec<Lane>,
    path: Path,
    latency: usize,
    speech: SpeechTrack,
}

impl DenoiseStage {
    pub fn new(settings: &DenoiseSettings) -> Self {
        Self {
            settings: settings.clone(),
            lanes: Vec::new(),
            path: Path::Bypass,
            latency: 0,
            speech: SpeechTrack::new(0, 0),
        }
    }

    pub fn settings(&self) -> &DenoiseSettings {
        &self.settings
    }

    /// One channel's engine. DeepFilterNet's networks are compiled once per process (≈ 0.2 s
    /// of one core) and shared.
    fn make_engine(&self) -> Result<Engine, ModelError> {
        let dry = self.settings.dry_gain();
        Ok(match self.settings.engine {
            DenoiseEngine::Rnnoise => Engine::Rnn(Rnn::new(dry)),
            DenoiseEngine::DeepFilter => Engine::DeepFilter(Box::new(DeepFilter::new(Networks::shared()?, dry)?)),
        })
    }
}

impl Stage for DenoiseStage {
    fn name(&self) -> &'static str {
        "denoise"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), PrepareError> {
        self.lanes = Vec::with_capacity(channels);
        for _ in 0..channels {
            let engine = self.make_engine().map_err(|e| PrepareError {
                stage: "denoise",
                reason: format!("the deepfilter engine is unavailable ({e}); engine = \"rnnoise\" still works"),
            })?;
            self.lanes.push(Lane {
                engine,
                input: [0.0; FRAME],
                output: [0.0; FRAME],
                speech: Vec::new(),
                stats: Stats::default(),
            });
        }
        let engine_delay = Engine::delay_hops(self.settings.engine) * FRAME;
        let mut lag_48k = 0;
        (self.path, self.latency) = if channels == 0 {
            (Path::Bypass, 0)
        } else if sample_rate == ENGINE_RATE {
            // One hop collecting input while the previous hop's output is played, plus the
            // engine's own delay.
            (Path::Direct { fill: 0 }, FRAME + engine_delay)
        } else {
            match Resampled::new(sample_rate, channels, engine_delay) {
                Some((resampled, latency)) => {
                    lag_48k = resampled.input_lag_48k();
                    (Path::Resampled(Box::new(resampled)), latency)
                }
                None => {
                    return Err(PrepareError {
                        stage: "denoise",
                        reason: format!("cannot convert {sample_rate} Hz to and from the denoiser's 48 kHz"),
                    })
                }
            }
        };
        // Windows judged per call: one per hop, or a whole block at once; with slack.
        let per_call = deepfilter::BLOCK + max_block.div_ceil(FRAME) * 2 + 8;
        for lane in &mut self.lanes {
            lane.speech.reserve(per_call);
        }
        let active = if matches!(self.path, Path::Bypass) { 0 } else { channels };
        self.speech = SpeechTrack::new(lag_48k, active);
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        let channels = self.lanes.len().min(block.len());
        let block = &mut block[..channels];
        match &mut self.path {
            Path::Bypass => return,
            Path::Direct { fill } => {
                let start = *fill;
                for_each_lane(&mut self.lanes, block, &|lane, samples| {
                    denoise_direct(lane, &mut samples[..frames], start);
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
                        for_each_lane(&mut self.lanes, &mut rs.frame, &|lane, samples| {
                            lane.input.copy_from_slice(samples);
                            lane.run();
                            samples.copy_from_slice(&lane.output);
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
        self.speech.collect(&mut self.lanes);
    }

    fn latency(&self) -> usize {
        self.latency
    }

    fn reset(&mut self) {
        for lane in &mut self.lanes {
            // Rebuilding the networks' state from plans that were built before cannot fail.
            let rebuilt = lane.engine.reset();
            debug_assert!(rebuilt.is_ok(), "{rebuilt:?}");
            lane.input = [0.0; FRAME];
            lane.output = [0.0; FRAME];
            lane.speech.clear();
            lane.stats = Stats::default();
        }
        match &mut self.path {
            Path::Bypass => {}
            Path::Direct { fill } => *fill = 0,
            Path::Resampled(rs) => rs.reset(),
        }
        self.speech.reset();
    }

    fn metrics(&self) -> Vec<(&'static str, f64)> {
        let total = self.lanes.iter().fold(Stats::default(), |sum, lane| Stats {
            probability_sum: sum.probability_sum + lane.stats.probability_sum,
            frames: sum.frames + lane.stats.frames,
            speech_frames: sum.speech_frames + lane.stats.speech_frames,
        });
        let frames = total.frames.max(1) as f64;
        let mut metrics = vec![
            ("mean_speech_probability", total.probability_sum / frames),
            ("speech_frame_ratio", total.speech_frames as f64 / frames),
            ("amount_db", self.settings.amount_db),
            (
                "deepfilter",
                f64::from(u8::from(self.settings.engine == DenoiseEngine::DeepFilter)),
            ),
        ];
        let df: Vec<_> = self
            .lanes
            .iter()
            .filter_map(|lane| match &lane.engine {
                Engine::DeepFilter(df) => Some(df.stats()),
                Engine::Rnn(_) => None,
            })
            .collect();
        if !df.is_empty() {
            let frames: u64 = df.iter().map(|s| s.frames).sum();
            let lsnr: f64 = df.iter().map(|s| s.lsnr_sum_db).sum();
            metrics.push(("mean_local_snr_db", lsnr / frames.max(1) as f64));
            let boost = df.iter().map(|s| s.max_level_boost_db).fold(0.0f32, f32::max);
            metrics.push(("max_level_boost_db", f64::from(boost)));
            let failed: u64 = df.iter().map(|s| s.failed_blocks).sum();
            metrics.push(("failed_blocks", failed as f64));
        }
        metrics
    }

    fn speech_track(&self) -> Option<&[f32]> {
        match self.path {
            Path::Bypass => None,
            _ => Some(&self.speech.hops),
        }
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

/// One channel of the 48 kHz path: collects `samples` into hops (the current one holds
/// `fill` frames already) and replaces them with the output one hop behind.
fn denoise_direct(lane: &mut Lane, samples: &mut [f32], mut fill: usize) {
    let mut pos = 0;
    while pos < samples.len() {
        let take = (samples.len() - pos).min(FRAME - fill);
        let piece = &mut samples[pos..pos + take];
        lane.input[fill..fill + take].copy_from_slice(piece);
        piece.copy_from_slice(&lane.output[fill..fill + take]);
        fill += take;
        pos += take;
        if fill == FRAME {
            lane.run();
            fill = 0;
        }
    }
}

/// Runs `f` on every lane with its samples. Channels are independent, so they run in parallel
/// when the thread pool has an idle thread (a stereo file in a batch with fewer files left than
/// workers); otherwise `join` runs them one after the other at no real cost.
fn for_each_lane(lanes: &mut [Lane], block: &mut [Vec<f32>], f: &(dyn Fn(&mut Lane, &mut [f32]) + Sync)) {
    match (lanes, block) {
        ([lane], [samples]) => f(lane, samples),
        (lanes, block) if lanes.len() > 1 && block.len() > 1 => {
            let half = lanes.len().min(block.len()) / 2;
            let (left_lanes, right_lanes) = lanes.split_at_mut(half);
            let (left, right) = block.split_at_mut(half);
            rayon::join(
                || for_each_lane(left_lanes, left, f),
                || for_each_lane(right_lanes, right, f),
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

/// Seconds per hop of the speech track, checked against the engines' hop.
const _: () = assert!((SPEECH_HOP_S * ENGINE_RATE as f64) as usize == FRAME);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{self, best_lag, rms_db, white_noise};
    use crate::dsp::AlignedChain;

    type Metrics = Vec<(&'static str, f64)>;

    const ENGINES: [DenoiseEngine; 2] = [DenoiseEngine::DeepFilter, DenoiseEngine::Rnnoise];

    fn stage(engine: DenoiseEngine, amount_db: f64) -> DenoiseStage {
        DenoiseStage::new(&DenoiseSettings {
            engine,
            amount_db,
            ..DenoiseSettings::default()
        })
    }

    /// Runs `input` through the stage behind an `AlignedChain` (latency trimmed, tail flushed);
    /// also returns the metrics and the speech track.
    fn run_aligned(
        engine: DenoiseEngine,
        amount_db: f64,
        rate: u32,
        input: &[Vec<f32>],
        block: usize,
    ) -> (Vec<Vec<f32>>, Metrics, Vec<f32>) {
        let mut aligned = AlignedChain::new(stage(engine, amount_db), rate, input.len(), block).expect("prepare");
        let out = testutil::run_aligned(&mut aligned, input, block);
        let metrics = aligned.stage().metrics();
        let track = aligned.stage().speech_track().expect("speech track").to_vec();
        (out, metrics, track)
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

    fn speech_at(rate: u32) -> Vec<f32> {
        let speech16 = speech_16k();
        if rate == 16_000 {
            speech16
        } else {
            resample_whole(&speech16, 16_000, rate)
        }
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
        crate::dsp::resample::convert(&[x.to_vec()], from, to)
            .unwrap()
            .remove(0)
    }

    /// `clean` with the speech fixture at `rate`, scaled to `speech_db` RMS, twice, with
    /// `gap` seconds of silence before, between and after; returns it and the two speech ranges.
    fn speech_with_pauses(rate: u32, gap_s: f64, speech_db: f64) -> (Vec<f32>, [std::ops::Range<usize>; 2]) {
        let speech = speech_at(rate);
        let gain = 10f64.powf((speech_db - rms_db(&speech)) / 20.0) as f32;
        let gap = (gap_s * rate as f64) as usize;
        let s1 = gap..gap + speech.len();
        let s2 = s1.end + gap..s1.end + gap + speech.len();
        let mut clean = vec![0.0f32; s2.end + gap];
        for r in [&s1, &s2] {
            for (c, &s) in clean[r.clone()].iter_mut().zip(&speech) {
                *c = s * gain;
            }
        }
        (clean, [s1, s2])
    }

    fn concat(x: &[f32], parts: &[std::ops::Range<usize>]) -> Vec<f32> {
        parts.iter().flat_map(|r| x[r.clone()].iter().copied()).collect()
    }

    #[test]
    fn settings_defaults_validation_and_serde() {
        let d = DenoiseSettings::default();
        assert!(d.enabled);
        assert_eq!(d.engine, DenoiseEngine::DeepFilter);
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
        for amount_db in [f64::NAN, -1.0] {
            assert!(DenoiseSettings { amount_db, ..d.clone() }.validate().is_err());
        }
        let parsed: DenoiseSettings = toml::from_str("amount_db = 12.5").unwrap();
        assert_eq!(
            parsed,
            DenoiseSettings {
                amount_db: 12.5,
                ..d.clone()
            }
        );
        let parsed: DenoiseSettings = toml::from_str("engine = \"rnnoise\"").unwrap();
        assert_eq!(parsed.engine, DenoiseEngine::Rnnoise);
        let parsed: DenoiseSettings = toml::from_str("engine = \"deepfilter\"").unwrap();
        assert_eq!(parsed.engine, DenoiseEngine::DeepFilter);
        let err = toml::from_str::<DenoiseSettings>("engine = \"dfn\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown variant `dfn`, expected `deepfilter` or `rnnoise`"),
            "{err}"
        );
        assert!(toml::from_str::<DenoiseSettings>("amount = 3.0").is_err());
        assert_eq!("rnnoise".parse::<DenoiseEngine>(), Ok(DenoiseEngine::Rnnoise));
        assert_eq!(
            "dfn".parse::<DenoiseEngine>().unwrap_err(),
            "unknown denoise engine 'dfn' (choose deepfilter or rnnoise)"
        );
        assert_eq!(DenoiseEngine::DeepFilter.to_string(), "deepfilter");
        assert_eq!(
            toml::to_string(&DenoiseSettings {
                engine: DenoiseEngine::Rnnoise,
                ..d
            })
            .unwrap(),
            "enabled = true\nengine = \"rnnoise\"\namount_db = 20.0\n"
        );
        for engine in ENGINES {
            let mut s = stage(engine, 20.0);
            assert_eq!((s.name(), s.settings().engine), ("denoise", engine));
            assert!(s.prepare(48_000, 2, 4096).is_ok());
        }
    }

    /// Latency: exactly one hop of collection plus the engine's delay at 48 kHz; at other
    /// rates a whole number of frames that the converters' delays add up to. DeepFilterNet's
    /// delay is its block of network frames plus its two frames of look-ahead.
    #[test]
    fn latency_is_whole_frames_at_every_rate() {
        for (engine, at_48k) in [
            (DenoiseEngine::Rnnoise, 960),
            (DenoiseEngine::DeepFilter, (deepfilter::BLOCK + 3) * 480),
        ] {
            let mut s = stage(engine, 20.0);
            s.prepare(48_000, 1, 4096).unwrap();
            assert_eq!(s.latency(), at_48k, "{engine}");
            for rate in [
                8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 88_200, 96_000, 176_400, 192_000,
            ] {
                let mut s = stage(engine, 20.0);
                s.prepare(rate, 2, 4096).unwrap();
                let Path::Resampled(rs) = &s.path else {
                    panic!("{rate}: not resampled")
                };
                let delay_48k = rs.up.output_delay() + Engine::delay_hops(engine) * FRAME + rs.pad_48k;
                assert_eq!((delay_48k as u64 * rate as u64) % 48_000, 0, "{engine} {rate}");
                // Three block stages (converter in, hop collection, converter out) hold back
                // about a block each: 84 ms at 192 kHz, 100 ms at 44.1 kHz, 404 ms at 8 kHz;
                // the engine adds its own delay.
                let engine_s = at_48k as f64 / 48_000.0;
                let latency_s = s.latency() as f64 / rate as f64;
                assert!(latency_s < engine_s + 0.45, "{engine} {rate}: latency {latency_s:.3} s");
            }
        }
    }

    /// At 48 kHz an impulse comes out at the index it went in (after trimming the latency):
    /// exactly equal with amount 0 for RNNoise (dry path), equal within the STFT's rounding for
    /// DeepFilterNet, at the same peak index with the network mixed in.
    #[test]
    fn impulse_stays_in_place_at_48k() {
        let len = 3 * 48_000;
        let mut x = vec![0.0f32; len];
        let at = 62_345;
        x[at] = 0.5;
        for engine in ENGINES {
            let (dry, _, _) = run_aligned(engine, 0.0, 48_000, &[x.clone()], 4096);
            assert_eq!(dry[0].len(), len);
            let err = dry[0].iter().zip(&x).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(err < 1e-6, "{engine}: dry path error {err}");
            // DeepFilterNet alone turns a lone click into a short smear (it is not speech); its
            // timing is checked on speech in `every_rate_keeps_length_and_alignment`.
            let amounts: &[f64] = if engine == DenoiseEngine::Rnnoise {
                &[20.0, 100.0]
            } else {
                &[20.0]
            };
            for &amount in amounts {
                let (out, _, _) = run_aligned(engine, amount, 48_000, &[x.clone()], 1000);
                assert_eq!(out[0].len(), len);
                assert_eq!(argmax_abs(&out[0]), at, "{engine} amount {amount}");
            }
        }
    }

    /// At every rate (resampled inside but at 48 kHz): length kept exactly through
    /// `AlignedChain`; the dry path (amount 0) reproduces a band-limited input sample by sample
    /// (so the latency is exact); with the network on, speech comes out with cross-correlation
    /// lag 0.
    #[test]
    fn every_rate_keeps_length_and_alignment() {
        for engine in ENGINES {
            for rate in [48_000u32, 44_100, 16_000, 22_050, 8_000, 44_101, 192_000] {
                let speech = speech_at(rate);
                let len = speech.len() + 777;
                let mut x = vec![0.0f32; len];
                x[500..500 + speech.len()].copy_from_slice(&speech);
                let (dry, _, _) = run_aligned(engine, 0.0, rate, &[x.clone()], 4096);
                assert_eq!(dry[0].len(), len, "{engine} {rate}: length");
                // Residual against the input, and against the input shifted by one frame: only
                // the resamplers' band edge (≈ 0.95 × Nyquist) may differ, never the timing.
                let residual = |shift: usize| {
                    let diff: Vec<f32> = dry[0][shift..].iter().zip(&x).map(|(a, b)| a - b).collect();
                    rms_db(&diff) - rms_db(&x)
                };
                let (aligned, shifted) = (residual(0), residual(1));
                eprintln!("{engine} {rate}: dry residual {aligned:.1} dB, shifted by one frame {shifted:.1} dB");
                assert!(aligned < -30.0, "{engine} {rate}: dry path residual {aligned:.1} dB");
                assert!(shifted > aligned + 10.0, "{engine} {rate}: misaligned");
                // DeepFilterNet alone too (the impulse test cannot check it); RNNoise alone is
                // checked at 48 kHz by the impulse test (at 192 kHz its output alone peaks a
                // sample early in cross-correlation: its filtering's phase, not a shift).
                let amounts: &[f64] = if engine == DenoiseEngine::DeepFilter {
                    &[20.0, 100.0]
                } else {
                    &[20.0]
                };
                for &amount in amounts {
                    let (wet, _, _) = run_aligned(engine, amount, rate, &[x.clone()], 480);
                    assert_eq!(wet[0].len(), len, "{engine} {rate}: length");
                    assert_eq!(best_lag(&x, &wet[0], 50), 0, "{engine} {rate} amount {amount}: lag");
                }
            }
        }
    }

    #[test]
    fn block_size_invariant_and_reset_reproduces() {
        for engine in ENGINES {
            for rate in [48_000u32, 44_100, 16_000] {
                // Longer than DeepFilterNet's one-second latency, so its output is really
                // compared, not just its leading silence.
                let len = rate as usize * 8 / 5;
                let noise = white_noise(len, 7);
                let tone = testutil::sine(220.0, 0.3, rate, len);
                let left: Vec<f32> = noise.iter().zip(&tone).map(|(n, t)| 0.05 * n + t).collect();
                let right: Vec<f32> = noise.iter().map(|n| 0.1 * n).collect();
                let make = move || Box::new(stage(engine, 20.0)) as Box<dyn Stage>;
                testutil::assert_block_size_invariant(&make, rate, &[left.clone(), right]);
                // The speech track too, and a stereo channel equals the same channel alone.
                let track = |block: usize, input: &[Vec<f32>]| {
                    let mut s = stage(engine, 20.0);
                    s.prepare(rate, input.len(), block).unwrap();
                    let out = testutil::run(&mut s, input, block);
                    (out, s.speech_track().unwrap().to_vec())
                };
                let stereo = [left.clone(), white_noise(len, 8)];
                let (out_7, track_7) = track(7, &stereo);
                let (out_4096, track_4096) = track(4096, &stereo);
                assert_eq!(
                    track_7, track_4096,
                    "{engine} {rate}: speech track depends on block size"
                );
                assert_eq!(out_7, out_4096);
                let (mono, _) = track(4096, std::slice::from_ref(&left));
                assert_eq!(mono[0], out_4096[0], "{engine} {rate}: channels not independent");
            }
        }
    }

    #[test]
    fn survives_garbage_and_keeps_working() {
        for engine in ENGINES {
            for rate in [48_000u32, 44_100] {
                let make = move || Box::new(stage(engine, 20.0)) as Box<dyn Stage>;
                testutil::assert_survives_garbage(&make, rate, 2);
                // After NaN/Inf and full-scale DC the engine's state must still produce sound.
                let mut s = stage(engine, 20.0);
                s.prepare(rate, 1, 4096).unwrap();
                let n = rate as usize / 2;
                let mut x: Vec<f32> = (0..n)
                    .map(|i| if i % 3 == 0 { f32::NAN } else { f32::INFINITY })
                    .collect();
                x.extend(std::iter::repeat_n(1.0, n));
                x.extend(std::iter::repeat_n(1e30, n / 4));
                x.extend(testutil::sine(300.0, 0.25, rate, 8 * n));
                let out = testutil::run(&mut s, &[x], 512);
                assert!(out[0].iter().all(|v| v.is_finite()), "{engine}");
                let tail = &out[0][out[0].len() - n / 2..];
                assert!(
                    rms_db(tail) > -45.0,
                    "{engine} {rate}: silent after garbage ({} dB)",
                    rms_db(tail)
                );
                assert!(s.metrics().iter().all(|(_, v)| v.is_finite()));
                assert!(s.speech_track().unwrap().iter().all(|p| (0.0..=1.0).contains(p)));
            }
        }
    }

    /// The main quality check: real speech with pink noise at 5 dB SNR, with 1 s of noise
    /// alone before, between two copies of the utterance, and after. At default settings the
    /// noise-only passages must drop by at least 15 dB and the speech passages stay within
    /// 3 dB. Run at the fixture's 16 kHz (resampled path) and at 48 kHz (direct path).
    #[test]
    fn pulls_noise_down_and_keeps_speech() {
        for engine in ENGINES {
            for rate in [16_000u32, 48_000] {
                let (clean, [s1, s2]) = speech_with_pauses(rate, 1.0, -26.0);
                let len = clean.len();
                let speech_db = rms_db(&concat(&clean, &[s1.clone(), s2.clone()]));
                let pink = pink_noise(len, 42);
                let noise_gain = 10f64.powf((speech_db - 5.0 - rms_db(&pink)) / 20.0) as f32;
                let input: Vec<f32> = clean.iter().zip(&pink).map(|(c, n)| c + noise_gain * n).collect();

                // Noise-only: skip the first 300 ms (settling) and 150 ms next to speech.
                let sec = rate as usize;
                let margin = sec * 15 / 100;
                let noise_parts = [
                    sec * 3 / 10..s1.start - margin,
                    s1.end + margin..s2.start - margin,
                    s2.end + margin..len - margin,
                ];
                let speech_parts = [s1.clone(), s2.clone()];
                let measure = |amount_db: f64| {
                    let (out, metrics, _) = run_aligned(engine, amount_db, rate, std::slice::from_ref(&input), 4096);
                    let out = &out[0];
                    assert_eq!(out.len(), len);
                    let noise_drop = rms_db(&concat(&input, &noise_parts)) - rms_db(&concat(out, &noise_parts));
                    let speech_change = rms_db(&concat(out, &speech_parts)) - rms_db(&concat(&input, &speech_parts));
                    eprintln!(
                        "{engine} {rate} Hz, amount {amount_db} dB: noise drop {noise_drop:.1} dB, speech change \
                         {speech_change:+.2} dB, {metrics:?}"
                    );
                    (noise_drop, speech_change, metrics)
                };
                let (noise_drop, speech_change, metrics) = measure(20.0);
                assert!(
                    noise_drop >= 15.0,
                    "{engine} {rate}: noise only dropped {noise_drop:.1} dB"
                );
                assert!(
                    speech_change.abs() <= 3.0,
                    "{engine} {rate}: speech changed {speech_change:+.2} dB"
                );
                if rate == 16_000 {
                    // The mix law: the floor follows amount_db; 100 dB is the engine alone.
                    let (drop_6, _, _) = measure(6.0);
                    assert!(
                        (5.0..=6.5).contains(&drop_6),
                        "{engine} amount 6: noise dropped {drop_6:.1} dB"
                    );
                    let (drop_100, change_100, _) = measure(100.0);
                    assert!(drop_100 >= 30.0, "{engine} amount 100: noise dropped {drop_100:.1} dB");
                    assert!(
                        change_100.abs() <= 3.0,
                        "{engine} amount 100: speech changed {change_100:+.2} dB"
                    );
                }
                let get = |key: &str| metrics.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).unwrap();
                assert_eq!(get("amount_db"), 20.0);
                let ratio = get("speech_frame_ratio");
                assert!(
                    (0.2..0.8).contains(&ratio),
                    "{engine} {rate}: speech frame ratio {ratio}"
                );
                assert!(get("mean_speech_probability") > 0.1);
                assert_eq!(
                    get("deepfilter"),
                    f64::from(u8::from(engine == DenoiseEngine::DeepFilter))
                );
            }
        }
    }

    /// The speech estimate follows the speech: high where the utterance is, low in the pauses
    /// (speech over a quiet pink floor at 20 dB SNR), and on time — the activity track of the
    /// clean speech and the stage's track line up within one 10 ms hop, at 16, 44.1 and 48 kHz.
    /// The first second is left out of the pauses: DeepFilterNet's feature normalisation starts
    /// from fixed values and takes about a second (its time constant) to settle on the noise
    /// floor; until then its local-SNR estimate sometimes reads the floor as speech.
    #[test]
    fn speech_track_follows_speech_on_time() {
        for engine in ENGINES {
            for rate in [16_000u32, 44_100, 48_000] {
                let (clean, [s1, s2]) = speech_with_pauses(rate, 1.5, -26.0);
                let pink = pink_noise(clean.len(), 5);
                let noise_gain = 10f64.powf((-46.0 - rms_db(&pink)) / 20.0) as f32;
                let input: Vec<f32> = clean.iter().zip(&pink).map(|(c, n)| c + noise_gain * n).collect();
                let (_, _, track) = run_aligned(engine, 20.0, rate, std::slice::from_ref(&input), 4096);
                let hop = rate as usize / 100;
                let hops = clean.len() / hop;
                assert!(track.len() >= hops, "{engine} {rate}: {} hops of {hops}", track.len());
                // Reference activity: hop energy of the clean speech above −50 dBFS.
                let active: Vec<f32> = (0..hops)
                    .map(|k| f32::from(u8::from(rms_db(&clean[k * hop..(k + 1) * hop]) > -50.0)))
                    .collect();
                let mean_over = |ranges: &[std::ops::Range<usize>]| {
                    let v: Vec<f32> = ranges.iter().flat_map(|r| track[r.clone()].iter().copied()).collect();
                    v.iter().sum::<f32>() / v.len() as f32
                };
                let to_hops = |r: &std::ops::Range<usize>| r.start / hop..r.end / hop;
                let speech_hops: Vec<_> = [&s1, &s2].iter().map(|r| to_hops(r)).collect();
                let margin = 30; // hops next to speech
                let pause_hops = [
                    100..speech_hops[0].start - margin,
                    speech_hops[0].end + margin..speech_hops[1].start - margin,
                    speech_hops[1].end + margin..hops - margin,
                ];
                let (in_speech, in_pauses) = (mean_over(&speech_hops), mean_over(&pause_hops));
                let lag = best_lag(&active, &track[..hops], 10);
                eprintln!("{engine} {rate}: speech {in_speech:.2}, pauses {in_pauses:.2}, lag {lag} hops");
                assert!(in_speech > 0.6, "{engine} {rate}: speech hops {in_speech:.2}");
                assert!(in_pauses < 0.1, "{engine} {rate}: pause hops {in_pauses:.2}");
                assert!(lag.abs() <= 1, "{engine} {rate}: track lags by {lag} hops");
            }
        }
    }

    /// Quiet clean speech (−45 dBFS RMS, a distant or low-gain recording) is not taken for
    /// noise: DeepFilterNet keeps its level within 1 dB and every band's energy within 2 dB.
    #[test]
    fn quiet_clean_speech_is_kept() {
        let rate = 48_000;
        for speech_db in [-45.0, -26.0] {
            let (clean, [s1, s2]) = speech_with_pauses(rate, 0.5, speech_db);
            let (out, metrics, _) = run_aligned(
                DenoiseEngine::DeepFilter,
                30.0,
                rate,
                std::slice::from_ref(&clean),
                4096,
            );
            let parts = [s1, s2];
            let (x, y) = (concat(&clean, &parts), concat(&out[0], &parts));
            let change = rms_db(&y) - rms_db(&x);
            let bands = band_energies_db(&x, rate).into_iter().zip(band_energies_db(&y, rate));
            let band_changes: Vec<f64> = bands.map(|(a, b)| b - a).collect();
            eprintln!("{speech_db} dBFS: level {change:+.2} dB, bands {band_changes:+.2?}, {metrics:?}");
            assert!(change.abs() <= 1.0, "{speech_db} dBFS: level changed {change:+.2} dB");
            for (band, c) in band_changes.iter().enumerate() {
                assert!(c.abs() <= 2.0, "{speech_db} dBFS: band {band} changed {c:+.2} dB");
            }
        }
    }

    /// Energy in octave-ish bands 100–300–800–2000–5000–8000 Hz (dB), from a plain DFT sum over
    /// 4096-frame windows.
    fn band_energies_db(x: &[f32], rate: u32) -> Vec<f64> {
        use realfft::RealFftPlanner;
        const N: usize = 4096;
        let edges = [100.0, 300.0, 800.0, 2000.0, 5000.0, 8000.0];
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N);
        let mut spectrum = fft.make_output_vec();
        let mut energy = vec![0.0f64; edges.len() - 1];
        for chunk in x.chunks_exact(N) {
            let mut buf = chunk.to_vec();
            fft.process(&mut buf, &mut spectrum).unwrap();
            for (k, c) in spectrum.iter().enumerate() {
                let f = k as f64 * rate as f64 / N as f64;
                if let Some(b) = edges.windows(2).position(|e| (e[0]..e[1]).contains(&f)) {
                    energy[b] += f64::from(c.norm_sqr());
                }
            }
        }
        energy.iter().map(|e| 10.0 * e.max(1e-30).log10()).collect()
    }
}
