//! What makes re-runs incremental and concurrent runs safe: the manifest (one small entry per
//! finished output, in `OUT/.podclean/`), the lock file, shard selection and report merging.
//!
//! One entry per output rather than one shared manifest file: shards on different machines
//! never write the same entry, so they cannot corrupt each other's state, and each entry is
//! written atomically after its output is in place — a crash at any moment leaves either a
//! complete output with its entry, or something the next run redoes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::discover::Job;
use crate::report::{write_atomically, BatchReport, FileReport, Status};

/// Folder inside the output root holding podclean's state.
pub const STATE_DIR: &str = ".podclean";

/// FNV-1a, 64-bit: a hash that is stable across platforms, releases and runs (std's is not
/// promised to be), for shard assignment and settings fingerprints.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `--shard K/N`: this run does the files whose stable path hash falls in shard K of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard takes K/N (e.g. 2/8), got '{text}'"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("--shard: '{k}' is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard: '{n}' is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("--shard K/N needs 1 ≤ K ≤ N, got {index}/{count}"));
        }
        Ok(Shard { index, count })
    }

    /// Whether the file at `input_rel` belongs to this shard. Depends only on the path
    /// relative to the input folder, so every machine agrees.
    pub fn contains(&self, input_rel: &Path) -> bool {
        let key = input_rel.to_string_lossy().replace('\\', "/");
        stable_hash(key.as_bytes()) % self.count as u64 == (self.index - 1) as u64
    }

    pub fn label(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }

    /// The report file a shard writes: `podclean-report.K-of-N.json`.
    pub fn report_name(&self) -> String {
        format!("podclean-report.{}.json", self.label())
    }
}

/// What an entry remembers about an input and the settings that produced its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    input: String,
    input_size: u64,
    input_mtime_ns: i128,
    settings: String,
    podclean_version: String,
    output: String,
    output_size: u64,
    report: FileReport,
}

/// The manifest of one output root.
pub struct Manifest {
    dir: PathBuf,
    output_root: PathBuf,
    settings: String,
}

impl Manifest {
    /// `settings` identifies the effective settings (e.g. their JSON); an output made with
    /// other settings is not up to date.
    pub fn new(output_root: &Path, settings: &str) -> Manifest {
        Manifest {
            dir: output_root.join(STATE_DIR).join("done"),
            output_root: output_root.to_path_buf(),
            settings: format!("{:016x}", stable_hash(settings.as_bytes())),
        }
    }

    fn entry_path(&self, job: &Job) -> PathBuf {
        let key = job.output_rel.to_string_lossy().replace('\\', "/");
        self.dir.join(format!("{:016x}.json", stable_hash(key.as_bytes())))
    }

    /// The previous report for `job` if its output is up to date: same input size and mtime,
    /// same settings, same podclean version, output present with the size it was written with.
    pub fn up_to_date(&self, job: &Job) -> Result<FileReport, String> {
        let text = fs::read_to_string(self.entry_path(job)).map_err(|_| "not processed before".to_string())?;
        let entry: Entry = serde_json::from_str(&text).map_err(|_| "manifest entry unreadable".to_string())?;
        let (size, mtime) = fingerprint(&job.input).map_err(|e| format!("cannot stat input: {e}"))?;
        let output_size = fs::metadata(self.output_root.join(&job.output_rel))
            .map(|m| m.len())
            .ok();
        let reason =
            if entry.input != job.input_rel.to_string_lossy() || entry.output != job.output_rel.to_string_lossy() {
                Some("a different file had this output name")
            } else if entry.input_size != size || entry.input_mtime_ns != mtime {
                Some("input changed")
            } else if entry.settings != self.settings {
                Some("settings changed")
            } else if entry.podclean_version != env!("CARGO_PKG_VERSION") {
                Some("podclean version changed")
            } else if output_size != Some(entry.output_size) {
                Some("output missing or changed")
            } else {
                None
            };
        match reason {
            Some(reason) => Err(reason.to_string()),
            None => Ok(FileReport {
                status: Status::Skipped,
                seconds_taken: 0.0,
                ..entry.report
            }),
        }
    }

    /// Records a finished output (call after it is in place under its final name).
    pub fn record(&self, job: &Job, report: &FileReport) -> std::io::Result<()> {
        let (input_size, input_mtime_ns) = fingerprint(&job.input)?;
        let output_size = fs::metadata(self.output_root.join(&job.output_rel))?.len();
        let entry = Entry {
            input: job.input_rel.to_string_lossy().into_owned(),
            input_size,
            input_mtime_ns,
            settings: self.settings.clone(),
            podclean_version: env!("CARGO_PKG_VERSION").to_string(),
            output: job.output_rel.to_string_lossy().into_owned(),
            output_size,
            report: report.clone(),
        };
        let text = serde_json::to_vec_pretty(&entry).map_err(std::io::Error::other)?;
        write_atomically(&self.entry_path(job), &text)
    }
}

fn fingerprint(path: &Path) -> std::io::Result<(u64, i128)> {
    let meta = fs::metadata(path)?;
    let mtime = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or_else(|e| -(e.duration().as_nanos() as i128));
    Ok((meta.len(), mtime))
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live podclean holds it.
    #[error("{0}")]
    Busy(String),
    /// The state folder cannot be written.
    #[error("{0}")]
    Io(String),
}

/// Held while a run writes into an output root; removed on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Takes the output root's lock (one per shard, so shards don't block each other; a run
/// without shards also refuses while any shard of the same root is running).
///
/// A lock whose holder is a dead process on this machine is stale and taken over.
pub fn acquire_lock(output_root: &Path, shard: Option<Shard>) -> Result<Lock, LockError> {
    let dir = output_root.join(STATE_DIR);
    let io = |what: &str, path: &Path, e: std::io::Error| {
        LockError::Io(format!(
            "cannot {what} {}: {}",
            path.display(),
            crate::discover::io_reason(&e)
        ))
    };
    fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
    let name = match shard {
        Some(shard) => format!("lock.{}", shard.label()),
        None => "lock".to_string(),
    };
    let path = dir.join(&name);
    let host = hostname();
    for _ in 0..3 {
        // Refuse while a conflicting run holds a lock.
        for other in fs::read_dir(&dir).map_err(|e| io("read", &dir, e))?.flatten() {
            let other_name = other.file_name().to_string_lossy().into_owned();
            let conflicts =
                other_name == name || (other_name.starts_with("lock") && (shard.is_none() || other_name == "lock"));
            if !conflicts {
                continue;
            }
            if let Some(holder) = live_holder(&other.path(), &host) {
                return Err(LockError::Busy(format!(
                    "another podclean is writing to {} ({holder}); wait for it to finish, or delete {} if it is gone",
                    output_root.display(),
                    other.path().display()
                )));
            }
            let _ = fs::remove_file(other.path());
        }
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let _ = writeln!(file, "{} {}", std::process::id(), host);
                let _ = file.sync_all();
                return Ok(Lock { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("create lock", &path, e)),
        }
    }
    Err(LockError::Busy(format!(
        "could not take the lock {} (contended)",
        path.display()
    )))
}

/// Describes the holder if the lock file names a process that is still alive (or one on
/// another machine, which cannot be checked from here).
fn live_holder(lock: &Path, host: &str) -> Option<String> {
    let text = fs::read_to_string(lock).ok()?;
    let mut parts = text.split_whitespace();
    let pid: i32 = parts.next()?.parse().ok()?;
    let holder_host = parts.next().unwrap_or("");
    if holder_host != host {
        return Some(format!("pid {pid} on {holder_host}"));
    }
    process_alive(pid).then(|| format!("pid {pid}"))
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: i32) -> bool {
    true
}

fn hostname() -> String {
    fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Deletes podclean temporaries (partial outputs, spools, half-written manifest entries and
/// reports) left below `output_root` by a run that was killed. Only safe while holding the
/// exclusive (unsharded) lock; returns how many were removed.
pub fn sweep_temporaries(output_root: &Path) -> usize {
    walkdir::WalkDir::new(output_root)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type().is_file()
                && e.file_name()
                    .to_string_lossy()
                    .starts_with(crate::discover::TEMP_PREFIX)
        })
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

/// Combines the shard reports in `output_root` into the report one unsharded run would have
/// written.
pub fn merge_reports(output_root: &Path) -> Result<BatchReport, String> {
    let mut shards: Vec<PathBuf> = fs::read_dir(output_root)
        .map_err(|e| {
            format!(
                "cannot read {}: {}",
                output_root.display(),
                crate::discover::io_reason(&e)
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("podclean-report.") && name.ends_with(".json") && name.contains("-of-")
        })
        .collect();
    shards.sort();
    let mut reports = Vec::new();
    for path in &shards {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report: BatchReport =
            serde_json::from_str(&text).map_err(|e| format!("{}: not a podclean report: {e}", path.display()))?;
        reports.push(report);
    }
    let first = reports.first().ok_or_else(|| {
        format!(
            "no shard reports (podclean-report.K-of-N.json) in {}",
            output_root.display()
        )
    })?;
    if let Some(other) = reports
        .iter()
        .find(|r| r.settings != first.settings || r.mode != first.mode)
    {
        return Err(format!(
            "shard reports were made with different settings or modes ({} vs {}); merge refused",
            first.settings.name, other.settings.name
        ));
    }
    let ignored = reports.iter().map(|r| r.totals.ignored).max().unwrap_or(0);
    let mode = first.mode.clone();
    let settings = first.settings.clone();
    let bit_depth = first.bit_depth.clone();
    let files = reports.into_iter().flat_map(|r| r.files).collect();
    Ok(BatchReport::new(&mode, settings, bit_depth, files, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_files() {
        let paths: Vec<PathBuf> = (0..500).map(|i| PathBuf::from(format!("show/ep{i}.mp3"))).collect();
        let shards: Vec<Shard> = (1..=4).map(|k| Shard { index: k, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for p in &paths {
            let owners: Vec<usize> = (0..4).filter(|&i| shards[i].contains(p)).collect();
            assert_eq!(owners.len(), 1, "{p:?} belongs to exactly one shard");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 80), "roughly even: {sizes:?}");
    }

    #[test]
    fn shard_parsing() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { index: 2, count: 8 });
        assert!(Shard::parse("0/8").is_err());
        assert!(Shard::parse("9/8").is_err());
        assert!(Shard::parse("x").is_err());
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(stable_hash(b""), 0xcbf29ce484222325);
        assert_eq!(stable_hash(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn lock_refuses_a_second_holder_and_takes_over_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire_lock(dir.path(), None).unwrap();
        let err = acquire_lock(dir.path(), None).unwrap_err();
        assert!(matches!(err, LockError::Busy(_)), "{err}");
        assert!(err.to_string().contains("another podclean"), "{err}");
        assert!(
            acquire_lock(dir.path(), Some(Shard { index: 1, count: 2 })).is_err(),
            "shard waits for unsharded"
        );
        drop(lock);
        // Shards do not block each other.
        let a = acquire_lock(dir.path(), Some(Shard { index: 1, count: 2 })).unwrap();
        let b = acquire_lock(dir.path(), Some(Shard { index: 2, count: 2 })).unwrap();
        assert!(acquire_lock(dir.path(), None).is_err(), "unsharded waits for shards");
        drop((a, b));
        // Leftovers of a killed run are swept.
        fs::write(dir.path().join(".podclean-x.wav.partial"), b"half").unwrap();
        fs::write(dir.path().join(STATE_DIR).join(".podclean-1.json.77.tmp"), b"{").unwrap();
        assert_eq!(sweep_temporaries(dir.path()), 2);
        // A lock left by a dead process is stale.
        let stale = dir.path().join(STATE_DIR).join("lock");
        fs::write(&stale, format!("{} {}\n", i32::MAX - 1, hostname())).unwrap();
        let _lock = acquire_lock(dir.path(), None).unwrap();
    }
}
