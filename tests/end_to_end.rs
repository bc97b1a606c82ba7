#![allow(clippy::unwrap_used, clippy::expect_used)]
//! podclean from the command line on real files: loudness target and ceiling met on the
//! written output, length and timing preserved, bad files isolated, presets validated.

mod common;
use common::*;
use std::path::Path;

fn process(input: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    podclean().arg(input).arg("-o").arg(out).arg("-q").args(extra).assert()
}

/// Asserts the output of `name` is on target, under the ceiling, and sample-aligned with `input`.
fn assert_normalized(input: &Audio, output: &Audio, target: f64, ceiling: f64) {
    let (lufs, tp) = measure(output);
    assert!((lufs - target).abs() <= 0.1, "output {lufs:.3} LUFS, target {target}");
    assert!(
        tp <= ceiling,
        "output true peak {tp:.3} dBTP over the {ceiling} dBTP ceiling"
    );
    assert_eq!(output.frames(), input.frames(), "length changed");
    assert_eq!(output.rate, input.rate, "sample rate changed");
    // Compare a stretch from the middle so edge effects don't dominate.
    let mid = input.frames() / 2;
    let span = (input.rate as usize).min(mid);
    let lag = best_lag(
        &input.channels[0][mid - span / 2..mid + span / 2],
        &output.channels[0][mid - span / 2..mid + span / 2],
        2400,
    );
    assert_eq!(
        lag, 0,
        "output is shifted by {lag} frames (output at {lufs:.2} LUFS, {tp:.2} dBTP)"
    );
}

#[test]
fn quiet_speech_is_brought_to_target_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let speech = at_loudness(speech(20.0), -30.0);
    // Real speech: DeepFilterNet, the default denoiser, takes a synthetic buzz for noise.
    let voice = resampled(&common::speech(12.0), 44_100);
    let stereo = Audio {
        rate: 44_100,
        channels: vec![voice.channels[0].clone(); 2],
    };
    let stereo = at_loudness(stereo, -30.0);
    write_wav(&dir.path().join("in/speech.wav"), &speech, 16);
    write_wav(&dir.path().join("in/voice.wav"), &stereo, 24);
    let before = snapshot(&dir.path().join("in"));
    process(&dir.path().join("in"), &dir.path().join("out"), &[]).success();
    assert_eq!(snapshot(&dir.path().join("in")), before, "inputs must not change");

    // Mono speech: the podcast preset's mono target is −19 LUFS.
    let out = read_wav(&dir.path().join("out/speech.wav"));
    assert_normalized(&speech, &out, -19.0, -1.0);
    let out = read_wav(&dir.path().join("out/voice.wav"));
    assert_normalized(&stereo, &out, -16.0, -1.0);

    let report = read_report(&dir.path().join("out/podclean-report.json"));
    let r = row(&report, "voice.wav");
    assert_eq!(r["status"], "ok");
    assert!((r["output_loudness"]["integrated_lufs"].as_f64().unwrap() + 16.0).abs() <= 0.1);
    assert!((r["input_loudness"]["integrated_lufs"].as_f64().unwrap() + 30.0).abs() <= 0.1);
    assert_eq!(r["sample_rate"], 44_100);
    assert_eq!(r["channels"], 2);
    assert_eq!(r["output"], "voice.wav");
    assert_eq!(row(&report, "speech.wav")["target_lufs"], -19.0);
    assert!(dir.path().join("out/podclean-report.csv").exists());
    assert!(temp_files(&dir.path().join("out")).is_empty());
}

#[test]
fn hot_signal_reaches_target_under_the_ceiling() {
    // −6 LUFS with peaks at 0 dBFS: needs −10 dB of gain, then still hits the ceiling at −1.
    let dir = tempfile::tempdir().unwrap();
    // Soft-clip a voice harder and harder until, peaking at 0 dBFS, it measures −6 LUFS.
    let voice = synthetic_voice(48_000, 10.0, 2);
    let peak_of = |a: &Audio| a.channels.iter().flatten().fold(0.0f32, |m, s| m.max(s.abs()));
    let mut hot = voice.clone();
    for drive in 1..200 {
        let mut driven = voice.clone().scaled(1.0 / peak_of(&voice));
        for ch in &mut driven.channels {
            for s in ch.iter_mut() {
                *s = (drive as f32 * 0.25 * *s).tanh();
            }
        }
        let driven = driven.clone().scaled(1.0 / peak_of(&driven));
        hot = driven;
        if measure(&hot).0 >= -6.0 {
            break;
        }
    }
    let (lufs, _) = measure(&hot);
    assert!((-6.5..=-5.0).contains(&lufs), "test signal at {lufs} LUFS");
    assert!((peak_of(&hot) - 1.0).abs() < 1e-6, "test signal peaks at 0 dBFS");
    write_wav(&dir.path().join("in/hot.wav"), &hot, 24);
    process(&dir.path().join("in"), &dir.path().join("out"), &["-p", "ebu-r128"]).success();
    let out = read_wav(&dir.path().join("out/hot.wav"));
    assert_normalized(&hot, &out, -23.0, -1.0);

    // And pushed up hard: real speech from −30 LUFS to the streaming target of −14 LUFS
    // needs the limiter on every syllable.
    let peaky = at_loudness(speech(12.0), -30.0);
    write_wav(&dir.path().join("in2/peaky.wav"), &peaky, 24);
    process(&dir.path().join("in2"), &dir.path().join("out2"), &["-p", "streaming"]).success();
    let out = read_wav(&dir.path().join("out2/peaky.wav"));
    assert_normalized(&peaky, &out, -14.0, -1.0);
    let report = read_report(&dir.path().join("out2/podclean-report.json"));
    assert!(
        row(&report, "peaky.wav")["limiter_max_reduction_db"].as_f64().unwrap() > 1.0,
        "the limiter must have worked"
    );
}

#[test]
fn corrupt_file_fails_alone_in_a_nested_batch() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let voice = at_loudness(synthetic_voice(48_000, 4.0, 1), -25.0);
    write_wav(&input.join("a/one.wav"), &voice, 16);
    write_wav(&input.join("a/b/two.wav"), &voice, 24);
    write_wav(&input.join("c/three.wav"), &voice, 32);
    std::fs::write(input.join("a/b/broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    std::fs::write(input.join("notes.txt"), b"not audio").unwrap();
    let before = snapshot(&input);
    let out = dir.path().join("out");
    let assert = process(&input, &out, &["--no-denoise"]).code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("broken.wav"), "stderr names the bad file: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(snapshot(&input), before);
    for good in ["a/one.wav", "a/b/two.wav", "c/three.wav"] {
        let audio = read_wav(&out.join(good));
        assert_eq!(audio.frames(), voice.frames(), "{good}");
    }
    assert!(!out.join("a/b/broken.wav").exists());
    assert!(temp_files(&out).is_empty(), "temp files left: {:?}", temp_files(&out));
    let report = read_report(&out.join("podclean-report.json"));
    let bad = row(&report, "a/b/broken.wav");
    assert_eq!(bad["status"], "failed");
    assert!(bad["output"].is_null());
    assert!(!bad["error"].as_str().unwrap().is_empty());
    assert_eq!(report["totals"]["ok"], 3);
    assert_eq!(report["totals"]["failed"], 1);
    assert_eq!(report["totals"]["ignored"], 1);
    // Bit depth follows the source: 16 → 16, 24 → 24, 32f → 32f.
    assert_eq!(
        hound::WavReader::open(out.join("a/one.wav"))
            .unwrap()
            .spec()
            .bits_per_sample,
        16
    );
    assert_eq!(
        hound::WavReader::open(out.join("a/b/two.wav"))
            .unwrap()
            .spec()
            .bits_per_sample,
        24
    );
    let spec = hound::WavReader::open(out.join("c/three.wav")).unwrap().spec();
    assert_eq!(
        (spec.bits_per_sample, spec.sample_format),
        (32, hound::SampleFormat::Float)
    );
}

#[test]
fn silence_and_tiny_files_are_reported_silent_never_boosted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let silence = Audio {
        rate: 48_000,
        channels: vec![vec![0.0; 48_000 * 3]; 2],
    };
    let short = Audio {
        rate: 48_000,
        channels: vec![sine(440.0, -40.0, 0.0, 48_000, 0.2)],
    };
    write_wav(&input.join("silence.wav"), &silence, 16);
    write_wav(&input.join("short.wav"), &short, 24);
    process(&input, &dir.path().join("out"), &["--no-denoise"]).success();
    let report = read_report(&dir.path().join("out/podclean-report.json"));
    for name in ["silence.wav", "short.wav"] {
        let r = row(&report, name);
        assert_eq!(r["status"], "silent", "{name}");
        assert_eq!(r["gain_db"], 0.0, "{name}");
        assert!(r["input_loudness"]["integrated_lufs"].is_null());
        assert!(r["error"].as_str().unwrap().len() > 10);
    }
    let out = read_wav(&dir.path().join("out/short.wav"));
    assert_eq!(out.frames(), short.frames());
    let rms = |x: &[f32]| (x.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    let change_db = 20.0 * (rms(&out.channels[0]) / rms(&short.channels[0])).log10();
    assert!(
        change_db.abs() < 0.5,
        "short file kept at unity gain (changed {change_db:.2} dB)"
    );
}

#[test]
fn bad_user_preset_is_rejected_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_wav(&input.join("x.wav"), &synthetic_voice(48_000, 1.0, 1), 16);
    let preset = dir.path().join("mine.toml");
    std::fs::write(
        &preset,
        "name = \"mine\"\n[loudness]\ntarget_lufs = -16.0\ntrue_peek_dbtp = -1.0\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-p")
        .arg(&preset)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("true_peek_dbtp"), "{stderr}");
    assert!(!out.exists(), "nothing touched before the preset is valid");

    std::fs::write(&preset, "name = \"mine\"\n[compressor]\nratio = 0.1\n").unwrap();
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-p")
        .arg(&preset)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("compressor.ratio"), "{stderr}");

    let assert = podclean().arg(&input).arg("-p").arg("nope").assert().code(2);
    assert!(String::from_utf8_lossy(&assert.get_output().stderr).contains("podcast"));
}

#[test]
fn presets_command_lists_every_built_in() {
    let assert = podclean().arg("presets").assert().success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    for name in ["podcast", "ebu-r128", "atsc-a85", "streaming"] {
        assert!(stdout.contains(name), "{stdout}");
    }
    assert!(stdout.contains("-19"), "mono target shown: {stdout}");
}

#[test]
fn folder_alone_writes_a_sibling_clean_folder() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("Episodes");
    write_wav(
        &input.join("ep1.wav"),
        &at_loudness(synthetic_voice(48_000, 4.0, 2), -20.0),
        16,
    );
    podclean().arg(&input).arg("-q").assert().success();
    assert!(dir.path().join("Episodes-clean/ep1.wav").exists());
    assert!(dir.path().join("Episodes-clean/podclean-report.json").exists());
}

#[test]
fn bit_depth_override_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_wav(
        &input.join("x.wav"),
        &at_loudness(synthetic_voice(48_000, 3.0, 1), -20.0),
        24,
    );
    process(&input, &dir.path().join("out"), &["--bit-depth", "16", "--no-denoise"]).success();
    assert_eq!(
        hound::WavReader::open(dir.path().join("out/x.wav"))
            .unwrap()
            .spec()
            .bits_per_sample,
        16
    );
    podclean().arg(&input).arg("--bit-depth").arg("12").assert().code(2);
    podclean().arg(&input).arg("--target").arg("+5").assert().code(2);
    podclean().assert().code(2);
}

#[test]
fn denoiser_flag_picks_the_engine_and_keeps_sync() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let voice = at_loudness(synthetic_voice(48_000, 3.0, 1), -20.0);
    write_wav(&input.join("x.wav"), &voice, 24);
    // DeepFilterNet3 by default; podcast-fast is the podcast preset with RNNoise.
    let cases: [(&[&str], f64); 5] = [
        (&[], 1.0),
        (&["--denoiser", "rnnoise"], 0.0),
        (&["--denoiser", "deepfilter"], 1.0),
        (&["-p", "podcast-fast"], 0.0),
        (&["-p", "podcast-fast", "--denoiser", "deepfilter"], 1.0),
    ];
    for (i, (extra, deepfilter)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("out-{i}"));
        process(&input, &out, extra).success();
        let report = read_report(&out.join("podclean-report.json"));
        let denoise = &row(&report, "x.wav")["processing"]["denoise"];
        assert_eq!(denoise["deepfilter"], deepfilter, "{extra:?}: {denoise}");
        let written = read_wav(&out.join("x.wav"));
        assert_normalized(&voice, &written, -19.0, -1.0);
    }
    podclean().arg(&input).args(["--denoiser", "dfn"]).assert().code(2);
    podclean()
        .arg(&input)
        .args(["--denoiser", "rnnoise", "--no-denoise"])
        .assert()
        .code(2);
}
