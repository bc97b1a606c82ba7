//! The command-line interface: clap definitions, turning flags into library settings,
//! progress bars, the terminal summary and exit codes. The only place that prints.

mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use podclean::batch::{self, Mode};
use podclean::discover::{self, REPORT_JSON};
use podclean::io::SampleFormat;
use podclean::pipeline::Settings;
use podclean::preset::{Preset, BUILT_IN, DEFAULT_PRESET};
use podclean::report::{BatchReport, FileReport, Status};
use podclean::state::{self, Manifest, Shard};

/// Exit codes (see README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    FileFailed = 1,
    Usage = 2,
    /// Another podclean holds the output folder's lock.
    Busy = 3,
    Interrupted = 130,
}

#[derive(Parser, Debug)]
#[command(
    name = "podclean",
    version,
    about = "Clean spoken-word audio in bulk and bring it to a loudness target under a true-peak ceiling",
    long_about = "Clean spoken-word audio in bulk: rumble filter, voice denoise, de-ess, compression, then \
                  loudness normalization (EBU R128 / BS.1770) under a true-peak ceiling.\n\n\
                  podclean DIR           clean every audio file under DIR into DIR-clean/\n\
                  podclean analyze DIR   measure only and write the report",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    process: ProcessArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Measure loudness only: write the report, touch no audio.
    Analyze(AnalyzeArgs),
    /// List the built-in presets and their values.
    Presets,
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Combine the shard reports (podclean-report.K-of-N.json) in OUT into OUT/podclean-report.json (+ .csv).
    Merge {
        /// The output root the shards wrote into.
        #[arg(value_name = "OUT")]
        output: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
struct CommonArgs {
    /// Folders (walked recursively) and/or audio files.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Output root; the input tree is mirrored below it. Default: a sibling folder INPUT-clean.
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Preset name (see `podclean presets`) or path to a preset .toml file.
    #[arg(short, long, value_name = "NAME|FILE", default_value = DEFAULT_PRESET)]
    preset: String,
    /// Threads: files processed at once, and the most cores used (default: number of cores).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Print only errors.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Print one line per finished file.
    #[arg(short, long)]
    verbose: bool,
    /// Process only shard K of N (by a stable hash of each file's relative path); writes podclean-report.K-of-N.json.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// List what would be done (process / skip / ignore, and why) without writing anything.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug, Default)]
struct ProcessArgs {
    /// Integrated loudness target in LUFS (overrides the preset; mono keeps the preset's offset).
    #[arg(long, value_name = "LUFS", allow_hyphen_values = true)]
    target: Option<f64>,
    /// True-peak ceiling in dBTP (overrides the preset).
    #[arg(long = "true-peak", value_name = "DBTP", allow_hyphen_values = true)]
    true_peak: Option<f64>,
    /// Output sample format: 16, 24, 32 or 32f (default: keep the source's; lossy → 24).
    #[arg(long = "bit-depth", value_name = "16|24|32|32f", value_parser = parse_bit_depth)]
    bit_depth: Option<SampleFormat>,
    /// Switch off the denoiser.
    #[arg(long)]
    no_denoise: bool,
    /// Switch off the de-esser.
    #[arg(long)]
    no_deess: bool,
    /// Switch off the compressor.
    #[arg(long)]
    no_compress: bool,
    /// Reprocess every file, even those whose output is up to date.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Where to write the JSON report (the CSV goes beside it). Default: OUTPUT/podclean-report.json.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

fn parse_bit_depth(text: &str) -> Result<SampleFormat, String> {
    SampleFormat::parse(text).ok_or_else(|| format!("'{text}' is not one of 16, 24, 32, 32f"))
}

pub fn main() -> i32 {
    // A panic inside one file is caught and reported as that file's error; the default hook
    // would also spray a backtrace notice over the terminal.
    std::panic::set_hook(Box::new(|_| {}));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::Ok as i32,
                _ => ExitCode::Usage as i32,
            };
        }
    };
    let code = match cli.command {
        Some(Command::Presets) => list_presets(),
        Some(Command::Report(ReportCommand::Merge { output })) => merge(&output),
        Some(Command::Analyze(args)) => run(&args.common, &ProcessArgs::default(), args.report.as_deref(), true),
        None => run(&cli.common, &cli.process, None, false),
    };
    code as i32
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
            "  highpass {} ({} Hz), denoise {} ({} dB), de-ess {}, compressor {}",
            on_off(p.highpass.enabled),
            p.highpass.frequency_hz,
            on_off(p.denoise.enabled),
            p.denoise.amount_db,
            on_off(p.deess.enabled),
            on_off(p.compressor.enabled)
        );
        println!();
    }
    println!("A preset file is TOML with the same keys as presets/*.toml; pass its path to -p.");
    ExitCode::Ok
}

fn settings_from(common: &CommonArgs, flags: &ProcessArgs) -> Result<Settings, String> {
    let mut preset = Preset::load(&common.preset).map_err(|e| e.to_string())?;
    if let Some(target) = flags.target {
        preset.loudness.set_target(target);
    }
    if let Some(tp) = flags.true_peak {
        preset.loudness.true_peak_dbtp = tp;
    }
    if flags.no_denoise {
        preset.denoise.enabled = false;
    }
    if flags.no_deess {
        preset.deess.enabled = false;
    }
    if flags.no_compress {
        preset.compressor.enabled = false;
    }
    preset.validate().map_err(|e| format!("invalid setting: {e}"))?;
    Ok(Settings {
        preset,
        bit_depth: flags.bit_depth,
    })
}

fn run(common: &CommonArgs, flags: &ProcessArgs, report_path: Option<&Path>, analyze: bool) -> ExitCode {
    let settings = match settings_from(common, flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("podclean: {e}");
            return ExitCode::Usage;
        }
    };
    let output_root = match (&common.output, common.inputs.as_slice()) {
        (Some(dir), _) => dir.clone(),
        (None, [single]) => discover::default_output_root(single),
        (None, _) => {
            eprintln!("podclean: several inputs need an output folder: add -o DIR");
            return ExitCode::Usage;
        }
    };
    let mut discovery = discover::discover(&common.inputs, &output_root);
    if let Some(shard) = common.shard {
        discovery.jobs.retain(|job| shard.contains(&job.input_rel));
        discovery.problems.retain(|problem| shard.contains(&problem.input_rel));
    }
    let manifest = (!analyze).then(|| Manifest::new(&output_root, &settings_fingerprint(&settings)));
    let mut skipped: Vec<FileReport> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    if let Some(manifest) = &manifest {
        let mut todo = Vec::new();
        for job in std::mem::take(&mut discovery.jobs) {
            match manifest.up_to_date(&job) {
                Ok(previous) if !flags.force => skipped.push(previous),
                Ok(_) => {
                    reasons.push("forced".into());
                    todo.push(job);
                }
                Err(reason) => {
                    reasons.push(reason);
                    todo.push(job);
                }
            }
        }
        discovery.jobs = todo;
    }
    if common.dry_run {
        return dry_run(&discovery, &skipped, &reasons, analyze);
    }
    let _lock = if analyze {
        None
    } else {
        match state::acquire_lock(&output_root, common.shard) {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("podclean: {e}");
                return match e {
                    state::LockError::Busy(_) => ExitCode::Busy,
                    state::LockError::Io(_) => ExitCode::FileFailed,
                };
            }
        }
    };
    if common.shard.is_none() && !analyze {
        state::sweep_temporaries(&output_root);
    }
    for problem in &discovery.problems {
        eprintln!("podclean: {}: {}", problem.input_rel.display(), problem.reason);
    }
    let total = discovery.jobs.len();
    let interactive = std::io::stderr().is_terminal()
        && !common.quiet
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if !common.quiet {
        let skipping = if skipped.is_empty() {
            String::new()
        } else {
            format!(", {} up to date", skipped.len())
        };
        eprintln!(
            "podclean{}: {total} audio file{} to do{skipping} ({} ignored) → {}",
            if analyze { " analyze" } else { "" },
            if total == 1 { "" } else { "s" },
            discovery.ignored.len(),
            if analyze {
                "report only".to_string()
            } else {
                output_root.display().to_string()
            }
        );
    }
    let mode = if analyze {
        Mode::Analyze
    } else {
        Mode::Process {
            output_root: output_root.clone(),
            settings: Box::new(settings.clone()),
        }
    };
    let jobs = common
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    let cancel = Arc::new(AtomicBool::new(false));
    let interrupts = Arc::new(AtomicUsize::new(0));
    {
        let cancel = Arc::clone(&cancel);
        let interrupts = Arc::clone(&interrupts);
        let _ = ctrlc::set_handler(move || {
            if interrupts.fetch_add(1, Ordering::SeqCst) == 0 {
                cancel.store(true, Ordering::SeqCst);
                eprintln!("\npodclean: interrupted — finishing cleanly (press Ctrl-C again to quit at once)");
            } else {
                // Outputs only ever appear by rename of a complete file, so exiting here
                // leaves at most hidden temporaries, which the next run replaces.
                std::process::exit(ExitCode::Interrupted as i32);
            }
        });
    }

    let observer = progress::Progress::new(&discovery, interactive, common.verbose, common.quiet);
    let outcome = batch::run(&discovery, &mode, jobs, manifest.as_ref(), &cancel, &observer);
    observer.finish();

    let mut files = outcome.files;
    files.extend(skipped);
    let report = BatchReport::new(
        if analyze { "analyze" } else { "process" },
        settings.preset.clone(),
        settings.bit_depth.map(|f| f.label().to_string()),
        files,
        discovery.ignored.len(),
    );
    let report_name = common
        .shard
        .map(|s| s.report_name())
        .unwrap_or_else(|| REPORT_JSON.to_string());
    let json_path = report_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| output_root.join(report_name));
    let mut code = write_report(&report, &json_path);
    if !common.quiet {
        progress::print_summary(&report, &json_path);
    }
    if outcome.cancelled || cancel.load(Ordering::SeqCst) {
        return ExitCode::Interrupted;
    }
    if report.files.iter().any(|f| f.status == Status::Failed) {
        code = ExitCode::FileFailed;
    }
    code
}

/// Identifies the settings that shape an output, for the manifest.
fn settings_fingerprint(settings: &Settings) -> String {
    let preset = serde_json::to_string(&settings.preset).unwrap_or_default();
    format!("{preset}|{:?}", settings.bit_depth)
}

fn write_report(report: &BatchReport, json_path: &Path) -> ExitCode {
    let csv_path = json_path.with_extension("csv");
    match report.write_json(json_path).and_then(|_| report.write_csv(&csv_path)) {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!(
                "podclean: cannot write the report {}: {}",
                json_path.display(),
                discover::io_reason(&e)
            );
            ExitCode::FileFailed
        }
    }
}

fn dry_run(discovery: &discover::Discovery, skipped: &[FileReport], reasons: &[String], analyze: bool) -> ExitCode {
    let verb = if analyze { "analyze" } else { "process" };
    for (job, reason) in discovery
        .jobs
        .iter()
        .zip(reasons.iter().map(String::as_str).chain(std::iter::repeat("new")))
    {
        if analyze {
            println!("{verb}  {}", job.input_rel.display());
        } else {
            println!(
                "{verb}  {} → {}  ({reason})",
                job.input_rel.display(),
                job.output_rel.display()
            );
        }
    }
    for file in skipped {
        println!("skip     {}  (up to date)", file.input);
    }
    for problem in &discovery.problems {
        println!("fail     {}  ({})", problem.input_rel.display(), problem.reason);
    }
    for path in &discovery.ignored {
        println!("ignore   {}  (not audio by extension, or hidden)", path.display());
    }
    ExitCode::Ok
}

fn merge(output_root: &Path) -> ExitCode {
    match state::merge_reports(output_root) {
        Ok(report) => {
            let path = output_root.join(REPORT_JSON);
            let code = write_report(&report, &path);
            progress::print_summary(&report, &path);
            if code == ExitCode::Ok && report.totals.failed > 0 {
                ExitCode::FileFailed
            } else {
                code
            }
        }
        Err(e) => {
            eprintln!("podclean: {e}");
            ExitCode::Usage
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
