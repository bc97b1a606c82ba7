//! DeepFilterNet3 as a podclean denoise engine, in pure Rust: one channel at 48 kHz, 480
//! samples in and 480 out per call, a fixed number of hops late.
//!
//! Signal path (the published model's, see `models/README.md`): a 960-point Vorbis-window STFT
//! every 480 samples ([`stft`]); per frame, ERB-band log energies and the low-band complex
//! spectrum with their running normalisations ([`features`]); the encoder, the ERB-gain decoder
//! and the deep-filter decoder ([`model`]), whose outputs for a frame arrive two frames later
//! (the model's look-ahead); ERB gains on every bin and a 5-tap complex deep filter on the bins
//! below 4.8 kHz, then the noisy spectrum mixed back to the attenuation limit ([`deep_filter`]);
//! overlap-add.
//!
//! Execution: the networks run as a stream in blocks of [`BLOCK`] frames (tract's pulsed
//! models keep the GRU and convolution state from block to block), which gives the same
//! numbers as running them frame by frame at about three times the speed. The price is
//! latency: a frame can only be enhanced once its block is complete, so the engine answers
//! [`DELAY_HOPS`] hops late.
//!
//! Level: the networks were trained on speech at ordinary recording levels, and their complex
//! input feature scales with the square root of the level, so very quiet speech reads as noise
//! and is removed with it. The features are therefore computed from the spectrum times a
//! slowly varying gain that brings a quiet block up to [`LEVEL_FLOOR_DBFS`] (measured on the
//! block itself, so it leads the speech instead of lagging it), while the gains and the deep
//! filter are applied to the spectrum as it came in: the output keeps the input's level
//! without any gain to undo.

pub mod deep_filter;
pub mod features;
pub mod model;
pub mod stft;

use std::sync::Arc;

use realfft::num_complex::Complex32;

use self::deep_filter::{COEFS_PER_BIN, LOOKAHEAD, ORDER};
use self::features::{Features, DF_BINS, ERB_BANDS};
use self::model::{BlockInput, BlockOutput, NetworkState};
pub use self::model::{ModelError, Networks, BLOCK};
use self::stft::{Stft, BINS, HOP};

/// Hops between a hop going in and the same hop coming out of [`DeepFilter::process_hop`]:
/// a block must be complete before its frames are enhanced, and the decoders' output for a
/// frame arrives `LOOKAHEAD` frames after it.
pub const DELAY_HOPS: usize = BLOCK + LOOKAHEAD;
/// Speech level below which the network's input is boosted (RMS of the loud hops of a
/// block, dBFS).
pub const LEVEL_FLOOR_DBFS: f32 = -30.0;
/// Most boost the leveller gives the network's input, dB.
const MAX_LEVEL_BOOST_DB: f32 = 30.0;
/// How fast the held speech level falls when a block is quieter than the one before, dB per
/// block (1 s): a pause between sentences is not boosted as if it were speech.
const LEVEL_RELEASE_DB: f32 = 3.0;
/// The share of a block's hops that may be louder than its measured level (the level is the
/// 80th percentile of hop energies: speech-active hops, not a click).
const LEVEL_PERCENTILE: f32 = 0.8;
/// Input samples are clamped to this magnitude: far above any real signal, low enough that
/// energies stay finite.
const INPUT_LIMIT: f32 = 8.0;
/// LSNR → speech probability: logistic centred on this local SNR (dB): speech as loud as the
/// noise in the frame…
const SPEECH_LSNR_CENTRE_DB: f32 = 0.0;
/// …with this slope (dB per e-fold of the odds).
const SPEECH_LSNR_SLOPE_DB: f32 = 2.0;

/// Maps the network's local SNR estimate of a frame (dB, −15…35) to a probability that the
/// frame holds speech: a logistic, 0.5 at 0 dB, 0.92 at +5 dB, 0.08 at −5 dB, 0.0006 at the
/// floor (−15 dB, where noise-only frames sit). Centred on 0 dB because noise-only frames of
/// quiet, full-band noise read up to about −5 dB, while speech frames at 20 dB SNR read above
/// 0 dB nine times in ten.
pub fn speech_probability(lsnr_db: f32) -> f32 {
    if !lsnr_db.is_finite() {
        return 0.0;
    }
    1.0 / (1.0 + (-(lsnr_db - SPEECH_LSNR_CENTRE_DB) / SPEECH_LSNR_SLOPE_DB).exp())
}

/// Running statistics for the stage's report.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeepFilterStats {
    pub frames: u64,
    pub lsnr_sum_db: f64,
    /// Network runs that failed (their block passed through unfiltered).
    pub failed_blocks: u64,
    /// Largest boost the leveller gave the network's input, dB.
    pub max_level_boost_db: f32,
}

/// One channel of the engine. All buffers are allocated in [`DeepFilter::new`]; per block,
/// tract allocates its tensors.
pub struct DeepFilter {
    networks: NetworkState,
    stft: Stft,
    features: Features,
    /// Share of the noisy spectrum mixed back (the attenuation limit as a linear gain).
    dry: f32,
    /// Spectra of the last `BLOCK + ORDER − 1` frames, frame `f` at slot `f mod len`.
    spectra: Vec<Complex32>,
    /// Frames analysed so far.
    frame: u64,
    /// Frames of the current block analysed (0..BLOCK).
    fill: usize,
    /// Mean square of each input hop of the current block.
    hop_energy: Vec<f32>,
    /// Level the leveller holds, dBFS (−inf before the first block).
    held_level_db: f32,
    /// Leveller gain of the previous block, dB.
    prev_boost_db: f32,
    input: BlockInput,
    output: BlockOutput,
    enhanced: Vec<Complex32>,
    /// Enhanced hops of the last block, played out one per call.
    out_hops: Vec<f32>,
    out_pos: usize,
    stats: DeepFilterStats,
    /// Scratch for the level percentile.
    sorted: Vec<f32>,
}

impl DeepFilter {
    /// A channel whose output mixes back `dry` of the noisy signal: `10^(−limit_dB/20)`, or 0
    /// for the network alone.
    pub fn new(networks: Arc<Networks>, dry: f32) -> Result<Self, ModelError> {
        let alpha = features::norm_alpha(model::RATE, HOP, networks.config().norm_tau_s);
        let bands = features::erb_band_widths(model::RATE, stft::WINDOW, ERB_BANDS);
        let mut engine = Self {
            networks: NetworkState::new(networks)?,
            stft: Stft::new(),
            features: Features::new(bands, alpha),
            dry: dry.clamp(0.0, 1.0),
            spectra: vec![Complex32::default(); (BLOCK + ORDER - 1) * BINS],
            frame: 0,
            fill: 0,
            hop_energy: vec![0.0; BLOCK],
            held_level_db: f32::NEG_INFINITY,
            prev_boost_db: 0.0,
            input: BlockInput::new(),
            output: BlockOutput::new(),
            enhanced: vec![Complex32::default(); BINS],
            out_hops: vec![0.0; BLOCK * HOP],
            out_pos: 1,
            stats: DeepFilterStats::default(),
            sorted: Vec::with_capacity(BLOCK),
        };
        engine.reset_signal_state();
        Ok(engine)
    }

    /// Denoises one hop: `input` is the next [`HOP`] samples (±1.0 scale), `output` receives the
    /// hop [`DELAY_HOPS`] before it. For every STFT frame the networks have judged, a speech
    /// probability is pushed to `speech` (frame `c` covers input hops `c − 1` and `c`; the
    /// first push is frame 0).
    pub fn process_hop(&mut self, input: &[f32], output: &mut [f32], speech: &mut Vec<f32>) {
        debug_assert_eq!((input.len(), output.len()), (HOP, HOP));
        let mut clean = [0.0f32; HOP];
        let mut energy = 0.0f64;
        for (c, &x) in clean.iter_mut().zip(input) {
            *c = if x.is_finite() {
                x.clamp(-INPUT_LIMIT, INPUT_LIMIT)
            } else {
                0.0
            };
            energy += f64::from(*c) * f64::from(*c);
        }
        self.hop_energy[self.fill] = (energy / HOP as f64) as f32;
        let slot = slot(self.frame as i64);
        self.stft.analysis(&clean, &mut self.spectra[slot..slot + BINS]);
        self.frame += 1;
        self.fill += 1;
        if self.fill == BLOCK {
            self.run_block(speech);
            self.fill = 0;
            self.out_pos = 0;
        }
        let at = self.out_pos * HOP;
        output.copy_from_slice(&self.out_hops[at..at + HOP]);
        self.out_pos += 1;
    }

    pub fn reset(&mut self) -> Result<(), ModelError> {
        self.networks.reset()?;
        self.reset_signal_state();
        Ok(())
    }

    pub fn stats(&self) -> DeepFilterStats {
        self.stats
    }

    fn reset_signal_state(&mut self) {
        self.stft.reset();
        self.features.reset();
        self.spectra.fill(Complex32::default());
        self.frame = 0;
        self.fill = 0;
        self.held_level_db = f32::NEG_INFINITY;
        self.prev_boost_db = 0.0;
        // Before the first block is out, the engine plays `BLOCK − 1` hops of silence.
        self.out_hops.fill(0.0);
        self.out_pos = 1;
        self.stats = DeepFilterStats::default();
    }

    /// The leveller's boost for this block, dB: brings a quiet block's speech level up to
    /// [`LEVEL_FLOOR_DBFS`]; louder blocks get none.
    fn block_boost_db(&mut self) -> f32 {
        self.sorted.clear();
        self.sorted.extend_from_slice(&self.hop_energy);
        let rank = ((BLOCK - 1) as f32 * LEVEL_PERCENTILE).round() as usize;
        let (_, &mut level, _) = self.sorted.select_nth_unstable_by(rank, f32::total_cmp);
        let level_db = 10.0 * level.max(1e-20).log10();
        self.held_level_db = level_db.max(self.held_level_db - LEVEL_RELEASE_DB);
        (LEVEL_FLOOR_DBFS - self.held_level_db).clamp(0.0, MAX_LEVEL_BOOST_DB)
    }

    /// Features, networks and enhancement of the block that just completed: frames
    /// `first … first + BLOCK − 1` went in, frames `first − 2 … first + BLOCK − 3` come out.
    fn run_block(&mut self, speech: &mut Vec<f32>) {
        let first = self.frame as i64 - BLOCK as i64;
        let boost_db = self.block_boost_db();
        let start_db = if first == 0 { boost_db } else { self.prev_boost_db };
        self.prev_boost_db = boost_db;
        self.stats.max_level_boost_db = self.stats.max_level_boost_db.max(boost_db);
        let (spec_re, spec_im) = self.input.spec.split_at_mut(BLOCK * DF_BINS);
        for i in 0..BLOCK {
            let gain_db = start_db + (boost_db - start_db) * (i + 1) as f32 / BLOCK as f32;
            let gain = 10f32.powf(gain_db / 20.0);
            let slot = slot(first + i as i64);
            self.features.compute(
                &self.spectra[slot..slot + BINS],
                gain,
                &mut self.input.erb[i * ERB_BANDS..(i + 1) * ERB_BANDS],
                &mut spec_re[i * DF_BINS..(i + 1) * DF_BINS],
                &mut spec_im[i * DF_BINS..(i + 1) * DF_BINS],
            );
        }
        if self.networks.run(&self.input, &mut self.output).is_err() {
            // Pass the block through: unit gains and a filter that picks the frame itself.
            self.stats.failed_blocks += 1;
            self.output.lsnr.fill(0.0);
            self.output.gains.fill(1.0);
            self.output.coefs.fill(0.0);
            for taps in self.output.coefs.chunks_exact_mut(COEFS_PER_BIN) {
                taps[2 * (ORDER - 1 - LOOKAHEAD)] = 1.0;
            }
        }
        for i in 0..BLOCK {
            // Network step `first + i` speaks for frame `c`, `LOOKAHEAD` frames back.
            let c = first + i as i64 - LOOKAHEAD as i64;
            let spectra = &self.spectra;
            let frames: [&[Complex32]; ORDER] = std::array::from_fn(|tap| {
                let at = slot(c - LOOKAHEAD as i64 + tap as i64);
                &spectra[at..at + BINS]
            });
            deep_filter::enhance(
                &frames,
                &self.output.gains[i * ERB_BANDS..(i + 1) * ERB_BANDS],
                &self.output.coefs[i * DF_BINS * COEFS_PER_BIN..(i + 1) * DF_BINS * COEFS_PER_BIN],
                self.features.bands(),
                self.dry,
                &mut self.enhanced,
            );
            let hop = &mut self.out_hops[i * HOP..(i + 1) * HOP];
            self.stft.synthesis(&mut self.enhanced, hop);
            for s in hop.iter_mut() {
                if !s.is_finite() {
                    *s = 0.0;
                }
            }
            let lsnr = self.output.lsnr[i];
            if c >= 0 {
                speech.push(speech_probability(lsnr));
                self.stats.frames += 1;
                self.stats.lsnr_sum_db += f64::from(if lsnr.is_finite() { lsnr } else { 0.0 });
            }
        }
    }
}

/// Offset in the spectra ring of frame `f` (frames before the stream are the zeroed slots).
fn slot(f: i64) -> usize {
    f.rem_euclid((BLOCK + ORDER - 1) as i64) as usize * BINS
}

#[cfg(test)]
mod tests;
