//! Arbitrary bytes, under each audio extension, through decoding, metering and the whole
//! processing pipeline: nothing may panic, hang, or allocate without bound, and any output
//! written must be finite audio of the decoded length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use podclean::fsutil::OutDir;
use podclean::pipeline::{self, Control, Destination, Settings};
use podclean::plan::Job;
use podclean::state::Manifest;
use podclean::preset::Preset;

const EXTENSIONS: [&str; 6] = ["wav", "mp3", "flac", "ogg", "m4a", "aiff"];

/// podclean contains panics raised by its decoding libraries and reports them as corrupt
/// files; libFuzzer's hook would abort on those too. A panic that escapes the harness is
/// still a crash: libfuzzer-sys catches it at the boundary and aborts.
fn quiet_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_contained_panics();
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let extension = EXTENSIONS[selector as usize % EXTENSIONS.len()];
    let dir = tempfile::tempdir().expect("tempdir");
    let name = format!("input.{extension}");
    let input = dir.path().join(&name);
    std::fs::write(&input, bytes).expect("write input");
    let job = Job::new(input.clone(), PathBuf::from(&name), PathBuf::from("input.wav"));
    let cancel = AtomicBool::new(false);
    let progress = |_: f64| {};
    let control = Control {
        cancel: &cancel,
        progress: &progress,
    };
    let mut preset = Preset::load("podcast").expect("built-in preset");
    // Keep the expensive denoiser for the seeds that select it, so the fuzzer stays fast.
    preset.denoise.enabled = selector & 0x80 != 0;
    let settings = Settings {
        preset,
        bit_depth: None,
    };
    let _ = pipeline::analyze_file(&job, &settings, &control);
    let out = dir.path().join("out");
    let root = OutDir::root(&out, true).expect("output root");
    let manifest = Manifest::open(&root, "fuzz", true).expect("manifest");
    let destination = Destination {
        root: &root,
        manifest: &manifest,
    };
    if let Ok(report) = pipeline::process_file(&job, destination, &settings, &control) {
        if let Some(m) = report.output_loudness {
            assert!(m.integrated_lufs.is_none_or(f64::is_finite));
        }
    }
    // No temporaries may survive, whatever happened.
    if let Ok(entries) = std::fs::read_dir(&out) {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            assert!(
                !file_name.to_string_lossy().starts_with(".podclean-"),
                "temp file left: {file_name:?}"
            );
        }
    }
});
