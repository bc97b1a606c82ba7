//! Arbitrary bytes, under each audio extension, through the decoder alone: fast enough for
//! millions of runs. Decoding must never panic or return non-finite samples, and a decoder
//! must stop by itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

use podclean::io::decode::Decoder;

const EXTENSIONS: [&str; 8] = ["wav", "mp3", "flac", "ogg", "m4a", "aiff", "caf", "mka"];

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
    let input = dir.path().join(format!("input.{extension}"));
    std::fs::write(&input, bytes).expect("write input");
    let Ok(mut decoder) = Decoder::open(&input) else { return };
    let channels = decoder.info().channels;
    let mut block = vec![vec![0.0f32; 4096]; channels];
    // Bound the work: no stream may decode to more than an hour from 64 KiB of input bytes.
    let limit = decoder.info().sample_rate as u64 * 3600;
    while let Ok(n) = decoder.read(&mut block) {
        if n == 0 || decoder.frames_decoded() > limit {
            break;
        }
        for channel in &block {
            assert!(channel[..n].iter().all(|s| s.is_finite()), "non-finite sample decoded");
        }
    }
});
