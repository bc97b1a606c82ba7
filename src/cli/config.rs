//! Parsed arguments → a plain `Config`: the preset with overrides applied and validated, the
//! output root decided, the job count bounded. Nothing after this sees clap.

use std::path::PathBuf;

use podclean::batch;
use podclean::pipeline::Settings;
use podclean::plan;
use podclean::preset::Preset;
use podclean::state::Shard;

use super::args::{CommonArgs, ProcessArgs};

/// What kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Process,
    Analyze,
    /// Measure and judge against the preset's spec.
    Check,
}

/// Everything a run needs, decided.
#[derive(Debug, Clone)]
pub struct Config {
    pub kind: RunKind,
    pub inputs: Vec<PathBuf>,
    pub output_root: PathBuf,
    /// For analyze and check: where the report goes, if named.
    pub report_path: Option<PathBuf>,
    pub settings: Settings,
    pub jobs: usize,
    pub follow_links: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub shard: Option<Shard>,
    pub dry_run: bool,
    pub force: bool,
    /// Things the user should know about how their arguments were taken.
    pub notices: Vec<String>,
}

impl Config {
    pub fn new(
        kind: RunKind,
        common: &CommonArgs,
        flags: &ProcessArgs,
        report_path: Option<PathBuf>,
    ) -> Result<Config, String> {
        let settings = settings_from(common, flags)?;
        if kind == RunKind::Check && settings.preset.check.is_empty() {
            return Err(format!(
                "preset {} has no [check] rules to judge against (see `podclean presets`, or add a [check] table to your preset file)",
                settings.preset.name
            ));
        }
        let output_root = match (&common.output, common.inputs.as_slice()) {
            (Some(dir), _) => dir.clone(),
            (None, [single]) => plan::default_output_root(single),
            (None, _) => return Err("several inputs need an output folder: add -o DIR".into()),
        };
        let mut notices = Vec::new();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let jobs = match common.jobs {
            None => cores,
            Some(0) => return Err("--jobs must be at least 1".into()),
            Some(n) if n > batch::max_jobs() => {
                notices.push(format!(
                    "--jobs {n} is more than this machine can use; running {} ({} per core)",
                    batch::max_jobs(),
                    batch::MAX_JOBS_PER_CORE
                ));
                batch::max_jobs()
            }
            Some(n) => n,
        };
        Ok(Config {
            kind,
            inputs: common.inputs.clone(),
            output_root,
            report_path,
            settings,
            jobs,
            follow_links: common.follow,
            quiet: common.quiet,
            verbose: common.verbose,
            shard: common.shard,
            dry_run: common.dry_run,
            force: flags.force,
            notices,
        })
    }
}

fn settings_from(common: &CommonArgs, flags: &ProcessArgs) -> Result<Settings, String> {
    let mut preset = Preset::load(&common.preset).map_err(|e| e.to_string())?;
    // The spec is part of the preset: overriding its target or ceiling moves the spec's too,
    // so outputs are judged against what was asked for.
    if let Some(target) = flags.target {
        preset.loudness.set_target(target);
        preset.check.set_target(target);
    }
    if let Some(tp) = flags.true_peak {
        preset.loudness.true_peak_dbtp = tp;
        if preset.check.max_true_peak_dbtp.is_some() {
            preset.check.max_true_peak_dbtp = Some(tp);
        }
    }
    if let Some(engine) = flags.denoiser {
        preset.denoise.engine = engine;
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
    if let Some(format) = flags.format {
        preset.output.format = format;
    }
    if let Some(kbps) = flags.mp3_bitrate {
        preset.output.mp3_bitrate = Some(kbps);
    }
    if let Some(level) = flags.flac_level {
        preset.output.flac_level = level;
    }
    if flags.no_level {
        preset.leveler.enabled = false;
    }
    preset.validate().map_err(|e| format!("invalid setting: {e}"))?;
    preset
        .output
        .check_bit_depth(flags.bit_depth)
        .map_err(|e| format!("invalid setting: {e}"))?;
    Ok(Settings {
        preset,
        bit_depth: flags.bit_depth,
    })
}

/// Identifies the settings that shape an output, for the manifest. The spec does not shape
/// the audio: a changed spec re-judges earlier outputs from their recorded measurements
/// instead of making them again.
pub fn settings_fingerprint(settings: &Settings) -> String {
    let mut preset = settings.preset.clone();
    preset.check = Default::default();
    let preset = serde_json::to_string(&preset).unwrap_or_default();
    format!("{preset}|{:?}", settings.bit_depth)
}
