//! The report as one self-contained HTML page: the batch summary, a sortable table of the
//! files, and per file a loudness-over-time plot (inline SVG) collapsed under `<details>`.
//! Everything is inline — styles, the plots, a few lines of script for sorting — and nothing
//! is fetched, so the page opens from a file share or an e-mail attachment. Every name and
//! message is escaped: file names are data, never markup.
//!
//! Size is bounded per file: each plot series has a fixed number of points
//! ([`super::plot::POINTS`]), drawn with integer coordinates.

use std::fmt::Write;

use super::plot::{Plot, Series, SeriesKind, POINTS};
use super::{BatchReport, FileReport};
use crate::check::{clock, Spec, Verdict};

/// Text made safe for HTML text and quoted attribute values. `:` is encoded too, so no
/// `scheme://` sequence from a file name or a message ever appears in the page.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            ':' => out.push_str("&#58;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{--fg:#1d2330;--dim:#5d6675;--line:#d9dde5;--bg:#fff;--soft:#f4f6f9;--pass:#1d7a3e;--fail:#b3261e;--warn:#8a5a00;--in:#9aa3b2;--out:#1f5fbf;--gain:#d9822b;--band:#cfeeda}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1100px;padding:24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.dim{color:var(--dim)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{background:var(--soft);border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}
.spec li{margin:2px 0}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal;word-break:break-all}
th{position:sticky;top:0;background:var(--soft);cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
tbody tr:hover{background:var(--soft)}
a{color:var(--out);text-decoration:none}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;background:var(--dim)}
.badge.pass{background:var(--pass)}.badge.fail,.badge.failed{background:var(--fail)}.badge.ok{background:#3b6e58}.badge.silent,.badge.pending{background:var(--warn)}
details{border:1px solid var(--line);border-radius:8px;margin:6px 0}
summary{padding:7px 10px;cursor:pointer}
details>div{padding:0 12px 12px}
.violations li{color:var(--fail)}.warnings li{color:var(--warn)}
svg.plot{width:100%;height:auto;max-width:900px;display:block}
svg text{font-size:10px;fill:var(--dim)}
.grid{stroke:var(--line);stroke-width:1}
.band{fill:var(--band)}.target{stroke:var(--pass);stroke-dasharray:4 3}.limit{stroke:var(--fail);stroke-dasharray:2 3}
.s-input,.s-output,.s-gain{fill:none;stroke-width:1.5;stroke-linejoin:round}
.s-input{stroke:var(--in)}.s-output{stroke:var(--out)}.s-gain{stroke:var(--gain)}
.overs{stroke:var(--fail);stroke-width:2}
.key{display:inline-block;width:14px;height:3px;vertical-align:middle;margin:0 4px 0 12px}
"#;

/// Sorts the table by a clicked header (numbers by `data-v`, text otherwise; empty cells
/// last), and opens a file's plot when its link is followed (`#all` opens every plot).
const SCRIPT: &str = r#"
(function(){var t=document.getElementById("files");if(!t)return;var b=t.tBodies[0];
t.querySelectorAll("th").forEach(function(h,i){h.addEventListener("click",function(){
var up=h.getAttribute("aria-sort")!=="ascending";t.querySelectorAll("th").forEach(function(o){o.removeAttribute("aria-sort")});
h.setAttribute("aria-sort",up?"ascending":"descending");var num=h.dataset.type==="num";
var rows=Array.prototype.slice.call(b.rows);rows.sort(function(x,y){var a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;
if(a===""||a===undefined)return 1;if(c===""||c===undefined)return -1;
var r=num?parseFloat(a)-parseFloat(c):a.localeCompare(c);return up?r:-r});rows.forEach(function(r){b.appendChild(r)})})});
function open(){var h=location.hash.slice(1);if(h==="all"){document.querySelectorAll("details").forEach(function(d){d.open=true});return}
var d=document.getElementById(h);if(d&&d.tagName==="DETAILS")d.open=true}
window.addEventListener("hashchange",open);open()})();
"#;

/// The whole page.
pub fn to_html(report: &BatchReport) -> String {
    let mut out = String::with_capacity(4096 + report.files.len() * 6000);
    let mode = escape(&report.mode);
    let preset = escape(&report.settings.name);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>podclean {mode} report — {preset}</title><style>{STYLE}</style></head><body>\n"
    );
    summary(&mut out, report);
    table(&mut out, report);
    out.push_str("<h2>Files</h2>\n");
    legend(&mut out, report);
    out.push_str("<div id=\"plots\">\n");
    for (index, file) in report.files.iter().enumerate() {
        // Analyze does not judge, but the spec's band still tells where the files should sit.
        file_details(&mut out, index, file, &report.settings.check);
    }
    out.push_str("</div>\n");
    if !report.ignored.is_empty() {
        let _ = write!(
            out,
            "<details><summary>{} path{} left alone</summary><div><ul>",
            report.ignored.len(),
            if report.ignored.len() == 1 { "" } else { "s" }
        );
        for ignored in &report.ignored {
            let _ = write!(
                out,
                "<li>{} <span class=\"dim\">({})</span></li>",
                escape(&ignored.path),
                escape(&ignored.reason)
            );
        }
        out.push_str("</ul></div></details>\n");
    }
    let _ = write!(
        out,
        "<p class=\"dim\">podclean {}. Plots: {POINTS} points per file.</p>\n<script>{SCRIPT}</script>\n</body></html>\n",
        escape(&report.podclean_version)
    );
    out
}

fn summary(out: &mut String, report: &BatchReport) {
    let t = &report.totals;
    let title = match report.mode.as_str() {
        "process" => "Processing report",
        "analyze" => "Loudness analysis",
        "check" => "Delivery check",
        other => other,
    };
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"dim\">preset <b>{}</b> — {} · {} file{} · {} of audio{}{}</p>\n<div class=\"cards\">",
        escape(title),
        escape(&report.settings.name),
        escape(&report.settings.description),
        t.files,
        if t.files == 1 { "" } else { "s" },
        clock(t.audio_seconds),
        report
            .shard
            .as_ref()
            .map(|s| format!(" · shard {}", escape(s)))
            .unwrap_or_default(),
        if report.interrupted {
            " · <b>interrupted</b>: pending files were not done"
        } else {
            ""
        }
    );
    let mut card = |label: &str, value: String| {
        let _ = write!(out, "<div class=\"card\"><b>{value}</b>{label}</div>");
    };
    if report.judges() {
        card("pass the spec", t.passed.to_string());
        card("fail the spec", t.rejected.to_string());
    }
    card("ok", t.ok.to_string());
    for (label, n) in [
        ("failed", t.failed),
        ("silent", t.silent),
        ("skipped", t.skipped),
        ("pending", t.pending),
    ] {
        if n > 0 {
            card(label, n.to_string());
        }
    }
    if let Some(d) = t.worst_deviation_lu {
        card("worst deviation", format!("{d:.2} LU"));
    }
    if let Some(tp) = t.highest_true_peak_dbtp {
        card("highest true peak", format!("{tp:.2} dBTP"));
    }
    out.push_str("</div>\n");
    let rules = report.settings.check.describe();
    if !rules.is_empty() {
        let _ = write!(
            out,
            "<div class=\"spec\"><b>Spec {}</b>{}<ul>",
            escape(&report.settings.name),
            if report.judges() {
                ""
            } else {
                " <span class=\"dim\">(not judged by this run; shown on the plots)</span>"
            }
        );
        for rule in rules {
            let _ = write!(out, "<li>{}</li>", escape(&rule));
        }
        out.push_str("</ul></div>\n");
    }
}

fn num(v: Option<f64>, decimals: usize) -> (String, String) {
    match v.filter(|v| v.is_finite()) {
        Some(v) => (format!("{v:.3}"), format!("{v:.decimals$}")),
        None => (String::new(), "–".to_string()),
    }
}

fn table(out: &mut String, report: &BatchReport) {
    out.push_str(
        "<table id=\"files\"><thead><tr><th>File</th><th>Status</th>\
         <th data-type=\"num\">In LUFS</th><th data-type=\"num\">Out LUFS</th>\
         <th data-type=\"num\">LRA LU</th><th data-type=\"num\">True peak dBTP</th>\
         <th data-type=\"num\">Gain dB</th><th>Spec</th></tr></thead><tbody>\n",
    );
    for (index, file) in report.files.iter().enumerate() {
        let name = escape(&file.input);
        let judged = file.output_loudness.as_ref().or(file.input_loudness.as_ref());
        let cells = [
            num(file.input_loudness.as_ref().and_then(|m| m.integrated_lufs), 1),
            num(file.output_loudness.as_ref().and_then(|m| m.integrated_lufs), 1),
            num(judged.and_then(|m| m.lra_lu), 1),
            num(judged.and_then(|m| m.true_peak_dbtp), 2),
            num(file.gain_db, 1),
        ];
        let status = file.status.as_str();
        let _ = write!(
            out,
            "<tr><td data-v=\"{name}\"><a href=\"#f{index}\">{name}</a></td>\
             <td data-v=\"{status}\"><span class=\"badge {status}\">{status}</span></td>"
        );
        for (sort, shown) in cells {
            let _ = write!(out, "<td data-v=\"{sort}\">{shown}</td>");
        }
        match &file.verdict {
            Some(v) => {
                let result = v.result.as_str();
                let _ = writeln!(
                    out,
                    "<td data-v=\"{result}\"><span class=\"badge {result}\">{result}</span>{}</td></tr>",
                    if v.violations.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", v.violations.len())
                    }
                );
            }
            None => out.push_str("<td data-v=\"\">–</td></tr>\n"),
        }
    }
    out.push_str("</tbody></table>\n");
}

fn file_details(out: &mut String, index: usize, file: &FileReport, spec: &Spec) {
    let name = escape(&file.input);
    let status = file.status.as_str();
    let badge = match &file.verdict {
        Some(v) => v.result.as_str(),
        None => status,
    };
    let mut facts = vec![status.to_string()];
    let lufs = |m: &Option<crate::loudness::Measurement>| m.as_ref().and_then(|m| m.integrated_lufs);
    match (lufs(&file.input_loudness), lufs(&file.output_loudness)) {
        (Some(i), Some(o)) => facts.push(format!("{i:.1} → {o:.1} LUFS")),
        (Some(i), None) => facts.push(format!("{i:.1} LUFS")),
        (None, Some(o)) => facts.push(format!("out {o:.1} LUFS")),
        (None, None) => {}
    }
    if let Some(d) = file.duration_s {
        facts.push(clock(d));
    }
    if let (Some(rate), Some(channels)) = (file.sample_rate, file.channels) {
        facts.push(format!("{rate} Hz, {channels} ch"));
    }
    let _ = write!(
        out,
        "<details id=\"f{index}\"><summary><span class=\"badge {badge}\">{badge}</span> <b>{name}</b> \
         <span class=\"dim\">{}</span></summary><div>",
        escape(&facts.join(" · "))
    );
    if let Some(error) = &file.error {
        let _ = write!(out, "<p>{}</p>", escape(error));
    }
    if let Some(Verdict { violations, .. }) = &file.verdict {
        if !violations.is_empty() {
            out.push_str("<ul class=\"violations\">");
            for v in violations {
                let _ = write!(out, "<li>{}</li>", escape(&v.to_string()));
            }
            out.push_str("</ul>");
        }
    }
    if !file.warnings.is_empty() {
        out.push_str("<ul class=\"warnings\">");
        for w in &file.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul>");
    }
    if let Some(plot) = file
        .plot
        .as_ref()
        .filter(|p| p.series.iter().any(|s| !s.values.is_empty()))
    {
        let channels = file.channels.unwrap_or(2);
        let band = spec
            .integrated_for(channels)
            .map(|t| (t, spec.tolerance_lu))
            .or(file.target_lufs.map(|t| (t, 0.0)));
        let applies = match (spec.short_form_under_s, file.duration_s) {
            (Some(limit), Some(d)) => d < limit,
            _ => true,
        };
        let short_term_limit = spec.max_short_term_lufs.filter(|_| applies);
        svg(out, plot, band, short_term_limit);
    }
    out.push_str("</div></details>\n");
}

/// Plot geometry: a 720 × 220 canvas, the plot area 600 px wide (3 px per point) and 180 px
/// high (4 px per LU, 45 LU shown).
const LEFT: i64 = 48;
const TOP: i64 = 10;
const HEIGHT: i64 = 180;
const STEP: i64 = 3;
const PX_PER_LU: f64 = 4.0;
const PX_PER_GAIN_DB: f64 = 6.0;
const WIDTH: i64 = STEP * POINTS as i64;

fn svg(out: &mut String, plot: &Plot, band: Option<(f64, f64)>, short_term_limit: Option<f64>) {
    let loudness: Vec<&Series> = plot.series.iter().filter(|s| s.kind != SeriesKind::Gain).collect();
    let data_max = loudness
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let wanted = [
        band.map(|(t, tol)| t + tol + 6.0),
        short_term_limit.map(|l| l + 3.0),
        data_max.is_finite().then_some(data_max + 1.0),
    ];
    let top_lufs = wanted.iter().flatten().fold(-20.0f64, |m, &v| m.max(v)).min(0.0);
    let top_lufs = (top_lufs / 6.0).ceil() * 6.0;
    let span = HEIGHT as f64 / PX_PER_LU;
    let y = |lufs: f64| -> i64 {
        let clamped = lufs.clamp(top_lufs - span, top_lufs);
        TOP + ((top_lufs - clamped) * PX_PER_LU).round() as i64
    };
    let right = LEFT + WIDTH;
    let bottom = TOP + HEIGHT;
    let _ = write!(
        out,
        "<svg class=\"plot\" viewBox=\"0 0 720 220\" role=\"img\" aria-label=\"short-term loudness over time\">"
    );
    // Grid every 6 LU, labelled on the left.
    let mut grid = String::new();
    let mut level = top_lufs;
    while level >= top_lufs - span {
        let gy = y(level);
        let _ = write!(grid, "M{LEFT} {gy}H{right}");
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{level:.0}</text>",
            LEFT - 4,
            gy + 3
        );
        level -= 6.0;
    }
    for k in 0..=4 {
        let gx = LEFT + WIDTH * k / 4;
        let _ = write!(grid, "M{gx} {TOP}V{bottom}");
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            "<text x=\"{gx}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            bottom + 14,
            clock(plot.duration_s * k as f64 / 4.0)
        );
    }
    let _ = write!(out, "<path class=\"grid\" d=\"{grid}\"/>");
    if let Some((target, tolerance)) = band {
        if tolerance > 0.0 {
            let (band_top, band_bottom) = (y(target + tolerance), y(target - tolerance));
            let _ = write!(
                out,
                "<rect class=\"band\" x=\"{LEFT}\" y=\"{band_top}\" width=\"{WIDTH}\" height=\"{}\"/>",
                (band_bottom - band_top).max(1)
            );
        }
        let ty = y(target);
        let _ = write!(
            out,
            "<path class=\"target\" d=\"M{LEFT} {ty}H{right}\"/><text x=\"{}\" y=\"{}\">target {target:.1}</text>",
            right + 4,
            ty + 3
        );
    }
    if let Some(limit) = short_term_limit {
        let ly = y(limit);
        let _ = write!(
            out,
            "<path class=\"limit\" d=\"M{LEFT} {ly}H{right}\"/><text x=\"{}\" y=\"{}\">max S {limit:.0}</text>",
            right + 4,
            ly + 3
        );
    }
    let x = |k: usize| LEFT + STEP * k as i64 + STEP / 2;
    let mut overs = String::new();
    for series in &plot.series {
        let to_y = |v: f32| match series.kind {
            SeriesKind::Gain => {
                let mid = TOP + HEIGHT / 2;
                mid - (v as f64 * PX_PER_GAIN_DB).round() as i64
            }
            _ => y(v as f64),
        };
        let _ = write!(out, "<path class=\"s-{}\" d=\"", series.kind.as_str());
        // Relative steps after the first point ("l3 -2 3 1 …"): points are STEP apart, so
        // each costs a few characters.
        let mut pen: Option<i64> = None;
        let mut first_step = true;
        for (k, v) in series.values.iter().enumerate() {
            let point = match v {
                Some(v) => Some(to_y(*v)),
                None if series.kind == SeriesKind::Gain => None,
                // No signal: draw it at the floor of the plot.
                None => Some(bottom),
            };
            match (point, pen) {
                (Some(py), None) => {
                    let _ = write!(out, "M{} {py}", x(k));
                    first_step = true;
                }
                (Some(py), Some(previous)) => {
                    let _ = write!(out, "{}{STEP} {}", if first_step { "l" } else { " " }, py - previous);
                    first_step = false;
                }
                (None, _) => {}
            }
            pen = point;
        }
        out.push_str("\"/>");
        for &k in &series.overs {
            let _ = write!(overs, "M{} {TOP}v8", x(k as usize));
        }
    }
    if !overs.is_empty() {
        let _ = write!(out, "<path class=\"overs\" d=\"{overs}\"/>");
    }
    if plot.get(SeriesKind::Gain).is_some() {
        for db in [-12, 0, 12] {
            let gy = TOP + HEIGHT / 2 - (db as f64 * PX_PER_GAIN_DB).round() as i64;
            let label = if db == 0 { "0".to_string() } else { format!("{db:+}") };
            let _ = write!(out, "<text x=\"{}\" y=\"{}\">{label} dB</text>", right + 4, gy + 3);
        }
    }
    out.push_str("</svg>");
}

/// One legend for every plot of the page: the series the batch has.
fn legend(out: &mut String, report: &BatchReport) {
    let plots: Vec<&Plot> = report.files.iter().filter_map(|f| f.plot.as_ref()).collect();
    if plots.is_empty() {
        return;
    }
    out.push_str("<p class=\"dim\">");
    for (kind, label, color) in [
        (SeriesKind::Input, "input", "--in"),
        (SeriesKind::Output, "output", "--out"),
        (SeriesKind::Gain, "leveler gain (dB, right axis)", "--gain"),
    ] {
        if plots.iter().any(|p| p.get(kind).is_some()) {
            let _ = write!(
                out,
                "<span class=\"key\" style=\"background:var({color})\"></span>{label}"
            );
        }
    }
    out.push_str(
        "<span class=\"key\" style=\"background:var(--band);height:8px\"></span>target ± tolerance\
         <span class=\"key\" style=\"background:var(--fail);width:3px;height:10px\"></span>true-peak over the ceiling\
         <br>Short-term loudness (3 s) in LUFS over time, on the left axis.</p>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Verdict;
    use crate::loudness::Measurement;
    use crate::preset::Preset;
    use crate::report::Status;

    fn file(name: &str, seconds: f64) -> FileReport {
        let mut plot = Plot::new(seconds);
        let blocks = (seconds * 10.0) as usize;
        let energy: Vec<f32> = (0..blocks)
            .map(|k| 10f64.powf((-20.0 + 6.0 * (k as f64 / 37.0).sin() + 0.691) / 10.0) as f32)
            .collect();
        let overs: Vec<u32> = (0..blocks as u32).step_by(blocks / 20).collect();
        plot.set(Series::short_term(SeriesKind::Input, &energy, &[]));
        plot.set(Series::short_term(SeriesKind::Output, &energy, &overs));
        plot.set(Series::from_track(SeriesKind::Gain, &vec![3.0; blocks]));
        FileReport {
            status: Status::Ok,
            input_loudness: Some(Measurement {
                integrated_lufs: Some(-23.4),
                ..Measurement::default()
            }),
            output_loudness: Some(Measurement {
                integrated_lufs: Some(-16.0),
                true_peak_dbtp: Some(-1.2),
                lra_lu: Some(5.5),
                ..Measurement::default()
            }),
            target_lufs: Some(-16.0),
            gain_db: Some(7.4),
            duration_s: Some(seconds),
            sample_rate: Some(48_000),
            channels: Some(2),
            plot: Some(plot),
            ..FileReport::new(name.into())
        }
    }

    fn report(files: Vec<FileReport>) -> BatchReport {
        BatchReport::new("process", Preset::load("podcast").unwrap(), None, files, Vec::new())
    }

    #[test]
    fn escaping_leaves_no_markup_and_no_scheme() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"http://e\".wav"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;http&#58;//e&quot;.wav"
        );
    }

    #[test]
    fn page_size_does_not_grow_with_audio_length() {
        let short = to_html(&report(vec![file("ep.wav", 180.0)])).len();
        let long = to_html(&report(vec![file("ep.wav", 3.0 * 3600.0)])).len();
        // Only the digits of the time labels and the plotted values differ.
        assert!(long.abs_diff(short) < 400, "3 min: {short} bytes, 3 h: {long} bytes");
    }

    #[test]
    fn one_path_per_series_and_an_overs_path_per_file() {
        let html = to_html(&report(vec![file("a.wav", 60.0), file("b.wav", 600.0)]));
        for class in ["s-input", "s-output", "s-gain", "overs"] {
            assert_eq!(html.matches(&format!("class=\"{class}\"")).count(), 2, "{class}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    /// The y of every point of the path with class `class` in `html` (absolute start, then
    /// relative steps).
    fn path_ys(html: &str, class: &str) -> Vec<i64> {
        let start = html.find(&format!("class=\"{class}\" d=\"M")).unwrap() + class.len() + 13;
        let d = &html[start..start + html[start..].find('"').unwrap()];
        let numbers: Vec<i64> = d
            .replace('l', " ")
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let mut y = numbers[1];
        let mut ys = vec![y];
        for step in numbers[2..].chunks(2) {
            assert_eq!(step[0], STEP);
            y += step[1];
            ys.push(y);
        }
        ys
    }

    #[test]
    fn paths_trace_the_values_at_four_pixels_per_lu() {
        let mut plot = Plot::new(20.0);
        let values: Vec<Option<f32>> = (0..POINTS)
            .map(|k| match k {
                50..=59 => None,
                _ => Some(-20.0 + (k % 7) as f32),
            })
            .collect();
        plot.set(Series {
            kind: SeriesKind::Input,
            values: values.clone(),
            overs: vec![3, 150],
        });
        let mut row = file("x.wav", 20.0);
        row.plot = Some(plot);
        let html = to_html(&report(vec![row]));
        let ys = path_ys(&html, "s-input");
        assert_eq!(ys.len(), POINTS);
        for (k, v) in values.iter().enumerate() {
            match v {
                Some(v) => assert_eq!(ys[0] - ys[k], ((*v as f64 + 20.0) * PX_PER_LU) as i64, "{k}"),
                None => assert_eq!(ys[k], TOP + HEIGHT, "silence sits on the floor"),
            }
        }
        assert!(html.contains(&format!(
            "class=\"overs\" d=\"M{} {TOP}v8M{} {TOP}v8\"",
            49 + 9,
            49 + 450
        )));
    }

    #[test]
    fn verdicts_show_in_the_table_and_the_details() {
        let mut loud = file("loud.wav", 60.0);
        loud.output_loudness.as_mut().unwrap().integrated_lufs = Some(-12.0);
        let html = to_html(&report(vec![loud, file("fine.wav", 60.0)]));
        assert!(html.contains("<span class=\"badge fail\">fail</span> 1</td>"), "{html}");
        assert!(html.contains("integrated loudness&#58; measured -12.00 LUFS"));
        let judged = report(vec![file("x.wav", 60.0)]);
        assert!(judged.files[0].verdict.as_ref().is_some_and(Verdict::passed));
    }
}
