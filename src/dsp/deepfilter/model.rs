//! DeepFilterNet3's three networks — encoder, ERB-gain decoder, deep-filter decoder — unpacked
//! from the model embedded in the binary and compiled by tract to run as a stream in blocks of
//! [`BLOCK`] frames: the recurrent and convolution state carries from block to block, so the
//! result is the network's frame-by-frame output, at a fraction of the per-frame overhead.

use std::io::Read;
use std::sync::{Arc, OnceLock};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::SimpleState;
use tract_onnx::tract_core::internal::{ensure, TractErrorContext as _};
use tract_pulse::model::{PulsedModel, PulsedModelExt};

use super::deep_filter::{COEFS_PER_BIN, LOOKAHEAD, ORDER};
use super::features::{DF_BINS, ERB_BANDS};
use super::stft::{HOP, WINDOW};

/// The DeepFilterNet3 model as published (see `models/README.md`): three ONNX graphs and the
/// `config.ini` they were trained with, in a gzipped tar.
pub const MODEL_TAR_GZ: &[u8] = include_bytes!("../../../models/DeepFilterNet3_onnx.tar.gz");
/// SHA-256 of [`MODEL_TAR_GZ`].
pub const MODEL_SHA256: &str = "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616";

/// Frames per network run (1 s). Larger blocks amortise tract's per-run overhead (one core:
/// ≈ 13× real time frame by frame, 40× at 50, 45× at 100, no gain beyond), but the stage's
/// latency and its transient memory grow with it.
pub const BLOCK: usize = 100;
/// Sample rate the model runs at.
pub const RATE: usize = 48_000;
/// Width of the encoder's convolution layers (channels of its skip outputs).
const CONV_CH: usize = 64;
/// Width of the embedding between encoder and decoders.
const EMB: usize = CONV_CH * ERB_BANDS / 4;

/// Why the embedded model could not be made ready. It is checked by the test suite, so these
/// point at a damaged build rather than at anything a user did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("cannot unpack the embedded DeepFilterNet model: {0}")]
    Unpack(String),
    #[error("the embedded DeepFilterNet model has no {0}")]
    MissingFile(&'static str),
    #[error("the embedded DeepFilterNet model's config.ini has {key} = {found}; this engine is built for {expected}")]
    Config {
        key: &'static str,
        found: String,
        expected: String,
    },
    #[error("cannot prepare the DeepFilterNet {network} network: {reason}")]
    Network { network: &'static str, reason: String },
}

/// The settings of `config.ini` this engine reads, checked against what the code is built for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelConfig {
    /// Time constant of the feature normalisations, seconds.
    pub norm_tau_s: f32,
    /// The range the local-SNR output is scaled to, dB.
    pub lsnr_range_db: (f32, f32),
}

/// The three graphs and the configuration, as stored in the archive.
struct Archive {
    enc: Vec<u8>,
    erb_dec: Vec<u8>,
    df_dec: Vec<u8>,
    config: String,
}

fn unpack(tar_gz: &[u8]) -> Result<Archive, ModelError> {
    let unpack_err = |e: std::io::Error| ModelError::Unpack(e.to_string());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz));
    let (mut enc, mut erb_dec, mut df_dec, mut config) = (None, None, None, None);
    for entry in archive.entries().map_err(unpack_err)? {
        let mut entry = entry.map_err(unpack_err)?;
        let name = entry
            .path()
            .map_err(unpack_err)?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let slot = match name.as_deref() {
            Some("enc.onnx") => &mut enc,
            Some("erb_dec.onnx") => &mut erb_dec,
            Some("df_dec.onnx") => &mut df_dec,
            Some("config.ini") => &mut config,
            _ => continue,
        };
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(unpack_err)?;
        *slot = Some(bytes);
    }
    let config = config.ok_or(ModelError::MissingFile("config.ini"))?;
    Ok(Archive {
        enc: enc.ok_or(ModelError::MissingFile("enc.onnx"))?,
        erb_dec: erb_dec.ok_or(ModelError::MissingFile("erb_dec.onnx"))?,
        df_dec: df_dec.ok_or(ModelError::MissingFile("df_dec.onnx"))?,
        config: String::from_utf8(config).map_err(|e| ModelError::Unpack(format!("config.ini: {e}")))?,
    })
}

/// `key` of `[section]` in an INI text (`key = value` lines; `#`/`;` comments).
fn ini_value<'a>(text: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut current = "";
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim());
                }
            }
        }
    }
    None
}

/// Reads `config.ini` and checks that the model is the one this engine implements: the STFT,
/// band layout, deep-filter order and look-ahead are fixed in the code.
fn parse_config(text: &str) -> Result<ModelConfig, ModelError> {
    let get = |section: &str, key: &'static str| {
        ini_value(text, section, key).ok_or_else(|| ModelError::Config {
            key,
            found: "nothing".into(),
            expected: "a value".into(),
        })
    };
    let number = |section: &str, key: &'static str| -> Result<f32, ModelError> {
        let raw = get(section, key)?;
        raw.parse::<f32>().map_err(|_| ModelError::Config {
            key,
            found: raw.into(),
            expected: "a number".into(),
        })
    };
    let expect = |section: &str, key: &'static str, want: usize| -> Result<(), ModelError> {
        let found = number(section, key)?;
        if found == want as f32 {
            Ok(())
        } else {
            Err(ModelError::Config {
                key,
                found: found.to_string(),
                expected: want.to_string(),
            })
        }
    };
    let model = get("train", "model")?;
    if model != "deepfilternet3" {
        return Err(ModelError::Config {
            key: "model",
            found: model.into(),
            expected: "deepfilternet3".into(),
        });
    }
    expect("df", "sr", RATE)?;
    expect("df", "fft_size", WINDOW)?;
    expect("df", "hop_size", HOP)?;
    expect("df", "nb_erb", ERB_BANDS)?;
    expect("df", "nb_df", DF_BINS)?;
    expect("df", "df_order", ORDER)?;
    expect("df", "df_lookahead", LOOKAHEAD)?;
    expect("df", "min_nb_erb_freqs", 2)?;
    // The decoders' outputs are applied `LOOKAHEAD` frames back: the encoder's own look-ahead
    // must be the same.
    expect("deepfilternet", "conv_lookahead", LOOKAHEAD)?;
    expect("deepfilternet", "conv_ch", CONV_CH)?;
    Ok(ModelConfig {
        norm_tau_s: number("df", "norm_tau")?,
        lsnr_range_db: (number("df", "lsnr_min")?, number("df", "lsnr_max")?),
    })
}

type Plan = Arc<TypedSimplePlan>;

/// Loads one ONNX graph with its streaming axis (frames) as a symbol, and compiles it to run
/// `BLOCK` frames per call with its state kept between calls.
fn compile(
    network: &'static str,
    onnx: &[u8],
    inputs: &[&[usize]],
    time_axis: &[usize],
    outputs: Option<&[&str]>,
) -> Result<Plan, ModelError> {
    let fail = |e: TractError| ModelError::Network {
        network,
        reason: format!("{e:#}"),
    };
    let mut model = tract_onnx::onnx()
        .with_ignore_output_shapes(true)
        .model_for_read(&mut &onnx[..])
        .map_err(fail)?;
    let frames = model.symbols.sym("S");
    for (ix, (shape, &axis)) in inputs.iter().zip(time_axis).enumerate() {
        let dims: TVec<TDim> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i == axis {
                    frames.clone().into()
                } else {
                    (d as i64).into()
                }
            })
            .collect();
        model = model
            .with_input_fact(ix, InferenceFact::dt_shape(f32::datum_type(), dims))
            .map_err(fail)?;
    }
    if let Some(names) = outputs {
        model.select_outputs_by_name(names.iter()).map_err(fail)?;
    }
    model.analyse(true).map_err(fail)?;
    let mut typed = model.into_typed().map_err(fail)?;
    typed.declutter().map_err(fail)?;
    let pulsed = PulsedModel::new(&typed, frames, &(BLOCK as i64).into()).map_err(fail)?;
    let streaming = pulsed.into_typed().map_err(fail)?;
    let optimized = streaming.into_optimized().map_err(fail)?;
    TypedSimplePlan::new(optimized).map_err(fail)
}

/// The compiled networks, shared by every channel of every file (read-only).
pub struct Networks {
    enc: Plan,
    erb_dec: Plan,
    df_dec: Plan,
    config: ModelConfig,
}

impl std::fmt::Debug for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networks")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Networks {
    /// Unpacks and compiles the embedded model (≈ 0.2 s of one core).
    pub fn load() -> Result<Self, ModelError> {
        let archive = unpack(MODEL_TAR_GZ)?;
        let config = parse_config(&archive.config)?;
        let enc = compile(
            "encoder",
            &archive.enc,
            &[&[1, 1, 0, ERB_BANDS], &[1, 2, 0, DF_BINS]],
            &[2, 2],
            None,
        )?;
        let erb_dec = compile(
            "ERB decoder",
            &archive.erb_dec,
            &[
                &[1, 0, EMB],
                &[1, CONV_CH, 0, ERB_BANDS / 4],
                &[1, CONV_CH, 0, ERB_BANDS / 4],
                &[1, CONV_CH, 0, ERB_BANDS / 2],
                &[1, CONV_CH, 0, ERB_BANDS],
            ],
            &[1, 2, 2, 2, 2],
            None,
        )?;
        // The deep-filter decoder has a second output (a mixing weight the runtime never
        // uses); asking for the coefficients alone lets tract drop its branch.
        let df_dec = compile(
            "deep-filter decoder",
            &archive.df_dec,
            &[&[1, 0, EMB], &[1, CONV_CH, 0, DF_BINS]],
            &[1, 2],
            Some(&["coefs"]),
        )?;
        Ok(Self {
            enc,
            erb_dec,
            df_dec,
            config,
        })
    }

    /// The process-wide copy, compiled on first use.
    pub fn shared() -> Result<Arc<Self>, ModelError> {
        static SHARED: OnceLock<Result<Arc<Networks>, ModelError>> = OnceLock::new();
        SHARED.get_or_init(|| Self::load().map(Arc::new)).clone()
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
}

/// What the networks say about one block of frames, frame-major.
pub struct BlockOutput {
    /// Local SNR estimate per frame, dB.
    pub lsnr: Vec<f32>,
    /// ERB-band gains, [`ERB_BANDS`] per frame.
    pub gains: Vec<f32>,
    /// Deep-filter taps, `DF_BINS × COEFS_PER_BIN` per frame (`[bin][tap][re, im]`).
    pub coefs: Vec<f32>,
}

impl Default for BlockOutput {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockOutput {
    pub fn new() -> Self {
        Self {
            lsnr: vec![0.0; BLOCK],
            gains: vec![0.0; BLOCK * ERB_BANDS],
            coefs: vec![0.0; BLOCK * DF_BINS * COEFS_PER_BIN],
        }
    }
}

/// Features of one block in the encoder's input layout.
pub struct BlockInput {
    /// `[1, 1, BLOCK, ERB_BANDS]`.
    pub erb: Vec<f32>,
    /// `[1, 2, BLOCK, DF_BINS]`: all real parts, then all imaginary parts.
    pub spec: Vec<f32>,
}

impl Default for BlockInput {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockInput {
    pub fn new() -> Self {
        Self {
            erb: vec![0.0; BLOCK * ERB_BANDS],
            spec: vec![0.0; 2 * BLOCK * DF_BINS],
        }
    }
}

/// One channel's running state of the three networks.
pub struct NetworkState {
    networks: Arc<Networks>,
    enc: TypedSimpleState,
    erb_dec: TypedSimpleState,
    df_dec: TypedSimpleState,
}

impl NetworkState {
    pub fn new(networks: Arc<Networks>) -> Result<Self, ModelError> {
        let state = |network: &'static str, plan: &Plan| {
            SimpleState::new(plan).map_err(|e| ModelError::Network {
                network,
                reason: format!("{e:#}"),
            })
        };
        Ok(Self {
            enc: state("encoder", &networks.enc)?,
            erb_dec: state("ERB decoder", &networks.erb_dec)?,
            df_dec: state("deep-filter decoder", &networks.df_dec)?,
            networks,
        })
    }

    /// Forgets the recurrent and convolution state.
    pub fn reset(&mut self) -> Result<(), ModelError> {
        *self = Self::new(Arc::clone(&self.networks))?;
        Ok(())
    }

    /// Runs the three networks on the next block. tract allocates its tensors here, once per
    /// block; an error leaves `output` untouched and is returned.
    pub fn run(&mut self, input: &BlockInput, output: &mut BlockOutput) -> TractResult<()> {
        let erb = Tensor::from_shape(&[1, 1, BLOCK, ERB_BANDS], &input.erb)?;
        let spec = Tensor::from_shape(&[1, 2, BLOCK, DF_BINS], &input.spec)?;
        let mut enc = self.enc.run(tvec!(erb.into(), spec.into()))?;
        ensure!(enc.len() == 7, "encoder gave {} outputs, expected 7", enc.len());
        // e0, e1, e2, e3, emb, c0, lsnr
        let lsnr = enc.pop().context("lsnr")?;
        let c0 = enc.pop().context("c0")?;
        let emb = enc.pop().context("emb")?;
        let (e3, e2, e1, e0) = (enc.pop(), enc.pop(), enc.pop(), enc.pop());
        let (e3, e2, e1, e0) = (
            e3.context("e3")?,
            e2.context("e2")?,
            e1.context("e1")?,
            e0.context("e0")?,
        );
        let gains = self.erb_dec.run(tvec!(emb.clone(), e3, e2, e1, e0))?;
        let coefs = self.df_dec.run(tvec!(emb, c0))?;
        let copy = |value: &TValue, out: &mut [f32]| -> TractResult<()> {
            let data = value.try_as_plain_ram()?;
            let data = data.as_slice::<f32>()?;
            ensure!(
                data.len() == out.len(),
                "output of {} values, expected {}",
                data.len(),
                out.len()
            );
            out.copy_from_slice(data);
            Ok(())
        };
        copy(&lsnr, &mut output.lsnr)?;
        copy(gains.first().context("gains")?, &mut output.gains)?;
        copy(coefs.first().context("coefs")?, &mut output.coefs)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn embedded_model_is_the_published_one() {
        assert_eq!(MODEL_TAR_GZ.len(), 7_983_136);
        let digest = Sha256::digest(MODEL_TAR_GZ);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, MODEL_SHA256);
    }

    #[test]
    fn config_is_read_and_checked() {
        let archive = unpack(MODEL_TAR_GZ).expect("unpack");
        assert!(archive.enc.len() > 1_000_000 && archive.erb_dec.len() > 1_000_000);
        let config = parse_config(&archive.config).expect("config");
        assert_eq!(config.norm_tau_s, 1.0);
        assert_eq!(config.lsnr_range_db, (-15.0, 35.0));
        let altered = archive.config.replace("hop_size = 480", "hop_size = 240");
        assert_eq!(
            parse_config(&altered).unwrap_err().to_string(),
            "the embedded DeepFilterNet model's config.ini has hop_size = 240; this engine is built for 480"
        );
        assert_eq!(ini_value("[a]\nx = 1\n[b]\nx = 2\n", "b", "x"), Some("2"));
        assert!(matches!(unpack(b"not a tarball"), Err(ModelError::Unpack(_))));
    }
}
