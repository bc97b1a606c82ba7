//! Size and speed of the HTML report for a big batch: builds N synthetic file rows with every
//! plot series a row can carry (input and output short-term loudness with true-peak overs, a
//! gain curve), a verdict with violations and warnings, then times rendering the page and
//! writing it (atomically, with fsync, as a run does).
//!
//! cargo run --release --example html_report_bench -- [FILES] [HOURS_PER_FILE] [KEEP_DIR]
//!
//! With KEEP_DIR the report files stay there (to open the page); otherwise in a temporary folder.

use std::ffi::OsStr;
use std::time::Instant;

use podclean::check::Spec;
use podclean::fsutil::OutDir;
use podclean::loudness::Measurement;
use podclean::preset::Preset;
use podclean::report::plot::{Plot, Series, SeriesKind};
use podclean::report::{html, BatchReport, FileReport, Status};

fn row(index: usize, hours: f64) -> FileReport {
    let blocks = (hours * 36_000.0) as usize;
    let energy = |k: usize, offset: f64| {
        let t = k as f64 / 10.0;
        let lufs = -19.0 + offset + 5.0 * (t / 7.3).sin() + 3.0 * (t / 61.0 + index as f64).cos();
        10f64.powf((lufs + 0.691) / 10.0) as f32
    };
    let input: Vec<f32> = (0..blocks).map(|k| energy(k, -6.0)).collect();
    let output: Vec<f32> = (0..blocks).map(|k| energy(k, 3.0)).collect();
    let gain: Vec<f32> = (0..blocks).map(|k| 4.0 * ((k as f32) / 900.0).sin()).collect();
    let overs: Vec<u32> = (0..blocks as u32).step_by(blocks.max(40) / 40).collect();
    let mut plot = Plot::new(blocks as f64 / 10.0);
    plot.set(Series::short_term(SeriesKind::Input, &input, &overs));
    plot.set(Series::short_term(SeriesKind::Output, &output, &overs));
    plot.set(Series::from_track(SeriesKind::Gain, &gain));
    FileReport {
        output: Some(format!(
            "season-{:02}/episode-{index:04}-a-fairly-long-title.wav",
            index / 50
        )),
        status: Status::Ok,
        warnings: vec!["target not reached: 31.2 dB of gain needed, capped at +30 dB (max_gain_db)".into()],
        input_loudness: Some(Measurement {
            integrated_lufs: Some(-25.0 + (index % 7) as f64),
            lra_lu: Some(8.5),
            true_peak_dbtp: Some(-0.4),
            ..Measurement::default()
        }),
        output_loudness: Some(Measurement {
            integrated_lufs: Some(-16.0 + (index % 5) as f64 * 0.6),
            lra_lu: Some(6.1),
            true_peak_dbtp: Some(-0.8),
            ..Measurement::default()
        }),
        target_lufs: Some(-16.0),
        gain_db: Some(9.0 - (index % 7) as f64),
        duration_s: Some(blocks as f64 / 10.0),
        sample_rate: Some(48_000),
        channels: Some(2),
        plot: Some(plot),
        ..FileReport::new(format!(
            "season-{:02}/episode-{index:04}-a-fairly-long-title.mp3",
            index / 50
        ))
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let files: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let hours: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1.0);
    let built = Instant::now();
    let rows: Vec<FileReport> = (0..files).map(|i| row(i, hours)).collect();
    let mut preset = Preset::load("podcast").expect("built-in preset");
    preset.check = Spec {
        max_lra_lu: Some(7.0),
        ..preset.check
    };
    let report = BatchReport::new("process", preset, None, rows, Vec::new());
    println!(
        "{files} rows of {hours} h each built in {:.2} s ({} fail the spec)",
        built.elapsed().as_secs_f64(),
        report.totals.rejected
    );
    let temporary = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or(temporary.path().to_path_buf(), std::path::PathBuf::from);
    let out = OutDir::root(&dir, true)?;
    let mut best = f64::INFINITY;
    let mut size = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let page = html::to_html(&report);
        out.write_atomically(OsStr::new("podclean-report.html"), page.as_bytes())?;
        best = best.min(started.elapsed().as_secs_f64());
        size = page.len();
    }
    let started = Instant::now();
    let page = html::to_html(&report);
    let render = started.elapsed().as_secs_f64();
    println!(
        "HTML: {:.2} MB ({:.1} KB per file); render {:.0} ms; render + write {:.0} ms (best of 5)",
        size as f64 / 1e6,
        size as f64 / files as f64 / 1e3,
        render * 1e3,
        best * 1e3
    );
    assert_eq!(page.len(), size);
    let started = Instant::now();
    report.write(&out, "podclean-report")?;
    println!(
        "JSON + CSV + HTML written in {:.0} ms (JSON {:.2} MB)",
        started.elapsed().as_secs_f64() * 1e3,
        std::fs::metadata(dir.join("podclean-report.json"))?.len() as f64 / 1e6
    );
    Ok(())
}
