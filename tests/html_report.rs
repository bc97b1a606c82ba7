#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The HTML report as a document: parsed (scraper), its table rows and plot paths counted, file
//! names checked to arrive as text (never markup), nothing referenced over the network, the
//! page written by every kind of run and by `report merge`, and its size bounded. Rendering
//! in a real browser: `rendered_by_headless_chromium` (skips without `/usr/bin/chromium`) and
//! `bench/html/screenshot.sh`.

mod common;

use std::path::Path;

use common::{at_loudness, podclean, sine, write_wav, Audio};
use scraper::{Html, Selector};

const HOSTILE: &str = "<script>alert('x')</script>.wav";
const AMPERSAND: &str = "a&b \"quoted\" http:.wav";

fn voice_like(seconds: f64, lufs: f64) -> Audio {
    let rate = 44_100;
    let ch: Vec<f32> = sine(220.0, -20.0, 0.0, rate, seconds)
        .iter()
        .enumerate()
        .map(|(i, s)| s * (0.3 + 0.7 * ((i as f32 / rate as f32) * 1.3).sin().abs()))
        .collect();
    at_loudness(
        Audio {
            rate,
            channels: vec![ch.clone(), ch],
        },
        lufs,
    )
}

/// An input folder with two hostile names, an ordinary file, and one that is not audio.
fn inputs(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in");
    write_wav(&input.join(HOSTILE), &voice_like(6.0, -24.0), 16);
    write_wav(&input.join(AMPERSAND), &voice_like(4.0, -30.0), 16);
    // Loud, with one sample near full scale: a true-peak over.
    let mut hot = voice_like(8.0, -12.0);
    hot.channels[0][100_000] = 0.97;
    write_wav(&input.join("sub/plain.wav"), &hot, 16);
    std::fs::write(input.join("broken.wav"), b"not audio at all").unwrap();
    input
}

fn select(html: &Html, css: &str) -> usize {
    html.select(&Selector::parse(css).unwrap()).count()
}

fn texts(html: &Html, css: &str) -> Vec<String> {
    html.select(&Selector::parse(css).unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// Parses `path`, checks what every report page must hold, and returns it.
fn page(path: &Path, files: usize) -> Html {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        !text.contains("http://") && !text.contains("https://"),
        "a URL in the page"
    );
    for fetching in ["src=", "@import", "url(", "<link"] {
        assert!(!text.contains(fetching), "{fetching} in the page");
    }
    let html = Html::parse_document(&text);
    assert!(html.errors.is_empty(), "{:?}", html.errors);
    assert_eq!(select(&html, "table#files tbody tr"), files, "one row per file");
    assert_eq!(select(&html, "details[id^=f]"), files, "one plot section per file");
    assert_eq!(select(&html, "script"), 1, "only the sorting script: names are text");
    let names = texts(&html, "table#files tbody tr td:first-child");
    for name in [HOSTILE, AMPERSAND, "sub/plain.wav", "broken.wav"] {
        assert!(names.iter().any(|n| n == name), "{name} not shown as text: {names:?}");
    }
    html
}

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    let output = podclean()
        .args(args)
        .arg("-o")
        .arg(dir.join("out"))
        .arg(dir.join("in"))
        .output()
        .unwrap();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn processing_report_has_a_row_and_an_input_and_output_path_per_file() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    run(
        &["-q", "--no-denoise", "--no-deess", "--no-compress", "--no-level"],
        dir.path(),
    );
    let html = page(&dir.path().join("out/podclean-report.html"), 4);
    // The three audio files have plots; the broken one has its error instead.
    assert_eq!(select(&html, "svg.plot"), 3);
    assert_eq!(select(&html, "path.s-input"), 3);
    assert_eq!(select(&html, "path.s-output"), 3);
    assert_eq!(select(&html, "path.s-gain"), 0, "no leveler ran");
    assert_eq!(select(&html, "rect.band"), 3, "the podcast spec's tolerance band");
    // Every path holds the fixed number of points, whatever the file's length: a start and
    // relative steps ("M49 120l3 -2 3 1 …").
    for d in html
        .select(&Selector::parse("path.s-output").unwrap())
        .map(|p| p.value().attr("d").unwrap().to_string())
    {
        assert!(d.starts_with('M') && !d[1..].contains('M'), "one stroke: {d}");
        let numbers = d[1..].replace('l', " ").split_whitespace().count();
        assert_eq!(numbers, 2 * podclean::report::plot::POINTS, "{d}");
    }
    let verdicts = texts(&html, "table#files tbody tr td:last-child");
    assert_eq!(
        verdicts.iter().filter(|v| v.starts_with("pass")).count(),
        3,
        "{verdicts:?}"
    );
}

#[test]
fn analyze_and_check_pages_show_the_input_alone() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    run(&["analyze", "-q"], dir.path());
    let html = page(&dir.path().join("out/podclean-analysis.html"), 4);
    assert_eq!(select(&html, "path.s-input"), 3);
    assert_eq!(select(&html, "path.s-output"), 0);
    let check = run(&["check", "-q", "-p", "ebu-r128"], dir.path());
    assert_eq!(check.status.code(), Some(1), "the files are not at -23 LUFS");
    let html = page(&dir.path().join("out/podclean-check.html"), 4);
    assert_eq!(select(&html, "path.s-input"), 3);
    let violations = texts(&html, "ul.violations li");
    assert!(
        violations
            .iter()
            .any(|v| v.starts_with("integrated loudness: measured -12.00 LUFS")),
        "{violations:?}"
    );
    // The hot file's true peak tops the −1 dBTP ceiling: its overs are marked.
    assert!(select(&html, "path.overs") >= 1);
}

#[test]
fn report_merge_writes_the_page_for_the_whole_split() {
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    for shard in ["1/2", "2/2"] {
        run(
            &["-q", "--no-denoise", "--no-deess", "--no-compress", "--shard", shard],
            dir.path(),
        );
    }
    let merged = podclean()
        .args(["report", "merge"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(1), "the broken file failed");
    let html = page(&dir.path().join("out/podclean-report.html"), 4);
    assert_eq!(select(&html, "path.s-output"), 3);
}

#[test]
fn the_bundled_samples_make_a_small_page() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let dir = tempfile::tempdir().unwrap();
    let output = podclean()
        .args(["-q", "--no-denoise", "-o"])
        .arg(dir.path().join("out"))
        .arg(&samples)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = dir.path().join("out/podclean-report.html");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 300_000, "{size} bytes");
    let html = Html::parse_document(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(select(&html, "table#files tbody tr"), 6);
    assert_eq!(select(&html, "path.s-output"), 6);
}

#[test]
fn rendered_by_headless_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!("skipped: /usr/bin/chromium is not installed (apt-get install chromium)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    inputs(dir.path());
    run(&["-q", "--no-denoise", "--no-deess", "--no-compress"], dir.path());
    let png = dir.path().join("report.png");
    let profile = dir.path().join("profile");
    std::fs::create_dir(&profile).unwrap();
    let status = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(dir.path().join("out/podclean-report.html"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 20_000, "a near-empty page: {} bytes", bytes.len());
}
