//! Writing outputs: which format a file is written in (`keep` follows the source), the
//! encoders behind one [`Encoder`] that pass B feeds planar blocks, and what travels with the
//! audio (tags, cover art, chapters, the BWF `bext` loudness chunk, `iXML`).
//!
//! | source | `keep` writes | why |
//! | --- | --- | --- |
//! | WAV, BWF, RF64 | WAV (RF64 past 4 GiB) | same format, `bext` loudness fields |
//! | AIFF | WAV | same PCM, plus `bext` loudness and no 4 GiB cap; every tool that reads AIFF reads WAV |
//! | FLAC, ALAC, other lossless | FLAC | lossless stays lossless, and FLAC carries tags and cover art |
//! | MP3 (MP1/MP2) | MP3 at the source's bit rate (CBR) or matching VBR quality | same format, same size |
//! | AAC, Vorbis, Opus | MP3 at a matching VBR quality | the lossy format every podcast player and feed accepts |
//! | lossy beyond MP3 (above 48 kHz, more than 2 channels) | FLAC | nothing lost, rather than a failure |

pub mod bext;
pub mod flac;
#[cfg(feature = "mp3")]
pub mod mp3;
pub mod riff;
pub mod tags;
pub mod wav;

/// Helpers the encoders' tests share: feeding a writer in uneven pieces, decoding a file back.
#[cfg(test)]
pub(crate) mod testing {
    use std::ops::Range;
    use std::path::Path;

    use crate::io::decode::Decoder;

    /// Calls `write` with ranges of 1, 7, 480 and 4096 frames in turn until `frames` are done:
    /// an encoder's output must not depend on how its input was cut.
    pub fn in_uneven_pieces(frames: usize, mut write: impl FnMut(Range<usize>)) {
        let mut start = 0;
        for piece in [1, 7, 480, 4096].iter().cycle() {
            if start == frames {
                break;
            }
            let end = (start + piece).min(frames);
            write(start..end);
            start = end;
        }
    }

    /// Every sample of a file, as podclean's decoder reads it.
    pub fn decode_file(path: &Path) -> Vec<Vec<f32>> {
        let mut decoder = Decoder::open(path).unwrap();
        let channels = decoder.info().channels;
        let mut out = vec![Vec::new(); channels];
        let mut block = vec![vec![0.0f32; 4096]; channels];
        loop {
            let n = decoder.read(&mut block).unwrap();
            if n == 0 {
                break;
            }
            for (all, new) in out.iter_mut().zip(&block) {
                all.extend_from_slice(&new[..n]);
            }
        }
        out
    }
}

use std::fs::File;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use wav::{WavChunks, WavWriter};

use crate::io::{SampleFormat, SourceFormat, StreamInfo};
use crate::loudness::Measurement;
use bext::{Bext, BextLoudness};
use flac::FlacWriter;
#[cfg(feature = "mp3")]
use mp3::{Mp3Mode, Mp3Writer};
use riff::BroadcastChunks;
use tags::{Carried, SourceTags};

/// The output format asked for (`--format`, `[output] format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    /// Follow the source (see the module table).
    #[default]
    Keep,
    Wav,
    Flac,
    Mp3,
}

impl FormatChoice {
    pub fn parse(text: &str) -> Option<FormatChoice> {
        match text.to_ascii_lowercase().as_str() {
            "keep" => Some(FormatChoice::Keep),
            "wav" => Some(FormatChoice::Wav),
            "flac" => Some(FormatChoice::Flac),
            "mp3" => Some(FormatChoice::Mp3),
            _ => None,
        }
    }
}

/// The container and codec a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Wav,
    Flac,
    Mp3,
}

impl OutputFormat {
    /// The output file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Wav => "wav",
            OutputFormat::Flac => "flac",
            OutputFormat::Mp3 => "mp3",
        }
    }

    /// Whether the written file must be decoded to be measured.
    pub fn is_lossy(self) -> bool {
        self == OutputFormat::Mp3
    }

    /// The format for `input` under `choice`. `keep` decides by extension, and for
    /// containers that hold lossless or lossy audio alike (MP4, CAF, Matroska, Ogg) by the
    /// codec inside, read from the header.
    pub fn for_input(input: &Path, choice: FormatChoice) -> OutputFormat {
        match choice {
            FormatChoice::Wav => return OutputFormat::Wav,
            FormatChoice::Flac => return OutputFormat::Flac,
            FormatChoice::Mp3 => return OutputFormat::Mp3,
            FormatChoice::Keep => {}
        }
        let ext = input
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "wav" | "wave" | "bwf" | "rf64" | "aif" | "aiff" | "aifc" => OutputFormat::Wav,
            "flac" => OutputFormat::Flac,
            "mp3" | "mp2" | "mp1" => lossy_target(),
            _ => match crate::io::decode::Decoder::open(input).map(|d| d.info().clone()) {
                Ok(info) => match info.source {
                    SourceFormat::PcmInt { .. } if info.channels <= 8 => OutputFormat::Flac,
                    SourceFormat::PcmInt { .. } | SourceFormat::PcmFloat { .. } => OutputFormat::Wav,
                    SourceFormat::Lossy if mp3_can_hold(&info) => lossy_target(),
                    // A lossy stream MP3 cannot hold (96 kHz, 5.1): lossless, not a failure.
                    SourceFormat::Lossy if info.channels <= 8 => OutputFormat::Flac,
                    SourceFormat::Lossy => OutputFormat::Wav,
                },
                // Undecodable files fail later with the decoder's reason; the name is moot.
                Err(_) => lossy_target(),
            },
        }
    }
}

/// Whether MP3 can store this stream as it is (rate and channel count).
fn mp3_can_hold(info: &StreamInfo) -> bool {
    #[cfg(feature = "mp3")]
    {
        mp3::unsupported(info.sample_rate, info.channels).is_none()
    }
    #[cfg(not(feature = "mp3"))]
    {
        let _ = info;
        false
    }
}

/// Where lossy sources go: MP3, or WAV in a build without the `mp3` feature.
fn lossy_target() -> OutputFormat {
    if cfg!(feature = "mp3") {
        OutputFormat::Mp3
    } else {
        OutputFormat::Wav
    }
}

/// The `[output]` table of a preset, with its command-line overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSettings {
    pub format: FormatChoice,
    /// MP3 constant bit rate in kb/s; unset follows the source (its CBR rate, or the VBR
    /// quality matching its bit rate; V2 for lossless sources).
    pub mp3_bitrate: Option<u16>,
    /// FLAC compression level, 0 (fastest) to 8 (smallest).
    pub flac_level: u8,
}

impl Default for OutputSettings {
    fn default() -> Self {
        OutputSettings {
            format: FormatChoice::Keep,
            mp3_bitrate: None,
            flac_level: flac::DEFAULT_LEVEL,
        }
    }
}

/// MP3 bit rates accepted for `mp3_bitrate`.
pub const MP3_BITRATES: [u16; 14] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];

impl OutputSettings {
    /// Checks every value; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(kbps) = self.mp3_bitrate {
            if !MP3_BITRATES.contains(&kbps) {
                let list: Vec<String> = MP3_BITRATES.iter().map(u16::to_string).collect();
                return Err(format!(
                    "output.mp3_bitrate = {kbps} is not an MP3 bit rate (one of {} kb/s)",
                    list.join(", ")
                ));
            }
        }
        if !flac::LEVELS.contains(&self.flac_level) {
            return Err(format!(
                "output.flac_level = {} is out of range (0 to 8)",
                self.flac_level
            ));
        }
        if self.format == FormatChoice::Mp3 && !cfg!(feature = "mp3") {
            return Err(
                "output.format = \"mp3\": this podclean was built without MP3 support (the `mp3` feature)".into(),
            );
        }
        Ok(())
    }

    /// Checks that a `--bit-depth` fits the chosen format.
    pub fn check_bit_depth(&self, bit_depth: Option<SampleFormat>) -> Result<(), String> {
        match (self.format, bit_depth) {
            (FormatChoice::Flac, Some(depth @ (SampleFormat::Int32 | SampleFormat::Float32))) => Err(format!(
                "bit-depth {} cannot be written as FLAC (16 or 24 bits); use --format wav",
                depth.label()
            )),
            (FormatChoice::Mp3, Some(depth)) => Err(format!(
                "bit-depth {} does not apply to MP3 output (a lossy format has no bit depth); drop --bit-depth or use --format wav/flac",
                depth.label()
            )),
            _ => Ok(()),
        }
    }
}

/// Everything an encoder needs to know about one output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    pub format: OutputFormat,
    pub sample_rate: u32,
    pub channels: usize,
    pub roles: Vec<crate::io::ChannelRole>,
    /// Sample format of WAV output; 16 or 24 bits for FLAC.
    pub sample_format: SampleFormat,
    pub flac_level: u8,
    #[cfg(feature = "mp3")]
    pub mp3: Option<Mp3Mode>,
    /// Why the encoder settings are what they are (for the report's notes).
    pub notes: Vec<String>,
}

impl OutputSpec {
    /// Decides the encoder settings for one file: bit depth from the source (or
    /// `bit_depth`), the MP3 bit rate from the source's frames (or `mp3_bitrate`). An error
    /// says why this stream cannot be written in `format` (e.g. 6 channels as MP3).
    pub fn plan(
        format: OutputFormat,
        settings: &OutputSettings,
        bit_depth: Option<SampleFormat>,
        info: &StreamInfo,
        input: &Path,
    ) -> Result<OutputSpec, String> {
        let mut notes = Vec::new();
        let sample_format = bit_depth.unwrap_or_else(|| SampleFormat::for_source(info.source));
        let sample_format = match format {
            OutputFormat::Flac => match sample_format {
                SampleFormat::Int16 => SampleFormat::Int16,
                SampleFormat::Int24 => SampleFormat::Int24,
                other => {
                    notes.push(format!(
                        "{}-bit source written as 24-bit FLAC (FLAC output is 16 or 24 bits)",
                        other.label()
                    ));
                    SampleFormat::Int24
                }
            },
            _ => sample_format,
        };
        if format == OutputFormat::Flac && info.channels > 8 {
            return Err(format!(
                "FLAC holds at most 8 channels, this stream has {}; use --format wav",
                info.channels
            ));
        }
        #[cfg(feature = "mp3")]
        let mp3 = if format == OutputFormat::Mp3 {
            if let Some(why) = mp3::unsupported(info.sample_rate, info.channels) {
                return Err(format!("cannot write MP3: {why}; use --format flac or wav"));
            }
            Some(mp3_mode(settings, info, input, &mut notes))
        } else {
            None
        };
        #[cfg(not(feature = "mp3"))]
        if format == OutputFormat::Mp3 {
            let _ = input;
            return Err("this podclean was built without MP3 support".into());
        }
        Ok(OutputSpec {
            format,
            sample_rate: info.sample_rate,
            channels: info.channels,
            roles: info.channel_roles.clone(),
            sample_format,
            flac_level: settings.flac_level,
            #[cfg(feature = "mp3")]
            mp3,
            notes,
        })
    }

    /// How far encoding may raise the true peak, in dB: lossless formats none; an MP3's
    /// coding noise rides on the peaks, more at fewer bits per channel (decoded speech limited
    /// to the ceiling rose up to 0.25 dB at 80–128 kb/s per channel, 0.3–0.7 dB at 32–64).
    /// The limiter keeps this much under the ceiling on the first try, so the first encode
    /// usually passes; the written file is verified either way.
    pub fn true_peak_rise_guess_db(&self) -> f64 {
        #[cfg(feature = "mp3")]
        if let Some(mode) = self.mp3 {
            return if mode.kbps_per_channel(self.channels) < 80.0 {
                0.9
            } else {
                0.5
            };
        }
        0.0
    }

    /// For the report: `"wav 24"`, `"flac 16"`, `"mp3 cbr 128"`, `"mp3 vbr V2"`.
    pub fn label(&self) -> String {
        match self.format {
            OutputFormat::Wav => format!("wav {}", self.sample_format.label()),
            OutputFormat::Flac => format!("flac {}", self.sample_format.label()),
            #[cfg(feature = "mp3")]
            OutputFormat::Mp3 => format!("mp3 {}", self.mp3.map(Mp3Mode::label).unwrap_or_default()),
            #[cfg(not(feature = "mp3"))]
            OutputFormat::Mp3 => "mp3".into(),
        }
    }

    /// The `CodingHistory` line for this output (EBU R 98).
    pub fn coding_history_line(&self, what: &str) -> String {
        let mode = match self.channels {
            1 => "mono",
            2 => "stereo",
            _ => "multitrack",
        };
        let bits = match self.sample_format {
            SampleFormat::Int16 => "16",
            SampleFormat::Int24 => "24",
            SampleFormat::Int32 | SampleFormat::Float32 => "32",
        };
        format!(
            "A=PCM,F={},W={bits},M={mode},T=podclean {}; {what}",
            self.sample_rate,
            env!("CARGO_PKG_VERSION")
        )
    }
}

#[cfg(feature = "mp3")]
fn mp3_mode(settings: &OutputSettings, info: &StreamInfo, input: &Path, notes: &mut Vec<String>) -> Mp3Mode {
    if let Some(kbps) = settings.mp3_bitrate {
        let mode = Mp3Mode::cbr_nearest(f64::from(kbps), info.sample_rate);
        if mode != Mp3Mode::Cbr(kbps) {
            notes.push(format!(
                "MP3 at {} Hz cannot be {kbps} kb/s: written at {}",
                info.sample_rate,
                mode.label()
            ));
        }
        return mode;
    }
    let is_mpeg = matches!(info.codec.as_str(), "mp3" | "mp2" | "mp1");
    if is_mpeg {
        if let Ok(Some(source)) = mp3::inspect_source(input) {
            let mode = if source.vbr {
                Mp3Mode::vbr_matching(source.kbps, info.channels)
            } else {
                Mp3Mode::cbr_nearest(source.kbps, info.sample_rate)
            };
            notes.push(format!(
                "MP3 source at {:.0} kb/s {}: written as {}",
                source.kbps,
                if source.vbr { "VBR" } else { "CBR" },
                mode.label()
            ));
            return mode;
        }
    }
    if info.source == SourceFormat::Lossy {
        // Average bit rate of the whole file: close enough to pick a VBR quality.
        let seconds = info.duration_s().unwrap_or(0.0);
        let bytes = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
        if seconds > 0.5 && bytes > 0 {
            let kbps = bytes as f64 * 8.0 / seconds / 1000.0;
            let mode = Mp3Mode::vbr_matching(kbps, info.channels);
            notes.push(format!(
                "{} source at about {kbps:.0} kb/s: written as MP3 {}",
                info.codec,
                mode.label()
            ));
            return mode;
        }
    }
    Mp3Mode::Vbr(2)
}

/// Tags and chunks for one output, prepared before pass B (they do not change between
/// passes) together with the record of what was carried.
#[derive(Debug, Clone, Default)]
pub struct OutputMetadata {
    pub wav: WavChunks,
    pub flac_blocks: Vec<(u8, Vec<u8>)>,
    pub id3: Vec<u8>,
    pub carried: Carried,
}

impl OutputMetadata {
    /// What an input carries, mapped to `spec`'s format. `now_unix_s` dates a new `bext`
    /// chunk; `history` is the `T=` text of podclean's `CodingHistory` line.
    pub fn prepare(
        spec: &OutputSpec,
        source: &SourceTags,
        broadcast: &BroadcastChunks,
        duration_ms: u32,
        now_unix_s: u64,
        history: &str,
    ) -> OutputMetadata {
        let mut meta = OutputMetadata::default();
        match spec.format {
            OutputFormat::Wav => {
                let (trailing, carried) = source.to_wav_chunks(duration_ms);
                meta.wav = WavChunks {
                    bext: Some(Bext::for_output(
                        broadcast.bext.as_ref(),
                        now_unix_s,
                        &spec.coding_history_line(history),
                    )),
                    ixml: broadcast.ixml.clone(),
                    trailing,
                };
                meta.carried = carried;
            }
            OutputFormat::Flac => {
                let (blocks, carried) = source.to_flac_blocks(duration_ms);
                meta.flac_blocks = blocks;
                meta.carried = carried;
            }
            OutputFormat::Mp3 => {
                let (id3, carried) = source.to_id3(duration_ms);
                meta.id3 = id3;
                meta.carried = carried;
            }
        }
        if spec.format != OutputFormat::Wav {
            if broadcast.bext.is_some() {
                meta.carried.warnings.push(format!(
                    "bext chunk not carried: {} has no place for it",
                    spec.format.extension().to_uppercase()
                ));
            }
            if broadcast.ixml.is_some() {
                meta.carried.warnings.push(format!(
                    "iXML chunk not carried: {} has no place for it",
                    spec.format.extension().to_uppercase()
                ));
            }
        }
        meta
    }
}

/// One output being written: create it, feed it planar blocks, finalize it under its
/// temporary name. The same calls whatever the format.
#[derive(Debug)]
pub enum Encoder {
    Wav(WavWriter),
    Flac(Box<FlacWriter>),
    #[cfg(feature = "mp3")]
    Mp3(Mp3Writer),
}

impl Encoder {
    /// Writes into `file` (open for writing; truncated first) for `spec`, with `meta`'s tags
    /// and chunks.
    pub fn into_file(file: File, spec: &OutputSpec, meta: &OutputMetadata) -> io::Result<Encoder> {
        Ok(match spec.format {
            OutputFormat::Wav => Encoder::Wav(WavWriter::into_file_with_chunks(
                file,
                spec.sample_rate,
                spec.channels,
                spec.sample_format,
                &spec.roles,
                &meta.wav,
            )?),
            OutputFormat::Flac => Encoder::Flac(Box::new(FlacWriter::into_file(
                file,
                spec.sample_rate,
                spec.channels,
                if spec.sample_format == SampleFormat::Int16 {
                    16
                } else {
                    24
                },
                spec.flac_level,
                &meta.flac_blocks,
            )?)),
            #[cfg(feature = "mp3")]
            OutputFormat::Mp3 => Encoder::Mp3(Mp3Writer::into_file(
                file,
                spec.sample_rate,
                spec.channels,
                spec.mp3.unwrap_or(Mp3Mode::Vbr(2)),
                &meta.id3,
            )?),
            #[cfg(not(feature = "mp3"))]
            OutputFormat::Mp3 => {
                drop(file);
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this podclean was built without MP3 support",
                ));
            }
        })
    }

    /// Encodes frames `range` of `block`. For lossless formats `written` receives exactly
    /// the samples the file holds (meter those); for lossy ones, what the encoder was given.
    pub fn write(
        &mut self,
        block: &[Vec<f32>],
        range: std::ops::Range<usize>,
        written: &mut [Vec<f32>],
    ) -> io::Result<()> {
        match self {
            Encoder::Wav(w) => w.write(block, range, written),
            Encoder::Flac(w) => w.write(block, range, written),
            #[cfg(feature = "mp3")]
            Encoder::Mp3(w) => w.write(block, range, written),
        }
    }

    /// Whether the file must be decoded to know what it holds.
    pub fn is_lossy(&self) -> bool {
        match self {
            Encoder::Wav(_) | Encoder::Flac(_) => false,
            #[cfg(feature = "mp3")]
            Encoder::Mp3(_) => true,
        }
    }

    /// Completes the file (sizes, STREAMINFO, LAME header; `loudness` into the WAV `bext`
    /// chunk), flushes and fsyncs it. Returns the bytes of coded audio (without tags and
    /// headers), for the bit rate.
    pub fn finalize(self, loudness: Option<&Measurement>) -> io::Result<u64> {
        match self {
            Encoder::Wav(mut w) => {
                if let Some(m) = loudness {
                    w.set_loudness(BextLoudness::from_measurement(m).to_bytes());
                }
                let bytes = w.data_bytes();
                w.finalize()?;
                Ok(bytes)
            }
            Encoder::Flac(w) => w.finalize(),
            #[cfg(feature = "mp3")]
            Encoder::Mp3(w) => w.finalize(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_follows_the_source() {
        let fixture = |name: &str| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/formats")
                .join(name)
        };
        let lossy = if cfg!(feature = "mp3") {
            OutputFormat::Mp3
        } else {
            OutputFormat::Wav
        };
        let cases = [
            ("wav_s24_48k_mono.wav", OutputFormat::Wav),
            ("aiff_s16_44k1_mono.aiff", OutputFormat::Wav),
            ("flac_s24_48k_mono.flac", OutputFormat::Flac),
            ("mp3_44k1_mono.mp3", lossy),
            ("aac_44k1_stereo.m4a", lossy),
            ("alac_s16_44k1_mono.m4a", OutputFormat::Flac),
            ("vorbis_44k1_stereo.ogg", lossy),
            ("opus_48k_mono.opus", lossy),
            (
                "aac_96k_mono.m4a",
                if cfg!(feature = "mp3") {
                    OutputFormat::Flac
                } else {
                    OutputFormat::Wav
                },
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(
                OutputFormat::for_input(&fixture(name), FormatChoice::Keep),
                expected,
                "{name}"
            );
            assert_eq!(
                OutputFormat::for_input(&fixture(name), FormatChoice::Wav),
                OutputFormat::Wav
            );
        }
    }

    #[test]
    fn bad_settings_name_their_key() {
        let bad_rate = OutputSettings {
            mp3_bitrate: Some(100),
            ..OutputSettings::default()
        };
        assert!(bad_rate.validate().unwrap_err().contains("output.mp3_bitrate"));
        let bad_level = OutputSettings {
            flac_level: 9,
            ..OutputSettings::default()
        };
        assert!(bad_level.validate().unwrap_err().contains("output.flac_level"));
        assert!(OutputSettings::default().validate().is_ok());
        let flac = OutputSettings {
            format: FormatChoice::Flac,
            ..OutputSettings::default()
        };
        assert!(flac.check_bit_depth(Some(SampleFormat::Float32)).is_err());
        assert!(flac.check_bit_depth(Some(SampleFormat::Int24)).is_ok());
    }
}
