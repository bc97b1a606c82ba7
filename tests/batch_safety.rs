#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What a nightly cron job relies on: incremental re-runs, the lock, shards and their merged
//! report, dry runs, crash safety under kill -9, and hostile input that fails alone.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn voice_folder(dir: &Path, files: &[&str], seconds: f64) {
    for (i, name) in files.iter().enumerate() {
        let audio = at_loudness(synthetic_voice(48_000, seconds + i as f64 * 0.25, 2), -24.0 - i as f64);
        write_wav(&dir.join(name), &audio, 16);
    }
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["input"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn rerun_skips_up_to_date_files_and_force_redoes_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let out = dir.path().join("out");
    voice_folder(&input, &["a.wav", "b/c.wav"], 3.0);
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .arg("--no-denoise")
        .assert()
        .success();
    let first = read_report(&out.join("podclean-report.json"));

    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .arg("--no-denoise")
        .assert()
        .success();
    let second = read_report(&out.join("podclean-report.json"));
    assert_eq!(
        statuses(&second),
        vec![("a.wav".into(), "skipped".into()), ("b/c.wav".into(), "skipped".into())]
    );
    assert_eq!(
        row(&second, "a.wav")["output_loudness"],
        row(&first, "a.wav")["output_loudness"],
        "skipped rows keep their previous figures"
    );

    // Touching an input, or changing settings, makes it due again.
    std::thread::sleep(Duration::from_millis(20));
    voice_folder(&input, &["a.wav"], 3.5);
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .arg("--no-denoise")
        .assert()
        .success();
    let third = read_report(&out.join("podclean-report.json"));
    assert_eq!(
        statuses(&third),
        vec![("a.wav".into(), "ok".into()), ("b/c.wav".into(), "skipped".into())]
    );
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .args(["--no-denoise", "--target", "-18"])
        .assert()
        .success();
    let fourth = read_report(&out.join("podclean-report.json"));
    assert!(
        statuses(&fourth).iter().all(|(_, s)| s == "ok"),
        "settings changed: {:?}",
        statuses(&fourth)
    );
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .args(["--no-denoise", "--target", "-18", "--force"])
        .assert()
        .success();
    let fifth = read_report(&out.join("podclean-report.json"));
    assert!(
        statuses(&fifth).iter().all(|(_, s)| s == "ok"),
        "--force: {:?}",
        statuses(&fifth)
    );

    // A deleted output is redone.
    std::fs::remove_file(out.join("b/c.wav")).unwrap();
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .args(["--no-denoise", "--target", "-18"])
        .assert()
        .success();
    assert!(out.join("b/c.wav").exists());
}

#[test]
fn dry_run_lists_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    voice_folder(&input, &["a.wav"], 2.0);
    std::fs::write(input.join("readme.txt"), "x").unwrap();
    let out = dir.path().join("out");
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("--dry-run")
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("process") && stdout.contains("a.wav"), "{stdout}");
    assert!(stdout.contains("ignore") && stdout.contains("readme.txt"), "{stdout}");
    assert!(!out.exists(), "dry run wrote {out:?}");
}

#[test]
fn a_second_run_on_a_locked_output_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    voice_folder(&input, &["a.wav"], 2.0);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join(".podclean")).unwrap();
    // A live holder: this test process holds the kernel lock.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(out.join(".podclean/run.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(out.join(".podclean/run.lock"), "pid 4242 on elsewhere").unwrap();
    let assert = podclean().arg(&input).arg("-o").arg(&out).assert().code(3);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("another podclean") && stderr.contains("pid 4242 on elsewhere"),
        "{stderr}"
    );
    assert!(!out.join("a.wav").exists());
    // The holder dies (the kernel drops its lock): whatever the lock file says, the next
    // run goes ahead.
    drop(lock);
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("-q")
        .arg("--no-denoise")
        .assert()
        .success();
    assert!(out.join("a.wav").exists());
}

#[test]
fn shards_split_the_work_and_merge_into_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let names: Vec<String> = (0..6).map(|i| format!("s{}/ep{i}.wav", i % 2)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    voice_folder(&input, &refs, 1.0);
    let out = dir.path().join("out");
    let mut children: Vec<_> = (1..=3)
        .map(|k| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
                .arg(&input)
                .arg("-o")
                .arg(&out)
                .args(["-q", "--no-denoise", "-j", "1", "--shard", &format!("{k}/3")])
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    let mut seen = Vec::new();
    for k in 1..=3 {
        let report = read_report(&out.join(format!("podclean-report.{k}-of-3.json")));
        seen.extend(statuses(&report).into_iter().map(|(input, _)| input));
    }
    seen.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(seen, expected, "every file in exactly one shard");
    podclean().args(["report", "merge"]).arg(&out).assert().success();
    let merged = read_report(&out.join("podclean-report.json"));
    assert_eq!(merged["totals"]["ok"], 6);
    assert_eq!(
        statuses(&merged).iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(out.join("podclean-report.csv").exists());
}

#[cfg(unix)]
#[test]
fn kill_dash_nine_mid_batch_then_rerun_completes_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let names: Vec<String> = (0..6).map(|i| format!("ep{i}.wav")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    voice_folder(&input, &refs, 8.0);
    let clean = dir.path().join("clean");
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&clean)
        .arg("-q")
        .assert()
        .success();
    let reference = read_report(&clean.join("podclean-report.json"));

    let out = dir.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q", "-j", "1"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !names.iter().any(|n| out.join(n).exists()) && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whatever exists under a final name is complete: sample for sample the clean run's.
    let survived: Vec<&String> = names.iter().filter(|n| out.join(n).exists()).collect();
    assert!(!survived.is_empty());
    for n in survived {
        assert_eq!(
            read_wav(&out.join(n)).channels,
            read_wav(&clean.join(n)).channels,
            "{n}: an output left by the killed run differs from a clean run's"
        );
    }
    podclean().arg(&input).arg("-o").arg(&out).arg("-q").assert().success();
    let report = read_report(&out.join("podclean-report.json"));
    for n in &names {
        let got = &row(&report, n)["output_loudness"]["integrated_lufs"];
        let want = &row(&reference, n)["output_loudness"]["integrated_lufs"];
        assert!(
            (got.as_f64().unwrap() - want.as_f64().unwrap()).abs() < 0.01,
            "{n}: {got} vs {want}"
        );
        assert_eq!(
            read_wav(&out.join(n)).channels,
            read_wav(&clean.join(n)).channels,
            "{n} differs from a clean run"
        );
    }
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
}

/// Writes a 16-bit PCM WAV header claiming `data_bytes`, followed by `body`.
fn wav_with_header(path: &Path, data_bytes: u32, body: &[u8]) {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36u32.wrapping_add(data_bytes)).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&48_000u32.to_le_bytes());
    bytes.extend_from_slice(&96_000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_bytes.to_le_bytes());
    bytes.extend_from_slice(body);
    std::fs::write(path, bytes).unwrap();
}

fn noise_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn hostile_input_fails_alone_with_specific_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let good = at_loudness(synthetic_voice(48_000, 3.0, 1), -26.0);
    let pcm: Vec<u8> = good.channels[0]
        .iter()
        .flat_map(|s| ((s * 32767.0) as i16).to_le_bytes())
        .collect();

    std::fs::write(input.join("zero.wav"), b"").unwrap();
    wav_with_header(&input.join("truncated.wav"), pcm.len() as u32, &pcm[..pcm.len() / 4]);
    wav_with_header(&input.join("claims-4gb.wav"), 0xFFFF_FF00, &pcm[..48_000]);
    std::fs::write(input.join("random.wav"), noise_bytes(50_000, 1)).unwrap();
    std::fs::write(input.join("random.mp3"), noise_bytes(50_000, 2)).unwrap();
    std::fs::write(input.join("random.flac"), noise_bytes(50_000, 3)).unwrap();
    std::fs::write(input.join("text.wav"), "This is a text file, not audio.\n".repeat(100)).unwrap();
    let mp3 = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/clips/vctk-p260.mp3")).unwrap();
    let mut spliced = mp3[..mp3.len() / 2].to_vec();
    spliced.extend(noise_bytes(3000, 4));
    spliced.extend_from_slice(&mp3[mp3.len() / 2..]);
    std::fs::write(input.join("spliced.mp3"), spliced).unwrap();
    let mut nan = good.clone();
    for i in (0..nan.frames()).step_by(97) {
        nan.channels[0][i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    write_wav(&input.join("nan-float.wav"), &nan, 32);
    write_wav(&input.join("silence.wav"), &good.clone().scaled(0.0), 16);
    write_wav(
        &input.join("one-sample.wav"),
        &Audio {
            rate: 48_000,
            channels: vec![vec![0.5]],
        },
        16,
    );
    write_wav(
        &input.join("200ms.wav"),
        &Audio {
            rate: 48_000,
            channels: vec![good.channels[0][..9600].to_vec()],
        },
        16,
    );
    let mut dc = good.clone();
    for s in &mut dc.channels[0] {
        *s = 0.6 + 0.3 * *s;
    }
    write_wav(&input.join("dc-offset.wav"), &dc, 24);
    std::fs::create_dir_all(input.join("folder.wav")).unwrap();
    write_wav(&input.join("folder.wav/inside.wav"), &good, 16);
    for name in ["with space.wav", "ünïcødé-語.wav", "-leading-dash.wav", "--help.wav"] {
        write_wav(&input.join(name), &good, 16);
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(input.join("nowhere.wav"), input.join("dangling.wav")).unwrap();
        std::fs::create_dir_all(input.join("loop")).unwrap();
        std::os::unix::fs::symlink(&input, input.join("loop/back")).unwrap();
    }
    let before = snapshot(&input);
    let out = dir.path().join("out");
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("--no-denoise")
        .arg("--follow")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    assert_eq!(snapshot(&input), before, "inputs must be byte-identical afterwards");
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
    let report = read_report(&out.join("podclean-report.json"));

    let expect_failed = |name: &str, needle: &str| {
        let r = row(&report, name);
        assert_eq!(r["status"], "failed", "{name}: {r:#}");
        let error = r["error"].as_str().unwrap().to_lowercase();
        assert!(error.contains(needle), "{name}: '{error}' should mention '{needle}'");
        assert!(!error.contains('\n'), "{name}: one line");
        assert!(stderr.contains(name), "stderr names {name}");
        assert!(!out.join(name).with_extension("wav").exists(), "{name}: no output");
    };
    expect_failed("zero.wav", "empty");
    expect_failed("truncated.wav", "truncated");
    expect_failed("claims-4gb.wav", "truncated");
    expect_failed("random.wav", "not");
    expect_failed("random.mp3", "");
    expect_failed("random.flac", "not");
    expect_failed("text.wav", "not");
    expect_failed("dangling.wav", "dangling");
    let looped = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["error"].as_str().unwrap_or("").contains("loop"));
    assert!(looped, "symlink loop reported");

    let spliced = row(&report, "spliced.mp3");
    assert_eq!(spliced["status"], "ok", "{spliced:#}");
    assert!(
        !spliced["warnings"].as_array().unwrap().is_empty(),
        "damage reported: {spliced:#}"
    );
    let nan = row(&report, "nan-float.wav");
    assert_eq!(nan["status"], "ok");
    assert!(nan["warnings"].to_string().to_lowercase().contains("nan"), "{nan:#}");
    let nan_out = read_wav(&out.join("nan-float.wav"));
    assert!(nan_out.channels[0].iter().all(|s| s.is_finite()));
    for name in ["silence.wav", "one-sample.wav", "200ms.wav"] {
        assert_eq!(row(&report, name)["status"], "silent", "{name}");
    }
    assert_eq!(read_wav(&out.join("one-sample.wav")).frames(), 1);
    assert_eq!(row(&report, "dc-offset.wav")["status"], "ok");
    for name in [
        "folder.wav/inside.wav",
        "with space.wav",
        "ünïcødé-語.wav",
        "-leading-dash.wav",
        "--help.wav",
    ] {
        assert_eq!(row(&report, name)["status"], "ok", "{name}");
        assert!(out.join(name).exists(), "{name}");
    }
}

#[test]
fn unwritable_output_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let voice = |seconds: f64| at_loudness(synthetic_voice(48_000, seconds, 2), -24.0);
    write_wav(&input.join("a.wav"), &voice(30.0), 16);
    write_wav(&input.join("b.wav"), &voice(2.0), 16);
    let out = dir.path().join("out");
    // A full disk, simulated: no file may grow past 4 MB (a.wav's spool needs 11 MB).
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"));
        command.arg(&input).arg("-o").arg(&out).arg("--no-denoise");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: 4 << 20,
                    rlim_max: 4 << 20,
                };
                libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
                Ok(())
            });
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(stderr.contains("a.wav") && stderr.contains("too large"), "{stderr}");
        assert!(!out.join("a.wav").exists(), "nothing half-written under the final name");
        assert!(out.join("b.wav").exists(), "the rest of the batch goes on");
        assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
        let report = read_report(&out.join("podclean-report.json"));
        assert_eq!(row(&report, "a.wav")["error_kind"], "write_failed");
    }

    // An output root that cannot be created at all: a usage error, before any file.
    let blocked: PathBuf = dir.path().join("file-not-folder");
    std::fs::write(&blocked, "x").unwrap();
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(blocked.join("out"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("cannot create the output folder"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let names: Vec<String> = (0..8).map(|i| format!("ep{i}.wav")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    voice_folder(&input, &refs, 8.0);
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q", "-j", "1"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !names.iter().any(|n| out.join(n).exists()) && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "first Ctrl-C exits 130 after stopping cleanly"
    );
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(report["interrupted"], true);
    let rows = statuses(&report);
    assert_eq!(rows.len(), names.len(), "every file has a row: {rows:?}");
    let done: Vec<String> = rows.iter().filter(|(_, s)| s == "ok").map(|(i, _)| i.clone()).collect();
    assert!(
        !done.is_empty() && done.len() < names.len(),
        "report lists what finished: {rows:?}"
    );
    assert!(rows.iter().all(|(_, s)| s == "ok" || s == "pending"), "{rows:?}");
    for n in &names {
        assert_eq!(out.join(n).exists(), done.contains(n), "{n}: outputs and report agree");
    }
}

#[cfg(unix)]
#[test]
fn unreadable_file_fails_alone() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: running as root, which can read any file; run the tests as a normal user to cover this");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    voice_folder(&input, &["a.wav", "locked.wav"], 2.0);
    std::fs::set_permissions(input.join("locked.wav"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = dir.path().join("out");
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("--no-denoise")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("locked.wav") && stderr.to_lowercase().contains("permission denied"),
        "{stderr}"
    );
    assert!(out.join("a.wav").exists());
    std::fs::set_permissions(input.join("locked.wav"), std::fs::Permissions::from_mode(0o644)).unwrap();
}
