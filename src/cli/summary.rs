//! The closing summary on the terminal, and `--dry-run`'s listing of the plan.

use std::path::Path;

use podclean::plan::{Action, Plan};
use podclean::report::BatchReport;

pub fn print_summary(report: &BatchReport, report_path: &Path) {
    let t = &report.totals;
    let fmt = |v: Option<f64>, unit: &str| v.map(|v| format!("{v:.2} {unit}")).unwrap_or_else(|| "-".into());
    println!();
    println!(
        "  files        {:>5}   ok {}, failed {}, silent {}, skipped {}{}",
        t.files,
        t.ok,
        t.failed,
        t.silent,
        t.skipped,
        if t.pending > 0 {
            format!(", pending {}", t.pending)
        } else {
            String::new()
        }
    );
    println!(
        "  ignored      {:>5}   (listed in the report with the reason)",
        t.ignored
    );
    if report.interrupted {
        println!("  interrupted         the run stopped early: pending files are done by the next run");
    }
    if report.judges() {
        println!(
            "  spec         {:>5}   pass, {} fail ({})",
            t.passed, t.rejected, report.settings.name
        );
    }
    if report.mode == "process" {
        println!("  worst deviation from target   {}", fmt(t.worst_deviation_lu, "LU"));
        println!(
            "  highest true peak             {}",
            fmt(t.highest_true_peak_dbtp, "dBTP")
        );
    }
    println!(
        "  audio        {:.2} h in {:.1} s of work",
        t.audio_seconds / 3600.0,
        t.seconds_taken
    );
    println!("  report       {} (+ .csv, .html)", report_path.display());
}

/// Prints the plan: one line per file (what, and why), then what is left alone. `verb` names
/// what a measuring run does to a file (`analyze`, `check`).
pub fn print_plan(plan: &Plan, writes_audio: bool, verb: &str) {
    for item in &plan.items {
        let job = &item.job;
        match &item.action {
            Action::Process { reason } if writes_audio => println!(
                "process  {} → {}  ({reason})",
                job.input_rel.display(),
                job.output_rel.display()
            ),
            Action::Process { .. } => println!("{verb:<8} {}", job.input_rel.display()),
            Action::Skip(_) => println!("skip     {}  (up to date)", job.input_rel.display()),
            Action::Fail(error) => println!(
                "fail     {}  ({}: {})",
                job.input_rel.display(),
                error.kind,
                error.message
            ),
        }
    }
    for ignored in &plan.ignored {
        println!("ignore   {}  ({})", ignored.path, ignored.reason);
    }
}
