//! Terminal feedback while the batch runs: indicatif bars (overall + one line per running
//! file), a line per file with `-v`, errors and warnings as they happen.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use podclean::batch::Observer;
use podclean::plan::Job;
use podclean::report::{FileReport, Status};

pub struct Progress {
    bars: Option<Bars>,
    verbose: bool,
    quiet: bool,
    audio_seconds_done: Mutex<f64>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<PathBuf, ProgressBar>>,
}

impl Progress {
    pub fn new(files: usize, interactive: bool, verbose: bool, quiet: bool) -> Progress {
        let bars = (interactive && !verbose && files > 0).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
            let overall = multi.add(ProgressBar::new(files as u64));
            overall.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} files · {msg} · ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            overall.set_message("0.00 h of audio done");
            overall.enable_steady_tick(Duration::from_millis(250));
            Bars {
                multi,
                overall,
                running: Mutex::new(HashMap::new()),
            }
        });
        Progress {
            bars,
            verbose,
            quiet,
            audio_seconds_done: Mutex::new(0.0),
        }
    }

    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            bars.overall.finish_and_clear();
            let _ = bars.multi.clear();
        }
    }

    fn print(&self, line: String) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

impl Observer for Progress {
    fn file_started(&self, job: &Job) {
        if let Some(bars) = &self.bars {
            let bar = bars.multi.insert_before(&bars.overall, ProgressBar::new(1000));
            bar.set_style(
                ProgressStyle::with_template("  {bar:20} {percent:>3}% {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(job.input_rel.display().to_string());
            if let Ok(mut running) = bars.running.lock() {
                running.insert(job.input.clone(), bar);
            }
        }
    }

    fn file_progress(&self, job: &Job, fraction: f64) {
        if let Some(bars) = &self.bars {
            if let Ok(running) = bars.running.lock() {
                if let Some(bar) = running.get(&job.input) {
                    bar.set_position((fraction * 1000.0) as u64);
                }
            }
        }
    }

    fn file_finished(&self, job: &Job, report: &FileReport) {
        if let Some(bars) = &self.bars {
            if let Ok(mut running) = bars.running.lock() {
                if let Some(bar) = running.remove(&job.input) {
                    bar.finish_and_clear();
                    bars.multi.remove(&bar);
                }
            }
            let done = {
                let mut done = self.audio_seconds_done.lock().unwrap_or_else(|e| e.into_inner());
                *done += report.duration_s.unwrap_or(0.0);
                *done
            };
            bars.overall.inc(1);
            bars.overall
                .set_message(format!("{:.2} h of audio done", done / 3600.0));
        }
        match report.status {
            Status::Failed => self.print(format!(
                "podclean: {}: {}",
                report.input,
                report.error.as_deref().unwrap_or("failed")
            )),
            Status::Pending if !self.quiet => self.print(format!(
                "podclean: {}: {}",
                report.input,
                report.error.as_deref().unwrap_or("pending")
            )),
            _ if self.verbose => self.print(file_line(report)),
            _ => {}
        }
        if !self.quiet && report.status != Status::Failed {
            for warning in &report.warnings {
                self.print(format!("podclean: {}: warning: {warning}", report.input));
            }
            if self.verbose {
                for note in &report.notes {
                    self.print(format!("podclean: {}: note: {note}", report.input));
                }
            }
        }
    }
}

fn file_line(report: &FileReport) -> String {
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    let input_i = report.input_loudness.as_ref().and_then(|m| m.integrated_lufs);
    let output = report.output_loudness.as_ref();
    let status = report.status.as_str();
    let speech = match (report.leveler_max_boost_db, report.leveler_max_cut_db) {
        (Some(boost), Some(cut)) => {
            let input = report.input_loudness.as_ref();
            format!(
                ", speech {} → {} LUFS, spread {} → {} LU, leveler +{boost:.1}/−{cut:.1} dB",
                fmt(input.and_then(|m| m.speech_integrated_lufs)),
                fmt(output.and_then(|m| m.speech_integrated_lufs)),
                fmt(input.and_then(|m| m.speech_spread_lu)),
                fmt(output.and_then(|m| m.speech_spread_lu)),
            )
        }
        _ => String::new(),
    };
    let verdict = match &report.verdict {
        Some(v) if v.passed() => "  spec pass".to_string(),
        Some(v) => format!("  spec FAIL ({})", v.violations.len()),
        None => String::new(),
    };
    match output {
        Some(output) => format!(
            "{status:>7}  {}  in {} LUFS → out {} LUFS, {} dBTP, gain {} dB{speech} ({:.1} s){verdict}",
            report.input,
            fmt(input_i),
            fmt(output.integrated_lufs),
            fmt(output.true_peak_dbtp),
            fmt(report.gain_db),
            report.seconds_taken
        ),
        None => {
            let input = report.input_loudness.as_ref();
            format!(
                "{status:>7}  {}  {} LUFS, {} dBTP, LRA {} LU ({:.1} s){verdict}",
                report.input,
                fmt(input_i),
                fmt(input.and_then(|m| m.true_peak_dbtp)),
                fmt(input.and_then(|m| m.lra_lu)),
                report.seconds_taken
            )
        }
    }
}
