#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The adaptive speech leveler through the podclean binary, on conversations built from real
//! speech (LibriSpeech clips in tests/fixtures/speech): every voice comes out at the same
//! loudness, pauses and non-speech sounds are not lifted, the image does not move, and
//! everything the pipeline promised before (target, ceiling, length, sync) still holds.
//!
//! "Speech-gated" loudness here is BS.1770 over where each voice is really active, known from
//! the clean recordings before room tone is added — independent of podclean's own detector.

mod common;
#[path = "leveler/conversation.rs"]
mod conversation;

use std::path::Path;

use common::*;
use conversation::*;

/// A voice's turns between 3 and 10 s, alternating between `levels.len()` voices, with
/// pauses of 0.3–1.2 s, over pink room tone at −62 dBFS.
fn dialogue(voices: &[&Voice], levels: &[f64], turns: usize, seed: u64) -> Conversation {
    let mut rng = Rng::new(seed);
    let mut parts = Vec::new();
    for t in 0..turns {
        parts.push(Part::Turn {
            speaker: t % voices.len(),
            seconds: rng.range(3.0, 10.0),
            offset_db: 0.0,
        });
        parts.push(Part::Pause(rng.range(0.3, 1.2)));
    }
    Conversation::build(voices, levels, &parts, -62.0, seed)
}

/// Runs podclean on `audio` (written as 24-bit WAV) with `args`; returns the output and the
/// report row.
fn process(dir: &Path, name: &str, audio: &Audio, args: &[&str]) -> (Audio, serde_json::Value) {
    let input = dir.join("in").join(format!("{name}.wav"));
    write_wav(&input, audio, 24);
    let out = dir.join(format!("out-{name}"));
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .args(args)
        .assert()
        .success();
    let report = read_report(&out.join("podclean-report.json"));
    let row = row(&report, &format!("{name}.wav")).clone();
    (read_wav(&out.join(format!("{name}.wav"))), row)
}

/// Target ±0.1 LU, true peak under the ceiling, same length, no shift.
fn assert_delivery(input: &Audio, output: &Audio, target: f64, ceiling: f64) {
    let (lufs, tp) = measure(output);
    assert!((lufs - target).abs() <= 0.1, "output {lufs:.3} LUFS, target {target}");
    assert!(tp <= ceiling, "true peak {tp:.3} dBTP over {ceiling}");
    assert_eq!(output.frames(), input.frames(), "length changed");
    let mid = input.frames() / 2;
    let span = input.rate as usize / 2;
    let lag = best_lag(
        &input.channels[0][mid - span..mid + span],
        &output.channels[0][mid - span..mid + span],
        800,
    );
    assert_eq!(lag, 0, "output shifted by {lag} frames");
}

/// Output minus input loudness of every turn, less the median of those changes (the file's
/// overall gain): how far the leveler moved each turn against the rest.
fn turn_moves(conv: &Conversation, output: &Audio) -> Vec<f64> {
    let changes: Vec<f64> = conv
        .turn_loudness(output)
        .iter()
        .zip(conv.turn_loudness(&conv.audio))
        .map(|(o, i)| o - i)
        .collect();
    let mut sorted = changes.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    changes.iter().map(|c| c - median).collect()
}

fn rounded(values: &[f64]) -> Vec<f64> {
    values.iter().map(|v| (v * 100.0).round() / 100.0).collect()
}

#[test]
fn two_speakers_twelve_lu_apart_come_out_level_and_pauses_stay_down() {
    let dir = tempfile::tempdir().unwrap();
    let (host, guest) = (voice("1688"), voice("1998"));
    let conv = dialogue(&[&host, &guest], &[-20.0, -32.0], 14, 1);
    let (out, row) = process(dir.path(), "two", &conv.audio, &[]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);

    let before = [
        conv.speaker_loudness(&conv.audio, 0),
        conv.speaker_loudness(&conv.audio, 1),
    ];
    let after = [conv.speaker_loudness(&out, 0), conv.speaker_loudness(&out, 1)];
    assert!((before[0] - before[1] - 12.0).abs() < 0.5, "input speakers {before:?}");
    assert!(
        (after[0] - after[1]).abs() <= 1.5,
        "speakers {:.2} and {:.2} LUFS after (were {:.2} and {:.2})",
        after[0],
        after[1],
        before[0],
        before[1]
    );
    let turns = conv.turn_loudness(&out);
    assert!(spread(&turns) <= 3.0, "per-turn loudness {:?}", rounded(&turns));
    eprintln!(
        "two speakers: {:.2} / {:.2} LUFS → {:.2} / {:.2} (gap {:.2} LU); per-turn p90−p10 {:.2} → {:.2} LU",
        before[0],
        before[1],
        after[0],
        after[1],
        (after[0] - after[1]).abs(),
        spread(&conv.turn_loudness(&conv.audio)),
        spread(&turns)
    );

    // Room tone in the pauses, relative to the quieter voice, no higher than in the input.
    let pauses = conv.pause_interiors();
    assert!(pauses.len() >= 8);
    let relative = |audio: &Audio| rms_db_of(audio, &pauses) - conv.speaker_loudness(audio, 1);
    let (was, is) = (relative(&conv.audio), relative(&out));
    assert!(
        is <= was + 1.0,
        "room tone vs quiet voice: {was:.2} dB before, {is:.2} dB after"
    );
    eprintln!("two speakers: room tone vs quiet voice {was:.2} dB → {is:.2} dB");

    // The report: speech-gated loudness and spread before and after, boost and cut.
    let (input, output) = (&row["input_loudness"], &row["output_loudness"]);
    let spread_in = input["speech_spread_lu"].as_f64().unwrap();
    let spread_out = output["speech_spread_lu"].as_f64().unwrap();
    assert!(spread_in > 9.0 && spread_out < 4.0, "spread {spread_in} → {spread_out}");
    let speech_out = output["speech_integrated_lufs"].as_f64().unwrap();
    assert!((speech_out + 19.0).abs() < 2.0, "speech-gated output {speech_out}");
    assert!(input["speech_integrated_lufs"].as_f64().unwrap() < -18.0);
    let (boost, cut) = (
        row["leveler_max_boost_db"].as_f64().unwrap(),
        row["leveler_max_cut_db"].as_f64().unwrap(),
    );
    assert!(
        boost + cut > 10.0 && boost <= 15.0 && cut <= 12.0,
        "boost {boost}, cut {cut}"
    );
    assert!(row["processing"]["leveler"]["speech_fraction"].as_f64().unwrap() > 0.5);
    // The loudness gain was computed from the levelled audio: the first pass is on target.
    assert_eq!(
        row["passes"], 1,
        "passes {}, gain {}, levelled cleaned loudness {}",
        row["passes"], row["gain_db"], row["cleaned_integrated_lufs"]
    );
}

#[test]
fn without_the_denoiser_room_tone_in_pauses_is_not_lifted_relative_to_the_quiet_voice() {
    // The denoiser takes room tone down by itself; without it, what the leveler does in the
    // pauses is all there is.
    let dir = tempfile::tempdir().unwrap();
    let (host, guest) = (voice("2033"), voice("3331"));
    let conv = dialogue(&[&host, &guest], &[-20.0, -32.0], 14, 4);
    let (out, _) = process(dir.path(), "room", &conv.audio, &["--no-denoise"]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);
    let gap = conv.speaker_loudness(&out, 0) - conv.speaker_loudness(&out, 1);
    assert!(gap.abs() <= 1.5, "speakers {gap:.2} LU apart");
    let pauses = conv.pause_interiors();
    assert!(pauses.len() >= 5, "{} pauses to measure", pauses.len());
    let relative = |audio: &Audio| rms_db_of(audio, &pauses) - conv.speaker_loudness(audio, 1);
    let (was, is) = (relative(&conv.audio), relative(&out));
    assert!(
        is <= was + 1.0,
        "room tone vs quiet voice: {was:.2} dB before, {is:.2} dB after"
    );
    // Pause by pause: none is raised above the quieter of the voices around it.
    let quiet_gain = conv.speaker_loudness(&out, 1) - conv.speaker_loudness(&conv.audio, 1);
    for pause in &pauses {
        let gain = rms_db_of(&out, std::slice::from_ref(pause)) - rms_db_of(&conv.audio, std::slice::from_ref(pause));
        assert!(
            gain <= quiet_gain + 1.0,
            "a pause raised {gain:.2} dB, the quiet voice {quiet_gain:.2} dB"
        );
    }
    eprintln!("no denoiser: speakers {gap:.2} LU apart; room tone vs quiet voice {was:.2} dB → {is:.2} dB");
}

#[test]
fn without_the_leveler_the_speakers_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (host, guest) = (voice("1688"), voice("1998"));
    let conv = dialogue(&[&host, &guest], &[-20.0, -32.0], 6, 2);
    let (out, row) = process(dir.path(), "unlevelled", &conv.audio, &["--no-level"]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);
    let gap = conv.speaker_loudness(&out, 0) - conv.speaker_loudness(&out, 1);
    assert!(gap > 9.0, "speakers {gap:.2} LU apart");
    eprintln!("--no-level: speakers {gap:.2} LU apart");
    assert!(row["leveler_max_boost_db"].is_null());
    assert!(row["output_loudness"]["speech_integrated_lufs"].is_null());
}

#[test]
fn three_speakers_from_minus_20_to_minus_33_lufs_come_out_within_one_and_a_half_lu() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (voice("1688"), voice("1998"), voice("2033"));
    let conv = dialogue(&[&a, &b, &c], &[-20.0, -27.0, -33.0], 15, 3);
    let (out, _) = process(dir.path(), "three", &conv.audio, &[]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);
    let speakers: Vec<f64> = (0..3).map(|s| conv.speaker_loudness(&out, s)).collect();
    let (lo, hi) = speakers
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi - lo <= 1.5, "speakers {:?} LUFS", rounded(&speakers));
    eprintln!(
        "three speakers: {:?} LUFS, spread {:.2} LU",
        rounded(&speakers),
        hi - lo
    );
}

#[test]
fn a_voice_drifting_six_db_either_way_over_two_minutes_is_held_within_one_and_a_half_lu() {
    let dir = tempfile::tempdir().unwrap();
    let voice = voice("3331");
    let mut rng = Rng::new(5);
    let (mut parts, mut t) = (Vec::new(), 0.0);
    while t < 120.0 {
        let seconds = rng.range(3.0, 10.0);
        let offset_db = 6.0 * (std::f64::consts::TAU * (t + seconds / 2.0) / 120.0).sin();
        parts.push(Part::Turn {
            speaker: 0,
            seconds,
            offset_db,
        });
        let pause = rng.range(0.3, 1.2);
        parts.push(Part::Pause(pause));
        t += seconds + pause;
    }
    let conv = Conversation::build(&[&voice], &[-24.0], &parts, -62.0, 5);
    let before = conv.turn_loudness(&conv.audio);
    assert!(spread(&before) > 8.0, "the drift must show: {:?}", rounded(&before));
    // The voice drifts in a stereo file (both channels), as a recording would.
    let stereo = Audio {
        rate: conv.audio.rate,
        channels: vec![conv.audio.channels[0].clone(); 2],
    };
    let (out, _) = process(dir.path(), "drift", &stereo, &[]);
    assert_delivery(&stereo, &out, -16.0, -1.0);
    let after = conv.turn_loudness(&out);
    assert!(spread(&after) <= 1.5, "per-turn loudness {:?}", rounded(&after));
    eprintln!(
        "drift: per-turn p90−p10 {:.2} → {:.2} LU",
        spread(&before),
        spread(&after)
    );
}

#[test]
fn quiet_interjections_fourteen_lu_under_the_host_are_brought_within_three_lu() {
    let dir = tempfile::tempdir().unwrap();
    let (host, guest) = (voice("1688"), voice("1998"));
    let mut rng = Rng::new(6);
    let mut parts = Vec::new();
    for _ in 0..10 {
        parts.push(Part::Turn {
            speaker: 0,
            seconds: rng.range(3.0, 10.0),
            offset_db: 0.0,
        });
        parts.push(Part::Pause(rng.range(0.3, 0.8)));
        // "yeah", "right", "mm-hm": each one 14 LU under the host.
        parts.push(Part::ExactTurn {
            speaker: 1,
            seconds: rng.range(0.5, 1.5),
            offset_db: 0.0,
        });
        parts.push(Part::Pause(rng.range(0.3, 0.8)));
    }
    let conv = Conversation::build(&[&host, &guest], &[-20.0, -34.0], &parts, -62.0, 6);
    let (out, _) = process(dir.path(), "interjections", &conv.audio, &[]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);
    let host_level = conv.speaker_loudness(&out, 0);
    let gap = host_level - conv.speaker_loudness(&out, 1);
    assert!(gap.abs() <= 3.0, "interjections {gap:.2} LU under the host");
    let each: Vec<f64> = conv
        .turns
        .iter()
        .zip(conv.turn_loudness(&out))
        .filter(|((s, _), _)| *s == 1)
        .map(|(_, l)| host_level - l)
        .collect();
    let mut sorted = each.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(
        sorted[sorted.len() / 2] <= 3.0,
        "each under the host: {:?}",
        rounded(&each)
    );
    assert!(
        sorted[sorted.len() - 1] <= 5.0,
        "each under the host: {:?}",
        rounded(&each)
    );
    eprintln!(
        "interjections: {gap:.2} LU under the host together; each {:?}",
        rounded(&each)
    );
}

#[test]
fn a_single_steady_speaker_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let voice = voice("3331");
    let conv = dialogue(&[&voice], &[-24.0], 12, 7);
    let (out, _) = process(dir.path(), "steady", &conv.audio, &[]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);
    let moves = turn_moves(&conv, &out);
    assert!(
        moves.iter().all(|m| m.abs() <= 1.0),
        "turns moved {:?} dB",
        rounded(&moves)
    );
    eprintln!("steady: turns moved {:?} dB", rounded(&moves));
}

#[test]
fn coughs_and_door_slams_in_the_pauses_are_not_boosted() {
    let dir = tempfile::tempdir().unwrap();
    let voice = voice("3331");
    let mut rng = Rng::new(8);
    // Loud and quiet ones: a quiet one mistaken for speech would be raised towards the voice.
    let sounds = [
        cough(-20.0, 1),
        door_slam(-12.0, 2),
        cough(-45.0, 3),
        door_slam(-40.0, 4),
        cough(-35.0, 5),
        door_slam(-50.0, 6),
    ];
    let mut parts = Vec::new();
    for sound in sounds {
        parts.push(Part::Turn {
            speaker: 0,
            seconds: rng.range(3.0, 8.0),
            offset_db: 0.0,
        });
        parts.push(Part::Pause(0.8));
        parts.push(Part::Event(sound));
        parts.push(Part::Pause(0.8));
    }
    let conv = Conversation::build(&[&voice], &[-24.0], &parts, -62.0, 8);
    let (out, _) = process(dir.path(), "coughs", &conv.audio, &[]);
    assert_delivery(&conv.audio, &out, -19.0, -1.0);
    // The voice's own gain, and each sound's: output minus input level where it is.
    let voice_gain = conv.speaker_loudness(&out, 0) - conv.speaker_loudness(&conv.audio, 0);
    for (i, event) in conv.events.iter().enumerate() {
        let gain = rms_db_of(&out, std::slice::from_ref(event)) - rms_db_of(&conv.audio, std::slice::from_ref(event));
        assert!(
            gain <= voice_gain + 1.0,
            "sound {i} raised by {gain:.2} dB, the voice by {voice_gain:.2} dB"
        );
        eprintln!("coughs: sound {i} {:+.2} dB relative to the voice", gain - voice_gain);
    }
}

#[test]
fn with_a_speaker_on_each_side_both_channels_get_the_same_gain() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (voice("1688"), voice("1998"));
    let conv = dialogue(&[&left, &right], &[-20.0, -32.0], 8, 9);
    // Speaker 0 on the left, speaker 1 on the right, each bleeding 12 dB down into the other
    // side (as two mics in one room do), room tone on both.
    let only = |speaker: usize| -> Vec<f32> {
        let mut x = conv.audio.channels[0].clone();
        for (s, range) in &conv.turns {
            if *s != speaker {
                x[range.clone()].fill(0.0);
            }
        }
        x
    };
    let (a, b) = (only(0), only(1));
    let tone = pink_noise(conv.audio.frames(), -62.0, 99);
    let left: Vec<f32> = a.iter().zip(&b).map(|(a, b)| a + 0.25 * b).collect();
    let right: Vec<f32> = a
        .iter()
        .zip(&b)
        .zip(&tone)
        .map(|((a, b), t)| b + 0.25 * a + t)
        .collect();
    let stereo = Audio {
        rate: conv.audio.rate,
        channels: vec![left, right],
    };
    // Only the leveler, the loudness gain and the limiter: the two channels' ratios of output
    // to input must then be the same at every sample.
    let preset = dir.path().join("level-only.toml");
    std::fs::write(
        &preset,
        "name = \"level-only\"\n[highpass]\nenabled = false\n[denoise]\nenabled = false\n\
         [deess]\nenabled = false\n[compressor]\nenabled = false\n[leveler]\nenabled = true\n",
    )
    .unwrap();
    let (out, row) = process(
        dir.path(),
        "sides",
        &stereo,
        &["-p", preset.to_str().unwrap(), "--bit-depth", "32f"],
    );
    assert_delivery(&stereo, &out, -16.0, -1.0);
    assert!(row["leveler_max_boost_db"].as_f64().unwrap() + row["leveler_max_cut_db"].as_f64().unwrap() > 8.0);
    // Against the input as written (24-bit), not the float original.
    let written = read_wav(&dir.path().join("in/sides.wav"));
    let mut checked = 0;
    for i in 0..stereo.frames() {
        let (l, r) = (written.channels[0][i], written.channels[1][i]);
        if l.abs() > 1e-3 && r.abs() > 1e-3 {
            let (gl, gr) = (out.channels[0][i] / l, out.channels[1][i] / r);
            assert!((gl - gr).abs() <= 1e-4 * gl.abs(), "frame {i}: left ×{gl}, right ×{gr}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} frames compared");
    // And the voices still come out level.
    let gap = conv.speaker_loudness(&out, 0) - conv.speaker_loudness(&out, 1);
    assert!(gap.abs() <= 1.5, "sides {gap:.2} LU apart");
    eprintln!("stereo sides: {checked} frames with the same gain on both channels; speakers {gap:.2} LU apart");
}

#[test]
fn the_report_carries_the_speech_figures_in_csv_and_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (host, guest) = (voice("2033"), voice("3331"));
    let conv = dialogue(&[&host, &guest], &[-22.0, -31.0], 4, 10);
    let input = dir.path().join("in/short.wav");
    write_wav(&input, &conv.audio, 16);
    let out = dir.path().join("out");
    let assert = podclean().arg(&input).arg("-o").arg(&out).arg("-v").assert().success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("spread") && stderr.contains("leveler +"), "{stderr}");
    let csv = std::fs::read_to_string(out.join("podclean-report.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let values: Vec<&str> = lines.next().unwrap().split(',').collect();
    for column in [
        "input_speech_integrated_lufs",
        "output_speech_integrated_lufs",
        "input_speech_spread_lu",
        "output_speech_spread_lu",
        "leveler_max_boost_db",
        "leveler_max_cut_db",
    ] {
        let at = header
            .iter()
            .position(|h| *h == column)
            .unwrap_or_else(|| panic!("no {column}"));
        let value: f64 = values[at]
            .parse()
            .unwrap_or_else(|_| panic!("{column} = {:?}", values[at]));
        assert!(value.is_finite(), "{column}");
    }
    // The HTML page plots the leveler's gain curve beside the loudness.
    let html = std::fs::read_to_string(out.join("podclean-report.html")).unwrap();
    assert_eq!(
        html.matches("<path class=\"s-gain\" d=\"M").count(),
        1,
        "one gain curve"
    );
}

/// Peak resident memory (VmHWM, kB) of podclean processing `input`, read from /proc while it
/// runs (the peak only grows, so the last reading before it exits is the peak).
#[cfg(target_os = "linux")]
fn peak_rss_kb(input: &Path, out: &Path, args: &[&str]) -> u64 {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(["-q", "-j", "1"])
        .args(args)
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "podclean failed on {}", input.display());
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn memory_does_not_grow_with_the_length_of_the_file() {
    // One and ten minutes of the same conversation: the leveler keeps a few values per 10 ms
    // (about 1 MB for the nine extra minutes), the audio itself would be 35 MB more as f32.
    let dir = tempfile::tempdir().unwrap();
    let (host, guest) = (voice("1688"), voice("1998"));
    let minute = dialogue(&[&host, &guest], &[-20.0, -32.0], 10, 11);
    let mut peaks = Vec::new();
    for minutes in [1usize, 10] {
        let samples: Vec<f32> = minute.audio.channels[0]
            .iter()
            .copied()
            .cycle()
            .take(minutes * 60 * RATE as usize)
            .collect();
        let audio = Audio {
            rate: RATE,
            channels: vec![samples],
        };
        let input = dir.path().join(format!("in/long{minutes}.wav"));
        write_wav(&input, &audio, 16);
        let out = dir.path().join(format!("out{minutes}"));
        peaks.push(peak_rss_kb(
            &input,
            &out,
            &["--no-denoise", "--no-deess", "--no-compress"],
        ));
    }
    let growth_mb = (peaks[1] as f64 - peaks[0] as f64) / 1024.0;
    eprintln!(
        "peak RSS: 1 min {} kB, 10 min {} kB (+{growth_mb:.1} MB)",
        peaks[0], peaks[1]
    );
    assert!(peaks[0] > 1000, "no reading: {peaks:?}");
    assert!(
        growth_mb < 8.0,
        "peak RSS grew by {growth_mb:.1} MB from 1 to 10 minutes: {peaks:?}"
    );
}
