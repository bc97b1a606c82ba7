//! The command-line front end: args → config → plan → run → exit code, and nothing else.
//! The only place that prints.

mod args;
mod config;
mod exit;
mod progress;
mod summary;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use podclean::batch::{self, Mode};
use podclean::fsutil::{io_reason, OutDir};
use podclean::pipeline::Destination;
use podclean::plan::{self, Request};
use podclean::preset::{Preset, BUILT_IN, DEFAULT_PRESET};
use podclean::report::{merge, BatchReport, ReportTarget, Status};
use podclean::state::{self, lock, Claims, Manifest};

use args::{Command, ProcessArgs, ReportCommand};
use config::{Config, RunKind};
pub use exit::ExitCode;

/// The processing report's name at the output root.
const REPORT_STEM: &str = "podclean-report";
/// `analyze`'s report name: never the processing report's, so measuring a folder cannot
/// replace the record of what was processed.
const ANALYSIS_STEM: &str = "podclean-analysis";
/// `check`'s report name.
const CHECK_STEM: &str = "podclean-check";

pub fn main() -> i32 {
    batch::install_panic_hook();
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::Ok as i32,
                _ => ExitCode::Usage as i32,
            };
        }
    };
    let config = match cli.command {
        Some(Command::Presets) => return list_presets() as i32,
        Some(Command::Report(ReportCommand::Merge { output })) => return merge_reports(&output) as i32,
        Some(Command::Completions { shell }) => {
            args::completions(shell, &mut std::io::stdout());
            return ExitCode::Ok as i32;
        }
        Some(Command::Man) => {
            return match args::man_page(&mut std::io::stdout()) {
                Ok(()) => ExitCode::Ok as i32,
                // `podclean man | head`: the reader has what it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok as i32,
                Err(e) => usage_error(format!("cannot write the man page: {e}")) as i32,
            };
        }
        Some(Command::Analyze(a)) => Config::new(RunKind::Analyze, &a.common, &ProcessArgs::default(), a.report),
        Some(Command::Check(c)) => Config::new(RunKind::Check, &c.common, &ProcessArgs::default(), c.report),
        None => Config::new(RunKind::Process, &cli.common, &cli.process, None),
    };
    match config {
        Ok(config) => run(&config) as i32,
        Err(e) => {
            eprintln!("podclean: {e}");
            ExitCode::Usage as i32
        }
    }
}

fn list_presets() -> ExitCode {
    for (name, _) in BUILT_IN {
        let Ok(p) = Preset::load(name) else { continue };
        let l = &p.loudness;
        let mono = l.mono_target_lufs.map(|m| format!(" ({m} mono)")).unwrap_or_default();
        let on_off = |on: bool| if on { "on" } else { "off" };
        println!("{name}{}", if *name == DEFAULT_PRESET { " (default)" } else { "" });
        println!("  {}", p.description);
        println!(
            "  target {} LUFS{mono}, ceiling {} dBTP, max gain {} dB",
            l.target_lufs, l.true_peak_dbtp, l.max_gain_db
        );
        println!(
            "  highpass {} ({} Hz), denoise {} ({} dB), de-ess {}, compressor {}, leveler {}",
            on_off(p.highpass.enabled),
            p.highpass.frequency_hz,
            on_off(p.denoise.enabled),
            p.denoise.amount_db,
            on_off(p.deess.enabled),
            on_off(p.compressor.enabled),
            on_off(p.leveler.enabled)
        );
        let rules = p.check.describe();
        if !rules.is_empty() {
            println!("  spec: {}", rules.join("; "));
        }
        println!();
    }
    println!("A preset file is TOML with the same keys as presets/*.toml; pass its path to -p.");
    println!("Its [check] table is the delivery spec that `podclean check` and processing runs judge against.");
    ExitCode::Ok
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("podclean: {message}");
    ExitCode::Usage
}

fn run(config: &Config) -> ExitCode {
    let writes_audio = config.kind == RunKind::Process;
    for notice in &config.notices {
        eprintln!("podclean: {notice}");
    }
    let request = Request {
        inputs: &config.inputs,
        output_root: &config.output_root,
        writes_audio,
        follow_links: config.follow_links,
        shard: config.shard,
        force: config.force,
        format: config.settings.preset.output.format,
    };
    if let Err(refused) = plan::check_inputs(&request) {
        return usage_error(refused);
    }
    let fingerprint = config::settings_fingerprint(&config.settings);
    // The plan needs the manifest when the output root already exists; nothing is created yet.
    let existing_root = if writes_audio && config.output_root.is_dir() {
        match OutDir::root(&config.output_root, false) {
            Ok(root) => Some(root),
            Err(e) => {
                return usage_error(format!(
                    "cannot open the output folder {}: {}",
                    config.output_root.display(),
                    io_reason(&e)
                ))
            }
        }
    } else {
        None
    };
    let planning_manifest = match &existing_root {
        Some(root) => Manifest::open(root, &fingerprint, false).unwrap_or_else(|_| Manifest::empty(&fingerprint)),
        None => Manifest::empty(&fingerprint),
    };
    let plan = match plan::build(&request, writes_audio.then_some(&planning_manifest)) {
        Ok(plan) => plan,
        Err(refused) => return usage_error(refused),
    };
    let verb = match config.kind {
        RunKind::Process => "process",
        RunKind::Analyze => "analyze",
        RunKind::Check => "check",
    };
    if config.dry_run {
        summary::print_plan(&plan, writes_audio, verb);
        return ExitCode::Ok;
    }

    // From here on things are written. Where the reports go, first: a folder that cannot be
    // created or written is a usage error, found before any file is processed.
    let report_target = match (&config.report_path, writes_audio) {
        (Some(path), _) => ReportTarget::at_path(path),
        (None, true) => OutDir::root(&config.output_root, true).map(|dir| ReportTarget {
            dir,
            stem: config
                .shard
                .map(|s| s.report_name().trim_end_matches(".json").to_string())
                .unwrap_or_else(|| REPORT_STEM.to_string()),
        }),
        (None, false) => OutDir::root(&config.output_root, true).map(|dir| ReportTarget {
            dir,
            stem: if config.kind == RunKind::Check {
                CHECK_STEM
            } else {
                ANALYSIS_STEM
            }
            .to_string(),
        }),
    };
    let report_target = match report_target {
        Ok(target) => target,
        Err(e) => {
            return usage_error(format!(
                "cannot create the output folder {}: {}",
                config.report_path.as_deref().unwrap_or(&config.output_root).display(),
                io_reason(&e)
            ))
        }
    };
    let output = if writes_audio {
        match open_output(config, &report_target.dir, &fingerprint) {
            Ok(output) => Some(output),
            Err(code) => return code,
        }
    } else {
        None
    };

    for item in &plan.items {
        if let plan::Action::Fail(error) = &item.action {
            eprintln!("podclean: {}: {}", item.job.input_rel.display(), error.message);
        }
    }
    let total = plan.to_process().count();
    if !config.quiet {
        let skipped = plan
            .items
            .iter()
            .filter(|i| matches!(i.action, plan::Action::Skip(_)))
            .count();
        let skipping = if skipped == 0 {
            String::new()
        } else {
            format!(", {skipped} up to date")
        };
        eprintln!(
            "podclean{}: {total} audio file{} to do{skipping} ({} ignored) → {}",
            if writes_audio {
                String::new()
            } else {
                format!(" {verb}")
            },
            if total == 1 { "" } else { "s" },
            plan.ignored.len(),
            if writes_audio {
                config.output_root.display().to_string()
            } else {
                report_target.json_path().display().to_string()
            }
        );
    }

    let cancel = Arc::new(AtomicBool::new(false));
    install_interrupt_handler(&cancel);
    let interactive = std::io::stderr().is_terminal()
        && !config.quiet
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && !args::no_color();
    let observer = progress::Progress::new(total, interactive, config.verbose, config.quiet);
    let mode = match &output {
        Some(output) => Mode::Process {
            destination: Destination {
                root: &report_target.dir,
                manifest: &output.manifest,
            },
            claims: &output.claims,
            settings: &config.settings,
        },
        None => Mode::Analyze {
            settings: &config.settings,
            judge: config.kind == RunKind::Check,
        },
    };
    let outcome = batch::run(&plan, mode, config.jobs, &cancel, &observer);
    observer.finish();

    let mut report = BatchReport::new(
        verb,
        config.settings.preset.clone(),
        config.settings.bit_depth.map(|f| f.label().to_string()),
        outcome.files,
        plan.ignored,
    );
    report.shard = config.shard.map(|s| s.to_string());
    report.interrupted = outcome.interrupted || cancel.load(Ordering::SeqCst);
    let mut code = match report_target.write(&report) {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!(
                "podclean: cannot write the report {}: {}",
                report_target.json_path().display(),
                io_reason(&e)
            );
            ExitCode::FileFailed
        }
    };
    drop(output);
    // A check's violations are its errors; a processing run's are warnings.
    if config.kind == RunKind::Check || !config.quiet {
        print_violations(&report);
    }
    if !config.quiet {
        summary::print_summary(&report, &report_target.json_path());
    }
    if report.interrupted {
        return ExitCode::Interrupted;
    }
    if report.files.iter().any(|f| f.status == Status::Failed) {
        code = ExitCode::FileFailed;
    }
    // A check passes only when every file was measured and meets the spec.
    if config.kind == RunKind::Check
        && report
            .files
            .iter()
            .any(|f| !f.verdict.as_ref().is_some_and(|v| v.passed()))
    {
        code = ExitCode::FileFailed;
    }
    code
}

/// One line per broken rule: file, what, measured, allowed.
fn print_violations(report: &BatchReport) {
    for file in &report.files {
        for violation in file.verdict.iter().flat_map(|v| &v.violations) {
            eprintln!("podclean: {}: fail: {violation}", file.input);
        }
    }
}

/// What a processing run holds while it writes: the lock, the manifest and the claims.
struct Output {
    _lock: state::RunLock,
    manifest: Manifest,
    claims: Claims,
}

fn open_output(config: &Config, root: &OutDir, fingerprint: &str) -> Result<Output, ExitCode> {
    let lock = match lock::acquire(root, config.shard) {
        Ok(lock) => lock,
        Err(state::LockError::Busy(message)) => {
            eprintln!("podclean: {message}");
            return Err(ExitCode::Busy);
        }
        Err(state::LockError::Io(message)) => return Err(usage_error(message)),
    };
    let manifest = Manifest::open(root, fingerprint, true).map_err(|e| {
        usage_error(format!(
            "cannot write the state folder in {}: {}",
            root.path().display(),
            io_reason(&e)
        ))
    })?;
    let claims = Claims::open(root).map_err(usage_error)?;
    if config.shard.is_none() {
        // Alone on the folder (exclusive lock): every leftover temporary is a dead run's.
        root.sweep_temporaries(None);
    }
    Ok(Output {
        _lock: lock,
        manifest,
        claims,
    })
}

/// First Ctrl-C or SIGTERM: stop taking files, abandon running ones cleanly, write the
/// report. Second: exit at once (outputs only ever appear complete, by rename).
fn install_interrupt_handler(cancel: &Arc<AtomicBool>) {
    let cancel = Arc::clone(cancel);
    let interrupts = Arc::new(AtomicUsize::new(0));
    let _ = ctrlc::set_handler(move || {
        if interrupts.fetch_add(1, Ordering::SeqCst) == 0 {
            cancel.store(true, Ordering::SeqCst);
            eprintln!("\npodclean: interrupted — finishing cleanly (press Ctrl-C again to quit at once)");
        } else {
            std::process::exit(ExitCode::Interrupted as i32);
        }
    });
}

fn merge_reports(output_root: &Path) -> ExitCode {
    let root = match OutDir::root(output_root, false) {
        Ok(root) => root,
        Err(e) => return usage_error(format!("cannot open {}: {}", output_root.display(), io_reason(&e))),
    };
    match merge::merge(&root) {
        Ok(report) => {
            let target = ReportTarget {
                dir: root,
                stem: REPORT_STEM.to_string(),
            };
            if let Err(e) = target.write(&report) {
                eprintln!(
                    "podclean: cannot write the report {}: {}",
                    target.json_path().display(),
                    io_reason(&e)
                );
                return ExitCode::FileFailed;
            }
            summary::print_summary(&report, &target.json_path());
            if report.totals.failed > 0 {
                ExitCode::FileFailed
            } else {
                ExitCode::Ok
            }
        }
        Err(e) => usage_error(format!("report merge refused: {e}")),
    }
}
