#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `podclean check` through the binary: files built with known loudness, peak, noise floor,
//! room tone and rate pass or fail each spec, one test per rule and spec, values close to the
//! limits on both sides; exit codes 0 (all pass), 1 (any fails), 2 (usage); a spec file with
//! an unknown key is refused with the key named. Exact boundary values are unit-tested beside
//! the rules (`src/check/`).

mod common;

use std::path::{Path, PathBuf};

use common::{at_loudness, podclean, read_report, row, sine, sine_sequence, write_wav, Audio};

/// Deterministic white noise at `rms_dbfs` (uniform in ±a: RMS = a / √3).
fn noise(n: usize, rms_dbfs: f64, seed: u64) -> Vec<f32> {
    let amplitude = 10f64.powf(rms_dbfs / 20.0) * 3f64.sqrt();
    let mut state = seed.max(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * amplitude) as f32
        })
        .collect()
}

fn rms_dbfs(channels: &[Vec<f32>]) -> f64 {
    let (sum, n) = channels.iter().fold((0.0f64, 0usize), |(s, n), ch| {
        (s + ch.iter().map(|&x| x as f64 * x as f64).sum::<f64>(), n + ch.len())
    });
    10.0 * (sum / n as f64).log10()
}

/// What an ACX test file is made of.
#[derive(Clone, Copy)]
struct Narration {
    rate: u32,
    channels: usize,
    head_s: f64,
    voice_s: f64,
    tail_s: f64,
    /// Room tone (white noise) under everything, RMS dBFS.
    floor_dbfs: f64,
    /// RMS of the whole file, dBFS.
    rms_dbfs: f64,
    /// A single-sample spike in the narration, dBFS (a sample peak).
    spike_dbfs: Option<f64>,
}

impl Default for Narration {
    fn default() -> Self {
        Narration {
            rate: 44_100,
            channels: 1,
            head_s: 0.7,
            voice_s: 5.0,
            tail_s: 2.5,
            floor_dbfs: -70.0,
            rms_dbfs: -20.5,
            spike_dbfs: None,
        }
    }
}

/// Room tone, a 330 Hz "voice" scaled so the whole file has the RMS asked for, room tone.
fn narration(n: Narration) -> Audio {
    let frames = |s: f64| (s * n.rate as f64).round() as usize;
    let total = frames(n.head_s) + frames(n.voice_s) + frames(n.tail_s);
    let room = noise(total, n.floor_dbfs, 11);
    // Whole-file mean square = room + voice·(voice share); solve for the voice's amplitude.
    let wanted = 10f64.powf(n.rms_dbfs / 10.0) - 10f64.powf(n.floor_dbfs / 10.0);
    let share = frames(n.voice_s) as f64 / total as f64;
    let amplitude = (2.0 * wanted / share).sqrt();
    let voice = sine(330.0, 20.0 * amplitude.log10(), 0.0, n.rate, n.voice_s);
    let mut channel = room;
    let start = frames(n.head_s);
    for (s, v) in channel[start..].iter_mut().zip(&voice) {
        *s += v;
    }
    if let Some(spike) = n.spike_dbfs {
        channel[start + frames(n.voice_s) / 2] = 10f64.powf(spike / 20.0) as f32;
    }
    let audio = Audio {
        rate: n.rate,
        channels: vec![channel; n.channels],
    };
    let measured = rms_dbfs(&audio.channels);
    assert!(
        (measured - n.rms_dbfs).abs() < 0.05,
        "built {measured} for {}",
        n.rms_dbfs
    );
    audio
}

/// Stereo (or mono) 1 kHz sine at `lufs` integrated, with an optional sample spike to `peak_dbfs`.
fn tone(channels: usize, lufs: f64, seconds: f64, peak_dbfs: Option<f64>) -> Audio {
    let rate = 48_000;
    let ch = sine(1000.0, -20.0, 0.0, rate, seconds);
    let mut audio = at_loudness(
        Audio {
            rate,
            channels: vec![ch; channels],
        },
        lufs,
    );
    if let Some(peak) = peak_dbfs {
        let at = audio.frames() / 2;
        for ch in &mut audio.channels {
            ch[at] = 10f64.powf(peak / 20.0) as f32;
        }
    }
    audio
}

struct Run {
    code: i32,
    stderr: String,
    report: serde_json::Value,
    out: PathBuf,
}

/// `podclean check -p SPEC` on `files` (name, audio) in a fresh folder.
fn check(spec: &str, files: &[(&str, Audio)]) -> Run {
    let dir = tempfile::tempdir().unwrap().keep();
    for (name, audio) in files {
        write_wav(&dir.join("in").join(name), audio, 24);
    }
    check_folder(spec, &dir.join("in"), &dir.join("out"))
}

fn check_folder(spec: &str, input: &Path, out: &Path) -> Run {
    let output = podclean()
        .args(["check", "-q", "-p", spec, "-o"])
        .arg(out)
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = out.join("podclean-check.json");
    Run {
        code: output.status.code().unwrap_or(-1),
        report: if json.exists() {
            read_report(&json)
        } else {
            serde_json::Value::Null
        },
        stderr,
        out: out.to_path_buf(),
    }
}

/// The rules each file broke, by file name.
fn broken(run: &Run, file: &str) -> Vec<String> {
    let row = row(&run.report, file);
    assert_eq!(row["status"], "ok", "{row:#}");
    row["verdict"]["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no verdict: {row:#}"))
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_string())
        .collect()
}

fn assert_verdicts(run: &Run, expected: &[(&str, &[&str])]) {
    for (file, rules) in expected {
        assert_eq!(broken(run, file), *rules, "{file}: {}", run.stderr);
    }
    let any_fail = expected.iter().any(|(_, rules)| !rules.is_empty());
    assert_eq!(run.code, if any_fail { 1 } else { 0 }, "{}", run.stderr);
    let violation_lines = run.stderr.lines().filter(|l| l.contains(": fail: ")).count();
    assert_eq!(
        violation_lines,
        expected.iter().map(|(_, r)| r.len()).sum::<usize>(),
        "one stderr line per violation:\n{}",
        run.stderr
    );
}

#[test]
fn podcast_integrated_within_one_lu_stereo_and_mono() {
    let run = check(
        "podcast",
        &[
            ("st-on.wav", tone(2, -16.0, 10.0, None)),
            ("st-low-edge.wav", tone(2, -16.9, 10.0, None)),
            ("st-high-edge.wav", tone(2, -15.1, 10.0, None)),
            ("st-too-quiet.wav", tone(2, -17.1, 10.0, None)),
            ("st-too-loud.wav", tone(2, -14.9, 10.0, None)),
            ("mono-on.wav", tone(1, -19.0, 10.0, None)),
            ("mono-low-edge.wav", tone(1, -19.9, 10.0, None)),
            ("mono-at-stereo-target.wav", tone(1, -16.0, 10.0, None)),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("st-on.wav", &[]),
            ("st-low-edge.wav", &[]),
            ("st-high-edge.wav", &[]),
            ("st-too-quiet.wav", &["integrated_lufs"]),
            ("st-too-loud.wav", &["integrated_lufs"]),
            ("mono-on.wav", &[]),
            ("mono-low-edge.wav", &[]),
            ("mono-at-stereo-target.wav", &["mono_integrated_lufs"]),
        ],
    );
    let line = run.stderr.lines().find(|l| l.contains("st-too-quiet.wav")).unwrap();
    assert!(
        line.contains("integrated loudness: measured -17.1") && line.contains("allowed -16.0 ± 1.0 LUFS"),
        "what, measured, allowed: {line}"
    );
}

#[test]
fn podcast_true_peak_ceiling() {
    let run = check(
        "podcast",
        &[
            ("under.wav", tone(2, -16.0, 10.0, Some(-1.2))),
            ("over.wav", tone(2, -16.0, 10.0, Some(-0.8))),
        ],
    );
    assert_verdicts(&run, &[("under.wav", &[]), ("over.wav", &["max_true_peak_dbtp"])]);
}

#[test]
fn ebu_r128_half_lu_tolerance_and_one_dbtp() {
    let run = check(
        "ebu-r128",
        &[
            ("on.wav", tone(2, -23.0, 40.0, None)),
            ("edge.wav", tone(2, -23.4, 40.0, None)),
            ("out.wav", tone(2, -23.6, 40.0, None)),
            ("mono.wav", tone(1, -23.0, 40.0, None)),
            ("peak.wav", tone(2, -23.0, 40.0, Some(-0.8))),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("on.wav", &[]),
            ("edge.wav", &[]),
            ("out.wav", &["integrated_lufs"]),
            ("mono.wav", &[]),
            ("peak.wav", &["max_true_peak_dbtp"]),
        ],
    );
}

#[test]
fn ebu_r128_short_form_max_short_term_applies_to_spots_under_30_s() {
    // A spot at -23 LUFS whose loud 3-s tag reads about -16 LUFS short-term breaks R 128 s1's
    // -18 LUFS; the same shape at 40 s is not short-form. A tamer spot passes.
    let shape =
        |quiet_s: f64, tag_db: f64| at_loudness(sine_sequence(&[(-28.0, quiet_s), (tag_db, 3.0)], 48_000), -23.0);
    let run = check(
        "ebu-r128",
        &[
            ("hot-spot.wav", shape(17.0, -16.0)),
            ("long-programme.wav", shape(37.0, -16.0)),
            (
                "tame-spot.wav",
                at_loudness(sine_sequence(&[(-24.5, 17.0), (-19.5, 3.0)], 48_000), -23.0),
            ),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("hot-spot.wav", &["max_short_term_lufs"]),
            ("long-programme.wav", &[]),
            ("tame-spot.wav", &[]),
        ],
    );
    let hot = row(&run.report, "hot-spot.wav");
    assert!(hot["input_loudness"]["max_short_term_lufs"].as_f64().unwrap() > -18.0);
}

#[test]
fn atsc_a85_two_lu_tolerance_and_two_dbtp() {
    let run = check(
        "atsc-a85",
        &[
            ("edge.wav", tone(2, -25.9, 10.0, None)),
            ("out.wav", tone(2, -26.1, 10.0, None)),
            ("loud-edge.wav", tone(2, -22.1, 10.0, None)),
            ("peak.wav", tone(2, -24.0, 10.0, Some(-1.8))),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("edge.wav", &[]),
            ("out.wav", &["integrated_lufs"]),
            ("loud-edge.wav", &[]),
            ("peak.wav", &["max_true_peak_dbtp"]),
        ],
    );
}

#[test]
fn streaming_minus_14() {
    let run = check(
        "streaming",
        &[
            ("on.wav", tone(2, -14.5, 10.0, None)),
            ("quiet.wav", tone(2, -15.2, 10.0, None)),
        ],
    );
    assert_verdicts(&run, &[("on.wav", &[]), ("quiet.wav", &["integrated_lufs"])]);
}

#[test]
fn acx_compliant_narration_passes_mono_and_stereo_batches() {
    let run = check(
        "acx",
        &[
            ("ch01.wav", narration(Narration::default())),
            (
                "ch02.wav",
                narration(Narration {
                    head_s: 0.95,
                    tail_s: 4.8,
                    ..Narration::default()
                }),
            ),
        ],
    );
    assert_verdicts(&run, &[("ch01.wav", &[]), ("ch02.wav", &[])]);
    let row = row(&run.report, "ch01.wav");
    let m = &row["input_loudness"];
    assert!((m["rms_dbfs"].as_f64().unwrap() + 20.5).abs() < 0.05, "{m}");
    assert!((m["noise_floor_dbfs"].as_f64().unwrap() + 70.0).abs() < 0.5, "{m}");
    assert!((m["room_tone_head_s"].as_f64().unwrap() - 0.7).abs() <= 0.02, "{m}");
    assert!((m["room_tone_tail_s"].as_f64().unwrap() - 2.5).abs() <= 0.02, "{m}");
    let stereo = narration(Narration {
        channels: 2,
        ..Narration::default()
    });
    let run = check("acx", &[("a.wav", stereo.clone()), ("b.wav", stereo)]);
    assert_verdicts(&run, &[("a.wav", &[]), ("b.wav", &[])]);
}

#[test]
fn acx_rms_window() {
    let at = |rms| {
        narration(Narration {
            rms_dbfs: rms,
            ..Narration::default()
        })
    };
    let run = check(
        "acx",
        &[
            ("low-edge.wav", at(-22.9)),
            ("high-edge.wav", at(-18.1)),
            ("too-quiet.wav", at(-23.2)),
            ("too-loud.wav", at(-17.8)),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("low-edge.wav", &[]),
            ("high-edge.wav", &[]),
            ("too-quiet.wav", &["min_rms_dbfs"]),
            ("too-loud.wav", &["max_rms_dbfs"]),
        ],
    );
}

#[test]
fn acx_sample_peak() {
    let spiked = |db| {
        narration(Narration {
            spike_dbfs: Some(db),
            ..Narration::default()
        })
    };
    let run = check("acx", &[("under.wav", spiked(-3.1)), ("over.wav", spiked(-2.9))]);
    assert_verdicts(&run, &[("under.wav", &[]), ("over.wav", &["max_sample_peak_dbfs"])]);
}

#[test]
fn acx_noise_floor() {
    let floor = |db| {
        narration(Narration {
            floor_dbfs: db,
            ..Narration::default()
        })
    };
    let run = check("acx", &[("quiet.wav", floor(-61.0)), ("noisy.wav", floor(-58.5))]);
    assert_verdicts(&run, &[("quiet.wav", &[]), ("noisy.wav", &["max_noise_floor_dbfs"])]);
}

#[test]
fn acx_room_tone_at_head_and_tail() {
    let edges = |head_s, tail_s| {
        narration(Narration {
            head_s,
            tail_s,
            ..Narration::default()
        })
    };
    let run = check(
        "acx",
        &[
            ("short-head.wav", edges(0.4, 2.0)),
            ("long-head.wav", edges(1.2, 2.0)),
            ("short-tail.wav", edges(0.7, 0.8)),
            ("long-tail.wav", edges(0.7, 5.3)),
            ("edges.wav", edges(0.55, 1.05)),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("short-head.wav", &["head_room_tone_s"]),
            ("long-head.wav", &["head_room_tone_s"]),
            ("short-tail.wav", &["tail_room_tone_s"]),
            ("long-tail.wav", &["tail_room_tone_s"]),
            ("edges.wav", &[]),
        ],
    );
}

#[test]
fn acx_sample_rate_and_consistent_channels() {
    let mono = narration(Narration::default());
    let at_48k = narration(Narration {
        rate: 48_000,
        ..Narration::default()
    });
    let stereo = narration(Narration {
        channels: 2,
        ..Narration::default()
    });
    let run = check(
        "acx",
        &[
            ("ch01.wav", mono.clone()),
            ("ch02.wav", mono),
            ("ch03.wav", stereo),
            ("ch04.wav", at_48k),
        ],
    );
    assert_verdicts(
        &run,
        &[
            ("ch01.wav", &[]),
            ("ch02.wav", &[]),
            ("ch03.wav", &["same_channels"]),
            ("ch04.wav", &["sample_rates_hz"]),
        ],
    );
    assert_eq!(run.report["totals"]["passed"], 2);
    assert_eq!(run.report["totals"]["rejected"], 2);
}

#[test]
fn a_file_that_cannot_be_measured_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("in/good.wav"), &tone(2, -16.0, 5.0, None), 16);
    std::fs::write(dir.path().join("in/broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let run = check_folder("podcast", &dir.path().join("in"), &dir.path().join("out"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(row(&run.report, "good.wav")["verdict"]["result"], "pass");
    let broken = row(&run.report, "broken.wav");
    assert_eq!(broken["status"], "failed");
    assert!(broken["verdict"].is_null());
}

#[test]
fn check_writes_only_its_reports() {
    let run = check("podcast", &[("ep.wav", tone(2, -16.0, 5.0, None))]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut names: Vec<String> = std::fs::read_dir(&run.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["podclean-check.csv", "podclean-check.html", "podclean-check.json"]
    );
    assert_eq!(run.report["mode"], "check");
    let csv = std::fs::read_to_string(run.out.join("podclean-check.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let values: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let verdict = header.iter().position(|c| *c == "verdict").unwrap();
    assert_eq!(values[verdict], "pass");
}

#[test]
fn a_user_spec_file_with_an_unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("in/ep.wav"), &tone(2, -16.0, 3.0, None), 16);
    let spec = dir.path().join("network.toml");
    std::fs::write(
        &spec,
        "name = \"network\"\n[check]\nintegrated_lufs = -16.0\nmax_true_peak_dbtb = -1.0\n",
    )
    .unwrap();
    let output = podclean()
        .args(["check", "-p"])
        .arg(&spec)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg(dir.path().join("in"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("max_true_peak_dbtb"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "nothing written on a usage error");
}

#[test]
fn a_network_spec_file_is_judged_as_written() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("in/ep.wav"), &tone(2, -18.0, 5.0, None), 16);
    let spec = dir.path().join("network.toml");
    std::fs::write(
        &spec,
        "name = \"network\"\n[check]\nintegrated_lufs = -18.0\ntolerance_lu = 0.3\nmax_true_peak_dbtp = -2.0\n",
    )
    .unwrap();
    let run = check_folder(spec.to_str().unwrap(), &dir.path().join("in"), &dir.path().join("out"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report["settings"]["check"]["tolerance_lu"], 0.3);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("in/ep.wav"), &tone(2, -16.0, 3.0, None), 16);
    let spec = dir.path().join("no-rules.toml");
    std::fs::write(&spec, "name = \"no-rules\"\n").unwrap();
    let no_rules = podclean()
        .args(["check", "-p"])
        .arg(&spec)
        .arg(dir.path().join("in"))
        .output()
        .unwrap();
    assert_eq!(no_rules.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_rules.stderr).contains("no [check] rules"));
    let bad_value = dir.path().join("bad.toml");
    std::fs::write(&bad_value, "name = \"bad\"\n[check]\ntolerance_lu = -1.0\n").unwrap();
    let out = podclean()
        .args(["check", "-p"])
        .arg(&bad_value)
        .arg(dir.path().join("in"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check.tolerance_lu"));
    let missing = podclean()
        .args(["check"])
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let no_input = podclean().args(["check"]).output().unwrap();
    assert_eq!(no_input.status.code(), Some(2));
}

#[test]
fn processing_judges_its_outputs_in_json_csv_and_the_verbose_line() {
    let dir = tempfile::tempdir().unwrap();
    // A quiet 48 kHz narration: processing brings it to the podcast target (pass); the acx
    // spec still fails it on the sample rate, which podclean does not change.
    let audio = narration(Narration {
        rate: 48_000,
        rms_dbfs: -30.0,
        ..Narration::default()
    });
    write_wav(&dir.path().join("in/ep.wav"), &audio, 24);
    let run = |preset: &str, out: &str| {
        podclean()
            .args(["-v", "--no-denoise", "--no-deess", "--no-compress", "-p", preset, "-o"])
            .arg(dir.path().join(out))
            .arg(dir.path().join("in"))
            .output()
            .unwrap()
    };
    let podcast = run("podcast", "podcast");
    let stderr = String::from_utf8_lossy(&podcast.stderr);
    assert_eq!(podcast.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("spec pass"), "{stderr}");
    let report = read_report(&dir.path().join("podcast/podclean-report.json"));
    let ep = row(&report, "ep.wav");
    assert_eq!(ep["verdict"]["result"], "pass", "{ep:#}");
    assert!(ep["output_loudness"]["rms_dbfs"].is_number());
    assert_eq!(report["totals"]["passed"], 1);

    let acx = run("acx", "acx");
    let stderr = String::from_utf8_lossy(&acx.stderr);
    assert_eq!(
        acx.status.code(),
        Some(0),
        "a verdict does not fail a processing run: {stderr}"
    );
    assert!(stderr.contains("spec FAIL (1)"), "{stderr}");
    assert!(
        stderr.contains("ep.wav: fail: sample rate: measured 48000 Hz, allowed 44100 Hz"),
        "{stderr}"
    );
    let report = read_report(&dir.path().join("acx/podclean-report.json"));
    let ep = row(&report, "ep.wav");
    assert_eq!(ep["verdict"]["violations"][0]["rule"], "sample_rates_hz", "{ep:#}");
    let m = &ep["output_loudness"];
    let rms = m["rms_dbfs"].as_f64().unwrap();
    assert!(
        (-23.0..=-18.0).contains(&rms),
        "the acx target lands inside the RMS window: {m}"
    );
    assert!(m["sample_peak_dbfs"].as_f64().unwrap() <= -3.0, "{m}");
    let csv = std::fs::read_to_string(dir.path().join("acx/podclean-report.csv")).unwrap();
    assert!(
        csv.contains(",fail,\"sample rate: measured 48000 Hz, allowed 44100 Hz\""),
        "{csv}"
    );
}

#[test]
fn a_target_override_moves_the_spec_with_it() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("in/ep.wav"), &tone(2, -30.0, 5.0, None), 24);
    let output = podclean()
        .args(["--no-denoise", "--no-deess", "--no-compress", "--target", "-18", "-o"])
        .arg(dir.path().join("out"))
        .arg(dir.path().join("in"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let report = read_report(&dir.path().join("out/podclean-report.json"));
    assert_eq!(report["settings"]["check"]["integrated_lufs"], -18.0);
    assert_eq!(report["settings"]["check"]["mono_integrated_lufs"], -21.0);
    assert_eq!(row(&report, "ep.wav")["verdict"]["result"], "pass");
}

// The command line around the check: completions and the man page come from the clap
// definition, and NO_COLOR leaves every output plain.

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let output = podclean().args(["completions", shell]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(
            script.contains("check") && script.contains("true-peak"),
            "{shell}: {script}"
        );
    }
    let bad = podclean().args(["completions", "cmd.exe"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let man = podclean().arg("man").output().unwrap();
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8(man.stdout).unwrap();
    assert!(page.contains(".TH podclean") && page.contains("check"), "{page}");
}

#[test]
fn no_color_means_no_escape_sequences_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(&dir.path().join("in/ep.wav"), &tone(2, -30.0, 3.0, None), 16);
    let esc = |bytes: &[u8]| bytes.contains(&0x1b);
    // The control: forced colour without NO_COLOR does colour clap's error.
    let forced = podclean().env("CLICOLOR_FORCE", "1").arg("--bogus").output().unwrap();
    assert!(esc(&forced.stderr), "the test must be able to see colour");
    let plain = podclean()
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(2));
    assert!(!esc(&plain.stderr), "{}", String::from_utf8_lossy(&plain.stderr));
    for args in [&["--help"][..], &["check", "--help"], &["presets"]] {
        let output = podclean()
            .env("CLICOLOR_FORCE", "1")
            .env("NO_COLOR", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(!esc(&output.stdout) && !esc(&output.stderr), "{args:?}");
    }
    let run = podclean()
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .args(["check", "-v", "-o"])
        .arg(dir.path().join("out"))
        .arg(dir.path().join("in"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "-30 LUFS fails the podcast spec");
    assert!(!esc(&run.stdout) && !esc(&run.stderr));
    let html = std::fs::read(dir.path().join("out/podclean-check.html")).unwrap();
    assert!(!esc(&html));
}
