//! Delivery specs and the judge: a spec (the `[check]` table of a preset) says what a file must
//! measure to be accepted — loudness and its tolerance, peak ceilings, short-form maxima, the
//! ACX audiobook rules — and [`judge`] compares one file's measurements with it, returning
//! every rule it breaks with what was measured and what was allowed. `podclean check` judges
//! inputs; a processing run judges the outputs it wrote.

pub mod acx;

use serde::{Deserialize, Serialize};

use crate::dsp::check_range;
use crate::loudness::Measurement;

/// What a delivery asks of each file. Every rule is optional: an absent key is not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spec {
    /// Integrated loudness (BS.1770) the file must have, in LUFS, within `tolerance_lu`.
    pub integrated_lufs: Option<f64>,
    /// The integrated target for single-channel files, when it differs (podcasts: −19 LUFS).
    pub mono_integrated_lufs: Option<f64>,
    /// How far the integrated loudness may stray from the target, ± LU.
    pub tolerance_lu: f64,
    /// Highest true peak allowed, in dBTP.
    pub max_true_peak_dbtp: Option<f64>,
    /// Highest sample peak allowed, in dBFS (ACX's "peak").
    pub max_sample_peak_dbfs: Option<f64>,
    /// Largest loudness range allowed, in LU.
    pub max_lra_lu: Option<f64>,
    /// Highest short-term (3 s) loudness allowed, in LUFS.
    pub max_short_term_lufs: Option<f64>,
    /// Highest momentary (400 ms) loudness allowed, in LUFS.
    pub max_momentary_lufs: Option<f64>,
    /// The short-term and momentary maxima apply only to files shorter than this many seconds
    /// (EBU R 128 s1's short-form content: spots, trailers). Absent: to every file.
    pub short_form_under_s: Option<f64>,
    /// Lowest unweighted RMS of the whole file allowed, in dBFS (ACX: −23).
    pub min_rms_dbfs: Option<f64>,
    /// Highest unweighted RMS of the whole file allowed, in dBFS (ACX: −18).
    pub max_rms_dbfs: Option<f64>,
    /// Highest noise floor allowed (RMS of the quietest 500 ms), in dBFS (ACX: −60).
    pub max_noise_floor_dbfs: Option<f64>,
    /// Room tone before the narration starts, `[shortest, longest]` seconds (ACX: 0.5–1).
    pub head_room_tone_s: Option<[f64; 2]>,
    /// Room tone after the narration ends, `[shortest, longest]` seconds (ACX: 1–5).
    pub tail_room_tone_s: Option<[f64; 2]>,
    /// Sample rates allowed, in Hz (ACX: 44100).
    pub sample_rates_hz: Option<Vec<u32>>,
    /// Channel counts allowed (ACX: mono or stereo).
    pub channels: Option<Vec<usize>>,
    /// Every file of the batch must have the same channel count (ACX: all mono or all stereo).
    pub same_channels: bool,
    /// Longest running time allowed, in seconds (ACX: 120 minutes).
    pub max_duration_s: Option<f64>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            integrated_lufs: None,
            mono_integrated_lufs: None,
            tolerance_lu: 1.0,
            max_true_peak_dbtp: None,
            max_sample_peak_dbfs: None,
            max_lra_lu: None,
            max_short_term_lufs: None,
            max_momentary_lufs: None,
            short_form_under_s: None,
            min_rms_dbfs: None,
            max_rms_dbfs: None,
            max_noise_floor_dbfs: None,
            head_room_tone_s: None,
            tail_room_tone_s: None,
            sample_rates_hz: None,
            channels: None,
            same_channels: false,
            max_duration_s: None,
        }
    }
}

impl Spec {
    /// Checks every value's range; the message names the key (`check.…`).
    pub fn validate(&self) -> Result<(), String> {
        let optional = |key: &str, value: Option<f64>, min: f64, max: f64| {
            value.map_or(Ok(()), |v| check_range(&format!("check.{key}"), v, min, max))
        };
        optional("integrated_lufs", self.integrated_lufs, -70.0, -5.0)?;
        optional("mono_integrated_lufs", self.mono_integrated_lufs, -70.0, -5.0)?;
        if self.mono_integrated_lufs.is_some() && self.integrated_lufs.is_none() {
            return Err("check.mono_integrated_lufs needs check.integrated_lufs (the target for other files)".into());
        }
        check_range("check.tolerance_lu", self.tolerance_lu, 0.0, 20.0)?;
        optional("max_true_peak_dbtp", self.max_true_peak_dbtp, -30.0, 6.0)?;
        optional("max_sample_peak_dbfs", self.max_sample_peak_dbfs, -30.0, 0.0)?;
        optional("max_lra_lu", self.max_lra_lu, 0.0, 50.0)?;
        optional("max_short_term_lufs", self.max_short_term_lufs, -70.0, 0.0)?;
        optional("max_momentary_lufs", self.max_momentary_lufs, -70.0, 0.0)?;
        optional("short_form_under_s", self.short_form_under_s, 0.1, 86_400.0)?;
        optional("min_rms_dbfs", self.min_rms_dbfs, -100.0, 0.0)?;
        optional("max_rms_dbfs", self.max_rms_dbfs, -100.0, 0.0)?;
        if let (Some(low), Some(high)) = (self.min_rms_dbfs, self.max_rms_dbfs) {
            if low > high {
                return Err(format!(
                    "check.min_rms_dbfs ({low}) must not be above check.max_rms_dbfs ({high})"
                ));
            }
        }
        optional("max_noise_floor_dbfs", self.max_noise_floor_dbfs, -150.0, 0.0)?;
        for (key, range) in [
            ("head_room_tone_s", self.head_room_tone_s),
            ("tail_room_tone_s", self.tail_room_tone_s),
        ] {
            if let Some([low, high]) = range {
                check_range(&format!("check.{key}[0]"), low, 0.0, acx::ROOM_TONE_WINDOW_S)?;
                check_range(&format!("check.{key}[1]"), high, 0.0, acx::ROOM_TONE_WINDOW_S)?;
                if low > high {
                    return Err(format!(
                        "check.{key} must be [shortest, longest] seconds, got [{low}, {high}]"
                    ));
                }
            }
        }
        if let Some(rates) = &self.sample_rates_hz {
            if rates.is_empty() || rates.iter().any(|r| !(1_000..=768_000).contains(r)) {
                return Err(format!(
                    "check.sample_rates_hz must list rates between 1000 and 768000 Hz, got {rates:?}"
                ));
            }
        }
        if let Some(channels) = &self.channels {
            if channels.is_empty()
                || channels
                    .iter()
                    .any(|c| !(1..=crate::loudness::MAX_CHANNELS).contains(c))
            {
                return Err(format!(
                    "check.channels must list channel counts between 1 and {}, got {channels:?}",
                    crate::loudness::MAX_CHANNELS
                ));
            }
        }
        optional("max_duration_s", self.max_duration_s, 0.1, 1_000_000.0)?;
        Ok(())
    }

    /// Whether the spec has no rule at all (every file would pass).
    pub fn is_empty(&self) -> bool {
        *self
            == Spec {
                tolerance_lu: self.tolerance_lu,
                ..Spec::default()
            }
    }

    /// The integrated target for a file with `channels` channels, if the spec has one.
    pub fn integrated_for(&self, channels: usize) -> Option<f64> {
        match (channels, self.mono_integrated_lufs) {
            (1, Some(mono)) => Some(mono),
            _ => self.integrated_lufs,
        }
    }

    /// Moves the loudness target to `target_lufs` (a `--target` override), keeping the mono
    /// offset, as [`crate::preset::LoudnessSettings::set_target`] does for processing.
    pub fn set_target(&mut self, target_lufs: f64) {
        if let Some(stereo) = self.integrated_lufs {
            if let Some(mono) = self.mono_integrated_lufs {
                self.mono_integrated_lufs = Some(mono - stereo + target_lufs);
            }
            self.integrated_lufs = Some(target_lufs);
        }
    }

    /// One line per rule, for the report's header ("integrated −16.0 ± 1.0 LUFS (mono −19.0)").
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(target) = self.integrated_lufs {
            let mono = self
                .mono_integrated_lufs
                .map(|m| format!(" (mono {m:.1})"))
                .unwrap_or_default();
            lines.push(format!(
                "integrated loudness {target:.1}{mono} ± {:.1} LU",
                self.tolerance_lu
            ));
        }
        let max = |lines: &mut Vec<String>, what: &str, v: Option<f64>, unit: &str| {
            if let Some(v) = v {
                lines.push(format!("{what} ≤ {v:.1} {unit}"));
            }
        };
        max(&mut lines, "true peak", self.max_true_peak_dbtp, "dBTP");
        max(&mut lines, "sample peak", self.max_sample_peak_dbfs, "dBFS");
        max(&mut lines, "loudness range", self.max_lra_lu, "LU");
        let short_form = self
            .short_form_under_s
            .map(|s| format!(" (files under {s} s)"))
            .unwrap_or_default();
        if let Some(v) = self.max_short_term_lufs {
            lines.push(format!("max short-term loudness ≤ {v:.1} LUFS{short_form}"));
        }
        if let Some(v) = self.max_momentary_lufs {
            lines.push(format!("max momentary loudness ≤ {v:.1} LUFS{short_form}"));
        }
        match (self.min_rms_dbfs, self.max_rms_dbfs) {
            (Some(low), Some(high)) => lines.push(format!("RMS {low:.1} … {high:.1} dBFS")),
            (Some(low), None) => lines.push(format!("RMS ≥ {low:.1} dBFS")),
            (None, Some(high)) => lines.push(format!("RMS ≤ {high:.1} dBFS")),
            (None, None) => {}
        }
        max(&mut lines, "noise floor", self.max_noise_floor_dbfs, "dBFS");
        if let Some([low, high]) = self.head_room_tone_s {
            lines.push(format!("room tone at the head {low} … {high} s"));
        }
        if let Some([low, high]) = self.tail_room_tone_s {
            lines.push(format!("room tone at the tail {low} … {high} s"));
        }
        if let Some(rates) = &self.sample_rates_hz {
            lines.push(format!("sample rate {}", join(rates, " or ", " Hz")));
        }
        if let Some(channels) = &self.channels {
            lines.push(format!("channels {}", join(channels, " or ", "")));
        }
        if self.same_channels {
            lines.push("the same channel count for every file of the batch".into());
        }
        if let Some(s) = self.max_duration_s {
            lines.push(format!("running time ≤ {}", clock(s)));
        }
        lines
    }
}

fn join<T: std::fmt::Display>(values: &[T], separator: &str, unit: &str) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v}{unit}")).collect();
    parts.join(separator)
}

/// `h:mm:ss` or `m:ss`.
pub fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}

/// One broken rule: what, what was measured, what was allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The spec key that was broken (`max_true_peak_dbtp`), for scripts.
    pub rule: String,
    /// What was measured, in words ("true peak").
    pub what: String,
    /// The measured value with its unit ("-0.42 dBTP", "undefined (silence)").
    pub measured: String,
    /// What the spec allows ("≤ -1.0 dBTP", "-16.0 ± 1.0 LUFS").
    pub allowed: String,
    /// The measured number, where there is one.
    pub value: Option<f64>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: measured {}, allowed {}", self.what, self.measured, self.allowed)
    }
}

/// A file's standing against the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub result: Outcome,
    pub violations: Vec<Violation>,
}

impl Verdict {
    fn of(violations: Vec<Violation>) -> Verdict {
        Verdict {
            result: if violations.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail
            },
            violations,
        }
    }

    pub fn passed(&self) -> bool {
        self.result == Outcome::Pass
    }
}

/// What the judge looks at: the measurements of the audio being judged (the input for
/// `check`, the written output for a processing run) and the stream's facts.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub measurement: &'a Measurement,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    pub duration_s: Option<f64>,
}

/// Measured values are judged as the report shows them: rounded to 0.01. A true peak of
/// −0.996 dBTP shown as −1.00 passes a −1 dBTP ceiling; meters disagree by more than that.
fn shown(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn violation(rule: &str, what: &str, measured: String, allowed: String, value: Option<f64>) -> Violation {
    Violation {
        rule: rule.to_string(),
        what: what.to_string(),
        measured,
        allowed,
        value,
    }
}

/// Every rule of `spec` that `facts` break (one file; see [`judge_batch`] for the rules that
/// span files).
pub fn judge(spec: &Spec, facts: &Facts) -> Verdict {
    let m = facts.measurement;
    let mut out = Vec::new();
    let channels = facts.channels.unwrap_or(2);

    if let Some(target) = spec.integrated_for(channels) {
        let tolerance = spec.tolerance_lu;
        let rule = if channels == 1 && spec.mono_integrated_lufs.is_some() {
            "mono_integrated_lufs"
        } else {
            "integrated_lufs"
        };
        let allowed = format!(
            "{target:.1} ± {tolerance:.1} LUFS ({:.2} … {:.2})",
            target - tolerance,
            target + tolerance
        );
        match m.integrated_lufs.map(shown) {
            Some(i) if (i - target).abs() <= tolerance + 1e-9 => {}
            Some(i) => out.push(violation(
                rule,
                "integrated loudness",
                format!("{i:.2} LUFS ({:+.2} LU)", i - target),
                allowed,
                Some(i),
            )),
            None => out.push(violation(
                rule,
                "integrated loudness",
                "undefined (silence, or shorter than 0.4 s)".into(),
                allowed,
                None,
            )),
        }
    }

    let ceiling =
        |out: &mut Vec<Violation>, rule: &str, what: &str, measured: Option<f64>, max: Option<f64>, unit: &str| {
            if let (Some(max), Some(v)) = (max, measured.map(shown)) {
                if v > max + 1e-9 {
                    out.push(violation(
                        rule,
                        what,
                        format!("{v:.2} {unit}"),
                        format!("≤ {max:.1} {unit}"),
                        Some(v),
                    ));
                }
            }
        };
    ceiling(
        &mut out,
        "max_true_peak_dbtp",
        "true peak",
        m.true_peak_dbtp,
        spec.max_true_peak_dbtp,
        "dBTP",
    );
    ceiling(
        &mut out,
        "max_sample_peak_dbfs",
        "sample peak",
        m.sample_peak_dbfs,
        spec.max_sample_peak_dbfs,
        "dBFS",
    );
    ceiling(
        &mut out,
        "max_lra_lu",
        "loudness range",
        m.lra_lu,
        spec.max_lra_lu,
        "LU",
    );
    let short_form = match (spec.short_form_under_s, facts.duration_s) {
        (None, _) => true,
        (Some(limit), Some(duration)) => duration < limit,
        (Some(_), None) => true,
    };
    if short_form {
        ceiling(
            &mut out,
            "max_short_term_lufs",
            "max short-term loudness",
            m.max_short_term_lufs,
            spec.max_short_term_lufs,
            "LUFS",
        );
        ceiling(
            &mut out,
            "max_momentary_lufs",
            "max momentary loudness",
            m.max_momentary_lufs,
            spec.max_momentary_lufs,
            "LUFS",
        );
    }

    if spec.min_rms_dbfs.is_some() || spec.max_rms_dbfs.is_some() {
        let allowed = match (spec.min_rms_dbfs, spec.max_rms_dbfs) {
            (Some(low), Some(high)) => format!("{low:.1} … {high:.1} dBFS"),
            (Some(low), None) => format!("≥ {low:.1} dBFS"),
            (_, high) => format!("≤ {:.1} dBFS", high.unwrap_or(0.0)),
        };
        let rms = m.rms_dbfs.map(shown);
        let too_low = spec.min_rms_dbfs.filter(|low| rms.is_none_or(|v| v < low - 1e-9));
        let too_high = spec.max_rms_dbfs.filter(|high| rms.is_some_and(|v| v > high + 1e-9));
        if let Some(low) = too_low {
            out.push(violation(
                "min_rms_dbfs",
                "RMS",
                rms.map_or("digital silence".into(), |v| {
                    format!("{v:.2} dBFS ({:+.2} dB)", v - low)
                }),
                allowed,
                rms,
            ));
        } else if let Some(high) = too_high {
            let v = rms.unwrap_or(0.0);
            out.push(violation(
                "max_rms_dbfs",
                "RMS",
                format!("{v:.2} dBFS ({:+.2} dB)", v - high),
                allowed,
                rms,
            ));
        }
    }

    if let Some(max) = spec.max_noise_floor_dbfs {
        let allowed = format!("≤ {max:.1} dBFS");
        match m.noise_floor_dbfs.map(shown) {
            Some(v) if v > max + 1e-9 => out.push(violation(
                "max_noise_floor_dbfs",
                "noise floor",
                format!("{v:.2} dBFS"),
                allowed,
                Some(v),
            )),
            Some(_) => {}
            // No 500-ms window: too short to tell. (Digital silence reads as no noise at all.)
            None if facts.duration_s.is_some_and(|d| d < acx::NOISE_WINDOW_S) => out.push(violation(
                "max_noise_floor_dbfs",
                "noise floor",
                "not measurable (shorter than 0.5 s)".into(),
                allowed,
                None,
            )),
            None => {}
        }
    }

    for (rule, what, range, measured) in [
        (
            "head_room_tone_s",
            "room tone at the head",
            spec.head_room_tone_s,
            m.room_tone_head_s,
        ),
        (
            "tail_room_tone_s",
            "room tone at the tail",
            spec.tail_room_tone_s,
            m.room_tone_tail_s,
        ),
    ] {
        let Some([low, high]) = range else { continue };
        let allowed = format!("{low} … {high} s");
        match measured.map(shown) {
            Some(v) if v >= low - 1e-9 && v <= high + 1e-9 => {}
            Some(v) => out.push(violation(rule, what, format!("{v:.2} s"), allowed, Some(v))),
            None => out.push(violation(
                rule,
                what,
                "no narration found (nothing rises above the room tone)".into(),
                allowed,
                None,
            )),
        }
    }

    if let (Some(rates), Some(rate)) = (&spec.sample_rates_hz, facts.sample_rate) {
        if !rates.contains(&rate) {
            out.push(violation(
                "sample_rates_hz",
                "sample rate",
                format!("{rate} Hz"),
                join(rates, " or ", " Hz"),
                Some(rate as f64),
            ));
        }
    }
    if let (Some(allowed), Some(count)) = (&spec.channels, facts.channels) {
        if !allowed.contains(&count) {
            out.push(violation(
                "channels",
                "channels",
                count.to_string(),
                join(allowed, " or ", ""),
                Some(count as f64),
            ));
        }
    }
    if let (Some(max), Some(duration)) = (spec.max_duration_s, facts.duration_s) {
        if duration > max {
            out.push(violation(
                "max_duration_s",
                "running time",
                clock(duration),
                format!("≤ {}", clock(max)),
                Some(duration),
            ));
        }
    }
    Verdict::of(out)
}

/// The rules that span files: with `same_channels`, every file must have the batch's channel
/// count — the count most files have (on a tie, the first file's in path order). `files` are
/// `(channels, verdict)` of each judged file, in path order; files breaking the rule get a
/// violation added.
pub fn judge_batch(spec: &Spec, files: &mut [(Option<usize>, &mut Verdict)]) {
    if !spec.same_channels {
        return;
    }
    let mut counts: Vec<(usize, usize)> = Vec::new(); // (channels, files), in first-seen order
    for (channels, _) in files.iter() {
        let Some(c) = channels else { continue };
        match counts.iter_mut().find(|(k, _)| k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((*c, 1)),
        }
    }
    let Some(&(batch, batch_files)) = counts.iter().fold(None, |best: Option<&(usize, usize)>, c| match best {
        Some(b) if b.1 >= c.1 => Some(b),
        _ => Some(c),
    }) else {
        return;
    };
    let name = |c: usize| match c {
        1 => "mono".to_string(),
        2 => "stereo".to_string(),
        n => format!("{n} channels"),
    };
    for (channels, verdict) in files.iter_mut() {
        let Some(c) = *channels else { continue };
        if c != batch {
            verdict.violations.push(violation(
                "same_channels",
                "channels across the batch",
                format!("{} ({c})", name(c)),
                format!(
                    "{} ({batch}) like the batch's other {batch_files} file{}",
                    name(batch),
                    if batch_files == 1 { "" } else { "s" }
                ),
                Some(c as f64),
            ));
            verdict.result = Outcome::Fail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(m: &Measurement, channels: usize, rate: u32, duration: f64) -> Facts<'_> {
        Facts {
            measurement: m,
            sample_rate: Some(rate),
            channels: Some(channels),
            duration_s: Some(duration),
        }
    }

    fn loudness(i: Option<f64>, tp: Option<f64>) -> Measurement {
        Measurement {
            integrated_lufs: i,
            true_peak_dbtp: tp,
            ..Measurement::default()
        }
    }

    fn rules(verdict: &Verdict) -> Vec<&str> {
        verdict.violations.iter().map(|v| v.rule.as_str()).collect()
    }

    fn podcast() -> Spec {
        Spec {
            integrated_lufs: Some(-16.0),
            mono_integrated_lufs: Some(-19.0),
            tolerance_lu: 1.0,
            max_true_peak_dbtp: Some(-1.0),
            ..Spec::default()
        }
    }

    #[test]
    fn integrated_tolerance_is_inclusive_at_both_edges() {
        let spec = podcast();
        for (i, pass) in [
            (-16.0, true),
            (-17.0, true),
            (-15.0, true),
            (-17.004, true), // shown as -17.00
            (-17.01, false),
            (-14.99, false),
        ] {
            let m = loudness(Some(i), Some(-3.0));
            let verdict = judge(&spec, &facts(&m, 2, 48_000, 60.0));
            assert_eq!(verdict.passed(), pass, "{i}: {verdict:?}");
            if !pass {
                assert_eq!(rules(&verdict), ["integrated_lufs"]);
            }
        }
    }

    #[test]
    fn mono_files_are_judged_against_the_mono_target() {
        let spec = podcast();
        let m = loudness(Some(-19.2), Some(-3.0));
        assert!(judge(&spec, &facts(&m, 1, 48_000, 60.0)).passed());
        let verdict = judge(&spec, &facts(&m, 2, 48_000, 60.0));
        assert_eq!(rules(&verdict), ["integrated_lufs"]);
        let m = loudness(Some(-16.0), Some(-3.0));
        let verdict = judge(&spec, &facts(&m, 1, 48_000, 60.0));
        assert_eq!(rules(&verdict), ["mono_integrated_lufs"]);
        assert_eq!(verdict.violations[0].allowed, "-19.0 ± 1.0 LUFS (-20.00 … -18.00)");
        assert_eq!(verdict.violations[0].measured, "-16.00 LUFS (+3.00 LU)");
    }

    #[test]
    fn silence_fails_a_loudness_rule_but_not_a_ceiling() {
        let m = loudness(None, None);
        let verdict = judge(&podcast(), &facts(&m, 2, 48_000, 10.0));
        assert_eq!(rules(&verdict), ["integrated_lufs"]);
        assert!(verdict.violations[0].measured.contains("undefined"));
    }

    #[test]
    fn true_peak_ceiling_is_inclusive() {
        let spec = podcast();
        for (tp, pass) in [
            (-1.0, true),
            (-1.004, true),
            (-0.996, true),
            (-0.99, false),
            (0.5, false),
        ] {
            let m = loudness(Some(-16.0), Some(tp));
            let verdict = judge(&spec, &facts(&m, 2, 48_000, 60.0));
            assert_eq!(verdict.passed(), pass, "{tp}");
            if !pass {
                assert_eq!(rules(&verdict), ["max_true_peak_dbtp"]);
                assert_eq!(verdict.violations[0].allowed, "≤ -1.0 dBTP");
            }
        }
    }

    #[test]
    fn short_form_maxima_apply_only_under_the_length_limit() {
        let spec = Spec {
            max_short_term_lufs: Some(-18.0),
            max_momentary_lufs: None,
            short_form_under_s: Some(30.0),
            ..Spec::default()
        };
        let m = Measurement {
            max_short_term_lufs: Some(-17.5),
            ..Measurement::default()
        };
        let spot = judge(&spec, &facts(&m, 2, 48_000, 29.9));
        assert_eq!(rules(&spot), ["max_short_term_lufs"]);
        assert!(judge(&spec, &facts(&m, 2, 48_000, 30.0)).passed());
        let m = Measurement {
            max_short_term_lufs: Some(-18.0),
            ..Measurement::default()
        };
        assert!(
            judge(&spec, &facts(&m, 2, 48_000, 20.0)).passed(),
            "the limit itself passes"
        );
        let momentary = Spec {
            max_momentary_lufs: Some(-15.0),
            ..Spec::default()
        };
        let m = Measurement {
            max_momentary_lufs: Some(-14.9),
            ..Measurement::default()
        };
        assert_eq!(
            rules(&judge(&momentary, &facts(&m, 2, 48_000, 600.0))),
            ["max_momentary_lufs"],
            "no length limit: every file"
        );
    }

    #[test]
    fn lra_ceiling() {
        let spec = Spec {
            max_lra_lu: Some(15.0),
            ..Spec::default()
        };
        let m = |lra| Measurement {
            lra_lu: Some(lra),
            ..Measurement::default()
        };
        assert!(judge(&spec, &facts(&m(15.0), 2, 48_000, 60.0)).passed());
        assert_eq!(rules(&judge(&spec, &facts(&m(15.2), 2, 48_000, 60.0))), ["max_lra_lu"]);
    }

    fn acx() -> Spec {
        Spec {
            max_sample_peak_dbfs: Some(-3.0),
            min_rms_dbfs: Some(-23.0),
            max_rms_dbfs: Some(-18.0),
            max_noise_floor_dbfs: Some(-60.0),
            head_room_tone_s: Some([0.5, 1.0]),
            tail_room_tone_s: Some([1.0, 5.0]),
            sample_rates_hz: Some(vec![44_100]),
            channels: Some(vec![1, 2]),
            same_channels: true,
            max_duration_s: Some(7200.0),
            ..Spec::default()
        }
    }

    fn acx_measurement() -> Measurement {
        Measurement {
            sample_peak_dbfs: Some(-3.0),
            rms_dbfs: Some(-20.0),
            noise_floor_dbfs: Some(-60.0),
            room_tone_head_s: Some(0.5),
            room_tone_tail_s: Some(5.0),
            ..Measurement::default()
        }
    }

    #[test]
    fn acx_limits_themselves_pass() {
        for rms in [-23.0, -18.0] {
            let m = Measurement {
                rms_dbfs: Some(rms),
                ..acx_measurement()
            };
            let verdict = judge(&acx(), &facts(&m, 1, 44_100, 7200.0));
            assert!(verdict.passed(), "{rms}: {verdict:?}");
        }
        let m = Measurement {
            room_tone_head_s: Some(1.0),
            room_tone_tail_s: Some(1.0),
            ..acx_measurement()
        };
        assert!(judge(&acx(), &facts(&m, 2, 44_100, 60.0)).passed());
    }

    #[test]
    fn acx_rms_outside_the_window_fails_with_the_side_named() {
        let judge_rms = |rms: Option<f64>| {
            let m = Measurement {
                rms_dbfs: rms,
                ..acx_measurement()
            };
            judge(&acx(), &facts(&m, 1, 44_100, 60.0))
        };
        assert_eq!(rules(&judge_rms(Some(-23.02))), ["min_rms_dbfs"]);
        assert_eq!(rules(&judge_rms(Some(-17.98))), ["max_rms_dbfs"]);
        let silent = judge_rms(None);
        assert_eq!(rules(&silent), ["min_rms_dbfs"]);
        assert_eq!(silent.violations[0].measured, "digital silence");
        assert_eq!(judge_rms(Some(-24.0)).violations[0].allowed, "-23.0 … -18.0 dBFS");
    }

    #[test]
    fn acx_peak_noise_floor_rate_channels_and_length() {
        let check = |m: Measurement, channels: usize, rate: u32, duration: f64| {
            let verdict = judge(&acx(), &facts(&m, channels, rate, duration));
            rules(&verdict).iter().map(|r| r.to_string()).collect::<Vec<_>>()
        };
        let peak = Measurement {
            sample_peak_dbfs: Some(-2.98),
            ..acx_measurement()
        };
        assert_eq!(check(peak, 1, 44_100, 60.0), ["max_sample_peak_dbfs"]);
        let noisy = Measurement {
            noise_floor_dbfs: Some(-59.98),
            ..acx_measurement()
        };
        assert_eq!(check(noisy, 1, 44_100, 60.0), ["max_noise_floor_dbfs"]);
        let digital_silence = Measurement {
            noise_floor_dbfs: None,
            ..acx_measurement()
        };
        assert!(check(digital_silence.clone(), 1, 44_100, 60.0).is_empty());
        assert_eq!(check(digital_silence, 1, 44_100, 0.3), ["max_noise_floor_dbfs"]);
        assert_eq!(check(acx_measurement(), 1, 48_000, 60.0), ["sample_rates_hz"]);
        assert_eq!(check(acx_measurement(), 6, 44_100, 60.0), ["channels"]);
        assert_eq!(check(acx_measurement(), 1, 44_100, 7200.5), ["max_duration_s"]);
    }

    #[test]
    fn acx_room_tone_bounds() {
        let check = |head: Option<f64>, tail: Option<f64>| {
            let m = Measurement {
                room_tone_head_s: head,
                room_tone_tail_s: tail,
                ..acx_measurement()
            };
            judge(&acx(), &facts(&m, 1, 44_100, 60.0))
        };
        assert_eq!(rules(&check(Some(0.49), Some(3.0))), ["head_room_tone_s"]);
        assert_eq!(rules(&check(Some(1.01), Some(3.0))), ["head_room_tone_s"]);
        assert_eq!(rules(&check(Some(0.7), Some(0.99))), ["tail_room_tone_s"]);
        assert_eq!(rules(&check(Some(0.7), Some(5.01))), ["tail_room_tone_s"]);
        let none = check(None, None);
        assert_eq!(rules(&none), ["head_room_tone_s", "tail_room_tone_s"]);
        assert!(none.violations[0].measured.contains("no narration"));
    }

    #[test]
    fn batch_channels_follow_the_majority_and_the_first_file_on_a_tie() {
        let spec = acx();
        let run = |channels: &[usize]| -> Vec<bool> {
            let mut verdicts: Vec<Verdict> = channels.iter().map(|_| Verdict::of(Vec::new())).collect();
            let mut files: Vec<(Option<usize>, &mut Verdict)> =
                channels.iter().map(|&c| Some(c)).zip(verdicts.iter_mut()).collect();
            judge_batch(&spec, &mut files);
            verdicts.iter().map(Verdict::passed).collect()
        };
        assert_eq!(run(&[1, 1, 2, 1]), [true, true, false, true]);
        assert_eq!(run(&[2, 1, 1, 2]), [true, false, false, true]);
        assert_eq!(run(&[2, 2]), [true, true]);
        let mut verdicts = [Verdict::of(Vec::new()), Verdict::of(Vec::new())];
        let [a, b] = &mut verdicts;
        judge_batch(&spec, &mut [(Some(1), a), (Some(2), b)]);
        assert_eq!(
            verdicts[1].violations[0].allowed,
            "mono (1) like the batch's other 1 file"
        );
        let relaxed = Spec {
            same_channels: false,
            ..spec
        };
        let mut verdicts = [Verdict::of(Vec::new()), Verdict::of(Vec::new())];
        let [a, b] = &mut verdicts;
        judge_batch(&relaxed, &mut [(Some(1), a), (Some(2), b)]);
        assert!(verdicts.iter().all(Verdict::passed));
    }

    #[test]
    fn validation_names_the_key() {
        let bad = [
            (
                Spec {
                    tolerance_lu: -1.0,
                    ..Spec::default()
                },
                "check.tolerance_lu",
            ),
            (
                Spec {
                    mono_integrated_lufs: Some(-19.0),
                    ..Spec::default()
                },
                "check.mono_integrated_lufs",
            ),
            (
                Spec {
                    min_rms_dbfs: Some(-10.0),
                    max_rms_dbfs: Some(-20.0),
                    ..Spec::default()
                },
                "check.min_rms_dbfs",
            ),
            (
                Spec {
                    head_room_tone_s: Some([2.0, 1.0]),
                    ..Spec::default()
                },
                "check.head_room_tone_s",
            ),
            (
                Spec {
                    sample_rates_hz: Some(vec![]),
                    ..Spec::default()
                },
                "check.sample_rates_hz",
            ),
            (
                Spec {
                    channels: Some(vec![0]),
                    ..Spec::default()
                },
                "check.channels",
            ),
        ];
        for (spec, key) in bad {
            let err = spec.validate().unwrap_err();
            assert!(err.contains(key), "{key}: {err}");
        }
        assert!(acx().validate().is_ok());
        assert!(Spec::default().is_empty());
        assert!(!acx().is_empty());
    }

    #[test]
    fn a_target_override_keeps_the_mono_offset() {
        let mut spec = podcast();
        spec.set_target(-18.0);
        assert_eq!(
            (spec.integrated_for(2), spec.integrated_for(1)),
            (Some(-18.0), Some(-21.0))
        );
        let mut acx = acx();
        acx.set_target(-18.0);
        assert_eq!(acx.integrated_for(2), None, "a spec without a loudness rule gets none");
    }
}
