//! The report as CSV: one flat row per file, for spreadsheets. Cells are made safe for them:
//! a text cell that a spreadsheet would run as a formula (an input named `=HYPERLINK(…).wav`)
//! is prefixed with `'`, as OWASP advises; numbers stay numbers.

use super::{BatchReport, FileReport};
use crate::loudness::Measurement;

const MEASURES: [&str; 12] = [
    "integrated_lufs",
    "lra_lu",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "max_momentary_lufs",
    "max_short_term_lufs",
    "rms_dbfs",
    "noise_floor_dbfs",
    "room_tone_head_s",
    "room_tone_tail_s",
    "speech_integrated_lufs",
    "speech_spread_lu",
];

/// The column names, in order.
pub fn header() -> Vec<String> {
    let mut columns: Vec<String> = ["input", "output", "status", "error_kind", "error"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for side in ["input", "output"] {
        columns.extend(MEASURES.iter().map(|m| format!("{side}_{m}")));
    }
    columns.extend(
        [
            "target_lufs",
            "gain_db",
            "limiter_max_reduction_db",
            "leveler_max_boost_db",
            "leveler_max_cut_db",
            "passes",
            "duration_s",
            "sample_rate",
            "channels",
            "codec",
            "output_format",
            "bitrate_kbps",
            "tags_carried",
            "chapters_carried",
            "output_measured_on",
            "seconds_taken",
            "warnings",
            "verdict",
            "violations",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    columns
}

/// One file's row, cells already made spreadsheet-safe.
pub fn row(file: &FileReport) -> Vec<String> {
    let num = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map(|v| format!("{v:.3}"))
            .unwrap_or_default()
    };
    let measures = |m: &Option<Measurement>| -> Vec<String> {
        let mut m = m.clone().unwrap_or_default();
        m.figures_mut().iter().map(|v| num(**v)).collect()
    };
    let mut row = vec![
        file.input.clone(),
        file.output.clone().unwrap_or_default(),
        file.status.as_str().to_string(),
        file.error_kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        file.error.clone().unwrap_or_default(),
    ];
    row.extend(measures(&file.input_loudness));
    row.extend(measures(&file.output_loudness));
    row.extend([
        num(file.target_lufs),
        num(file.gain_db),
        num(file.limiter_max_reduction_db),
        num(file.leveler_max_boost_db),
        num(file.leveler_max_cut_db),
        file.passes.to_string(),
        num(file.duration_s),
        file.sample_rate.map(|r| r.to_string()).unwrap_or_default(),
        file.channels.map(|c| c.to_string()).unwrap_or_default(),
        file.codec.clone().unwrap_or_default(),
        file.output_format.clone().unwrap_or_default(),
        num(file.bitrate_kbps),
        file.tags_carried.map(|n| n.to_string()).unwrap_or_default(),
        file.chapters_carried.map(|n| n.to_string()).unwrap_or_default(),
        file.output_measured_on.clone().unwrap_or_default(),
        format!("{:.3}", file.seconds_taken),
        file.warnings.join("; "),
        file.verdict
            .as_ref()
            .map(|v| v.result.as_str().to_string())
            .unwrap_or_default(),
        file.verdict
            .as_ref()
            .map(|v| {
                let lines: Vec<String> = v.violations.iter().map(|x| x.to_string()).collect();
                lines.join("; ")
            })
            .unwrap_or_default(),
    ]);
    row.into_iter().map(|cell| safe_cell(&cell)).collect()
}

/// A cell a spreadsheet shows as text: one that would start a formula (`=`, `+`, `-`, `@`, tab,
/// carriage return) gets a leading `'`, unless it is a plain number such as `-16.000`.
pub fn safe_cell(cell: &str) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|&c| c == '.').count() <= 1
        && digits.chars().any(|c| c.is_ascii_digit())
}

/// The whole report as CSV bytes.
pub fn to_csv(report: &BatchReport) -> std::io::Result<Vec<u8>> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(header()).map_err(std::io::Error::other)?;
    for file in &report.files {
        writer.write_record(row(file)).map_err(std::io::Error::other)?;
    }
    writer.into_inner().map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_numbers_kept() {
        for risky in [
            "=HYPERLINK(\"http://x\",\"y\").wav",
            "+cmd.wav",
            "-2+3",
            "@SUM(A1).wav",
            "\tx",
            "\rx",
        ] {
            assert_eq!(safe_cell(risky), format!("'{risky}"), "{risky:?}");
        }
        for plain in ["-16.000", "+1.5", "-0", "ep1.wav", "", "a=b.wav", "12"] {
            assert_eq!(safe_cell(plain), plain, "{plain:?}");
        }
    }

    #[test]
    fn every_row_has_the_header_width() {
        let mut file = FileReport::new("=bad.wav".into());
        file.warnings.push("@x".into());
        let row = row(&file);
        assert_eq!(row.len(), header().len());
        assert_eq!(row[0], "'=bad.wav");
        let warnings = header().iter().position(|c| c == "warnings").unwrap();
        assert_eq!(row[warnings], "'@x");
    }
}
