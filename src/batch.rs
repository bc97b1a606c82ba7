//! Runs a batch: every job in parallel on a bounded pool, each file isolated from the others
//! (errors and even panics become a `failed` row), results in path order whatever the
//! scheduling. Progress goes to an [`Observer`]; the library itself never prints.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use rayon::prelude::*;

use crate::discover::{Discovery, Job};
use crate::pipeline::{self, Control, FileError, Settings};
use crate::report::FileReport;
use crate::state::Manifest;

/// What the batch does with each file.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Clean, normalize and write outputs below this root.
    Process {
        output_root: PathBuf,
        settings: Box<Settings>,
    },
    /// Measure only.
    Analyze,
}

/// Receives progress from a running batch. All methods may be called from worker threads.
pub trait Observer: Sync {
    fn file_started(&self, _job: &Job) {}
    /// Fraction (0..1) of the file's decoding/cleaning pass done.
    fn file_progress(&self, _job: &Job, _fraction: f64) {}
    fn file_finished(&self, _job: &Job, _report: &FileReport) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// The outcome of a batch: one row per discovered file, sorted by input path. Files that were
/// still waiting or running when the batch was cancelled have no row.
pub struct Outcome {
    pub files: Vec<FileReport>,
    pub cancelled: bool,
}

/// Runs `discovery` with `jobs` worker threads. Finished outputs are recorded in `manifest`
/// (if given) so a re-run can skip them.
pub fn run(
    discovery: &Discovery,
    mode: &Mode,
    jobs: usize,
    manifest: Option<&Manifest>,
    cancel: &AtomicBool,
    observer: &dyn Observer,
) -> Outcome {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .thread_name(|i| format!("podclean-{i}"))
        .build();
    let work = || -> Vec<Option<FileReport>> {
        discovery
            .jobs
            .par_iter()
            .with_max_len(1)
            .map(|job| run_one(job, mode, manifest, cancel, observer))
            .collect()
    };
    let results = match pool {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    };
    let mut files: Vec<FileReport> = discovery
        .problems
        .iter()
        .map(|p| FileReport::failed(p.input_rel.to_string_lossy().into_owned(), p.reason.clone()))
        .collect();
    let cancelled = results.iter().any(Option::is_none);
    files.extend(results.into_iter().flatten());
    files.sort_by(|a, b| a.input.cmp(&b.input));
    Outcome { files, cancelled }
}

fn run_one(
    job: &Job,
    mode: &Mode,
    manifest: Option<&Manifest>,
    cancel: &AtomicBool,
    observer: &dyn Observer,
) -> Option<FileReport> {
    if cancel.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    observer.file_started(job);
    let started = std::time::Instant::now();
    let progress = |fraction: f64| observer.file_progress(job, fraction);
    let control = Control {
        cancel,
        progress: &progress,
    };
    let result = catch_unwind(AssertUnwindSafe(|| match mode {
        Mode::Process { output_root, settings } => pipeline::process_file(job, output_root, settings, &control),
        Mode::Analyze => pipeline::analyze_file(job, &control),
    }));
    let input = job.input_rel.to_string_lossy().into_owned();
    let mut report = match result {
        Ok(Ok(report)) => report,
        Ok(Err(FileError::Cancelled)) => return None,
        Ok(Err(FileError::Failed(reason))) => FileReport::failed(input, reason),
        Err(panic) => FileReport::failed(
            input,
            format!(
                "internal error (a bug in podclean, please report it): {}",
                panic_text(&panic)
            ),
        ),
    };
    report.seconds_taken = started.elapsed().as_secs_f64();
    if let (Some(manifest), Some(_)) = (manifest, &report.output) {
        if let Err(e) = manifest.record(job, &report) {
            report.warnings.push(format!(
                "could not record the output in the manifest ({}); it will be redone next run",
                crate::discover::io_reason(&e)
            ));
        }
    }
    observer.file_finished(job, &report);
    Some(report)
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Whether `path` is one of podclean's own temporary files.
pub fn is_temp_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(crate::discover::TEMP_PREFIX))
}
