//! Exit codes: what a script or scheduler learns from a run (see the README's table).

/// The process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every file was processed (`ok`, `silent` or `skipped`).
    Ok = 0,
    /// At least one file failed.
    FileFailed = 1,
    /// Usage, preset or safety error: nothing was touched.
    Usage = 2,
    /// Another podclean holds the output folder's lock.
    Busy = 3,
    /// Interrupted (Ctrl-C, SIGTERM): the report says what is pending.
    Interrupted = 130,
}
