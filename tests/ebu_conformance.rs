#![allow(clippy::unwrap_used, clippy::expect_used)]
//! EBU Tech 3341 (cases 1–6, 15–19) and Tech 3342 (cases 1–4), synthesized here and measured
//! through `podclean analyze`, with the spec's tolerances: integrated ±0.1 LU, LRA ±1 LU,
//! true peak +0.2/−0.4 dB.

mod common;
use common::*;

fn analyze(cases: &[(&str, Audio)]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    for (name, audio) in cases {
        write_wav(&input.join(format!("{name}.wav")), audio, 24);
    }
    let report = dir.path().join("report.json");
    podclean()
        .arg("analyze")
        .arg(&input)
        .arg("--report")
        .arg(&report)
        .arg("-q")
        .assert()
        .success();
    assert!(dir.path().join("report.csv").exists(), "CSV beside the JSON");
    read_report(&report)
}

fn value(report: &serde_json::Value, case: &str, key: &str) -> f64 {
    row(report, &format!("{case}.wav"))["input_loudness"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("{case}: {key} missing"))
}

#[test]
fn tech_3341_integrated_loudness_cases_1_to_6() {
    let rate = 48_000;
    let five_channel = {
        let front = sine(1000.0, -28.0, 0.0, rate, 20.0);
        let surround = sine(1000.0, -24.46, 0.0, rate, 20.0);
        Audio {
            rate,
            channels: vec![front.clone(), front.clone(), front, surround.clone(), surround],
        }
    };
    let cases = vec![
        ("3341-1", sine_sequence(&[(-23.0, 20.0)], rate), -23.0),
        ("3341-2", sine_sequence(&[(-33.0, 20.0)], rate), -33.0),
        (
            "3341-3",
            sine_sequence(&[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)], rate),
            -23.0,
        ),
        (
            "3341-4",
            sine_sequence(
                &[
                    (-72.0, 10.0),
                    (-36.0, 10.0),
                    (-23.0, 60.0),
                    (-36.0, 10.0),
                    (-72.0, 10.0),
                ],
                rate,
            ),
            -23.0,
        ),
        (
            "3341-5",
            sine_sequence(&[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)], rate),
            -23.0,
        ),
        ("3341-6", five_channel, -23.0),
    ];
    let inputs: Vec<(&str, Audio)> = cases.iter().map(|(n, a, _)| (*n, a.clone())).collect();
    let report = analyze(&inputs);
    for (name, _, expected) in &cases {
        let measured = value(&report, name, "integrated_lufs");
        assert!(
            (measured - expected).abs() <= 0.1,
            "{name}: {measured} LUFS, expected {expected}"
        );
    }
}

#[test]
fn tech_3341_true_peak_cases_15_to_19() {
    // Sines whose analytic peak falls between samples: 15–18 peak at −6.0 dBTP with sample
    // peaks below it; 19 is fs/4 at a 45° phase with samples at 0 dBFS, true peak +3.0 dBTP.
    let rate = 48_000;
    let quarter = std::f64::consts::FRAC_PI_4;
    let stereo = |ch: Vec<f32>| Audio {
        rate,
        channels: vec![ch.clone(), ch],
    };
    let cases = vec![
        ("3341-15", stereo(sine(576.0, -6.0, quarter, rate, 5.0)), -6.0),
        ("3341-16", stereo(sine(1152.0, -6.0, quarter, rate, 5.0)), -6.0),
        ("3341-17", stereo(sine(2304.0, -6.0, 0.3, rate, 5.0)), -6.0),
        ("3341-18", stereo(sine(4608.0, -6.0, 0.7, rate, 5.0)), -6.0),
        (
            "3341-19",
            stereo(sine(12_000.0, 20.0 * 2f64.sqrt().log10(), quarter, rate, 5.0)),
            3.0,
        ),
    ];
    let inputs: Vec<(&str, Audio)> = cases.iter().map(|(n, a, _)| (*n, a.clone())).collect();
    let report = analyze(&inputs);
    for (name, audio, expected) in &cases {
        let sample_peak = audio.channels[0].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        let measured = value(&report, name, "true_peak_dbtp");
        assert!(
            (expected - 0.4..=expected + 0.2).contains(&measured),
            "{name}: {measured} dBTP, expected {expected} (+0.2/−0.4); sample peak {:.2} dBFS",
            20.0 * sample_peak.log10()
        );
    }
}

#[test]
fn tech_3342_loudness_range_cases_1_to_4() {
    let rate = 48_000;
    let cases = vec![
        ("3342-1", sine_sequence(&[(-20.0, 20.0), (-30.0, 20.0)], rate), 10.0),
        ("3342-2", sine_sequence(&[(-20.0, 20.0), (-15.0, 20.0)], rate), 5.0),
        ("3342-3", sine_sequence(&[(-40.0, 20.0), (-20.0, 20.0)], rate), 20.0),
        (
            "3342-4",
            sine_sequence(
                &[
                    (-50.0, 20.0),
                    (-35.0, 20.0),
                    (-20.0, 20.0),
                    (-35.0, 20.0),
                    (-50.0, 20.0),
                ],
                rate,
            ),
            15.0,
        ),
    ];
    let inputs: Vec<(&str, Audio)> = cases.iter().map(|(n, a, _)| (*n, a.clone())).collect();
    let report = analyze(&inputs);
    for (name, _, expected) in &cases {
        let measured = value(&report, name, "lra_lu");
        assert!(
            (measured - expected).abs() <= 1.0,
            "{name}: LRA {measured} LU, expected {expected}"
        );
    }
}
