//! Why a file was not done: a machine-readable kind (the report's `error_kind` column, stable
//! snake_case names a script can match on) and one sentence a person can act on.

use serde::{Deserialize, Serialize};

/// What kind of problem stopped a file. Stable names: scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input does not exist (any more).
    NotFound,
    /// The input or the output folder cannot be read or written for lack of permission.
    PermissionDenied,
    /// A FIFO, socket, device or folder where an audio file was expected.
    NotARegularFile,
    /// A symbolic link that podclean does not follow (not asked to, or leading outside the inputs).
    Symlink,
    /// A symbolic link loop or a dangling link in the input tree.
    BrokenLink,
    /// The file is not audio (text, random bytes, an empty file).
    NotAudio,
    /// Audio in a codec podclean cannot decode (e.g. Opus).
    UnsupportedCodec,
    /// Audio podclean cannot process as it is (too many channels, an unusable sample rate).
    Unsupported,
    /// The file ends before its header says it does.
    Truncated,
    /// The stream is damaged beyond recovery.
    Corrupt,
    /// The input changed while it was being processed (a growing upload, a replaced file).
    InputChanged,
    /// A file podclean did not write sits where the output would go.
    OutputExists,
    /// The output path is unsafe (a symbolic link, or a file in the way of a folder).
    OutputUnsafe,
    /// Two inputs would write the same output.
    NameClash,
    /// Writing the output failed (disk full, I/O error).
    WriteFailed,
    /// Another podclean run holds this output right now.
    Busy,
    /// A bug in podclean (a panic or a broken internal promise).
    Internal,
    /// Any other I/O problem.
    Io,
}

impl ErrorKind {
    /// The stable name, as in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotARegularFile => "not_a_regular_file",
            ErrorKind::Symlink => "symlink",
            ErrorKind::BrokenLink => "broken_link",
            ErrorKind::NotAudio => "not_audio",
            ErrorKind::UnsupportedCodec => "unsupported_codec",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::InputChanged => "input_changed",
            ErrorKind::OutputExists => "output_exists",
            ErrorKind::OutputUnsafe => "output_unsafe",
            ErrorKind::NameClash => "name_clash",
            ErrorKind::WriteFailed => "write_failed",
            ErrorKind::Busy => "busy",
            ErrorKind::Internal => "internal",
            ErrorKind::Io => "io",
        }
    }

    /// The kind of an I/O error met while reading an input.
    pub fn of_input_io(e: &std::io::Error) -> ErrorKind {
        match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Io,
        }
    }

    /// The kind of an I/O error met while writing an output.
    pub fn of_output_io(e: &std::io::Error) -> ErrorKind {
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::WriteFailed,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file-level error: its kind and the sentence for the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// A broken internal promise: says so, and asks for a report.
    pub fn internal(message: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!("internal error (a bug in podclean, please report it): {message}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::NotARegularFile,
            ErrorKind::InputChanged,
            ErrorKind::OutputExists,
            ErrorKind::UnsupportedCodec,
            ErrorKind::Internal,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
