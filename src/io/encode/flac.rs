//! The FLAC writer: planar f32 → 16- or 24-bit FLAC through the pure-Rust `flacenc`, one
//! frame at a time so memory stays at one block whatever the file's length. Metadata blocks
//! (Vorbis comments, pictures) are written by us before the frames; STREAMINFO (length, MD5,
//! frame sizes) is rewritten in place when the file is finalized.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, StreamInfo};
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

use super::wav::{quantize, Xorshift};

/// Metadata block types (FLAC format, METADATA_BLOCK_HEADER).
pub const BLOCK_STREAMINFO: u8 = 0;
pub const BLOCK_PADDING: u8 = 1;
pub const BLOCK_VORBIS_COMMENT: u8 = 4;
pub const BLOCK_PICTURE: u8 = 6;
/// Room left after the metadata for a tag editor to grow the tags without rewriting the file.
const PADDING_LEN: usize = 4_096;
/// The largest metadata block body FLAC can describe (24-bit length).
pub const MAX_BLOCK_LEN: usize = (1 << 24) - 1;
/// Compression levels offered, as in the reference encoder's `-0` … `-8`.
pub const LEVELS: std::ops::RangeInclusive<u8> = 0..=8;
pub const DEFAULT_LEVEL: u8 = 5;

/// Writes one FLAC file. Call [`FlacWriter::finalize`], or STREAMINFO keeps placeholders.
pub struct FlacWriter {
    file: BufWriter<File>,
    channels: usize,
    bits: usize,
    block_size: usize,
    config: Verified<flacenc::config::Encoder>,
    stream_info: StreamInfo,
    /// The frame being filled and the running MD5/sample count.
    frame: (FrameBuf, Context),
    /// Interleaved integer samples of the frame being filled.
    pending: Vec<i32>,
    frames_encoded: usize,
    sink: ByteSink,
    dither: Xorshift,
    /// Bytes of encoded frames so far.
    audio_bytes: u64,
}

impl std::fmt::Debug for FlacWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacWriter")
            .field("channels", &self.channels)
            .field("bits", &self.bits)
            .field("frames_encoded", &self.frames_encoded)
            .finish_non_exhaustive()
    }
}

/// The encoder settings for a level: the reference encoder's spirit (small blocks and fixed
/// predictors at the bottom, long LPC at the top), in flacenc's terms. Levels 3 to 5 search
/// LPC only: on speech the fixed predictors never won against it, and trying them costs a
/// quarter of the encode (at level 5, 0.1 % larger than searching both at order 8, measured
/// on speech). Order 7 at 4 and 5 compresses speech slightly better than 8. Level 6 is the
/// exhaustive search of fixed and order-8 LPC; 7 and 8 raise the order to 12.
fn config_for(level: u8) -> flacenc::config::Encoder {
    let mut config = flacenc::config::Encoder::default();
    config.multithread = false; // files already run in parallel
    let level = level.min(*LEVELS.end());
    config.block_size = if level <= 2 { 1_152 } else { 4_096 };
    if level == 0 {
        config.stereo_coding.use_leftside = false;
        config.stereo_coding.use_rightside = false;
        config.stereo_coding.use_midside = false;
    }
    let coding = &mut config.subframe_coding;
    coding.use_lpc = level >= 3;
    coding.use_fixed = !(3..=5).contains(&level);
    coding.fixed.max_order = if level <= 1 { 2 } else { 4 };
    coding.qlpc.lpc_order = match level {
        0..=3 => 6,
        4..=5 => 7,
        6 => 8,
        _ => 12,
    };
    coding.prc.max_parameter = coding.prc.max_parameter.min(if level <= 2 { 14 } else { 30 });
    config
}

impl FlacWriter {
    /// Creates (or truncates) `path`; see [`FlacWriter::into_file`].
    pub fn create(
        path: &Path,
        sample_rate: u32,
        channels: usize,
        bits: usize,
        level: u8,
        blocks: &[(u8, Vec<u8>)],
    ) -> io::Result<FlacWriter> {
        Self::into_file(File::create(path)?, sample_rate, channels, bits, level, blocks)
    }

    /// Truncates `file` (open for writing) and writes the stream marker, a placeholder
    /// STREAMINFO, the given metadata blocks (type, body) and padding. `bits` is 16 or 24.
    pub fn into_file(
        mut file: File,
        sample_rate: u32,
        channels: usize,
        bits: usize,
        level: u8,
        blocks: &[(u8, Vec<u8>)],
    ) -> io::Result<FlacWriter> {
        if !LEVELS.contains(&level) {
            return Err(invalid(format!("FLAC level {level} is not one of 0 to 8")));
        }
        if bits != 16 && bits != 24 {
            return Err(invalid(format!("FLAC output is 16 or 24 bits, not {bits}")));
        }
        let config = config_for(level)
            .into_verified()
            .map_err(|(_, e)| invalid(format!("FLAC encoder settings: {e}")))?;
        let stream_info = StreamInfo::new(sample_rate as usize, channels, bits).map_err(|e| {
            invalid(format!(
                "cannot write FLAC at {sample_rate} Hz with {channels} channels: {e}"
            ))
        })?;
        let block_size = config.block_size;
        let frame = (
            FrameBuf::with_size(channels, block_size).map_err(|e| invalid(e.to_string()))?,
            Context::new(bits, channels),
        );
        if let Some((kind, body)) = blocks.iter().find(|(_, body)| body.len() > MAX_BLOCK_LEN) {
            return Err(invalid(format!(
                "FLAC metadata block of type {kind} is {} bytes, more than FLAC allows",
                body.len()
            )));
        }
        let mut head = Vec::new();
        head.extend_from_slice(b"fLaC");
        push_block(&mut head, BLOCK_STREAMINFO, &[0; 34], false);
        for (kind, body) in blocks {
            push_block(&mut head, *kind, body, false);
        }
        push_block(&mut head, BLOCK_PADDING, &[0; PADDING_LEN], true);
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&head)?;
        Ok(FlacWriter {
            file,
            channels,
            bits,
            block_size,
            config,
            stream_info,
            frame,
            pending: Vec::with_capacity(block_size * channels),
            frames_encoded: 0,
            sink: ByteSink::new(),
            dither: Xorshift::new(),
            audio_bytes: 0,
        })
    }

    /// Quantizes frames `range` of `block` (TPDF dither at 16 bits, exact silence kept),
    /// encodes every complete FLAC frame, and stores the values written in `written`, as in
    /// [`super::WavWriter::write`].
    pub fn write(
        &mut self,
        block: &[Vec<f32>],
        range: std::ops::Range<usize>,
        written: &mut [Vec<f32>],
    ) -> io::Result<()> {
        let channels = self.channels;
        assert!(block.len() >= channels && written.len() >= channels);
        let scale = if self.bits == 16 { 32_768.0 } else { 8_388_608.0 };
        for i in range {
            for ch in 0..channels {
                let x = block[ch][i];
                let dither = if self.bits == 16 && x != 0.0 {
                    self.dither.tpdf()
                } else {
                    0.0
                };
                let q = if x == 0.0 { 0 } else { quantize(x, scale, dither) };
                written[ch][i] = (f64::from(q) / scale) as f32;
                self.pending.push(q);
            }
            if self.pending.len() == self.block_size * channels {
                self.encode_pending()?;
            }
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.frame
            .fill_interleaved(&self.pending)
            .map_err(|e| invalid(format!("FLAC encoder: {e}")))?;
        let number = self.frame.1.current_frame_number().unwrap_or(0);
        let frame = flacenc::encode_fixed_size_frame(&self.config, &self.frame.0, number, &self.stream_info)
            .map_err(|e| invalid(format!("FLAC encoder: {e}")))?;
        self.stream_info.update_frame_info(&frame);
        self.sink.clear();
        frame
            .write(&mut self.sink)
            .map_err(|e| invalid(format!("FLAC encoder: {e}")))?;
        self.file.write_all(self.sink.as_slice())?;
        self.audio_bytes += self.sink.as_slice().len() as u64;
        self.pending.clear();
        self.frames_encoded += 1;
        Ok(())
    }

    /// Encodes the last, shorter frame, writes the real STREAMINFO (sample count, MD5,
    /// block and frame sizes), flushes and fsyncs. Returns the bytes of encoded frames.
    pub fn finalize(mut self) -> io::Result<u64> {
        self.encode_pending()?;
        let md5 = self.frame.1.md5_digest();
        self.stream_info.set_md5_digest(&md5);
        // A fixed-block stream declares its nominal block size; only the last may be shorter.
        let _ = self.stream_info.set_block_sizes(self.block_size, self.block_size);
        let mut sink = ByteSink::new();
        self.stream_info
            .write(&mut sink)
            .map_err(|e| invalid(format!("FLAC encoder: {e}")))?;
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(8))?; // "fLaC" and the block header
        file.write_all(sink.as_slice())?;
        file.flush()?;
        file.sync_all()?;
        Ok(self.audio_bytes)
    }
}

/// Appends a metadata block: last-block flag and type, 24-bit big-endian length, body.
fn push_block(out: &mut Vec<u8>, kind: u8, body: &[u8], last: bool) {
    out.push(if last { 0x80 | kind } else { kind });
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::decode::Decoder;
    use crate::io::encode::testing::{decode_file, in_uneven_pieces};

    fn tone(channels: usize, frames: usize, rate: f32) -> Vec<Vec<f32>> {
        (0..channels)
            .map(|ch| {
                (0..frames)
                    .map(|i| {
                        let t = i as f32 / rate;
                        0.5 / (ch + 1) as f32 * (std::f32::consts::TAU * 440.0 * t).sin()
                            + 0.1 * (std::f32::consts::TAU * 3_000.0 * t).sin()
                    })
                    .collect()
            })
            .collect()
    }

    fn encode(path: &Path, block: &[Vec<f32>], bits: usize, level: u8) -> Vec<Vec<f32>> {
        let frames = block[0].len();
        let mut w = FlacWriter::create(path, 44_100, block.len(), bits, level, &[]).unwrap();
        let mut written = vec![vec![f32::NAN; frames]; block.len()];
        in_uneven_pieces(frames, |range| w.write(block, range, &mut written).unwrap());
        w.finalize().unwrap();
        written
    }

    #[test]
    fn lossless_at_every_level_and_depth() {
        let dir = tempfile::tempdir().unwrap();
        // Not a multiple of any block size: the last frame is short.
        let block = tone(2, 44_100 + 333, 44_100.0);
        for bits in [16, 24] {
            for level in [0, 5, 8] {
                let path = dir.path().join(format!("t{bits}_{level}.flac"));
                let written = encode(&path, &block, bits, level);
                let back = decode_file(&path);
                assert_eq!(back, written, "{bits}-bit level {level}: decoded ≠ written");
                let dec = Decoder::open(&path).unwrap();
                assert_eq!(dec.info().frames, Some(44_433));
                assert_eq!(dec.info().source, crate::io::SourceFormat::PcmInt { bits: bits as u32 });
            }
        }
    }

    #[test]
    fn streaminfo_holds_length_and_md5_of_the_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.flac");
        let block = tone(1, 10_000, 44_100.0);
        let written = encode(&path, &block, 16, 5);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..4], b"fLaC");
        assert_eq!(bytes[4] & 0x7F, BLOCK_STREAMINFO);
        let info = &bytes[8..42];
        let total = u64::from_be_bytes([0, 0, 0, info[13] & 0x0F, info[14], info[15], info[16], info[17]]);
        assert_eq!(total, 10_000);
        // MD5 of the signed little-endian 16-bit samples, as the format defines it.
        let mut pcm = Vec::new();
        for &x in &written[0] {
            pcm.extend_from_slice(&((x * 32_768.0) as i16).to_le_bytes());
        }
        assert_eq!(info[18..34], md5_of(&pcm));
    }

    /// RFC 1321, for the test only.
    fn md5_of(data: &[u8]) -> [u8; 16] {
        let s: [u32; 64] = [
            7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
            14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10,
            15, 21, 6, 10, 15, 21,
        ];
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
            .collect();
        let (mut a0, mut b0, mut c0, mut d0) = (0x6745_2301u32, 0xefcd_ab89u32, 0x98ba_dcfeu32, 0x1032_5476u32);
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&((data.len() as u64) * 8).to_le_bytes());
        for chunk in msg.chunks(64) {
            let m: Vec<u32> = chunk
                .chunks(4)
                .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
                .collect();
            let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(s[i]));
            }
            a0 = a0.wrapping_add(a);
            b0 = b0.wrapping_add(b);
            c0 = c0.wrapping_add(c);
            d0 = d0.wrapping_add(d);
        }
        let mut out = [0u8; 16];
        for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    #[test]
    fn md5_helper_matches_rfc_1321() {
        assert_eq!(
            md5_of(b"abc"),
            [0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72]
        );
    }

    #[test]
    fn higher_levels_compress_speech_like_audio_better() {
        let dir = tempfile::tempdir().unwrap();
        let block = tone(2, 88_200, 44_100.0);
        let size = |level: u8| {
            let path = dir.path().join(format!("l{level}.flac"));
            encode(&path, &block, 16, level);
            std::fs::metadata(&path).unwrap().len()
        };
        let (fast, best) = (size(0), size(8));
        assert!(best < fast, "level 8 {best} B vs level 0 {fast} B");
    }

    #[test]
    fn silence_is_exact_and_bad_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.flac");
        let written = encode(&path, &[vec![0.0; 5_000]], 16, 5);
        assert!(written[0].iter().all(|&x| x == 0.0));
        assert!(decode_file(&path)[0].iter().all(|&x| x == 0.0));
        assert!(FlacWriter::create(&path, 44_100, 1, 16, 9, &[]).is_err());
        assert!(FlacWriter::create(&path, 44_100, 1, 32, 5, &[]).is_err());
        assert!(FlacWriter::create(&path, 44_100, 9, 16, 5, &[]).is_err());
    }

    #[test]
    fn metadata_blocks_come_before_the_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.flac");
        // An empty Vorbis comment: no vendor string, no comments.
        let comment = vec![0u8; 8];
        let mut w = FlacWriter::create(&path, 48_000, 1, 24, 5, &[(BLOCK_VORBIS_COMMENT, comment)]).unwrap();
        let mut written = vec![vec![0.0; 100]];
        w.write(&[vec![0.25; 100]], 0..100, &mut written).unwrap();
        w.finalize().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[42], BLOCK_VORBIS_COMMENT);
        assert_eq!(bytes[43..54], [0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes[54], 0x80 | BLOCK_PADDING, "padding is the last block");
        assert_eq!(decode_file(&path)[0], written[0]);
    }
}
