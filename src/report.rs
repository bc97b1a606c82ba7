//! The batch report: per-file rows plus the effective settings and totals, as serde data,
//! written as JSON (the full record) and CSV (one flat row per file, for spreadsheets).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

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
    /// Why the file failed (or is silent), in a sentence a person can act on.
    pub error: Option<String>,
    /// Things that did not stop processing but deserve a look (damaged frames, capped gain).
    pub warnings: Vec<String>,
    /// What was decided for this file and why (e.g. the mono target), for the record.
    pub notes: Vec<String>,
    pub input_loudness: Option<Measurement>,
    pub output_loudness: Option<Measurement>,
    /// The loudness target that applied to this file (mono files may have their own).
    pub target_lufs: Option<f64>,
    /// Integrated loudness after cleanup, before gain (what the gain was computed from).
    pub cleaned_integrated_lufs: Option<f64>,
    pub gain_db: Option<f64>,
    pub limiter_max_reduction_db: Option<f64>,
    /// How many times pass B ran (more than 1 when the first result missed the target).
    pub passes: u32,
    pub duration_s: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<usize>,
    pub codec: Option<String>,
    /// Output sample format: "16", "24", "32" or "32f".
    pub output_format: Option<String>,
    /// What each cleanup stage did, by stage name.
    pub processing: BTreeMap<String, StageMetrics>,
    pub seconds_taken: f64,
}

impl FileReport {
    /// An empty row for `input`, to be filled in.
    pub fn new(input: String) -> Self {
        FileReport {
            input,
            output: None,
            status: Status::Failed,
            error: None,
            warnings: Vec::new(),
            notes: Vec::new(),
            input_loudness: None,
            output_loudness: None,
            target_lufs: None,
            cleaned_integrated_lufs: None,
            gain_db: None,
            limiter_max_reduction_db: None,
            passes: 0,
            duration_s: None,
            sample_rate: None,
            channels: None,
            codec: None,
            output_format: None,
            processing: BTreeMap::new(),
            seconds_taken: 0.0,
        }
    }

    pub fn failed(input: String, error: String) -> Self {
        FileReport {
            error: Some(error),
            ..FileReport::new(input)
        }
    }

    /// Output loudness minus target, in LU, where both are known.
    pub fn deviation_lu(&self) -> Option<f64> {
        let out = self.output_loudness.as_ref()?.integrated_lufs?;
        Some(out - self.target_lufs?)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub files: usize,
    pub ok: usize,
    pub failed: usize,
    pub silent: usize,
    pub skipped: usize,
    /// Files not processed because they are not audio by extension (or hidden).
    pub ignored: usize,
    /// Largest |output − target| over files with an output, in LU.
    pub worst_deviation_lu: Option<f64>,
    /// Highest output true peak, in dBTP.
    pub highest_true_peak_dbtp: Option<f64>,
    pub audio_seconds: f64,
    pub seconds_taken: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    pub podclean_version: String,
    /// `"process"` or `"analyze"`.
    pub mode: String,
    pub settings: Preset,
    /// Output sample format override from the command line, if any.
    pub bit_depth: Option<String>,
    pub totals: Totals,
    pub files: Vec<FileReport>,
}

impl BatchReport {
    pub fn new(
        mode: &str,
        settings: Preset,
        bit_depth: Option<String>,
        files: Vec<FileReport>,
        ignored: usize,
    ) -> Self {
        let mut report = BatchReport {
            podclean_version: env!("CARGO_PKG_VERSION").to_string(),
            mode: mode.to_string(),
            settings,
            bit_depth,
            totals: Totals::default(),
            files,
        };
        report.files.sort_by(|a, b| a.input.cmp(&b.input));
        report.totals = Totals::of(&report.files, ignored);
        report
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, text.as_bytes())
    }

    pub fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(CSV_HEADER).map_err(std::io::Error::other)?;
        for file in &self.files {
            writer.write_record(csv_row(file)).map_err(std::io::Error::other)?;
        }
        let bytes = writer.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
        write_atomically(path, &bytes)
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
            ignored,
            worst_deviation_lu: max(&mut files.iter().filter_map(|f| f.deviation_lu()).map(f64::abs)),
            highest_true_peak_dbtp: max(&mut files
                .iter()
                .filter_map(|f| f.output_loudness.as_ref().and_then(|m| m.true_peak_dbtp))),
            audio_seconds: files.iter().filter_map(|f| f.duration_s).sum(),
            seconds_taken: files.iter().map(|f| f.seconds_taken).sum(),
        }
    }
}

const MEASURES: [&str; 6] = [
    "integrated_lufs",
    "lra_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "max_momentary_lufs",
    "max_short_term_lufs",
];

const CSV_HEADER: [&str; 27] = [
    "input",
    "output",
    "status",
    "error",
    "input_integrated_lufs",
    "input_lra_lu",
    "input_true_peak_dbtp",
    "input_sample_peak_dbfs",
    "input_max_momentary_lufs",
    "input_max_short_term_lufs",
    "output_integrated_lufs",
    "output_lra_lu",
    "output_true_peak_dbtp",
    "output_sample_peak_dbfs",
    "output_max_momentary_lufs",
    "output_max_short_term_lufs",
    "target_lufs",
    "gain_db",
    "limiter_max_reduction_db",
    "passes",
    "duration_s",
    "sample_rate",
    "channels",
    "codec",
    "output_format",
    "seconds_taken",
    "warnings",
];

fn csv_row(file: &FileReport) -> Vec<String> {
    let num = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
    let measures = |m: &Option<Measurement>| -> Vec<String> {
        let m = m.clone().unwrap_or_default();
        let values = [
            m.integrated_lufs,
            m.lra_lu,
            m.true_peak_dbtp,
            m.sample_peak_dbfs,
            m.max_momentary_lufs,
            m.max_short_term_lufs,
        ];
        debug_assert_eq!(values.len(), MEASURES.len());
        values.iter().map(|v| num(*v)).collect()
    };
    let status = serde_json::to_value(file.status)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut row = vec![
        file.input.clone(),
        file.output.clone().unwrap_or_default(),
        status,
        file.error.clone().unwrap_or_default(),
    ];
    row.extend(measures(&file.input_loudness));
    row.extend(measures(&file.output_loudness));
    row.extend([
        num(file.target_lufs),
        num(file.gain_db),
        num(file.limiter_max_reduction_db),
        file.passes.to_string(),
        num(file.duration_s),
        file.sample_rate.map(|r| r.to_string()).unwrap_or_default(),
        file.channels.map(|c| c.to_string()).unwrap_or_default(),
        file.codec.clone().unwrap_or_default(),
        file.output_format.clone().unwrap_or_default(),
        format!("{:.3}", file.seconds_taken),
        file.warnings.join("; "),
    ]);
    row
}

/// Writes `bytes` to a temporary name beside `path`, syncs, and renames over `path`, so a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(
        "{}{}.{}.tmp",
        crate::discover::TEMP_PREFIX,
        name,
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
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
        let report = BatchReport::new("process", Preset::load("podcast").unwrap(), None, files, 0);
        report.write_json(&dir.path().join("r.json")).unwrap();
        report.write_csv(&dir.path().join("r.csv")).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
        assert_eq!(json["files"][0]["input"], "a.wav", "sorted by path");
        assert!(json["files"][1]["output_loudness"]["true_peak_dbtp"].is_null());
        assert_eq!(json["files"][0]["status"], "failed");
        let csv = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
        assert_eq!(csv.lines().count(), 3);
        assert!(csv.lines().next().unwrap().starts_with("input,output,status,error"));
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 2, "no temp files left");
    }
}
