//! Getting audio in and out: decoding (symphonia), encoding (WAV, FLAC, MP3, with tags and
//! broadcast chunks), and the f32 spool between
//! the two passes.

pub mod decode;
pub mod encode;
pub mod spool;

/// Where a channel sits, as far as BS.1770 weighting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelRole {
    Left,
    Right,
    Center,
    Lfe,
    LeftSurround,
    RightSurround,
    /// Any other position (weighted like a front channel).
    Other,
}

/// What the samples were before decoding: decides the default output bit depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// Integer PCM (WAV, AIFF, FLAC, ALAC...) with this many bits per sample.
    PcmInt { bits: u32 },
    /// Floating-point PCM with this many bits per sample.
    PcmFloat { bits: u32 },
    /// A lossy codec (MP3, AAC, Vorbis, Opus...).
    Lossy,
}

/// Output sample format of the WAV encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SampleFormat {
    #[serde(rename = "16")]
    Int16,
    #[serde(rename = "24")]
    Int24,
    #[serde(rename = "32")]
    Int32,
    #[serde(rename = "32f")]
    Float32,
}

impl SampleFormat {
    /// The format a source keeps by default: PCM keeps its depth, lossy becomes 24-bit.
    pub fn for_source(source: SourceFormat) -> Self {
        match source {
            SourceFormat::PcmInt { bits } if bits <= 16 => SampleFormat::Int16,
            SourceFormat::PcmInt { bits } if bits <= 24 => SampleFormat::Int24,
            SourceFormat::PcmInt { .. } => SampleFormat::Int32,
            SourceFormat::PcmFloat { .. } => SampleFormat::Float32,
            SourceFormat::Lossy => SampleFormat::Int24,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "16" => Some(SampleFormat::Int16),
            "24" => Some(SampleFormat::Int24),
            "32" => Some(SampleFormat::Int32),
            "32f" | "f32" | "float" => Some(SampleFormat::Float32),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SampleFormat::Int16 => "16",
            SampleFormat::Int24 => "24",
            SampleFormat::Int32 => "32",
            SampleFormat::Float32 => "32f",
        }
    }
}

/// Facts about a decoded stream, known once the file is opened.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub sample_rate: u32,
    pub channels: usize,
    /// One role per channel, in decoded channel order.
    pub channel_roles: Vec<ChannelRole>,
    pub source: SourceFormat,
    /// Codec name for messages and the report, e.g. `"mp3"`, `"flac"`, `"pcm_s24le"`.
    pub codec: String,
    /// Frame count promised by the container, if it says.
    pub frames: Option<u64>,
}

impl StreamInfo {
    pub fn duration_s(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / self.sample_rate as f64)
    }
}
