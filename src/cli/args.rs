//! The command line as clap sees it: definitions and parsing only. Nothing here decides
//! anything; `config` turns the parsed arguments into settings.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use podclean::dsp::denoise::DenoiseEngine;
use podclean::io::encode::FormatChoice;
use podclean::io::SampleFormat;
use podclean::preset::DEFAULT_PRESET;
use podclean::state::Shard;

#[derive(Parser, Debug)]
#[command(
    name = "podclean",
    version,
    about = "Clean spoken-word audio in bulk and bring it to a loudness target under a true-peak ceiling",
    long_about = "Clean spoken-word audio in bulk: rumble filter, voice denoise, de-ess, compression, then \
                  loudness normalization (EBU R128 / BS.1770) under a true-peak ceiling.\n\n\
                  podclean DIR           clean every audio file under DIR into DIR-clean/\n\
                  podclean analyze DIR   measure only and write the report\n\
                  podclean check DIR     judge every file against a delivery spec (exit 1 if any fails)",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub process: ProcessArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Measure loudness only: write the report (podclean-analysis.json/.csv/.html), touch no audio.
    Analyze(AnalyzeArgs),
    /// Judge every file against a delivery spec (the [check] rules of -p NAME|FILE): exit 0 when all pass, 1 when any fails; writes podclean-check.json/.csv/.html, touches no audio.
    Check(AnalyzeArgs),
    /// List the built-in presets and their values.
    Presets,
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print a shell completion script (e.g. `podclean completions bash > /etc/bash_completion.d/podclean`).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output (e.g. `podclean man > podclean.1`).
    Man,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Combine the shard reports (podclean-report.K-of-N.json) in OUT into OUT/podclean-report.json (+ .csv, .html).
    Merge {
        /// The output root the shards wrote into.
        #[arg(value_name = "OUT")]
        output: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Folders (walked recursively) and/or audio files.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output root; the input tree is mirrored below it. Default: a sibling folder INPUT-clean. It may not be, or lie inside, an input folder.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Preset name (see `podclean presets`) or path to a preset .toml file; its [check] table is the delivery spec.
    #[arg(short, long, value_name = "NAME|FILE", default_value = DEFAULT_PRESET)]
    pub preset: String,
    /// Threads: files processed at once, and the most cores used (default: number of cores; at most 4 per core).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Follow symbolic links inside input folders (never to files outside the inputs). Links named on the command line are always followed.
    #[arg(short = 'L', long = "follow")]
    pub follow: bool,
    /// Print only errors.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print one line per finished file.
    #[arg(short, long)]
    pub verbose: bool,
    /// Process only shard K of N (by a stable hash of each file's relative path); writes podclean-report.K-of-N.json.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Print what would be done (process / skip / fail / ignore, and why) without writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug, Default)]
pub struct ProcessArgs {
    /// Integrated loudness target in LUFS (overrides the preset; mono keeps the preset's offset).
    #[arg(long, value_name = "LUFS", allow_hyphen_values = true)]
    pub target: Option<f64>,
    /// True-peak ceiling in dBTP (overrides the preset).
    #[arg(long = "true-peak", value_name = "DBTP", allow_hyphen_values = true)]
    pub true_peak: Option<f64>,
    /// Output sample format: 16, 24, 32 or 32f (default: keep the source's; lossy → 24).
    #[arg(long = "bit-depth", value_name = "16|24|32|32f", value_parser = parse_bit_depth)]
    pub bit_depth: Option<SampleFormat>,
    /// Output format (default: keep — WAV/AIFF → WAV, FLAC/ALAC → FLAC, MP3/AAC/Vorbis → MP3; overrides the preset's [output] format).
    #[arg(long, value_name = "keep|wav|flac|mp3", value_parser = parse_format)]
    pub format: Option<FormatChoice>,
    /// MP3 constant bit rate in kb/s (default: the source's CBR rate, or the VBR quality matching its bit rate).
    #[arg(long = "mp3-bitrate", value_name = "KBPS")]
    pub mp3_bitrate: Option<u16>,
    /// FLAC compression level, 0 (fastest) to 8 (smallest); default 5.
    #[arg(long = "flac-level", value_name = "0-8")]
    pub flac_level: Option<u8>,
    /// Denoise engine: deepfilter (DeepFilterNet3, the default) or rnnoise (RNNoise, about 2.3× faster, removes less); overrides the preset's [denoise] engine.
    #[arg(long, value_name = "deepfilter|rnnoise", conflicts_with = "no_denoise")]
    pub denoiser: Option<DenoiseEngine>,
    /// Switch off the denoiser.
    #[arg(long)]
    pub no_denoise: bool,
    /// Switch off the de-esser.
    #[arg(long)]
    pub no_deess: bool,
    /// Switch off the compressor.
    #[arg(long)]
    pub no_compress: bool,
    /// Switch off the speech leveler (every voice to the same loudness).
    #[arg(long)]
    pub no_level: bool,
    /// Reprocess every file, even those whose output is up to date.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where to write the report: PATH.json, PATH.csv and PATH.html (a .json, .csv or .html extension is replaced). Default: OUTPUT/podclean-analysis.json (check: podclean-check.json).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

fn parse_format(text: &str) -> Result<FormatChoice, String> {
    FormatChoice::parse(text).ok_or_else(|| format!("'{text}' is not one of keep, wav, flac, mp3"))
}

fn parse_bit_depth(text: &str) -> Result<SampleFormat, String> {
    SampleFormat::parse(text).ok_or_else(|| format!("'{text}' is not one of 16, 24, 32, 32f"))
}

/// Parses the process arguments. A subcommand named after options (`podclean -o OUT analyze
/// DIR`) is moved to the front first, so it is never taken for an input folder. With
/// `NO_COLOR` set, help and errors are plain text whatever the terminal.
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let mut command = Cli::command();
    if no_color() {
        command = command.color(clap::ColorChoice::Never);
    }
    let matches = command.try_get_matches_from(subcommand_first(std::env::args_os().collect()))?;
    Cli::from_arg_matches(&matches)
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "podclean", out);
}

/// The man page, as roff.
pub fn man_page(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Moves the first positional argument to the front when it names a subcommand.
pub fn subcommand_first(args: Vec<OsString>) -> Vec<OsString> {
    let command = Cli::command();
    let subcommands: HashSet<String> = command
        .get_subcommands()
        .flat_map(|s| std::iter::once(s.get_name().to_string()).chain(s.get_all_aliases().map(str::to_string)))
        .chain(["help".to_string()])
        .collect();
    let mut with_value: HashSet<String> = HashSet::new();
    for arg in command.get_arguments() {
        if arg.get_action().takes_values() && !arg.is_positional() {
            if let Some(long) = arg.get_long() {
                with_value.insert(format!("--{long}"));
            }
            if let Some(short) = arg.get_short() {
                with_value.insert(format!("-{short}"));
            }
        }
    }
    let mut index = 1;
    while index < args.len() {
        let token = args[index].to_string_lossy();
        if token == "--" {
            return args;
        }
        if token.starts_with("--") {
            index += if token.contains('=') || !with_value.contains(token.as_ref()) {
                1
            } else {
                2
            };
            continue;
        }
        if token.starts_with('-') && token.len() > 1 {
            // A cluster like -qj4 or -o DIR: the value is attached or the next argument.
            let flags: Vec<char> = token.chars().skip(1).collect();
            let mut skip_next = false;
            for (i, c) in flags.iter().enumerate() {
                if with_value.contains(&format!("-{c}")) {
                    skip_next = i == flags.len() - 1;
                    break;
                }
            }
            index += if skip_next { 2 } else { 1 };
            continue;
        }
        if subcommands.contains(token.as_ref()) && index > 1 {
            let mut args = args;
            let subcommand = args.remove(index);
            args.insert(1, subcommand);
            return args;
        }
        return args;
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(line: &str) -> Vec<String> {
        let args = line.split(' ').map(OsString::from).collect();
        subcommand_first(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_after_options_move_to_the_front() {
        assert_eq!(
            order("podclean -o OUT analyze DIR"),
            ["podclean", "analyze", "-o", "OUT", "DIR"]
        );
        assert_eq!(
            order("podclean --output=OUT -q analyze DIR"),
            ["podclean", "analyze", "--output=OUT", "-q", "DIR"]
        );
        assert_eq!(
            order("podclean -qo OUT analyze DIR"),
            ["podclean", "analyze", "-qo", "OUT", "DIR"]
        );
        assert_eq!(order("podclean -j4 analyze DIR"), ["podclean", "analyze", "-j4", "DIR"]);
        // An input folder first: the rest are inputs, whatever their names.
        assert_eq!(order("podclean DIR analyze"), ["podclean", "DIR", "analyze"]);
        assert_eq!(order("podclean -o analyze DIR"), ["podclean", "-o", "analyze", "DIR"]);
        assert_eq!(order("podclean -- analyze"), ["podclean", "--", "analyze"]);
    }

    #[test]
    fn completions_and_man_page_come_from_the_definition() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            completions(shell, &mut script);
            let script = String::from_utf8(script).unwrap();
            for word in ["check", "analyze", "true-peak", "shard", "completions"] {
                assert!(script.contains(word), "{shell}: {word} missing");
            }
        }
        let mut page = Vec::new();
        man_page(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH podclean"),
            "{}",
            &page[..200]
        );
        assert!(page.contains("check") && page.contains("true\\-peak"), "{page}");
    }

    #[test]
    fn reordered_command_line_parses_as_analyze() {
        let args = subcommand_first("podclean -o OUT analyze DIR".split(' ').map(OsString::from).collect());
        let cli = Cli::try_parse_from(args).unwrap();
        match cli.command {
            Some(Command::Analyze(a)) => {
                assert_eq!(a.common.inputs, vec![PathBuf::from("DIR")]);
                assert_eq!(a.common.output, Some(PathBuf::from("OUT")));
            }
            other => panic!("{other:?}"),
        }
    }
}
