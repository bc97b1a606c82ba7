//! Runs a batch: every job in parallel on a bounded pool, each file isolated from the others
//! (errors and even panics become a `failed` row), results in path order whatever the
//! scheduling. Progress goes to an [`Observer`]; the library itself never prints.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

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
    // Workers pull files from one queue, biggest first: a long file started last would keep
    // one core busy alone at the end of the batch (longest-processing-time-first scheduling).
    let order = biggest_first(&discovery.jobs);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; discovery.jobs.len()]);
    let worker = || {
        while let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let report = run_one(&discovery.jobs[index], mode, manifest, cancel, observer);
            results.lock().unwrap_or_else(|e| e.into_inner())[index] = report;
        }
    };
    match pool {
        Ok(pool) => pool.scope(|scope| {
            // Threads beyond the files left help inside files (stereo denoise).
            for _ in 0..pool.current_num_threads().min(order.len()) {
                scope.spawn(|_| worker());
            }
        }),
        Err(_) => worker(),
    }
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
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

/// Job indices ordered by estimated work, most first: the file size scaled by how many bytes
/// a second of audio takes in its format (lossy files hold ~10× more audio per byte than PCM,
/// FLAC ~2×). Files whose size cannot be read go last; ties keep discovery order.
fn biggest_first(jobs: &[Job]) -> Vec<usize> {
    let work = |job: &Job| -> u64 {
        let bytes = std::fs::metadata(&job.input).map_or(0, |m| m.len());
        let extension = job
            .input
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let audio_per_byte = match extension.as_str() {
            "wav" | "wave" | "aif" | "aiff" | "aifc" | "caf" | "w64" | "rf64" => 1,
            "flac" | "wv" | "ape" | "alac" => 2,
            _ => 12,
        };
        bytes.saturating_mul(audio_per_byte)
    };
    let mut order: Vec<(u64, usize)> = jobs.iter().enumerate().map(|(i, job)| (work(job), i)).collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, i)| i).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biggest_first_orders_by_audio_not_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let job = |name: &str, bytes: usize| {
            let input = dir.path().join(name);
            std::fs::write(&input, vec![0u8; bytes]).unwrap();
            Job {
                input,
                input_rel: PathBuf::from(name),
                output_rel: PathBuf::from(name),
            }
        };
        let jobs = vec![
            job("short.wav", 1_000),
            job("hour.mp3", 50_000),  // ≈ 600 000 bytes of PCM
            job("long.wav", 400_000), // the most bytes, but less audio than the MP3
            job("mid.flac", 100_000), // ≈ 200 000 bytes of PCM
            Job {
                input: dir.path().join("missing.wav"),
                input_rel: PathBuf::from("missing.wav"),
                output_rel: PathBuf::from("missing.wav"),
            },
        ];
        assert_eq!(biggest_first(&jobs), vec![1, 2, 3, 0, 4]);
    }
}
