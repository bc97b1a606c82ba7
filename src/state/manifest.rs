//! The manifest: one small entry per finished output in `OUT/.podclean/done/`, so re-runs
//! skip what is done and podclean knows which files in the output tree it wrote.
//!
//! One entry per output rather than one shared file: shards never write the same entry, and
//! each entry is replaced atomically. An entry is first written as "committing" just before
//! its output is renamed into place and rewritten as done right after, so a crash at any
//! moment leaves either a complete output podclean recognises as its own, or nothing.

use std::ffi::OsStr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{stable_hash, STATE_DIR};
use crate::fsutil::{name_key, EntryKind, Fingerprint, OutDir};
use crate::plan::Job;
use crate::report::{FileReport, Status};

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
    /// Written just before the output is renamed into place; cleared once it is.
    #[serde(default)]
    committing: bool,
    report: FileReport,
}

/// Whether a job's output is up to date.
#[derive(Debug, Clone, PartialEq)]
pub enum Freshness {
    /// Same input, settings and version; the output is there as written. The earlier report.
    UpToDate(Box<FileReport>),
    /// Must be (re)done, and why.
    Stale(String),
}

/// The manifest of one output root.
#[derive(Debug)]
pub struct Manifest {
    dir: Option<OutDir>,
    out: Option<OutDir>,
    settings: String,
}

impl Manifest {
    /// The manifest of `out` for runs with `settings` (e.g. their JSON; an output made with
    /// other settings is not up to date). With `create`, the state folders are made.
    pub fn open(out: &OutDir, settings: &str, create: bool) -> std::io::Result<Manifest> {
        let dir = match out.open_dir(&Path::new(STATE_DIR).join("done"), create) {
            Ok(dir) => Some(dir),
            Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Manifest {
            dir,
            out: Some(out.try_clone_dir()?),
            settings: format!("{:016x}", stable_hash(settings.as_bytes())),
        })
    }

    /// A manifest for an output root that does not exist yet: nothing is up to date.
    pub fn empty(settings: &str) -> Manifest {
        Manifest {
            dir: None,
            out: None,
            settings: format!("{:016x}", stable_hash(settings.as_bytes())),
        }
    }

    /// The state key of an output (its entry's and claim's name, and its temporaries' tag).
    pub fn key(output_rel: &Path) -> String {
        name_key(&output_rel.to_string_lossy().replace('\\', "/"))
    }

    fn entry_name(output_rel: &Path) -> String {
        format!("{}.json", Manifest::key(output_rel))
    }

    fn read_entry(&self, output_rel: &Path) -> Option<Entry> {
        let bytes = self
            .dir
            .as_ref()?
            .read(OsStr::new(&Manifest::entry_name(output_rel)))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Whether podclean wrote (or was committing) the file at `output_rel`: only such a file
    /// may be replaced.
    pub fn owns(&self, output_rel: &Path) -> bool {
        self.read_entry(output_rel)
            .is_some_and(|e| e.output == output_rel.to_string_lossy())
    }

    /// Whether `job`'s output is up to date, given the input's current size and mtime.
    pub fn freshness(&self, job: &Job, input: &Fingerprint) -> Freshness {
        let stale = |why: &str| Freshness::Stale(why.to_string());
        let Some(entry) = self.read_entry(&job.output_rel) else {
            return stale("new");
        };
        let output_size = self.output_size(&job.output_rel);
        if entry.input != job.input_rel.to_string_lossy() || entry.output != job.output_rel.to_string_lossy() {
            stale("a different file had this output name")
        } else if entry.committing {
            stale("the last run stopped while writing it")
        } else if entry.input_size != input.size || entry.input_mtime_ns != input.mtime_ns {
            stale("input changed")
        } else if entry.settings != self.settings {
            stale("settings changed")
        } else if entry.podclean_version != env!("CARGO_PKG_VERSION") {
            stale("podclean version changed")
        } else if output_size != Some(entry.output_size) {
            stale("output missing or changed")
        } else {
            Freshness::UpToDate(Box::new(FileReport {
                status: Status::Skipped,
                seconds_taken: 0.0,
                ..entry.report
            }))
        }
    }

    fn output_size(&self, output_rel: &Path) -> Option<u64> {
        let out = self.out.as_ref()?;
        let folder = out.open_dir(output_rel.parent().unwrap_or(Path::new("")), false).ok()?;
        let stat = folder.stat(output_rel.file_name()?).ok()??;
        (stat.kind == EntryKind::File).then_some(stat.size)
    }

    fn write(&self, entry: &Entry) -> std::io::Result<()> {
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the manifest folder was not created"))?;
        let text = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        dir.write_atomically(OsStr::new(&Manifest::entry_name(Path::new(&entry.output))), &text)
    }

    /// Marks `job`'s output as being committed (call just before the rename into place), so
    /// that after a crash the file there is known to be podclean's.
    pub fn begin_commit(
        &self,
        job: &Job,
        input: &Fingerprint,
        output_size: u64,
        report: &FileReport,
    ) -> std::io::Result<()> {
        self.write(&self.entry(job, input, output_size, report, true))
    }

    /// Records a finished output (call after it is in place under its final name). `input` is
    /// the fingerprint taken before decoding, so a file that changed meanwhile is redone.
    pub fn record(&self, job: &Job, input: &Fingerprint, output_size: u64, report: &FileReport) -> std::io::Result<()> {
        self.write(&self.entry(job, input, output_size, report, false))
    }

    fn entry(&self, job: &Job, input: &Fingerprint, output_size: u64, report: &FileReport, committing: bool) -> Entry {
        Entry {
            input: job.input_rel.to_string_lossy().into_owned(),
            input_size: input.size,
            input_mtime_ns: input.mtime_ns,
            settings: self.settings.clone(),
            podclean_version: env!("CARGO_PKG_VERSION").to_string(),
            output: job.output_rel.to_string_lossy().into_owned(),
            output_size,
            committing,
            report: report.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn job(dir: &Path) -> Job {
        let input = dir.join("in/a.wav");
        std::fs::create_dir_all(input.parent().unwrap()).unwrap();
        std::fs::write(&input, b"12345").unwrap();
        Job::new(input, PathBuf::from("a.wav"), PathBuf::from("sub/a.wav"))
    }

    #[test]
    fn fresh_only_when_everything_matches() {
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path());
        let out_path = dir.path().join("out");
        let out = OutDir::root(&out_path, true).unwrap();
        let manifest = Manifest::open(&out, "settings-a", true).unwrap();
        let fp = Fingerprint::of_path(&job.input).unwrap();
        assert_eq!(manifest.freshness(&job, &fp), Freshness::Stale("new".into()));
        assert!(!manifest.owns(&job.output_rel));

        std::fs::create_dir_all(out_path.join("sub")).unwrap();
        std::fs::write(out_path.join("sub/a.wav"), b"output").unwrap();
        let report = FileReport::new("a.wav".into());
        manifest.begin_commit(&job, &fp, 6, &report).unwrap();
        assert!(manifest.owns(&job.output_rel), "a committing entry owns the output");
        assert_eq!(
            manifest.freshness(&job, &fp),
            Freshness::Stale("the last run stopped while writing it".into())
        );
        manifest.record(&job, &fp, 6, &report).unwrap();
        assert!(matches!(manifest.freshness(&job, &fp), Freshness::UpToDate(_)));

        let grown = Fingerprint { size: 6, ..fp };
        assert_eq!(
            manifest.freshness(&job, &grown),
            Freshness::Stale("input changed".into())
        );
        let other = Manifest::open(&out, "settings-b", false).unwrap();
        assert_eq!(other.freshness(&job, &fp), Freshness::Stale("settings changed".into()));
        std::fs::write(out_path.join("sub/a.wav"), b"edited!").unwrap();
        assert_eq!(
            manifest.freshness(&job, &fp),
            Freshness::Stale("output missing or changed".into())
        );
    }
}
