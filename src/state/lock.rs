//! Who may write into an output root, enforced with kernel advisory locks (`flock` on unix,
//! `LockFileEx` on Windows, through std's `File::try_lock`). The kernel drops a lock when its
//! holder dies, so there is no pid file to go stale: a restarted container, a reused pid or a
//! new hostname cannot block a run, and two runs cannot both believe they hold it.
//!
//! * The run lock (`.podclean/run.lock`): an unsharded run holds it exclusively; every shard,
//!   of any split, holds it shared. So a plain run never overlaps a shard, and `report merge`
//!   can tell whether a shard is still running.
//! * A shard lock (`.podclean/shard.K-of-N.lock`), exclusive: the same shard cannot run twice.
//! * A claim per output (`.podclean/claims/<key>.lock`), exclusive while the output is being
//!   made: shards of different splits (1/2 and 1/3) that meet on a file never both write it.

use std::ffi::OsStr;
use std::fs::{File, TryLockError};
use std::io::Write;

use super::{Shard, STATE_DIR};
use crate::fsutil::{io_reason, OutDir};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live podclean holds it.
    #[error("{0}")]
    Busy(String),
    /// The state folder cannot be created or written.
    #[error("{0}")]
    Io(String),
}

/// Held while a run writes into an output root; the kernel releases it when dropped or when
/// the process dies.
#[derive(Debug)]
pub struct RunLock {
    _run: File,
    _shard: Option<File>,
}

/// The state folder `OUT/.podclean`, created if needed, never through a link.
pub fn state_dir(out: &OutDir) -> Result<OutDir, LockError> {
    out.open_dir(std::path::Path::new(STATE_DIR), true).map_err(|e| {
        LockError::Io(format!(
            "cannot create the state folder {}: {}",
            out.path().join(STATE_DIR).display(),
            io_reason(&e)
        ))
    })
}

fn open_lock(dir: &OutDir, name: &str) -> Result<File, LockError> {
    dir.open_lock_file(OsStr::new(name)).map_err(|e| {
        LockError::Io(format!(
            "cannot open the lock file {}: {}",
            dir.path().join(name).display(),
            io_reason(&e)
        ))
    })
}

/// What the holder wrote into the lock file (for the message; the lock itself is the kernel's).
fn holder(file: &File) -> String {
    use std::io::Read;
    let mut text = String::new();
    let _ = (&*file).read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

fn note_holder(mut file: &File) {
    let _ = file.set_len(0);
    let _ = write!(file, "pid {} on {}", std::process::id(), hostname());
    let _ = file.flush();
}

/// Takes the run lock of `out` (and the shard's own lock). Never waits: a held lock is
/// `LockError::Busy`, which the CLI turns into exit code 3.
pub fn acquire(out: &OutDir, shard: Option<Shard>) -> Result<RunLock, LockError> {
    let state = state_dir(out)?;
    let run = open_lock(&state, "run.lock")?;
    let taken = match shard {
        None => run.try_lock(),
        Some(_) => run.try_lock_shared(),
    };
    match taken {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let what = match shard {
                None => "another podclean (or a shard) is writing to",
                Some(_) => "an unsharded podclean run is writing to",
            };
            return Err(LockError::Busy(format!(
                "{what} {}{}; wait for it to finish",
                out.path().display(),
                holder(&run)
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(LockError::Io(format!(
                "cannot lock {}: {}",
                state.path().join("run.lock").display(),
                io_reason(&e)
            )))
        }
    }
    if shard.is_none() {
        note_holder(&run);
    }
    let shard_file = match shard {
        None => None,
        Some(shard) => {
            let name = format!("shard.{}.lock", shard.label());
            let file = open_lock(&state, &name)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Busy(format!(
                        "shard {shard} is already running on {}{}",
                        out.path().display(),
                        holder(&file)
                    )))
                }
                Err(TryLockError::Error(e)) => {
                    return Err(LockError::Io(format!("cannot lock {name}: {}", io_reason(&e))))
                }
            }
            note_holder(&file);
            Some(file)
        }
    };
    Ok(RunLock {
        _run: run,
        _shard: shard_file,
    })
}

/// Whether any run (plain or shard) holds `out`'s run lock right now.
pub fn is_running(out: &OutDir) -> Result<bool, LockError> {
    let state = match out.open_dir(std::path::Path::new(STATE_DIR), false) {
        Ok(state) => state,
        Err(_) => return Ok(false),
    };
    let run = open_lock(&state, "run.lock")?;
    match run.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(LockError::Io(format!("cannot test the run lock: {}", io_reason(&e)))),
    }
}

/// The per-output claims of one output root.
#[derive(Debug)]
pub struct Claims {
    dir: OutDir,
}

/// An output being made by this process; released on drop.
#[derive(Debug)]
pub struct Claim {
    _file: File,
}

impl Claims {
    pub fn open(out: &OutDir) -> Result<Claims, LockError> {
        let state = state_dir(out)?;
        let dir = state.open_dir(std::path::Path::new("claims"), true).map_err(|e| {
            LockError::Io(format!(
                "cannot create {}: {}",
                state.path().join("claims").display(),
                io_reason(&e)
            ))
        })?;
        Ok(Claims { dir })
    }

    /// Claims the output with state key `key`; `Ok(None)` when another run is making it now.
    pub fn try_claim(&self, key: &str) -> std::io::Result<Option<Claim>> {
        let file = self.dir.open_lock_file(OsStr::new(&format!("{key}.lock")))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Claim { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(dir: &std::path::Path) -> OutDir {
        OutDir::root(dir, false).unwrap()
    }

    #[test]
    fn plain_runs_exclude_everyone_and_shards_share() {
        let dir = tempfile::tempdir().unwrap();
        let out = root(dir.path());
        let lock = acquire(&out, None).unwrap();
        let err = acquire(&out, None).unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        assert!(
            err.to_string().contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(acquire(&out, Some(Shard { index: 1, count: 2 })).is_err());
        assert!(is_running(&out).unwrap());
        drop(lock);
        assert!(!is_running(&out).unwrap());
        // Shards of any split share the run lock, but a shard runs once.
        let a = acquire(&out, Some(Shard { index: 1, count: 2 })).unwrap();
        let b = acquire(&out, Some(Shard { index: 1, count: 3 })).unwrap();
        let err = acquire(&out, Some(Shard { index: 1, count: 2 })).unwrap_err();
        assert!(err.to_string().contains("shard 1/2 is already running"), "{err}");
        assert!(acquire(&out, None).is_err(), "unsharded waits for shards");
        assert!(is_running(&out).unwrap());
        drop((a, b));
        assert!(acquire(&out, None).is_ok());
    }

    #[test]
    fn a_lock_file_with_any_content_is_not_a_lock() {
        // What used to be a stale pid file (our own pid, another host, empty) blocks nothing:
        // only a live kernel lock does.
        let dir = tempfile::tempdir().unwrap();
        let out = root(dir.path());
        let state = state_dir(&out).unwrap();
        for content in [
            format!("pid {} on {}", std::process::id(), hostname()),
            "1 elsewhere".into(),
            String::new(),
        ] {
            std::fs::write(state.path().join("run.lock"), content).unwrap();
            drop(acquire(&out, None).unwrap());
        }
    }

    #[test]
    fn claims_are_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = root(dir.path());
        let claims = Claims::open(&out).unwrap();
        let held = claims.try_claim("abc").unwrap().unwrap();
        assert!(claims.try_claim("abc").unwrap().is_none());
        assert!(claims.try_claim("def").unwrap().is_some());
        drop(held);
        assert!(claims.try_claim("abc").unwrap().is_some());
    }
}
