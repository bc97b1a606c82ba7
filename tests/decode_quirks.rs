#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Container quirks through the binary: odd but valid inputs (RF64, several data chunks, 32
//! channels, MP4 edit lists that round, 96 kHz AAC) come out exactly as long as they went
//! in, and an unsupported one fails alone, with a reason that names what is unsupported.
mod common;

use std::path::Path;

use common::*;

/// A plain 16-bit PCM WAV: `channels` channels of a 1 kHz tone at `level`·(k + 1)/channels
/// on channel k, in `data_chunks` consecutive `data` chunks of `frames_each` frames.
fn pcm_wav(channels: u16, rate: u32, frames_each: usize, data_chunks: usize) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    fmt.extend_from_slice(&(2 * channels).to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    chunks.push((*b"fmt ", fmt));
    for c in 0..data_chunks {
        let mut data = Vec::new();
        for i in c * frames_each..(c + 1) * frames_each {
            let phase = std::f64::consts::TAU * 1000.0 * i as f64 / f64::from(rate);
            for k in 0..channels {
                let level = 0.25 * f64::from(k + 1) / f64::from(channels);
                data.extend_from_slice(&((level * phase.sin() * 32_767.0).round() as i16).to_le_bytes());
            }
        }
        chunks.push((*b"data", data));
    }
    let mut body = b"WAVE".to_vec();
    for (id, data) in chunks {
        body.extend_from_slice(&id);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&data);
    }
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend(body);
    file
}

fn copy_fixture(name: &str, to: &Path) {
    std::fs::copy(fixture(&format!("formats/{name}")), to).unwrap();
}

#[test]
fn odd_containers_come_out_whole_and_unsupported_ones_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    copy_fixture("wav_s16_48k_mono_rf64.wav", &input.join("rf64.wav"));
    copy_fixture("alac_s16_44k1_mono_odd.m4a", &input.join("alac-odd.m4a"));
    copy_fixture("aac_48k_mono_16s.m4a", &input.join("aac-16s.m4a"));
    copy_fixture("aac_96k_mono.m4a", &input.join("aac-96k.m4a"));
    std::fs::write(input.join("two-data.wav"), pcm_wav(2, 44_100, 11_025, 2)).unwrap();
    std::fs::write(input.join("32ch.wav"), pcm_wav(32, 48_000, 24_000, 1)).unwrap();
    std::fs::write(input.join("33ch.wav"), pcm_wav(33, 48_000, 4_800, 1)).unwrap();
    let before = snapshot(&input);
    let out = dir.path().join("out");
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["--no-denoise", "-q", "--format", "wav"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(snapshot(&input), before, "inputs untouched");
    let report = read_report(&out.join("podclean-report.json"));

    // Name, frames in, rate, channels, status (files under 0.4 s are too short to measure
    // and are written at unity gain).
    let whole = [
        ("rf64.wav", 12_000, 48_000, 1, "silent"),
        ("alac-odd.m4a", 22_068, 44_100, 1, "ok"),
        ("aac-16s.m4a", 768_499, 48_000, 1, "ok"),
        ("aac-96k.m4a", 9_600, 96_000, 1, "silent"),
        ("two-data.wav", 22_050, 44_100, 2, "ok"),
        ("32ch.wav", 24_000, 48_000, 32, "ok"),
    ];
    for (name, frames, rate, channels, status) in whole {
        let r = row(&report, name);
        assert_eq!(r["status"], status, "{name}: {r:#}");
        let output = read_wav(&out.join(name).with_extension("wav"));
        assert_eq!(output.frames(), frames, "{name}: same length out as in");
        assert_eq!((output.rate, output.channels.len()), (rate, channels), "{name}");
    }
    let warnings = row(&report, "two-data.wav")["warnings"].to_string();
    assert!(warnings.contains("2 data chunks"), "{warnings}");
    // The 32 channels keep their order: channel k was at (k + 1)/32 of channel 31.
    let many = read_wav(&out.join("32ch.wav"));
    let rms = |ch: &[f32]| (ch.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / ch.len() as f64).sqrt();
    let top = rms(&many.channels[31]);
    for (k, ch) in many.channels.iter().enumerate() {
        let ratio_db = 20.0 * (rms(ch) / top).log10();
        let want_db = 20.0 * ((k + 1) as f64 / 32.0).log10();
        // The compressor may narrow the spread a little; order and rough size must hold.
        assert!(
            (ratio_db - want_db).abs() < 3.0,
            "channel {k}: {ratio_db:.1} dB, expected {want_db:.1}"
        );
    }

    let failed = row(&report, "33ch.wav");
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(failed["error"], "unsupported: 33 channels (podclean reads at most 32)");
    assert_eq!(failed["error_kind"], "unsupported");
    assert!(!out.join("33ch.wav").exists());
}
