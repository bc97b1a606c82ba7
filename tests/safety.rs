#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hostile paths and hostile timing: what a new user, an upload script, a restarted container
//! and a malicious neighbour on a shared drop folder would try. Inputs must never change,
//! nothing may be written through a link, no run may wedge another, and the report must never
//! claim more than was done.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn voice(path: &Path, seconds: f64) {
    write_wav(path, &at_loudness(synthetic_voice(48_000, seconds, 1), -26.0), 16);
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).to_string()
}

/// Every regular file below `dir` with its bytes, for before/after comparisons.
fn hashes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(dir)
}

#[test]
fn outputs_overlapping_inputs_are_refused_before_anything_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    voice(&root.join("a/ep1.wav"), 2.0);
    voice(&root.join("b/ep2.wav"), 2.0);
    voice(&root.join("ep.wav"), 2.0);
    voice(&root.join("show/ep3.wav"), 2.0);
    voice(&root.join("show/final/ep3.wav"), 1.0); // a file of the user's, where an output would go
    let before = hashes(root);

    // Each folder mirrored under its own name below ".": a/ep1.wav is input and output.
    let assert = podclean()
        .current_dir(root)
        .args(["-o", ".", "a", "b"])
        .assert()
        .code(2);
    assert!(
        stderr_of(&assert).contains("never writes over its inputs"),
        "{}",
        stderr_of(&assert)
    );
    // A single file into its own folder.
    let assert = podclean()
        .current_dir(root)
        .args(["-o", ".", "ep.wav"])
        .assert()
        .code(2);
    assert!(stderr_of(&assert).contains("never writes over its inputs"));
    // An output folder inside the input.
    let assert = podclean()
        .current_dir(root)
        .args(["show", "-o", "show/final"])
        .assert()
        .code(2);
    assert!(
        stderr_of(&assert).contains("inside the input folder"),
        "{}",
        stderr_of(&assert)
    );
    // Case-folded and dotted spellings of the same input paths.
    podclean()
        .current_dir(root)
        .args(["-o", "./a/..", "a", "b"])
        .assert()
        .code(2);
    assert_eq!(hashes(root), before, "inputs byte-identical, nothing created");
}

#[test]
fn a_file_podclean_did_not_write_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    voice(&dir.path().join("in/ep1.wav"), 2.0);
    voice(&dir.path().join("in/ep2.wav"), 2.0);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("ep1.wav"), b"the user's own file").unwrap();
    let assert = podclean()
        .arg(dir.path().join("in"))
        .args(["-o"])
        .arg(&out)
        .args(["--no-denoise"])
        .assert()
        .code(1);
    assert!(stderr_of(&assert).contains("not written by podclean"));
    assert_eq!(std::fs::read(out.join("ep1.wav")).unwrap(), b"the user's own file");
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(row(&report, "ep1.wav")["error_kind"], "output_exists");
    assert_eq!(row(&report, "ep2.wav")["status"], "ok");
    // Its own outputs it does replace, when the input changes.
    voice(&dir.path().join("in/ep2.wav"), 3.0);
    podclean()
        .arg(dir.path().join("in"))
        .args(["-o"])
        .arg(&out)
        .args(["--no-denoise", "-q"])
        .assert()
        .code(1);
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(row(&report, "ep2.wav")["status"], "ok");
    assert!((row(&report, "ep2.wav")["duration_s"].as_f64().unwrap() - 3.0).abs() < 1e-6);
}

#[cfg(unix)]
#[test]
fn planted_links_in_the_output_folder_never_redirect_a_write() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    for name in ["ep1.wav", "ep2.wav", "sub/ep3.wav", "ep4.wav"] {
        voice(&input.join(name), 2.0);
    }
    let victim = dir.path().join("victim.conf");
    std::fs::write(&victim, b"root-owned configuration").unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // The old predictable temporary names, the final name, and a sub-folder: all links.
    for name in [
        ".podclean-ep1.wav.partial",
        ".podclean-ep1.wav.spool",
        ".podclean-ep2.wav.partial",
    ] {
        symlink(&victim, out.join(name)).unwrap();
    }
    symlink(&victim, out.join("ep4.wav")).unwrap();
    symlink(&elsewhere, out.join("sub")).unwrap();
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .arg("--no-denoise")
        .assert()
        .code(1);
    let stderr = stderr_of(&assert);
    assert_eq!(std::fs::read(&victim).unwrap(), b"root-owned configuration", "{stderr}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through sub/"
    );
    let report = read_report(&out.join("podclean-report.json"));
    for name in ["ep1.wav", "ep2.wav"] {
        assert_eq!(row(&report, name)["status"], "ok", "{name}");
        let meta = std::fs::symlink_metadata(out.join(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is a real file, not a link");
    }
    assert_eq!(row(&report, "sub/ep3.wav")["error_kind"], "output_unsafe");
    assert_eq!(row(&report, "ep4.wav")["error_kind"], "output_unsafe");
    assert!(std::fs::symlink_metadata(out.join("ep4.wav"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(
        temp_files(&out).is_empty(),
        "planted temporaries swept: {:?}",
        temp_files(&out)
    );
}

/// Waits until the child has `path` open (Linux: /proc/PID/fd), or the timeout.
#[cfg(target_os = "linux")]
fn wait_until_open(pid: u32, path: &Path, timeout: Duration) -> bool {
    let target = std::fs::canonicalize(path).unwrap();
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            if fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[cfg(target_os = "linux")]
#[test]
fn an_input_that_changes_during_the_run_is_not_committed_and_is_redone() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let upload = input.join("upload.wav");
    let replaced = input.join("replaced.wav");
    let long = at_loudness(synthetic_voice(48_000, 120.0, 2), -26.0);
    write_wav(&upload, &long, 16);
    write_wav(&replaced, &long, 16);
    let out = dir.path().join("out");
    for (file, change) in [(&upload, "grow"), (&replaced, "mv")] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
            .arg(file)
            .arg("-o")
            .arg(&out)
            .args(["-q", "-j", "1"])
            .spawn()
            .unwrap();
        assert!(wait_until_open(child.id(), file, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(300));
        match change {
            // An upload still arriving: more bytes after the run opened the file.
            "grow" => std::fs::OpenOptions::new()
                .append(true)
                .open(file)
                .unwrap()
                .write_all(&vec![0u8; 48_000 * 4])
                .unwrap(),
            // An atomic re-export: a new file renamed over the old name.
            _ => {
                let shorter = at_loudness(synthetic_voice(48_000, 30.0, 2), -20.0);
                let staged = dir.path().join("staged.wav");
                write_wav(&staged, &shorter, 16);
                std::fs::rename(&staged, file).unwrap();
            }
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{change}");
        let name = file.file_name().unwrap().to_str().unwrap();
        let report = read_report(&out.join("podclean-report.json"));
        assert_eq!(
            row(&report, name)["error_kind"],
            "input_changed",
            "{change}: {report:#}"
        );
        assert!(!out.join(name).exists(), "{change}: no output from stale content");
        // The next run does it from what is there now, and records that.
        podclean().arg(file).arg("-o").arg(&out).args(["-q"]).assert().success();
        let report = read_report(&out.join("podclean-report.json"));
        let frames = read_wav(&out.join(name)).frames();
        let expected = match change {
            // The WAV header was written first: it still says how much audio there is.
            "grow" => long.frames(),
            _ => 30 * 48_000,
        };
        assert_eq!(frames, expected, "{change}");
        assert_eq!(row(&report, name)["status"], "ok");
        podclean().arg(file).arg("-o").arg(&out).args(["-q"]).assert().success();
        let report = read_report(&out.join("podclean-report.json"));
        assert_eq!(row(&report, name)["status"], "skipped", "{change}: now up to date");
    }
}

#[cfg(unix)]
#[test]
fn input_links_are_not_followed_out_of_the_drop_folder() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    voice(&drop.join("ep.wav"), 2.0);
    voice(&dir.path().join("secret/meeting.wav"), 2.0);
    symlink("../secret/meeting.wav", drop.join("link.wav")).unwrap();
    symlink("../secret", drop.join("secretdir")).unwrap();
    let out = dir.path().join("out");
    // Default: links are listed, not followed.
    podclean()
        .arg(&drop)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--no-denoise"])
        .assert()
        .success();
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(report["files"].as_array().unwrap().len(), 1);
    let ignored = report["ignored"].to_string();
    assert!(
        ignored.contains("link.wav") && ignored.contains("not followed"),
        "{ignored}"
    );
    assert!(!out.join("link.wav").exists() && !out.join("secretdir").exists());
    // -L follows links, but never out of the input roots.
    let out2 = dir.path().join("out2");
    podclean()
        .arg(&drop)
        .arg("-o")
        .arg(&out2)
        .args(["-q", "-L", "--no-denoise"])
        .assert()
        .code(1);
    let report = read_report(&out2.join("podclean-report.json"));
    assert_eq!(row(&report, "link.wav")["error_kind"], "symlink");
    assert!(!out2.join("link.wav").exists() && !out2.join("secretdir").exists());
}

#[test]
fn csv_cells_cannot_become_spreadsheet_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let names = [
        "=HYPERLINK(\"http-x\",\"y\").wav",
        "+cmd.wav",
        "@SUM(A1).wav",
        "-2+3.wav",
    ];
    for name in names {
        voice(&input.join(name), 1.0);
    }
    let out = dir.path().join("out");
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--no-denoise"])
        .assert()
        .success();
    let csv = std::fs::read_to_string(out.join("podclean-report.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let inputs: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_string()).collect();
    for name in names {
        assert!(inputs.contains(&format!("'{name}")), "{name} escaped: {inputs:?}");
    }
    // Numbers stay numbers.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = headers.iter().position(|h| h == "output_integrated_lufs").unwrap();
    for record in reader.records() {
        assert!(record.unwrap()[column].parse::<f64>().is_ok());
    }
}

#[test]
fn stale_lock_files_of_any_kind_never_block_a_run() {
    let dir = tempfile::tempdir().unwrap();
    voice(&dir.path().join("in/ep.wav"), 1.0);
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join(".podclean")).unwrap();
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    // Left by a killed run: our own pid (a restarted container), pid 1 (always alive), another
    // host (a rescheduled pod), nothing at all.
    for text in [
        format!("{} {host}", std::process::id()),
        format!("1 {host}"),
        "7 old-pod-name".into(),
        String::new(),
    ] {
        for name in ["lock", "run.lock", "shard.1-of-2.lock"] {
            std::fs::write(out.join(".podclean").join(name), &text).unwrap();
        }
        podclean()
            .arg(dir.path().join("in"))
            .arg("-o")
            .arg(&out)
            .args(["-q", "--no-denoise", "--force"])
            .assert()
            .success();
    }
}

#[test]
fn shards_of_different_splits_never_write_the_same_output() {
    use podclean::state::Manifest;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    for i in 0..4 {
        voice(&input.join(format!("ep{i}.wav")), 1.5);
    }
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join(".podclean/claims")).unwrap();
    // Another run (shard 1/3, say) is making ep0.wav right now: it holds ep0's claim.
    let key = Manifest::key(Path::new("ep0.wav"));
    let claim = std::fs::File::create(out.join(format!(".podclean/claims/{key}.lock"))).unwrap();
    claim.try_lock().unwrap();
    // Shard 1/1 of its own split covers every file.
    let assert = podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["--shard", "1/1", "--no-denoise"])
        .assert()
        .success();
    let report = read_report(&out.join("podclean-report.1-of-1.json"));
    let ep0 = row(&report, "ep0.wav");
    assert_eq!(ep0["status"], "pending", "{}", stderr_of(&assert));
    assert!(ep0["error"].as_str().unwrap().contains("another podclean run"));
    assert!(!out.join("ep0.wav").exists());
    for i in 1..4 {
        assert_eq!(row(&report, &format!("ep{i}.wav"))["status"], "ok");
    }
    // Real shards of two splits at once: every output's report figure is its real loudness.
    drop(claim);
    let out = dir.path().join("out2");
    let spawn = |shard: &str| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(["-q", "--no-denoise", "--shard", shard])
            .spawn()
            .unwrap()
    };
    let mut children: Vec<_> = ["1/2", "2/2", "1/3", "2/3", "3/3"].into_iter().map(spawn).collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    for i in 0..4 {
        let name = format!("ep{i}.wav");
        let (measured, _) = measure(&read_wav(&out.join(&name)));
        assert!((measured - -19.0).abs() < 0.1, "{name}: {measured}");
    }
}

#[test]
fn jobs_are_capped_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    voice(&dir.path().join("in/ep.wav"), 1.0);
    let started = Instant::now();
    let assert = podclean()
        .arg(dir.path().join("in"))
        .arg("-o")
        .arg(dir.path().join("out"))
        .args(["--no-denoise", "-j", "100000"])
        .assert()
        .success();
    assert!(
        stderr_of(&assert).contains("more than this machine can use"),
        "{}",
        stderr_of(&assert)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    podclean().arg(dir.path().join("in")).args(["-j", "0"]).assert().code(2);
}

#[test]
fn output_equal_to_the_input_folder_is_refused_in_every_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x");
    voice(&x.join("ep.wav"), 1.0);
    let before = hashes(&x);
    let mut spellings = vec![x.clone(), x.join("."), PathBuf::from(format!("{}/", x.display()))];
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&x, dir.path().join("alias")).unwrap();
        spellings.push(dir.path().join("alias"));
    }
    for out in spellings {
        let assert = podclean().arg(&x).arg("-o").arg(&out).assert().code(2);
        assert!(
            stderr_of(&assert).contains("is the input folder"),
            "{out:?}: {}",
            stderr_of(&assert)
        );
    }
    podclean()
        .current_dir(dir.path())
        .args(["./x/.", "-o", "x"])
        .assert()
        .code(2);
    assert_eq!(hashes(&x), before, "no report or anything else written into the input");
}

fn shard_report(out: &Path, k: u32, n: u32, inputs: &[&str]) {
    let files: Vec<serde_json::Value> = inputs
        .iter()
        .map(|input| {
            serde_json::json!({"input": input, "output": input, "status": "ok", "error": null,
            "warnings": [], "notes": [], "input_loudness": null, "output_loudness": null, "target_lufs": -16.0,
            "cleaned_integrated_lufs": null, "gain_db": 1.0, "limiter_max_reduction_db": null, "passes": 1,
            "duration_s": 1.0, "sample_rate": 48000, "channels": 1, "codec": "pcm", "output_format": "16",
            "processing": {}, "seconds_taken": 0.1})
        })
        .collect();
    let settings = serde_json::to_value(podclean::preset::Preset::load("podcast").unwrap()).unwrap();
    let report = serde_json::json!({"podclean_version": env!("CARGO_PKG_VERSION"), "mode": "process",
        "shard": format!("{k}/{n}"), "interrupted": false, "settings": settings, "bit_depth": null,
        "totals": {"files": files.len(), "ok": files.len(), "failed": 0, "silent": 0, "skipped": 0, "ignored": 0,
            "worst_deviation_lu": null, "highest_true_peak_dbtp": null, "audio_seconds": 1.0, "seconds_taken": 0.1},
        "files": files});
    std::fs::write(
        out.join(format!("podclean-report.{k}-of-{n}.json")),
        serde_json::to_vec(&report).unwrap(),
    )
    .unwrap();
}

#[test]
fn report_merge_takes_only_one_complete_finished_split() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    // Leftovers of a 2-way split beside a fresh 3-way split.
    shard_report(out, 1, 2, &["a.wav", "c.wav"]);
    shard_report(out, 2, 2, &["b.wav"]);
    shard_report(out, 1, 3, &["a.wav"]);
    shard_report(out, 2, 3, &["b.wav"]);
    let assert = podclean().args(["report", "merge"]).arg(out).assert().code(2);
    assert!(
        stderr_of(&assert).contains("different splits"),
        "{}",
        stderr_of(&assert)
    );
    std::fs::remove_file(out.join("podclean-report.1-of-2.json")).unwrap();
    std::fs::remove_file(out.join("podclean-report.2-of-2.json")).unwrap();
    // A missing shard.
    let assert = podclean().args(["report", "merge"]).arg(out).assert().code(2);
    assert!(stderr_of(&assert).contains("3/3"), "{}", stderr_of(&assert));
    shard_report(out, 3, 3, &["=cmd|'/C calc'!A0.wav"]);
    // A shard still running holds the run lock.
    std::fs::create_dir_all(out.join(".podclean")).unwrap();
    let running = std::fs::File::create(out.join(".podclean/run.lock")).unwrap();
    running.try_lock_shared().unwrap();
    let assert = podclean().args(["report", "merge"]).arg(out).assert().code(2);
    assert!(stderr_of(&assert).contains("still writing"), "{}", stderr_of(&assert));
    assert!(!out.join("podclean-report.json").exists());
    drop(running);
    podclean().args(["report", "merge"]).arg(out).assert().success();
    let merged = read_report(&out.join("podclean-report.json"));
    assert_eq!(merged["totals"]["files"], 3);
    let csv = std::fs::read_to_string(out.join("podclean-report.csv")).unwrap();
    assert!(
        csv.contains("'=cmd"),
        "forged names are defused in the merged CSV too: {csv}"
    );
}

#[test]
fn long_names_and_unusual_files_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let long = format!("{}.wav", "n".repeat(250)); // 254 bytes: NAME_MAX is 255
    voice(&input.join(&long), 1.0);
    let out = dir.path().join("out");
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--no-denoise"])
        .assert()
        .success();
    assert!(out.join(&long).exists());
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_reported_not_dropped_or_opened() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    voice(&input.join("ep.wav"), 1.0);
    for name in ["pipe.wav", "pipe"] {
        let path = input.join(name);
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }
    let out = dir.path().join("out");
    let started = Instant::now();
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q", "--no-denoise"])
        .assert()
        .code(1);
    assert!(started.elapsed() < Duration::from_secs(60), "never blocks on a FIFO");
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(row(&report, "pipe.wav")["error_kind"], "not_a_regular_file");
    assert!(report["ignored"].to_string().contains("named pipe"));
    // Named on the command line, too.
    podclean()
        .arg(input.join("pipe.wav"))
        .arg("-o")
        .arg(&out)
        .args(["-q"])
        .assert()
        .code(1);
}

#[cfg(unix)]
#[test]
fn sigterm_leaves_an_honest_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let names: Vec<String> = (0..8).map(|i| format!("ep{i}.wav")).collect();
    for name in &names {
        voice(&input.join(name), 6.0);
    }
    let out = dir.path().join("out");
    podclean()
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q"])
        .assert()
        .success();
    let complete = read_report(&out.join("podclean-report.json"));
    // Forced re-run, stopped by the scheduler after the first file.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["-q", "-j", "1", "--force"])
        .spawn()
        .unwrap();
    let manifest = out.join(".podclean/done");
    let newest = || {
        std::fs::read_dir(&manifest)
            .unwrap()
            .flatten()
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .max()
    };
    let first = newest();
    let started = Instant::now();
    while newest() == first && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let report = read_report(&out.join("podclean-report.json"));
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["files"].as_array().unwrap().len(), names.len(), "{report:#}");
    assert!(report["totals"]["pending"].as_u64().unwrap() > 0);
    for name in &names {
        let r = row(&report, name);
        match r["status"].as_str().unwrap() {
            "ok" => assert_eq!(r["output_loudness"], row(&complete, name)["output_loudness"]),
            "pending" => assert!(r["error"].as_str().unwrap().contains("interrupted")),
            other => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn analyze_writes_its_own_report_and_never_processes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("show");
    voice(&input.join("ep.wav"), 1.0);
    let out = dir.path().join("show-clean");
    podclean().arg(&input).args(["-q", "--no-denoise"]).assert().success();
    let processing = std::fs::read(out.join("podclean-report.json")).unwrap();
    podclean().arg("analyze").arg(&input).arg("-q").assert().success();
    assert_eq!(std::fs::read(out.join("podclean-report.json")).unwrap(), processing);
    assert_eq!(read_report(&out.join("podclean-analysis.json"))["mode"], "analyze");
    // --report names both files, whatever extension is given.
    podclean()
        .arg("analyze")
        .arg(&input)
        .arg("--report")
        .arg(dir.path().join("r.csv"))
        .arg("-q")
        .assert()
        .success();
    assert!(dir.path().join("r.json").exists() && dir.path().join("r.csv").exists());
    // Options before the subcommand: still analyze.
    let elsewhere = dir.path().join("elsewhere");
    podclean()
        .arg("-o")
        .arg(&elsewhere)
        .arg("analyze")
        .arg(&input)
        .arg("-q")
        .assert()
        .success();
    assert_eq!(
        read_report(&elsewhere.join("podclean-analysis.json"))["mode"],
        "analyze"
    );
    assert!(!elsewhere.join("ep.wav").exists(), "analyze writes no audio");
}

#[test]
fn bare_file_names_mistyped_paths_and_repeated_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("episodes");
    voice(&folder.join("ep.wav"), 1.0);
    // `podclean ep.wav` in its folder: the output goes next to the folder, not into it.
    podclean()
        .current_dir(&folder)
        .args(["ep.wav", "-q", "--no-denoise"])
        .assert()
        .success();
    assert!(dir.path().join("episodes-clean/ep.wav").exists());
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        1,
        "nothing written into the input folder"
    );
    // A mistyped path: usage error, nothing created.
    let assert = podclean().arg(dir.path().join("episdoes")).assert().code(2);
    assert!(stderr_of(&assert).contains("no such file"));
    assert!(!dir.path().join("episdoes-clean").exists());
    // The same folder twice.
    let assert = podclean()
        .arg(&folder)
        .arg(format!("{}/.", folder.display()))
        .arg("-o")
        .arg(dir.path().join("out"))
        .assert()
        .code(2);
    assert!(stderr_of(&assert).contains("given twice"), "{}", stderr_of(&assert));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_panic_inside_a_file_is_reported_with_its_location() {
    use podclean::batch::{self, Mode, Observer};
    use podclean::plan::{self, Job, Request};
    use std::sync::atomic::AtomicBool;

    struct Exploding;
    impl Observer for Exploding {
        fn file_progress(&self, _job: &Job, _fraction: f64) {
            panic!("observer exploded");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    voice(&dir.path().join("in/ep.wav"), 1.0);
    let inputs = [dir.path().join("in")];
    let out = dir.path().join("out");
    let request = Request {
        inputs: &inputs,
        output_root: &out,
        writes_audio: false,
        follow_links: false,
        shard: None,
        force: false,
        format: podclean::io::encode::FormatChoice::Keep,
    };
    let plan = plan::build(&request, None).unwrap();
    batch::install_panic_hook();
    let settings = podclean::pipeline::Settings {
        preset: podclean::preset::Preset::load("podcast").unwrap(),
        bit_depth: None,
    };
    let mode = Mode::Analyze {
        settings: &settings,
        judge: false,
    };
    let outcome = batch::run(&plan, mode, 1, &AtomicBool::new(false), &Exploding);
    let row = &outcome.files[0];
    let error = row.error.as_deref().unwrap();
    assert_eq!(row.error_kind, Some(podclean::error::ErrorKind::Internal));
    assert!(
        error.contains("observer exploded") && error.contains("tests/safety.rs:"),
        "{error}"
    );
}
