//! Presets: TOML files (built in from `presets/`, or the user's own) turned into a validated
//! [`Preset`]. Precedence: defaults < preset file < command-line overrides. A bad file is
//! rejected with the offending key named, before any audio is touched.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::check;
use crate::dsp::check_range;
use crate::dsp::compressor::CompressorSettings;
use crate::dsp::deess::DeessSettings;
use crate::dsp::denoise::DenoiseSettings;
use crate::dsp::highpass::HighpassSettings;
use crate::dsp::leveler::LevelerSettings;
use crate::io::encode::OutputSettings;

/// The built-in presets, in the order `podclean presets` lists them.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("podcast", include_str!("../presets/podcast.toml")),
    ("podcast-fast", include_str!("../presets/podcast-fast.toml")),
    ("ebu-r128", include_str!("../presets/ebu-r128.toml")),
    ("atsc-a85", include_str!("../presets/atsc-a85.toml")),
    ("streaming", include_str!("../presets/streaming.toml")),
    ("acx", include_str!("../presets/acx.toml")),
];

/// The preset used when none is named.
pub const DEFAULT_PRESET: &str = "podcast";

#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("unknown preset '{0}' (built-in presets: {1}; or give a path to a .toml file)")]
    Unknown(String, String),
    #[error("cannot read preset file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("preset {name}: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoudnessSettings {
    /// Integrated loudness target (BS.1770 / EBU R128) in LUFS.
    pub target_lufs: f64,
    /// Target for single-channel files, if it differs (podcast convention: −19 for mono).
    pub mono_target_lufs: Option<f64>,
    /// True-peak ceiling in dBTP.
    pub true_peak_dbtp: f64,
    /// The most gain podclean will ever apply, in dB.
    pub max_gain_db: f64,
}

impl Default for LoudnessSettings {
    fn default() -> Self {
        Self {
            target_lufs: -16.0,
            mono_target_lufs: None,
            true_peak_dbtp: -1.0,
            max_gain_db: 30.0,
        }
    }
}

impl LoudnessSettings {
    fn validate(&self) -> Result<(), String> {
        check_range("loudness.target_lufs", self.target_lufs, -70.0, -5.0)?;
        if let Some(mono) = self.mono_target_lufs {
            check_range("loudness.mono_target_lufs", mono, -70.0, -5.0)?;
        }
        check_range("loudness.true_peak_dbtp", self.true_peak_dbtp, -20.0, 0.0)?;
        check_range("loudness.max_gain_db", self.max_gain_db, 0.0, 60.0)
    }

    /// The target for a file with `channels` channels.
    pub fn target_for(&self, channels: usize) -> f64 {
        match (channels, self.mono_target_lufs) {
            (1, Some(mono)) => mono,
            _ => self.target_lufs,
        }
    }

    /// Sets a new stereo target, keeping the preset's mono offset (−16/−19 becomes −18/−21).
    pub fn set_target(&mut self, target_lufs: f64) {
        if let Some(mono) = self.mono_target_lufs {
            self.mono_target_lufs = Some(mono - self.target_lufs + target_lufs);
        }
        self.target_lufs = target_lufs;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimiterSettings {
    /// How far ahead the true-peak limiter looks (its attack time), in ms.
    pub lookahead_ms: f64,
    /// How fast gain recovers after a peak, in ms.
    pub release_ms: f64,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        Self {
            lookahead_ms: 5.0,
            release_ms: 100.0,
        }
    }
}

impl LimiterSettings {
    fn validate(&self) -> Result<(), String> {
        check_range("limiter.lookahead_ms", self.lookahead_ms, 0.5, 50.0)?;
        check_range("limiter.release_ms", self.release_ms, 1.0, 2000.0)
    }
}

/// Everything that decides what podclean does to a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub loudness: LoudnessSettings,
    #[serde(default)]
    pub limiter: LimiterSettings,
    #[serde(default)]
    pub highpass: HighpassSettings,
    #[serde(default)]
    pub denoise: DenoiseSettings,
    #[serde(default)]
    pub deess: DeessSettings,
    #[serde(default)]
    pub compressor: CompressorSettings,
    /// Output format and encoder settings.
    #[serde(default)]
    pub output: OutputSettings,
    /// The delivery spec outputs (and `podclean check` inputs) are judged against.
    #[serde(default)]
    pub check: check::Spec,
    #[serde(default)]
    pub leveler: LevelerSettings,
}

impl Preset {
    /// A built-in preset by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Preset, PresetError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            return Preset::parse(name_or_path, text);
        }
        let path = Path::new(name_or_path);
        let looks_like_path = name_or_path.ends_with(".toml") || name_or_path.contains('/');
        if !looks_like_path && !path.is_file() {
            let names: Vec<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
            return Err(PresetError::Unknown(name_or_path.to_string(), names.join(", ")));
        }
        let text = std::fs::read_to_string(path).map_err(|source| PresetError::Read {
            path: name_or_path.to_string(),
            source,
        })?;
        Preset::parse(name_or_path, &text)
    }

    /// Parses and validates preset text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Preset, PresetError> {
        let invalid = |message: String| PresetError::Invalid {
            name: origin.to_string(),
            message,
        };
        let preset: Preset = toml::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        preset.validate().map_err(invalid)?;
        Ok(preset)
    }

    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.loudness.validate()?;
        self.limiter.validate()?;
        self.highpass.validate()?;
        self.denoise.validate()?;
        self.deess.validate()?;
        self.compressor.validate()?;
        self.leveler.validate()?;
        self.output.validate()?;
        self.check.validate()
    }

    /// True peaks above this mark an over on the report's plots: the spec's ceiling, else the
    /// limiter's.
    pub fn over_threshold_dbtp(&self) -> f64 {
        self.check.max_true_peak_dbtp.unwrap_or(self.loudness.true_peak_dbtp)
    }

    /// Whether any cleanup stage runs (otherwise pass A only measures and spools).
    pub fn any_cleanup(&self) -> bool {
        self.highpass.enabled || self.denoise.enabled || self.deess.enabled || self.compressor.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_parses_and_is_named_after_itself() {
        for (name, _) in BUILT_IN {
            let preset = Preset::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(preset.name, *name);
        }
    }

    #[test]
    fn built_in_targets_match_their_standards() {
        let targets = |name: &str| {
            let p = Preset::load(name).unwrap();
            (
                p.loudness.target_for(2),
                p.loudness.target_for(1),
                p.loudness.true_peak_dbtp,
            )
        };
        assert_eq!(targets("podcast"), (-16.0, -19.0, -1.0));
        assert_eq!(targets("ebu-r128"), (-23.0, -23.0, -1.0));
        assert_eq!(targets("atsc-a85"), (-24.0, -24.0, -2.0));
        assert_eq!(targets("streaming"), (-14.0, -14.0, -1.0));
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let text = "name = \"x\"\n[loudness]\ntarget_lufs = -16.0\ntarget_lufz = -3.0\n";
        let err = Preset::parse("mine.toml", text).unwrap_err().to_string();
        assert!(err.contains("target_lufz"), "{err}");
    }

    #[test]
    fn out_of_range_value_is_rejected_by_name() {
        let text = "name = \"x\"\n[loudness]\ntarget_lufs = 3.0\n";
        let err = Preset::parse("mine.toml", text).unwrap_err().to_string();
        assert!(err.contains("loudness.target_lufs"), "{err}");
    }

    #[test]
    fn output_table_is_validated_by_key() {
        let ok = "name = \"x\"\n[output]\nformat = \"flac\"\nflac_level = 8\n";
        let preset = Preset::parse("mine.toml", ok).unwrap();
        assert_eq!(preset.output.format, crate::io::encode::FormatChoice::Flac);
        let bad = "name = \"x\"\n[output]\nmp3_bitrate = 100\n";
        let err = Preset::parse("mine.toml", bad).unwrap_err().to_string();
        assert!(err.contains("output.mp3_bitrate"), "{err}");
        let unknown = "name = \"x\"\n[output]\nformatt = \"mp3\"\n";
        let err = Preset::parse("mine.toml", unknown).unwrap_err().to_string();
        assert!(err.contains("formatt"), "{err}");
        let bad_format = "name = \"x\"\n[output]\nformat = \"ogg\"\n";
        let err = Preset::parse("mine.toml", bad_format).unwrap_err().to_string();
        assert!(err.contains("ogg") && err.contains("keep"), "{err}");
    }

    #[test]
    fn the_leveler_is_on_for_spoken_word_and_off_for_broadcast() {
        let on = |name: &str| Preset::load(name).unwrap().leveler.enabled;
        assert!(on("podcast") && on("streaming"));
        assert!(!on("ebu-r128") && !on("atsc-a85") && !on("acx"));
        let text = "name = \"x\"\n[leveler]\nmax_boost_db = 40.0\n";
        let err = Preset::parse("mine.toml", text).unwrap_err().to_string();
        assert!(err.contains("leveler.max_boost_db"), "{err}");
        let text = "name = \"x\"\n[leveler]\nmax_bost_db = 10.0\n";
        let err = Preset::parse("mine.toml", text).unwrap_err().to_string();
        assert!(err.contains("max_bost_db"), "{err}");
    }

    #[test]
    fn new_target_keeps_the_mono_offset() {
        let mut loudness = Preset::load("podcast").unwrap().loudness;
        loudness.set_target(-18.0);
        assert_eq!(loudness.target_for(2), -18.0);
        assert_eq!(loudness.target_for(1), -21.0);
    }

    #[test]
    fn unknown_name_lists_the_built_ins() {
        let err = Preset::load("podcats").unwrap_err().to_string();
        assert!(err.contains("podcast") && err.contains("ebu-r128"), "{err}");
    }
}
