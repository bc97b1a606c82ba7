#![allow(clippy::unwrap_used, clippy::expect_used)]
// The MP3 fixtures are made with podclean's own MP3 writer.
#![cfg(feature = "mp3")]
//! Output formats from the command line: MP3 stays MP3 (tags, cover, chapters, gapless,
//! on target when decoded), FLAC stays FLAC (lossless, tags and picture), WAV carries BWF
//! loudness, `--format` overrides, bad encoder settings are refused before anything is
//! touched, and digital silence stays silence.

mod common;
use common::*;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::AudioFile;
use lofty::id3::v2::{
    AttachedPictureFrame, ChapterFrame, ChapterTableOfContentsFrame, CtocFlags, ExtendedTextFrame, Frame, FrameId,
    FrameList, Id3v2Tag, TextInformationFrame,
};
use lofty::ogg::OggPictureStorage;
use lofty::tag::{Accessor, TagExt};
use lofty::TextEncoding;
use podclean::io::decode::Decoder;
use podclean::io::encode::bext::Bext;
use podclean::io::encode::mp3::{Mp3Mode, Mp3Writer};
use podclean::io::encode::riff::read_broadcast_chunks;
use podclean::io::encode::tags::{front_cover, picture_info};
use podclean::io::encode::{WavChunks, WavWriter};
use podclean::io::{ChannelRole, SampleFormat};

/// A small JPEG (a valid header is all the tag formats look at); compared byte for byte.
fn cover_jpeg() -> Vec<u8> {
    let mut jpeg = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ];
    jpeg.extend((0..200u32).map(|i| (i * 37 % 251) as u8));
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

/// (start ms, end ms, title) of the three test chapters, for a clip of `ms` milliseconds.
fn chapter_plan(ms: u32) -> Vec<(u32, u32, String)> {
    vec![
        (0, ms / 3, "Intro".to_string()),
        (ms / 3, 2 * ms / 3, "Interview".to_string()),
        (2 * ms / 3, ms, "Outro".to_string()),
    ]
}

/// An ID3v2 tag with title/artist/album, a front cover, three chapters and a stale
/// ReplayGain value (which must not survive normalization).
fn id3_with_everything(ms: u32) -> Vec<u8> {
    let mut tag = Id3v2Tag::new();
    tag.set_title("Episode 12: Bees".into());
    tag.set_artist("The Hive Podcast".into());
    tag.set_album("Season 2".into());
    tag.insert(Frame::Picture(AttachedPictureFrame::new(
        TextEncoding::UTF8,
        front_cover(cover_jpeg(), "image/jpeg"),
    )));
    tag.insert(Frame::UserText(ExtendedTextFrame::new(
        TextEncoding::UTF8,
        "REPLAYGAIN_TRACK_GAIN",
        "-6.20 dB",
    )));
    let plan = chapter_plan(ms);
    for (i, (start, end, title)) in plan.iter().enumerate() {
        let mut children = FrameList::new();
        children.insert(Frame::Text(TextInformationFrame::new(
            FrameId::Valid(Cow::Borrowed("TIT2")),
            TextEncoding::UTF8,
            title.clone(),
        )));
        tag.insert(Frame::Chapter(ChapterFrame::new(
            format!("ch{i}"),
            *start..*end,
            u32::MAX..u32::MAX,
            children,
        )));
    }
    let entries: Vec<Cow<'static, str>> = (0..plan.len()).map(|i| Cow::Owned(format!("ch{i}"))).collect();
    tag.insert(Frame::TableOfContents(ChapterTableOfContentsFrame::new(
        "toc",
        CtocFlags {
            top_level: true,
            ordered: true,
        },
        entries,
        FrameList::new(),
    )));
    let mut bytes = Vec::new();
    tag.dump_to(&mut bytes, WriteOptions::default()).unwrap();
    bytes
}

fn decode_all(path: &Path) -> Audio {
    let mut dec = Decoder::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let channels = dec.info().channels;
    let rate = dec.info().sample_rate;
    let mut out = vec![Vec::new(); channels];
    let mut block = vec![vec![0.0f32; 4096]; channels];
    loop {
        let n = dec.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        for ch in 0..channels {
            out[ch].extend_from_slice(&block[ch][..n]);
        }
    }
    Audio { rate, channels: out }
}

fn write_mp3(path: &Path, audio: &Audio, mode: Mp3Mode, id3: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = Mp3Writer::create(path, audio.rate, audio.channels.len(), mode, id3).unwrap();
    let mut written = audio.channels.clone();
    w.write(&audio.channels, 0..audio.frames(), &mut written).unwrap();
    w.finalize().unwrap();
}

fn mp3_tag(path: &Path) -> Id3v2Tag {
    let mut file = std::fs::File::open(path).unwrap();
    let mp3 = lofty::mpeg::MpegFile::read_from(&mut file, ParseOptions::new()).unwrap();
    mp3.id3v2().cloned().expect("output has an ID3v2 tag")
}

fn chapters_of(tag: &Id3v2Tag) -> Vec<(u32, u32, String)> {
    tag.iter()
        .filter_map(|f| match f {
            Frame::Chapter(c) => Some((c.times.start, c.times.end, c.title().unwrap_or_default().to_string())),
            _ => None,
        })
        .collect()
}

fn cover_of(tag: &Id3v2Tag) -> Vec<u8> {
    tag.iter()
        .find_map(|f| match f {
            Frame::Picture(p) => Some(p.picture.data().to_vec()),
            _ => None,
        })
        .expect("a cover picture")
}

fn process(input: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    podclean().arg(input).arg("-o").arg(out).arg("-q").args(extra).assert()
}

/// Lag of `output` against `input` over a stretch from the middle.
fn lag(input: &Audio, output: &Audio) -> isize {
    let mid = input.frames() / 2;
    let span = (input.rate as usize).min(mid);
    best_lag(
        &input.channels[0][mid - span / 2..mid + span / 2],
        &output.channels[0][mid - span / 2..mid + span / 2],
        1200,
    )
}

fn clip(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/clips").join(name)
}

#[test]
fn mp3_stays_mp3_with_tags_cover_chapters_on_target_and_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    // Real speech (VCTK, 24 kHz mono) as a 128 kb/s CBR episode; a 44.1 kHz stereo voice as VBR.
    let speech = at_loudness(decode_all(&clip("vctk-p260.mp3")), -27.0);
    let stereo = at_loudness(synthetic_voice(44_100, 8.0, 2), -24.0);
    let ms = |a: &Audio| (a.frames() as u64 * 1000 / u64::from(a.rate)) as u32;
    write_mp3(
        &input.join("cbr.mp3"),
        &speech,
        Mp3Mode::Cbr(128),
        &id3_with_everything(ms(&speech)),
    );
    write_mp3(
        &input.join("vbr.mp3"),
        &stereo,
        Mp3Mode::Vbr(4),
        &id3_with_everything(ms(&stereo)),
    );
    let before = snapshot(&input);
    let out = dir.path().join("out");
    process(&input, &out, &[]).success();
    assert_eq!(snapshot(&input), before, "inputs must not change");
    let report = read_report(&out.join("podclean-report.json"));

    for (name, target) in [("cbr.mp3", -19.0), ("vbr.mp3", -16.0)] {
        let in_path = input.join(name);
        let out_path = out.join(name);
        assert!(out_path.exists(), "{name}: MP3 in, MP3 out under the same name");
        let r = row(&report, name);
        assert_eq!(r["status"], "ok", "{r:#}");
        assert_eq!(r["output_measured_on"], "decoded output file");

        // Tags, cover and chapters came along; the stale gain did not.
        let (tag_in, tag_out) = (mp3_tag(&in_path), mp3_tag(&out_path));
        assert_eq!(tag_out.title(), tag_in.title());
        assert_eq!(tag_out.artist().as_deref(), Some("The Hive Podcast"));
        assert_eq!(tag_out.album(), tag_in.album());
        assert_eq!(cover_of(&tag_out), cover_jpeg(), "{name}: cover bytes");
        assert_eq!(chapters_of(&tag_out), chapters_of(&tag_in), "{name}: chapters");
        assert_eq!(chapters_of(&tag_out).len(), 3);
        assert!(
            tag_out.get_user_text("REPLAYGAIN_TRACK_GAIN").is_none(),
            "stale gain tag dropped"
        );
        assert_eq!(r["chapters_carried"], 3);
        assert!(r["tags_carried"].as_u64().unwrap() >= 4, "{r:#}");
        assert!(r["notes"].to_string().contains("REPLAYGAIN_TRACK_GAIN"), "{r:#}");

        // Decoded (symphonia honours the LAME header): same length, no lag, on target,
        // under the ceiling by a 4× oversampled true-peak meter.
        let decoded_in = decode_all(&in_path);
        let decoded_out = decode_all(&out_path);
        assert_eq!(decoded_out.rate, decoded_in.rate);
        assert_eq!(decoded_out.channels.len(), decoded_in.channels.len());
        assert_eq!(decoded_out.frames(), decoded_in.frames(), "{name}: decoded length");
        assert_eq!(lag(&decoded_in, &decoded_out), 0, "{name}: decoded output is shifted");
        let (lufs, tp) = measure(&decoded_out);
        assert!(
            (lufs - target).abs() <= 0.1,
            "{name}: decoded output {lufs:.3} LUFS, target {target}"
        );
        assert!(tp <= -1.0, "{name}: decoded true peak {tp:.3} dBTP over the ceiling");
        let reported = r["output_loudness"]["integrated_lufs"].as_f64().unwrap();
        assert!((reported - lufs).abs() < 0.05, "report {reported} vs measured {lufs}");
    }
    // CBR source → CBR at its rate; VBR source → a VBR quality.
    assert_eq!(row(&report, "cbr.mp3")["output_format"], "mp3 cbr 128");
    let kbps = row(&report, "cbr.mp3")["bitrate_kbps"].as_f64().unwrap();
    // Within the LAME header frame and the delay/padding frames of a 5 s clip.
    assert!((kbps - 128.0).abs() < 0.03 * 128.0, "CBR output at {kbps} kb/s");
    assert!(row(&report, "vbr.mp3")["output_format"]
        .as_str()
        .unwrap()
        .starts_with("mp3 vbr V"));
    assert!(temp_files(&out).is_empty());
}

#[test]
fn decoded_mp3_length_cross_checked_with_ffmpeg() {
    let Ok(probe) = std::process::Command::new("ffmpeg").arg("-version").output() else {
        println!("SKIPPED: ffmpeg is not installed (apt-get install ffmpeg); symphonia's check still runs elsewhere");
        return;
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let voice = at_loudness(synthetic_voice(48_000, 3.0, 1), -30.0);
    write_mp3(&input.join("ep.mp3"), &voice, Mp3Mode::Cbr(96), &[]);
    let out = dir.path().join("out");
    process(&input, &out, &["--no-denoise"]).success();
    let frames_by_ffmpeg = |path: &Path| {
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "f32le", "-ac", "1", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout.len() / 4
    };
    let decoded_in = frames_by_ffmpeg(&input.join("ep.mp3"));
    assert_eq!(decoded_in, voice.frames(), "ffmpeg trims the input's gapless padding");
    assert_eq!(
        frames_by_ffmpeg(&out.join("ep.mp3")),
        decoded_in,
        "ffmpeg trims ours too"
    );
}

/// A FLAC with Vorbis comments (and a stale ReplayGain comment) and a front cover.
fn write_tagged_flac(path: &Path, audio: &Audio) {
    use podclean::io::encode::flac::{FlacWriter, BLOCK_PICTURE, BLOCK_VORBIS_COMMENT};
    let comments = [
        ("TITLE", "Spring Sale"),
        ("ARTIST", "Radio North"),
        ("ALBUM", "Spots 2024"),
        ("REPLAYGAIN_TRACK_GAIN", "+3.10 dB"),
    ];
    let vendor = b"test";
    let mut body = Vec::new();
    body.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    body.extend_from_slice(vendor);
    body.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for (k, v) in comments {
        let entry = format!("{k}={v}");
        body.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        body.extend_from_slice(entry.as_bytes());
    }
    let cover = front_cover(cover_jpeg(), "image/jpeg");
    let picture = cover.as_flac_bytes(picture_info(&cover), false);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = FlacWriter::create(
        path,
        audio.rate,
        audio.channels.len(),
        16,
        5,
        &[(BLOCK_VORBIS_COMMENT, body), (BLOCK_PICTURE, picture)],
    )
    .unwrap();
    let mut written = audio.channels.clone();
    w.write(&audio.channels, 0..audio.frames(), &mut written).unwrap();
    w.finalize().unwrap();
}

#[test]
fn flac_stays_flac_lossless_with_comments_and_picture() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let speech = at_loudness(speech(6.0), -28.0);
    write_tagged_flac(&input.join("spot.flac"), &speech);
    let out_flac = dir.path().join("out-flac");
    let out_wav = dir.path().join("out-wav");
    process(&input, &out_flac, &["-p", "ebu-r128"]).success();
    process(&input, &out_wav, &["-p", "ebu-r128", "--format", "wav"]).success();

    // Lossless: the FLAC decodes to exactly the samples the WAV writer wrote from the same
    // processing (same quantizer, same dither sequence).
    let flac = decode_all(&out_flac.join("spot.flac"));
    let wav = read_wav(&out_wav.join("spot.wav"));
    assert_eq!(flac.frames(), speech.frames());
    assert_eq!(flac.channels, wav.channels, "FLAC output is not bit-exact");
    let (lufs, tp) = measure(&flac);
    assert!((lufs + 23.0).abs() <= 0.1, "{lufs}");
    assert!(tp <= -1.0, "{tp}");

    let mut file = std::fs::File::open(out_flac.join("spot.flac")).unwrap();
    let tagged = lofty::flac::FlacFile::read_from(&mut file, ParseOptions::new()).unwrap();
    let comments = tagged.vorbis_comments().expect("Vorbis comments carried");
    assert_eq!(comments.get("TITLE"), Some("Spring Sale"));
    assert_eq!(comments.get("ARTIST"), Some("Radio North"));
    assert_eq!(comments.get("ALBUM"), Some("Spots 2024"));
    assert_eq!(comments.get("REPLAYGAIN_TRACK_GAIN"), None, "stale gain dropped");
    assert_eq!(tagged.pictures().len(), 1);
    assert_eq!(tagged.pictures()[0].0.data(), cover_jpeg().as_slice());
    let report = read_report(&out_flac.join("podclean-report.json"));
    let r = row(&report, "spot.flac");
    assert_eq!(r["output_format"], "flac 16");
    assert_eq!(r["tags_carried"], 4, "3 comments + 1 picture: {r:#}");
    assert_eq!(r["output_measured_on"], "samples written");
    let kbps = r["bitrate_kbps"].as_f64().unwrap();
    assert!(kbps > 20.0 && kbps < 256.0, "16 kHz mono 16-bit FLAC at {kbps} kb/s");
}

#[test]
fn wav_gets_bext_v2_loudness_keeps_originator_and_ixml() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let voice = at_loudness(synthetic_voice(48_000, 10.0, 2), -30.0);
    let source_bext = Bext {
        description: "Spot 42: spring sale, 30 s".into(),
        originator: "Studio B".into(),
        originator_reference: "USID-STB-0042".into(),
        origination_date: "2024-03-01".into(),
        origination_time: "09:30:00".into(),
        time_reference: 48_000 * 3_600,
        version: 1,
        umid: [0; 64],
        loudness: Default::default(),
        coding_history: "A=PCM,F=48000,W=24,M=stereo,T=Studio B desk\r\n".into(),
    };
    let ixml = b"<?xml version=\"1.0\"?><BWFXML><PROJECT>Spring</PROJECT></BWFXML>".to_vec();
    let chunks = WavChunks {
        bext: Some(source_bext.clone()),
        ixml: Some(ixml.clone()),
        trailing: Vec::new(),
    };
    let roles = [ChannelRole::Left, ChannelRole::Right];
    let mut w = WavWriter::create_with_chunks(&input.join("spot.wav"), 48_000, 2, SampleFormat::Int24, &roles, &chunks)
        .unwrap();
    let mut written = voice.channels.clone();
    w.write(&voice.channels, 0..voice.frames(), &mut written).unwrap();
    w.finalize().unwrap();

    let out = dir.path().join("out");
    process(&input, &out, &["-p", "ebu-r128"]).success();
    let out_path = out.join("spot.wav");
    let found = read_broadcast_chunks(&out_path).unwrap();
    let bext = found.bext.expect("output has a bext chunk");
    assert_eq!(found.ixml, Some(ixml), "iXML carried unchanged");
    assert_eq!(bext.version, 2);
    assert_eq!(bext.description, source_bext.description);
    assert_eq!(bext.originator, source_bext.originator);
    assert_eq!(bext.originator_reference, source_bext.originator_reference);
    assert_eq!(bext.origination_date, source_bext.origination_date);
    assert_eq!(bext.origination_time, source_bext.origination_time);
    assert_eq!(bext.time_reference, source_bext.time_reference);
    assert!(bext.coding_history.starts_with(&source_bext.coding_history));
    let added = &bext.coding_history[source_bext.coding_history.len()..];
    assert!(added.starts_with("A=PCM,F=48000,W=24,M=stereo,T=podclean"), "{added:?}");
    assert!(added.ends_with("\r\n"));

    // The loudness fields are the report's figures to 0.01.
    let report = read_report(&out.join("podclean-report.json"));
    let m = &row(&report, "spot.wav")["output_loudness"];
    let l = bext.loudness;
    for (field, key) in [
        (l.loudness_value, "integrated_lufs"),
        (l.loudness_range, "lra_lu"),
        (l.max_true_peak_level, "true_peak_dbtp"),
        (l.max_momentary_loudness, "max_momentary_lufs"),
        (l.max_short_term_loudness, "max_short_term_lufs"),
    ] {
        let reported = m[key].as_f64().unwrap();
        let stored = f64::from(field.unwrap_or_else(|| panic!("{key} unset"))) / 100.0;
        assert!(
            (stored - reported).abs() < 0.01,
            "{key}: bext {stored} vs report {reported}"
        );
    }
    assert!((f64::from(l.loudness_value.unwrap()) / 100.0 + 23.0).abs() <= 0.1);
    // The samples still read as plain WAV, in sync and full length.
    let audio = read_wav(&out_path);
    assert_eq!(audio.frames(), voice.frames());

    // An independent reader, where one is installed.
    match std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_format", "-of", "json"])
        .arg(&out_path)
        .output()
    {
        Err(_) => println!("SKIPPED: ffprobe is not installed; the bext chunk was checked by podclean's parser only"),
        Ok(probe) => {
            assert!(probe.status.success());
            let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
            // ffmpeg names the bext fields its own way (it shows no loudness fields).
            let tags = &json["format"]["tags"];
            assert_eq!(tags["comment"], "Spot 42: spring sale, 30 s", "{json:#}");
            assert_eq!(tags["encoded_by"], "Studio B", "originator");
            assert_eq!(tags["originator_reference"], "USID-STB-0042");
            assert_eq!(tags["date"], "2024-03-01");
            assert_eq!(tags["creation_time"], "09:30:00");
            assert_eq!(tags["time_reference"], (48_000u64 * 3_600).to_string());
            assert!(tags["coding_history"].as_str().unwrap().contains("T=podclean"));
        }
    }
}

#[test]
fn format_wav_on_mp3_gives_todays_wav_and_spots_keep_their_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(clip("librispeech-3575.mp3"), input.join("ep.mp3")).unwrap();
    let out = dir.path().join("out");
    process(&input, &out, &["--format", "wav"]).success();
    assert!(!out.join("ep.mp3").exists());
    let wav = hound::WavReader::open(out.join("ep.wav")).unwrap();
    assert_eq!(wav.spec().bits_per_sample, 24, "lossy source → 24-bit WAV, as before");
    let audio = read_wav(&out.join("ep.wav"));
    assert_eq!(audio.frames(), decode_all(&input.join("ep.mp3")).frames());
    assert!((measure(&audio).0 + 19.0).abs() <= 0.1);
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(row(&report, "ep.mp3")["output_format"], "wav 24");

    // Broadcast spots keep their format under the EBU preset.
    let spots = dir.path().join("spots");
    let voice = at_loudness(synthetic_voice(48_000, 4.0, 2), -18.0);
    write_wav(&spots.join("a.wav"), &voice, 24);
    write_tagged_flac(&spots.join("b.flac"), &at_loudness(speech(4.0), -18.0));
    let out = dir.path().join("spots-out");
    process(&spots, &out, &["-p", "ebu-r128"]).success();
    assert!(out.join("a.wav").exists() && out.join("b.flac").exists());
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(row(&report, "a.wav")["output_format"], "wav 24");
    assert_eq!(row(&report, "b.flac")["output_format"], "flac 16");
}

#[test]
fn bad_encoder_settings_stop_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_wav(&input.join("a.wav"), &synthetic_voice(48_000, 1.0, 1), 16);
    let preset = dir.path().join("mine.toml");
    std::fs::write(
        &preset,
        "name = \"mine\"\n[output]\nformat = \"mp3\"\nflac_level = 11\n",
    )
    .unwrap();
    let preset = preset.to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 5] = [
        (&["--mp3-bitrate", "100"], "mp3_bitrate"),
        (&["--flac-level", "9"], "flac_level"),
        (&["--format", "ogg"], "--format"),
        (&["--format", "flac", "--bit-depth", "32f"], "bit-depth"),
        (&["-p", &preset], "flac_level"),
    ];
    for (args, key) in cases {
        let out = dir.path().join("out");
        let assert = process(&input, &out, args).code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.contains(key), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?}: the output folder was created");
    }
}

#[test]
fn digital_silence_stays_exact_zeros_at_16_bit() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let silence = Audio {
        rate: 48_000,
        channels: vec![vec![0.0; 48_000 * 3]; 2],
    };
    write_wav(&input.join("silence.wav"), &silence, 16);
    // Silence with one short burst: dither still applies where there is signal.
    let mut burst = silence.clone();
    for (i, s) in burst.channels[0][48_000..52_800].iter_mut().enumerate() {
        *s = 0.01 * (i as f32 * 0.05).sin();
    }
    write_wav(&input.join("burst.wav"), &burst, 16);
    let out = dir.path().join("out");
    process(&input, &out, &[]).success();
    let codes = |name: &str| -> Vec<i32> {
        hound::WavReader::open(out.join(name))
            .unwrap()
            .samples::<i32>()
            .map(Result::unwrap)
            .collect()
    };
    let silent = codes("silence.wav");
    assert_eq!(silent.len(), 2 * 48_000 * 3);
    assert!(silent.iter().all(|&c| c == 0), "silence in, silence out");
    let burst_out = codes("burst.wav");
    assert!(
        burst_out[..2 * 40_000].iter().all(|&c| c == 0),
        "silence before the burst"
    );
    assert!(burst_out.iter().any(|&c| c != 0), "the burst is there");
}

#[test]
fn flac_whose_peaks_need_the_limiter_lands_on_target_under_the_ceiling() {
    // Quiet speech with clicks near full scale: the gain to −23 LUFS drives the clicks far
    // over the ceiling, so the limiter costs loudness and the first gain misses. The gain is
    // found by passes that only meter; the one FLAC written must still be on target.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let mut speech = at_loudness(speech(6.0), -33.0);
    let rate = speech.rate as usize;
    for clap in [rate, 3 * rate, 5 * rate] {
        speech.channels[0][clap..clap + 4].copy_from_slice(&[0.5, 0.9, -0.9, -0.5]);
    }
    write_tagged_flac(&input.join("claps.flac"), &speech);
    let out = dir.path().join("out");
    process(&input, &out, &["-p", "ebu-r128"]).success();

    let flac = decode_all(&out.join("claps.flac"));
    assert_eq!(flac.frames(), speech.frames());
    let (lufs, tp) = measure(&flac);
    assert!((lufs + 23.0).abs() <= 0.1, "{lufs}");
    assert!(tp <= -1.0, "{tp}");
    let report = read_report(&out.join("podclean-report.json"));
    let r = row(&report, "claps.flac");
    assert!(r["limiter_max_reduction_db"].as_f64().unwrap() > 3.0, "{r:#}");
    assert!(r["passes"].as_u64().unwrap() >= 2, "{r:#}");
    let reported = r["output_loudness"]["integrated_lufs"].as_f64().unwrap();
    assert!((reported - lufs).abs() < 0.01, "report {reported} vs decoded {lufs}");
}
