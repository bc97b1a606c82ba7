//! Why a file could not be decoded: one sentence a person can act on, plus a stable
//! machine-readable kind for reports and scripts.

/// Why a file could not be decoded. Messages name the problem, not the file: the caller adds
/// the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("file is empty (0 bytes)")]
    Empty,
    #[error("not a regular file (it is {0})")]
    NotAFile(&'static str),
    #[error("not a recognised audio format{0}")]
    NotAudio(&'static str),
    #[error("the file contains no audio track{0}")]
    NoAudioTrack(&'static str),
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    #[error("unsupported {codec} stream: {feature}")]
    UnsupportedFeature { codec: String, feature: String },
    #[error("unsupported {format} file: {what}")]
    UnsupportedContainer { format: String, what: String },
    #[error("unsupported: {count} channels (podclean reads at most {max}{reader})")]
    UnsupportedChannels {
        count: u64,
        max: usize,
        /// Names the reader when its limit is lower than podclean's, e.g. `" from CAF"`.
        reader: &'static str,
    },
    #[error(
        "unsupported: sample rate {rate} Hz (podclean reads {} kHz to {} kHz)",
        MIN_RATE / 1000,
        MAX_RATE / 1000
    )]
    UnsupportedRate { rate: u32 },
    #[error("corrupt stream: {0}")]
    Corrupt(String),
    #[error("stream is mostly corrupt: {bad} of {total} {codec} packets could not be decoded")]
    MostlyCorrupt { bad: u64, total: u64, codec: String },
    #[error("{}", truncated_sentence(*.promised_s, *.held_s))]
    Truncated { promised_s: f64, held_s: f64 },
    #[error("{what} changes mid-stream ({from} → {to}) at {at_s:.1} s; split the file first")]
    FormatChanged {
        what: &'static str,
        from: String,
        to: String,
        at_s: f64,
    },
    #[error("{}", io_sentence(.0))]
    Io(#[from] std::io::Error),
}

use super::probe::{MAX_RATE, MIN_RATE};

/// What went wrong, for machines: a report's `error_kind` column, a script's retry policy.
/// The names from [`DecodeErrorKind::as_str`] are stable; new kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The file does not exist (any more).
    NotFound,
    /// podclean may not read the file.
    PermissionDenied,
    /// A folder, pipe, device or socket where a file was expected.
    NotAFile,
    /// 0 bytes.
    Empty,
    /// Not audio in any format podclean knows (including text files).
    NotAudio,
    /// A media file without an audio track (video only, subtitles).
    NoAudioTrack,
    /// Audio in a codec, or a codec feature, podclean cannot decode (Opus, HE-AAC...).
    UnsupportedCodec,
    /// A container feature podclean cannot read.
    UnsupportedContainer,
    /// More channels than podclean handles.
    UnsupportedChannels,
    /// A sample rate outside the range podclean handles.
    UnsupportedRate,
    /// The file holds less audio than its header promises.
    Truncated,
    /// Damaged or malformed data (including a stream that is mostly damage).
    Corrupt,
    /// Sample rate, channel count or encoding changes inside the stream.
    FormatChanged,
    /// Any other failure to read the file.
    Io,
}

impl DecodeErrorKind {
    /// A stable snake_case name, e.g. `"unsupported_channels"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeErrorKind::NotFound => "not_found",
            DecodeErrorKind::PermissionDenied => "permission_denied",
            DecodeErrorKind::NotAFile => "not_a_file",
            DecodeErrorKind::Empty => "empty",
            DecodeErrorKind::NotAudio => "not_audio",
            DecodeErrorKind::NoAudioTrack => "no_audio_track",
            DecodeErrorKind::UnsupportedCodec => "unsupported_codec",
            DecodeErrorKind::UnsupportedContainer => "unsupported_container",
            DecodeErrorKind::UnsupportedChannels => "unsupported_channels",
            DecodeErrorKind::UnsupportedRate => "unsupported_rate",
            DecodeErrorKind::Truncated => "truncated",
            DecodeErrorKind::Corrupt => "corrupt",
            DecodeErrorKind::FormatChanged => "format_changed",
            DecodeErrorKind::Io => "io",
        }
    }
}

impl std::fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DecodeError {
    pub fn kind(&self) -> DecodeErrorKind {
        use std::io::ErrorKind as Io;
        match self {
            DecodeError::Empty => DecodeErrorKind::Empty,
            DecodeError::NotAFile(_) => DecodeErrorKind::NotAFile,
            DecodeError::NotAudio(_) => DecodeErrorKind::NotAudio,
            DecodeError::NoAudioTrack(_) => DecodeErrorKind::NoAudioTrack,
            DecodeError::UnsupportedCodec(_) | DecodeError::UnsupportedFeature { .. } => {
                DecodeErrorKind::UnsupportedCodec
            }
            DecodeError::UnsupportedContainer { .. } => DecodeErrorKind::UnsupportedContainer,
            DecodeError::UnsupportedChannels { .. } => DecodeErrorKind::UnsupportedChannels,
            DecodeError::UnsupportedRate { .. } => DecodeErrorKind::UnsupportedRate,
            DecodeError::Corrupt(_) | DecodeError::MostlyCorrupt { .. } => DecodeErrorKind::Corrupt,
            DecodeError::Truncated { .. } => DecodeErrorKind::Truncated,
            DecodeError::FormatChanged { .. } => DecodeErrorKind::FormatChanged,
            DecodeError::Io(e) => match e.kind() {
                Io::NotFound => DecodeErrorKind::NotFound,
                Io::PermissionDenied => DecodeErrorKind::PermissionDenied,
                _ => DecodeErrorKind::Io,
            },
        }
    }
}

fn io_sentence(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "the file does not exist (moved or deleted?)".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied: podclean may not read this file".into(),
        _ => format!("could not read the file: {e}"),
    }
}

/// Shows both durations with just enough decimals (1 to 6) to tell them apart, so a
/// shortfall of a few frames never reads "promises 8.9 s, holds 8.9 s".
fn truncated_sentence(promised_s: f64, held_s: f64) -> String {
    let mut decimals = 1;
    while decimals < 6 && format!("{promised_s:.decimals$}") == format!("{held_s:.decimals$}") {
        decimals += 1;
    }
    format!("truncated: header promises {promised_s:.decimals$} s of audio, file holds {held_s:.decimals$} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_snake_case_names() {
        let not_found = DecodeError::Io(std::io::Error::from(std::io::ErrorKind::NotFound));
        let denied = DecodeError::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let other = DecodeError::Io(std::io::Error::other("disk on fire"));
        let cases = [
            (not_found, "not_found"),
            (denied, "permission_denied"),
            (other, "io"),
            (DecodeError::Empty, "empty"),
            (DecodeError::NotAFile("a folder"), "not_a_file"),
            (DecodeError::NotAudio(""), "not_audio"),
            (DecodeError::NoAudioTrack(""), "no_audio_track"),
            (DecodeError::UnsupportedCodec("opus".into()), "unsupported_codec"),
            (
                DecodeError::UnsupportedFeature {
                    codec: "aac".into(),
                    feature: "sbr".into(),
                },
                "unsupported_codec",
            ),
            (
                DecodeError::UnsupportedContainer {
                    format: "wav".into(),
                    what: "x".into(),
                },
                "unsupported_container",
            ),
            (
                DecodeError::UnsupportedChannels {
                    count: 40,
                    max: 32,
                    reader: "",
                },
                "unsupported_channels",
            ),
            (DecodeError::UnsupportedRate { rate: 500 }, "unsupported_rate"),
            (DecodeError::Corrupt("x".into()), "corrupt"),
            (
                DecodeError::MostlyCorrupt {
                    bad: 9,
                    total: 10,
                    codec: "flac".into(),
                },
                "corrupt",
            ),
            (
                DecodeError::Truncated {
                    promised_s: 2.0,
                    held_s: 1.0,
                },
                "truncated",
            ),
            (
                DecodeError::FormatChanged {
                    what: "sample rate",
                    from: "a".into(),
                    to: "b".into(),
                    at_s: 1.0,
                },
                "format_changed",
            ),
        ];
        for (error, name) in cases {
            assert_eq!(error.kind().as_str(), name, "{error}");
            assert_eq!(error.kind().to_string(), name);
            let sentence = error.to_string();
            assert!(!sentence.is_empty() && !sentence.contains('\n'), "{sentence:?}");
        }
    }

    #[test]
    fn messages_a_person_can_act_on() {
        let e = DecodeError::UnsupportedChannels {
            count: 40,
            max: 32,
            reader: "",
        };
        assert_eq!(e.to_string(), "unsupported: 40 channels (podclean reads at most 32)");
        let e = DecodeError::UnsupportedRate { rate: 500 };
        assert_eq!(
            e.to_string(),
            "unsupported: sample rate 500 Hz (podclean reads 1 kHz to 768 kHz)"
        );
        let e = DecodeError::Io(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), "the file does not exist (moved or deleted?)");
    }

    #[test]
    fn truncation_shows_enough_decimals_to_differ() {
        let t = |promised_s, held_s| DecodeError::Truncated { promised_s, held_s }.to_string();
        assert_eq!(
            t(0.5, 0.0),
            "truncated: header promises 0.5 s of audio, file holds 0.0 s"
        );
        assert_eq!(
            t(392_534.0 / 44_100.0, 392_506.0 / 44_100.0),
            "truncated: header promises 8.901 s of audio, file holds 8.900 s"
        );
    }
}
