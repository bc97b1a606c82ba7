//! Decoding: any file podclean reads → planar f32 blocks in ±1.0. This is the one place that
//! knows symphonia's API; everything downstream sees `Decoder`, `StreamInfo` and
//! `DecodeError`. Memory stays bounded by the largest packet, whatever the file's length.
//!
//! The façade over one submodule per concern: `probe` opens a file and checks its facts,
//! `packets` runs the packet loop, `damage` accounts for what was lost on the way, and the
//! container quirks live apart (`wav` for RF64 and other WAVs symphonia cannot read,
//! `mp3_junk`, `mp4_edit`).

mod damage;
mod error;
mod input;
mod mp3_junk;
mod mp4_edit;
mod packets;
mod probe;
mod wav;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use symphonia::core::codecs::audio::AudioDecoder;
use symphonia::core::formats::FormatReader;

pub use error::{DecodeError, DecodeErrorKind};

use super::StreamInfo;
use input::{Cursor, Input};

/// A streaming decoder for one file.
pub struct Decoder {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    info: StreamInfo,
    /// The frame count the header promises, checked at the end for PCM and lossless formats.
    promised_frames: Option<u64>,
    /// One decoded packet, planar; `staged_pos..staged_len` is not yet handed out.
    staging: Vec<Vec<f32>>,
    staged_pos: usize,
    staged_len: usize,
    /// The MP4 timing of the track, turned into `trim` once the decoded rate is known.
    timing: Option<mp4_edit::TrackTiming>,
    /// Frames still to drop from the start, and the length to keep, from an MP4 edit list.
    trim: mp4_edit::Trim,
    /// Silence owed for corrupt packets, handed out before the staged frames.
    pending_silence: u64,
    /// Frames decoded or owed as silence so far: the stream position of the next packet.
    frames_produced: u64,
    /// Frames handed to the caller.
    frames_delivered: u64,
    /// Set once decoding failed or panicked: the reader state can no longer be trusted.
    poisoned: bool,
    damage: damage::Damage,
    /// Plain PCM (WAV/AIFF/CAF): its reader loses nothing at an early end of file.
    is_pcm: bool,
    /// Packet timestamps come from the frames themselves (FLAC): gaps mean lost frames.
    frame_timestamps: bool,
    next_pts: Option<i64>,
    /// Finds bytes between MPEG audio frames (damage the demuxer skips without a word).
    junk: Option<mp3_junk::JunkFinder<Cursor>>,
    /// Whether a packet of the track was seen: bytes before the first (tags, the Xing
    /// frame) are not junk.
    seen_packet: bool,
    finished: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("info", &self.info)
            .field("frames_delivered", &self.frames_delivered)
            .finish_non_exhaustive()
    }
}

/// Runs `f`, turning a panic inside the decoding libraries into a `Corrupt` error that says
/// where in the file it happened.
fn contain_panic<T>(part: &str, f: impl FnOnce() -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(DecodeError::Corrupt(format!(
            "the decoder could not make sense of {part} (malformed or hostile data)"
        )))
    })
}

impl Decoder {
    /// Opens `path` read-only and decodes it: [`Decoder::open_file`] for callers that do
    /// not need the handle. A pipe or device node is refused without blocking on it.
    pub fn open(path: &Path) -> Result<Decoder, DecodeError> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            // Opening a FIFO for reading blocks until a writer appears; non-blocking, it
            // opens at once and is then refused as not a regular file.
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        }
        let file = options.open(path)?;
        Self::open_file(file, path)
    }

    /// Decodes an already opened file: the caller opens the input once, read-only,
    /// fingerprints that handle, and this decodes exactly that inode, up to the length it
    /// had now. `path` only gives the extension as a format hint.
    ///
    /// The file is probed (the extension is a hint), the first audio track chosen, and its
    /// first packet decoded, so that `info()` reflects the real decoded stream.
    pub fn open_file(file: File, path: &Path) -> Result<Decoder, DecodeError> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(DecodeError::NotAFile(what_it_is(&meta.file_type())));
        }
        let extension = path.extension().and_then(|e| e.to_str());
        Self::open_input(Input::new(Arc::new(file), meta.len()), extension)
    }

    fn open_input(input: Input, extension: Option<&str>) -> Result<Decoder, DecodeError> {
        // Symphonia panics on some malformed headers (found by fuzzing: an extensible WAV
        // claiming thousands of channels overflowed its channel-mask fix-up). A panic in a
        // library parsing hostile bytes is a corrupt file, not a podclean bug.
        contain_panic("its header", || probe::open(input, extension))
    }

    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// Fills up to `block[0].len()` frames into the planar `block` (`block.len()` must equal
    /// the channel count); returns the frames written, 0 at the end of the stream.
    pub fn read(&mut self, block: &mut [Vec<f32>]) -> Result<usize, DecodeError> {
        if self.poisoned {
            return Err(DecodeError::Corrupt("the decoder gave up on this file earlier".into()));
        }
        let result = contain_panic("its audio data", || self.read_unguarded(block));
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Damage seen so far that did not stop decoding, and oddities of the file, one
    /// sentence each.
    pub fn warnings(&self) -> &[String] {
        self.damage.warnings()
    }

    /// Frames handed out by `read` so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_delivered
    }
}

fn what_it_is(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a pipe (FIFO)";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a folder"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod testutil {
    //! Shared by the tests of every submodule: the fixtures, whole-file decoding, and the
    //! fixtures' tone.

    use std::path::{Path, PathBuf};

    pub use super::super::{ChannelRole, SourceFormat, StreamInfo};
    pub use super::{DecodeError, DecodeErrorKind, Decoder};

    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/formats")
            .join(name)
    }

    pub struct Decoded {
        pub info: StreamInfo,
        pub frames: u64,
        pub rms_db: Vec<f64>,
        pub warnings: Vec<String>,
    }

    /// Decodes a whole file in blocks of `block_len` frames.
    pub fn decode_all(path: &Path, block_len: usize) -> Result<Decoded, DecodeError> {
        decode_from(Decoder::open(path)?, block_len)
    }

    pub fn decode_from(mut dec: Decoder, block_len: usize) -> Result<Decoded, DecodeError> {
        let channels = dec.info().channels;
        let mut block = vec![vec![0.0f32; block_len]; channels];
        let mut sums = vec![0.0f64; channels];
        let mut frames = 0u64;
        loop {
            let n = dec.read(&mut block)?;
            if n == 0 {
                break;
            }
            for (sum, plane) in sums.iter_mut().zip(&block) {
                for &s in &plane[..n] {
                    *sum += f64::from(s).powi(2);
                }
            }
            frames += n as u64;
        }
        assert_eq!(frames, dec.frames_decoded());
        assert_eq!(dec.read(&mut block)?, 0, "stays at the end");
        let rms_db = sums.iter().map(|s| 10.0 * (s / frames.max(1) as f64).log10()).collect();
        Ok(Decoded {
            info: dec.info().clone(),
            frames,
            rms_db,
            warnings: dec.warnings().to_vec(),
        })
    }

    pub fn decode_err(path: &Path) -> DecodeError {
        match decode_all(path, 4096) {
            Ok(d) => panic!("{path:?} decoded: {:?}, {} frames", d.info, d.frames),
            Err(e) => e,
        }
    }

    /// The fixtures' tone at time `t`.
    pub fn tone(t: f64) -> f64 {
        use std::f64::consts::TAU;
        0.25 * (TAU * 440.0 * t).sin() + 0.25 * (TAU * 1000.0 * t).sin()
    }

    /// RMS level of the fixtures' tone: 0.25 → −12.04 dBFS.
    pub const TONE_DB: f64 = -12.041_199_826_559_248;
    /// Right channel of the stereo fixtures is at half level.
    pub const HALF_DB: f64 = TONE_DB - 6.020_599_913_279_624;

    /// Frames by which `samples` lag the reference tone, searched within ±`range` over
    /// 0.2–0.6 s (the tone repeats every 25 ms, so keep `range` under 12 ms).
    pub fn lag_of(samples: &[f32], rate: f64, range: i64) -> i64 {
        let (from, to) = ((0.2 * rate) as i64, (0.6 * rate) as i64);
        let reference: Vec<f64> = (from..to).map(|i| tone(i as f64 / rate)).collect();
        let score = |l: i64| -> f64 {
            let start = (from + l) as usize;
            samples[start..start + reference.len()]
                .iter()
                .zip(&reference)
                .map(|(&s, &r)| f64::from(s) * r)
                .sum()
        };
        (-range..=range).max_by(|&a, &b| score(a).total_cmp(&score(b))).unwrap()
    }

    /// Deterministic junk bytes.
    pub fn junk(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    /// Offset of a RIFF chunk's header.
    pub fn find_chunk(bytes: &[u8], id: &[u8; 4]) -> usize {
        let mut pos = 12;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
            if &bytes[pos..pos + 4] == id {
                return pos;
            }
            pos += 8 + len + (len & 1);
        }
        panic!("no {id:?} chunk");
    }

    pub fn write_float_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::input::testing::PanicsIn;
    use super::testutil::*;
    use super::*;

    #[test]
    fn can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<Decoder>();
    }

    #[test]
    fn empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.wav");
        std::fs::write(&path, b"").unwrap();
        let err = decode_err(&path);
        assert_eq!(err.to_string(), "file is empty (0 bytes)");
        assert_eq!(err.kind(), DecodeErrorKind::Empty);
    }

    #[test]
    fn missing_file() {
        let err = decode_err(Path::new("/nonexistent/podclean/x.wav"));
        assert_eq!(err.to_string(), "the file does not exist (moved or deleted?)");
        assert_eq!(err.kind(), DecodeErrorKind::NotFound);
    }

    #[test]
    fn a_folder_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("folder.wav");
        std::fs::create_dir(&folder).unwrap();
        let err = decode_err(&folder);
        assert_eq!(err.kind(), DecodeErrorKind::NotAFile);
        assert_eq!(err.to_string(), "not a regular file (it is a folder)");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.wav");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = decode_err(&fifo);
        assert_eq!(err.kind(), DecodeErrorKind::NotAFile);
        assert_eq!(err.to_string(), "not a regular file (it is a pipe (FIFO))");
    }

    #[cfg(unix)]
    #[test]
    fn open_file_decodes_the_handle_it_was_given() {
        // The caller fingerprints its handle; the file at the path is then replaced (an
        // atomic re-export by `mv`). The decoder must read the opened inode, not the new file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("episode.wav");
        std::fs::copy(fixture("wav_s16_44k1_mono.wav"), &path).unwrap();
        let file = File::open(&path).unwrap();
        let replacement = dir.path().join("new.wav");
        std::fs::copy(fixture("wav_s16_8k_mono.wav"), &replacement).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        let d = decode_from(Decoder::open_file(file, &path).unwrap(), 4096).unwrap();
        assert_eq!((d.info.sample_rate, d.frames), (44_100, 22_050));
    }

    #[test]
    fn open_file_uses_the_path_only_as_a_hint() {
        // Raw MPEG audio has no magic number to speak of: the extension helps the probe, and
        // the bytes decide.
        let file = File::open(fixture("mp3_44k1_mono.mp3")).unwrap();
        let d = decode_from(Decoder::open_file(file, Path::new("upload.mp3")).unwrap(), 4096).unwrap();
        assert_eq!((d.info.codec.as_str(), d.frames), ("mp3", 44_100));
        let file = File::open(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        let d = decode_from(Decoder::open_file(file, Path::new("misnamed.mp3")).unwrap(), 4096).unwrap();
        assert_eq!(d.info.codec, "flac");
    }

    #[test]
    fn hostile_headers_never_panic() {
        // Every fixture, cut at many points and with bytes flipped through the header.
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(fixture("")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".sh") || name.ends_with(".md") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let target = dir.path().join(&name);
            for cut in (0..bytes.len()).step_by(bytes.len() / 23 + 1) {
                std::fs::write(&target, &bytes[..cut]).unwrap();
                let _ = decode_all(&target, 777);
            }
            for at in (0..bytes.len().min(512)).step_by(3) {
                let mut broken = bytes.clone();
                broken[at] ^= 0xA5;
                std::fs::write(&target, &broken).unwrap();
                let _ = decode_all(&target, 777);
            }
        }
    }

    /// Opens `name` from the fixtures through a source that panics when asked for bytes in
    /// `panic_in`.
    fn open_panicking(name: &str, panic_in: std::ops::Range<u64>) -> Result<Decoder, DecodeError> {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let len = bytes.len() as u64;
        let ext = Path::new(name).extension().and_then(|e| e.to_str());
        Decoder::open_input(Input::new(Arc::new(PanicsIn { bytes, panic_in }), len), ext)
    }

    #[test]
    fn a_panic_while_opening_becomes_a_corrupt_file_error() {
        // Injected, so it happens in release builds too; any decoding library may panic on
        // hostile bytes, and that must fail the file, not the batch.
        for name in ["mp3_44k1_mono.mp3", "wav_s16_44k1_mono.wav", "aac_44k1_stereo.m4a"] {
            let err = open_panicking(name, 0..u64::MAX).unwrap_err();
            assert_eq!(err.kind(), DecodeErrorKind::Corrupt, "{name}");
            assert_eq!(
                err.to_string(),
                "corrupt stream: the decoder could not make sense of its header (malformed or hostile data)"
            );
        }
    }

    #[test]
    fn a_panic_while_decoding_becomes_a_corrupt_file_error_and_stays_one() {
        // Symphonia's MPEG, FLAC and RIFF (ADPCM) readers, and podclean's WAV reader.
        for name in [
            "mp3_44k1_mono.mp3",
            "flac_s16_44k1_stereo.flac",
            "adpcm_ima_22k_mono.wav",
            "wav_s16_44k1_mono.wav",
        ] {
            let len = std::fs::metadata(fixture(name)).unwrap().len();
            let mut dec = open_panicking(name, len / 2..len - 1024).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut block = vec![vec![0.0f32; 1024]; dec.info().channels];
            let err = loop {
                match dec.read(&mut block) {
                    Ok(0) => panic!("{name}: decoded to the end past the panic"),
                    Ok(_) => {}
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), DecodeErrorKind::Corrupt, "{name}");
            assert_eq!(
                err.to_string(),
                "corrupt stream: the decoder could not make sense of its audio data (malformed or hostile data)"
            );
            let again = dec.read(&mut block).unwrap_err();
            assert_eq!(
                again.to_string(),
                "corrupt stream: the decoder gave up on this file earlier"
            );
        }
    }

    #[test]
    fn the_fuzzed_header_with_thousands_of_channels_is_unsupported() {
        // Found by `cargo fuzz`: an extensible WAV header whose channel count (13,569)
        // overflowed symphonia's channel-mask fix-up. The count is now refused first.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/wav-309-channels.wav");
        let err = Decoder::open(&path).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), DecodeErrorKind::UnsupportedChannels);
        assert_eq!(
            err.to_string(),
            "unsupported: 13569 channels (podclean reads at most 32)"
        );
    }
}
