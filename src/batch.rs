//! Runs a plan: every job in parallel on a bounded pool, each file isolated from the others
//! (errors and even panics become a `failed` row, with the panic's location), results in path
//! order whatever the scheduling. Progress goes to an [`Observer`]; the library never prints.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Error, ErrorKind};
use crate::pipeline::{self, Control, Destination, FileError, Settings};
use crate::plan::{Action, Job, Plan};
use crate::report::FileReport;
use crate::state::Claims;

/// What the batch does with each file.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Clean, normalize and write outputs.
    Process {
        destination: Destination<'a>,
        claims: &'a Claims,
        settings: &'a Settings,
    },
    /// Measure only; with `judge`, also judge each file against the preset's spec (`check`).
    Analyze { settings: &'a Settings, judge: bool },
}

impl Mode<'_> {
    /// The spec each finished file is judged against, if this run judges.
    fn spec(&self) -> Option<&crate::check::Spec> {
        let (settings, judge) = match self {
            Mode::Process { settings, .. } => (settings, true),
            Mode::Analyze { settings, judge } => (settings, *judge),
        };
        let spec = &settings.preset.check;
        (judge && !spec.is_empty()).then_some(spec)
    }
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

/// The outcome of a batch: one row per planned file (done, failed, skipped, or pending when
/// the run was interrupted first), sorted by input path.
#[derive(Debug)]
pub struct Outcome {
    pub files: Vec<FileReport>,
    pub interrupted: bool,
}

/// The most worker threads per core: beyond this, threads only add memory and switching.
pub const MAX_JOBS_PER_CORE: usize = 4;

/// The `--jobs` ceiling on this machine.
pub fn max_jobs() -> usize {
    MAX_JOBS_PER_CORE * std::thread::available_parallelism().map_or(1, |n| n.get())
}

thread_local! {
    /// Set while a worker runs a file: a panic there is caught and reported on the file's row.
    static IN_FILE: Cell<bool> = const { Cell::new(false) };
    /// The last caught panic's message and location.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook for programs using this library: a panic inside a file is recorded (message
/// and `file:line`) for that file's report row instead of printed; any other panic is printed
/// as the default hook would.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_FILE.with(Cell::get) {
            let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
                s.to_string()
            } else if let Some(s) = info.payload().downcast_ref::<String>() {
                s.clone()
            } else {
                "panic".to_string()
            };
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            CAUGHT.with(|c| *c.borrow_mut() = Some(format!("{message}{at}")));
        } else {
            default(info);
        }
    }));
}

/// Runs `plan` with `jobs` worker threads.
pub fn run(plan: &Plan, mode: Mode, jobs: usize, cancel: &AtomicBool, observer: &dyn Observer) -> Outcome {
    let todo: Vec<&Job> = plan.to_process().collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, max_jobs().max(1)))
        .thread_name(|i| format!("podclean-{i}"))
        .build();
    // Workers pull files from one queue, biggest first: a long file started last would keep
    // one core busy alone at the end of the batch (longest-processing-time-first scheduling).
    let order = biggest_first(&todo);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; todo.len()]);
    let worker = || {
        while let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let report = run_one(todo[index], mode, cancel, observer);
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
    let interrupted = results.iter().any(Option::is_none);
    let mut done = todo.iter().zip(results);
    let mut files = Vec::with_capacity(plan.items.len());
    for item in &plan.items {
        let input = item.job.input_rel.to_string_lossy().into_owned();
        files.push(match &item.action {
            Action::Skip(previous) => (**previous).clone(),
            Action::Fail(error) => FileReport::failed(input, error),
            Action::Process { .. } => match done.next() {
                Some((_, Some(report))) => report,
                _ => FileReport::pending(
                    input,
                    "not done: the run was interrupted before this file finished".into(),
                ),
            },
        });
    }
    files.sort_by(|a, b| a.input.cmp(&b.input));
    Outcome { files, interrupted }
}

/// Job indices ordered by estimated work, most first: the file size scaled by how many bytes
/// a second of audio takes in its format (lossy files hold ~10× more audio per byte than PCM,
/// FLAC ~2×). Files whose size cannot be read go last; ties keep discovery order.
fn biggest_first(jobs: &[&Job]) -> Vec<usize> {
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

fn run_one(job: &Job, mode: Mode, cancel: &AtomicBool, observer: &dyn Observer) -> Option<FileReport> {
    if cancel.load(Ordering::Relaxed) {
        return None;
    }
    let input = job.input_rel.to_string_lossy().into_owned();
    // Another run (a shard of another split) making this output now: leave it to that run.
    let _claim = match mode {
        Mode::Process { claims, .. } => match claims.try_claim(&job.key()) {
            Ok(Some(claim)) => Some(claim),
            Ok(None) => {
                let report = FileReport::pending(
                    input,
                    "another podclean run is making this output right now; it is left to that run".into(),
                );
                observer.file_finished(job, &report);
                return Some(report);
            }
            Err(e) => {
                let error = Error::new(
                    ErrorKind::of_output_io(&e),
                    format!("cannot claim the output: {}", crate::fsutil::io_reason(&e)),
                );
                let report = FileReport::failed(input, &error);
                observer.file_finished(job, &report);
                return Some(report);
            }
        },
        Mode::Analyze { .. } => None,
    };
    observer.file_started(job);
    let started = std::time::Instant::now();
    let progress = |fraction: f64| observer.file_progress(job, fraction);
    let control = Control {
        cancel,
        progress: &progress,
    };
    IN_FILE.with(|f| f.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| match mode {
        Mode::Process {
            destination, settings, ..
        } => pipeline::process_file(job, destination, settings, &control),
        Mode::Analyze { settings, .. } => pipeline::analyze_file(job, settings, &control),
    }));
    IN_FILE.with(|f| f.set(false));
    let mut report = match result {
        Ok(Ok(report)) => report,
        Ok(Err(FileError::Cancelled)) => return None,
        Ok(Err(FileError::Failed(error))) => FileReport::failed(input, &error),
        Err(panic) => {
            let caught = CAUGHT.with(|c| c.borrow_mut().take());
            let what = caught.unwrap_or_else(|| panic_text(&panic));
            FileReport::failed(input, &Error::internal(what))
        }
    };
    report.seconds_taken = started.elapsed().as_secs_f64();
    if let Some(spec) = mode.spec() {
        // For the observer; the report judges every row again with the rules that span files.
        report.judge(spec);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn biggest_first_orders_by_audio_not_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let job = |name: &str, bytes: usize| {
            let input = dir.path().join(name);
            std::fs::write(&input, vec![0u8; bytes]).unwrap();
            Job::new(input, PathBuf::from(name), PathBuf::from(name))
        };
        let jobs = [
            job("short.wav", 1_000),
            job("hour.mp3", 50_000),  // ≈ 600 000 bytes of PCM
            job("long.wav", 400_000), // the most bytes, but less audio than the MP3
            job("mid.flac", 100_000), // ≈ 200 000 bytes of PCM
            Job::new(
                dir.path().join("missing.wav"),
                PathBuf::from("missing.wav"),
                PathBuf::from("missing.wav"),
            ),
        ];
        let jobs: Vec<&Job> = jobs.iter().collect();
        assert_eq!(biggest_first(&jobs), vec![1, 2, 3, 0, 4]);
    }
}
