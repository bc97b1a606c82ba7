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
use podclean::report::{BatchReport, Status};

/// Exit codes (see README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    FileFailed = 1,
    Usage = 2,
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
    /// Parallel jobs (default: number of cores).
    #[arg(short, long, value_name = "N")]
    jobs: Option<usize>,
    /// Print only errors.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Print one line per finished file.
    #[arg(short, long)]
    verbose: bool,
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
    let discovery = discover::discover(&common.inputs, &output_root);
    let total = discovery.jobs.len();
    let interactive =
        std::io::stderr().is_terminal() && !common.quiet && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
    if !common.quiet {
        eprintln!(
            "podclean {}: {total} audio file{} ({} ignored) → {}",
            if analyze { "analyze" } else { "" }.trim(),
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
            settings: settings.clone(),
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
                std::process::exit(ExitCode::Interrupted as i32);
            }
        });
    }

    let observer = progress::Progress::new(&discovery, interactive, common.verbose, common.quiet);
    let outcome = batch::run(&discovery, &mode, jobs, &cancel, &observer);
    observer.finish();

    let report = BatchReport::new(
        if analyze { "analyze" } else { "process" },
        settings.preset.clone(),
        settings.bit_depth.map(|f| f.label().to_string()),
        outcome.files,
        discovery.ignored.len(),
    );
    let json_path = report_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| output_root.join(REPORT_JSON));
    let csv_path = json_path.with_extension("csv");
    let mut code = ExitCode::Ok;
    if let Err(e) = report.write_json(&json_path).and_then(|_| report.write_csv(&csv_path)) {
        eprintln!(
            "podclean: cannot write the report {}: {}",
            json_path.display(),
            discover::io_reason(&e)
        );
        code = ExitCode::FileFailed;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
