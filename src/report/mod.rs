//! The batch report: per-file rows plus the effective settings and totals, as serde data,
//! written as JSON (the full record), CSV (one flat row per file, for spreadsheets) and a
//! self-contained HTML page with loudness plots, and merged from shard reports.

pub mod csv;
pub mod html;
pub mod merge;
pub mod plot;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use crate::check::{self, Facts, Verdict};
use crate::error::ErrorKind;
use crate::fsutil::OutDir;
use crate::loudness::Measurement;
use crate::preset::Preset;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Processed (or, for `analyze`, measured).
    Ok,
    /// Could not be processed; `error` says why. No output was written.
    Failed,
    /// Integrated loudness undefined (silence, or shorter than 400 ms): written at unity gain.
    Silent,
    /// Up to date from an earlier run; not processed again.
    Skipped,
    /// Not done by this run: it was interrupted first, or another run is making the output
    /// right now (`error` says which). The next run does it.
    Pending,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Silent => "silent",
            Status::Skipped => "skipped",
            Status::Pending => "pending",
        }
    }
}

/// Figures a stage reports about one file, by name (e.g. `max_reduction_db`).
pub type StageMetrics = BTreeMap<String, f64>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// Input path relative to its input root.
    pub input: String,
    /// Output path relative to the output root (`null` if nothing was written).
    pub output: Option<String>,
    pub status: Status,
    /// Why the file failed (or is silent, or pending), in a sentence a person can act on.
    pub error: Option<String>,
    /// What kind of failure, as a stable name scripts can match on (`null` unless failed).
    #[serde(default)]
    pub error_kind: Option<ErrorKind>,
    /// Things that did not stop processing but deserve a look (damaged frames, capped gain).
    pub warnings: Vec<String>,
    /// What was decided for this file and why (e.g. the mono target), for the record.
    pub notes: Vec<String>,
    pub input_loudness: Option<Measurement>,
    pub output_loudness: Option<Measurement>,
    /// The loudness target that applied to this file (mono files may have their own).
    pub target_lufs: Option<f64>,
    /// Integrated loudness after cleanup (and the leveler's curve), before gain: what the
    /// gain was computed from.
    pub cleaned_integrated_lufs: Option<f64>,
    pub gain_db: Option<f64>,
    pub limiter_max_reduction_db: Option<f64>,
    /// The most the speech leveler raised a passage above the file's typical speech level,
    /// in dB (`null` with the leveler off).
    #[serde(default)]
    pub leveler_max_boost_db: Option<f64>,
    /// The most the speech leveler lowered a passage below it, in dB (a positive number).
    #[serde(default)]
    pub leveler_max_cut_db: Option<f64>,
    /// How many times pass B ran (more than 1 when the first result missed the target).
    pub passes: u32,
    pub duration_s: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    pub codec: Option<String>,
    /// Output codec and container with its setting: "wav 24", "wav 32f", "flac 16",
    /// "mp3 cbr 128", "mp3 vbr V2".
    pub output_format: Option<String>,
    /// Average bit rate of the written audio stream, in kb/s (tags and headers excluded).
    #[serde(default)]
    pub bitrate_kbps: Option<f64>,
    /// Tag fields and pictures written into the output.
    #[serde(default)]
    pub tags_carried: Option<usize>,
    /// Chapters written into the output.
    #[serde(default)]
    pub chapters_carried: Option<usize>,
    /// What `output_loudness` was measured on: "samples written" (WAV, FLAC) or "decoded
    /// output file" (MP3: the written file decoded again, after encoding).
    #[serde(default)]
    pub output_measured_on: Option<String>,
    /// What each cleanup stage did, by stage name.
    pub processing: BTreeMap<String, StageMetrics>,
    pub seconds_taken: f64,
    /// Pass or fail against the preset's `[check]` spec, with every rule broken (`null` when
    /// the run judges nothing — `analyze` — or the file has no measurements).
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// Loudness over time, for the HTML report (a fixed number of points per series).
    #[serde(default)]
    pub plot: Option<plot::Plot>,
}

impl FileReport {
    /// An empty row for `input`, to be filled in.
    pub fn new(input: String) -> Self {
        FileReport {
            input,
            output: None,
            status: Status::Failed,
            error: None,
            error_kind: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            input_loudness: None,
            output_loudness: None,
            target_lufs: None,
            cleaned_integrated_lufs: None,
            gain_db: None,
            limiter_max_reduction_db: None,
            leveler_max_boost_db: None,
            leveler_max_cut_db: None,
            passes: 0,
            duration_s: None,
            sample_rate: None,
            channels: None,
            codec: None,
            output_format: None,
            bitrate_kbps: None,
            tags_carried: None,
            chapters_carried: None,
            output_measured_on: None,
            processing: BTreeMap::new(),
            seconds_taken: 0.0,
            verdict: None,
            plot: None,
        }
    }

    pub fn failed(input: String, error: &crate::error::Error) -> Self {
        FileReport {
            error: Some(error.message.clone()),
            error_kind: Some(error.kind),
            ..FileReport::new(input)
        }
    }

    /// A row for a file this run did not get to, and why.
    pub fn pending(input: String, why: String) -> Self {
        FileReport {
            status: Status::Pending,
            error: Some(why),
            ..FileReport::new(input)
        }
    }

    /// Replaces every non-finite number by "undefined": JSON has no infinity, and `null` is
    /// what the report uses for a figure that does not exist.
    fn make_finite(&mut self) {
        let fix = |v: &mut Option<f64>| {
            if v.is_some_and(|x| !x.is_finite()) {
                *v = None;
            }
        };
        for m in [&mut self.input_loudness, &mut self.output_loudness]
            .into_iter()
            .flatten()
        {
            for v in m.figures_mut() {
                fix(v);
            }
        }
        if let Some(plot) = &mut self.plot {
            for series in &mut plot.series {
                for v in &mut series.values {
                    if v.is_some_and(|x| !x.is_finite()) {
                        *v = None;
                    }
                }
            }
            if !plot.duration_s.is_finite() {
                plot.duration_s = 0.0;
            }
        }
        for v in [
            &mut self.target_lufs,
            &mut self.cleaned_integrated_lufs,
            &mut self.gain_db,
            &mut self.limiter_max_reduction_db,
            &mut self.leveler_max_boost_db,
            &mut self.leveler_max_cut_db,
            &mut self.duration_s,
        ] {
            fix(v);
        }
        for metrics in self.processing.values_mut() {
            metrics.retain(|_, v| v.is_finite());
        }
        if !self.seconds_taken.is_finite() {
            self.seconds_taken = 0.0;
        }
    }

    /// Output loudness minus target, in LU, where both are known.
    pub fn deviation_lu(&self) -> Option<f64> {
        let out = self.output_loudness.as_ref()?.integrated_lufs?;
        Some(out - self.target_lufs?)
    }

    /// What a spec judges for this row: the written output where there is one, else the input
    /// as measured (`check`). `None` for rows without measurements (failed, pending).
    pub fn judged(&self) -> Option<Facts<'_>> {
        let measurement = self.output_loudness.as_ref().or(self.input_loudness.as_ref())?;
        Some(Facts {
            measurement,
            sample_rate: self.sample_rate,
            channels: self.channels,
            duration_s: self.duration_s,
        })
    }

    /// Sets the verdict against `spec` for this file alone (rules spanning the batch are added
    /// by [`BatchReport::new`]).
    pub fn judge(&mut self, spec: &check::Spec) {
        self.verdict = self.judged().map(|facts| check::judge(spec, &facts));
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub files: usize,
    pub ok: usize,
    pub failed: usize,
    pub silent: usize,
    pub skipped: usize,
    #[serde(default)]
    pub pending: usize,
    /// Files not processed because they are not audio by extension (or hidden).
    pub ignored: usize,
    /// Largest |output − target| over files with an output, in LU.
    pub worst_deviation_lu: Option<f64>,
    /// Highest output true peak, in dBTP.
    pub highest_true_peak_dbtp: Option<f64>,
    /// Files that meet the spec (runs that judge: `check` and processing).
    #[serde(default)]
    pub passed: usize,
    /// Files that break at least one rule of the spec.
    #[serde(default)]
    pub rejected: usize,
    pub audio_seconds: f64,
    pub seconds_taken: f64,
}

/// A path that was looked at and left alone, and why (not audio, hidden, a link not followed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    pub podclean_version: String,
    /// `"process"`, `"analyze"` or `"check"`.
    pub mode: String,
    /// `"K/N"` when this is one shard's report.
    #[serde(default)]
    pub shard: Option<String>,
    /// The run stopped before every file was done: `pending` rows say which were not.
    #[serde(default)]
    pub interrupted: bool,
    pub settings: Preset,
    /// Output sample format override from the command line, if any.
    pub bit_depth: Option<String>,
    pub totals: Totals,
    pub files: Vec<FileReport>,
    /// What was left alone, and why.
    #[serde(default)]
    pub ignored: Vec<Ignored>,
}

impl BatchReport {
    pub fn new(
        mode: &str,
        settings: Preset,
        bit_depth: Option<String>,
        files: Vec<FileReport>,
        ignored: Vec<Ignored>,
    ) -> Self {
        let mut report = BatchReport {
            podclean_version: env!("CARGO_PKG_VERSION").to_string(),
            mode: mode.to_string(),
            shard: None,
            interrupted: false,
            settings,
            bit_depth,
            totals: Totals::default(),
            files,
            ignored,
        };
        report.files.iter_mut().for_each(FileReport::make_finite);
        report.files.sort_by(|a, b| a.input.cmp(&b.input));
        report.judge();
        report.ignored.sort_by(|a, b| a.path.cmp(&b.path));
        report.totals = Totals::of(&report.files, report.ignored.len());
        report
    }

    /// Whether this kind of run judges files against the spec (`analyze` only measures).
    pub fn judges(&self) -> bool {
        self.mode != "analyze" && !self.settings.check.is_empty()
    }

    /// Judges every row against the spec in the settings — again for rows judged before (a
    /// skipped file's earlier row, a shard's rows), so the verdicts always match the spec
    /// recorded beside them — and adds the rules that span the batch.
    fn judge(&mut self) {
        if !self.judges() {
            for file in &mut self.files {
                file.verdict = None;
            }
            return;
        }
        let spec = &self.settings.check;
        for file in &mut self.files {
            file.judge(spec);
        }
        let mut judged: Vec<(Option<usize>, &mut Verdict)> = self
            .files
            .iter_mut()
            .filter_map(|f| {
                let channels = f.channels;
                f.verdict.as_mut().map(|v| (channels, v))
            })
            .collect();
        check::judge_batch(spec, &mut judged);
    }

    pub fn to_json(&self) -> std::io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(std::io::Error::other)
    }

    /// Writes `STEM.json`, `STEM.csv` and `STEM.html` into `dir`, each atomically.
    pub fn write(&self, dir: &OutDir, stem: &str) -> std::io::Result<()> {
        dir.write_atomically(OsStr::new(&format!("{stem}.json")), &self.to_json()?)?;
        dir.write_atomically(OsStr::new(&format!("{stem}.csv")), &csv::to_csv(self)?)?;
        dir.write_atomically(OsStr::new(&format!("{stem}.html")), html::to_html(self).as_bytes())
    }
}

/// Where a report goes: a folder and a file stem (`podclean-report` → `.json`, `.csv`).
#[derive(Debug)]
pub struct ReportTarget {
    pub dir: OutDir,
    pub stem: String,
}

impl ReportTarget {
    /// The report at a path the user named (`r.json`, `r.csv` or `r`): both files are written
    /// beside each other whatever extension was given.
    pub fn at_path(path: &Path) -> std::io::Result<ReportTarget> {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = match name.rsplit_once('.') {
            Some((stem, ext)) if ["json", "csv", "html"].contains(&ext.to_ascii_lowercase().as_str()) => {
                stem.to_string()
            }
            _ => name,
        };
        if stem.is_empty() {
            return Err(std::io::Error::other(format!("{} is not a file name", path.display())));
        }
        Ok(ReportTarget {
            dir: OutDir::root(folder, true)?,
            stem,
        })
    }

    pub fn json_path(&self) -> std::path::PathBuf {
        self.dir.path().join(format!("{}.json", self.stem))
    }

    pub fn write(&self, report: &BatchReport) -> std::io::Result<()> {
        report.write(&self.dir, &self.stem)
    }
}

impl Totals {
    pub fn of(files: &[FileReport], ignored: usize) -> Totals {
        let count = |s: Status| files.iter().filter(|f| f.status == s).count();
        let max = |values: &mut dyn Iterator<Item = f64>| {
            values.fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        };
        Totals {
            files: files.len(),
            ok: count(Status::Ok),
            failed: count(Status::Failed),
            silent: count(Status::Silent),
            skipped: count(Status::Skipped),
            pending: count(Status::Pending),
            ignored,
            worst_deviation_lu: max(&mut files.iter().filter_map(|f| f.deviation_lu()).map(f64::abs)),
            highest_true_peak_dbtp: max(&mut files
                .iter()
                .filter_map(|f| f.output_loudness.as_ref().and_then(|m| m.true_peak_dbtp))),
            passed: files
                .iter()
                .filter(|f| f.verdict.as_ref().is_some_and(Verdict::passed))
                .count(),
            rejected: files
                .iter()
                .filter(|f| f.verdict.as_ref().is_some_and(|v| !v.passed()))
                .count(),
            audio_seconds: files.iter().filter_map(|f| f.duration_s).sum(),
            seconds_taken: files.iter().map(|f| f.seconds_taken).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(input: &str, status: Status, out_i: Option<f64>, tp: Option<f64>) -> FileReport {
        FileReport {
            status,
            target_lufs: Some(-16.0),
            output_loudness: out_i.map(|i| Measurement {
                integrated_lufs: Some(i),
                true_peak_dbtp: tp,
                ..Measurement::default()
            }),
            duration_s: Some(10.0),
            ..FileReport::new(input.into())
        }
    }

    #[test]
    fn totals_count_statuses_and_extremes() {
        let files = vec![
            row("a", Status::Ok, Some(-16.04), Some(-1.3)),
            row("b", Status::Ok, Some(-15.93), Some(-1.01)),
            row("c", Status::Failed, None, None),
            row("d", Status::Silent, None, None),
        ];
        let t = Totals::of(&files, 3);
        assert_eq!(
            (t.files, t.ok, t.failed, t.silent, t.skipped, t.ignored),
            (4, 2, 1, 1, 0, 3)
        );
        assert!((t.worst_deviation_lu.unwrap() - 0.07).abs() < 1e-9);
        assert_eq!(t.highest_true_peak_dbtp, Some(-1.01));
        assert_eq!(t.audio_seconds, 40.0);
    }

    #[test]
    fn json_has_nulls_for_undefined_and_csv_has_one_row_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            row("b.wav", Status::Ok, Some(-16.0), None),
            row("a.wav", Status::Failed, None, None),
        ];
        let report = BatchReport::new("process", Preset::load("podcast").unwrap(), None, files, Vec::new());
        ReportTarget::at_path(&dir.path().join("r.csv"))
            .unwrap()
            .write(&report)
            .unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
        assert_eq!(json["files"][0]["input"], "a.wav", "sorted by path");
        assert!(json["files"][1]["output_loudness"]["true_peak_dbtp"].is_null());
        assert_eq!(json["files"][0]["status"], "failed");
        let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.lines().next().unwrap().starts_with("input,output,status,error"));
        assert!(std::fs::read_to_string(dir.path().join("r.html"))
            .unwrap()
            .contains("b.wav"));
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 3, "JSON, CSV, HTML and no temp files left");
    }

    #[test]
    fn infinities_become_undefined_not_numbers() {
        let mut file = row("a.wav", Status::Ok, Some(f64::NEG_INFINITY), Some(f64::INFINITY));
        file.processing.insert(
            "deess".into(),
            [
                ("max_reduction_db".to_string(), f64::NEG_INFINITY),
                ("ok".to_string(), 1.5),
            ]
            .into(),
        );
        file.gain_db = Some(f64::NAN);
        let report = BatchReport::new(
            "process",
            Preset::load("podcast").unwrap(),
            None,
            vec![file],
            Vec::new(),
        );
        let json: serde_json::Value = serde_json::from_slice(&report.to_json().unwrap()).unwrap();
        let row = &json["files"][0];
        assert!(row["output_loudness"]["integrated_lufs"].is_null());
        assert!(row["gain_db"].is_null());
        assert!(row["processing"]["deess"].get("max_reduction_db").is_none());
        assert_eq!(row["processing"]["deess"]["ok"], 1.5);
    }
}
