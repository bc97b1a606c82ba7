//! The MP3 writer (LAME, through `mp3lame-encoder`): planar f32 → CBR or VBR MP3 with the
//! LAME/Xing header that tells decoders the encoder delay and padding, so the decoded output
//! has exactly the input's length. Also reads an MP3 input's frame headers, to encode at
//! the source's bit rate.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::num::NonZeroU32;
use std::path::Path;

use mp3lame_encoder::{Bitrate, Builder, DualPcm, FlushGap, Mode, MonoPcm, Quality, VbrMode};

/// Typical bit rate of each VBR quality `-V n` for stereo at 44.1/48 kHz (LAME's preset
/// table), in kb/s.
const VBR_TYPICAL_STEREO_KBPS: [(u8, f64); 10] = [
    (9, 65.0),
    (8, 85.0),
    (7, 100.0),
    (6, 115.0),
    (5, 130.0),
    (4, 165.0),
    (3, 175.0),
    (2, 190.0),
    (1, 225.0),
    (0, 245.0),
];
/// Bit rates LAME can write, in kb/s (MPEG-1 rates; lower sample rates allow a subset).
pub const BITRATES: [u16; 14] = [32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
/// Sample rates MP3 can hold.
pub const SAMPLE_RATES: [u32; 9] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];
/// LAME's algorithm quality (0 best … 9 fastest): 3, LAME's own default. `-q 2` costs 2.8×
/// the time in CBR for a difference nobody hears in speech.
const ALGORITHM_QUALITY: Quality = Quality::VeryNice;

/// How to spend bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mp3Mode {
    /// Constant bit rate, kb/s.
    Cbr(u16),
    /// LAME's VBR quality `-V n`, 0 (best) … 9.
    Vbr(u8),
}

impl Mp3Mode {
    /// A label for the report: `"cbr 128"`, `"vbr V2"`.
    pub fn label(self) -> String {
        match self {
            Mp3Mode::Cbr(kbps) => format!("cbr {kbps}"),
            Mp3Mode::Vbr(q) => format!("vbr V{q}"),
        }
    }

    /// The VBR quality whose typical bit rate (LAME's preset table, stereo at 44.1/48 kHz)
    /// is the lowest at or above `kbps` for `channels` channels: a VBR source at 190 kb/s
    /// becomes V2, not a bigger or a noticeably worse file.
    pub fn vbr_matching(kbps: f64, channels: usize) -> Mp3Mode {
        // LAME's mono VBR output runs at about half the stereo rate for the same quality.
        let stereo_equivalent = if channels == 1 { kbps * 2.0 } else { kbps };
        let q = VBR_TYPICAL_STEREO_KBPS
            .iter()
            .find(|(_, typical)| *typical >= stereo_equivalent * 0.97)
            .map_or(0, |(q, _)| *q);
        Mp3Mode::Vbr(q)
    }

    /// Bits per second and channel, in kb/s (VBR: the typical rate), the measure of how much
    /// coding noise the encoder adds.
    pub fn kbps_per_channel(self, channels: usize) -> f64 {
        match self {
            Mp3Mode::Cbr(kbps) => f64::from(kbps) / channels.max(1) as f64,
            Mp3Mode::Vbr(q) => {
                VBR_TYPICAL_STEREO_KBPS
                    .iter()
                    .find(|(quality, _)| *quality == q)
                    .map_or(130.0, |(_, kbps)| *kbps)
                    / 2.0
            }
        }
    }

    /// The CBR rate LAME can write at `sample_rate` closest to `kbps` (ties go up).
    pub fn cbr_nearest(kbps: f64, sample_rate: u32) -> Mp3Mode {
        let allowed = allowed_bitrates(sample_rate);
        let best = allowed
            .iter()
            .copied()
            .min_by(|a, b| {
                let da = (f64::from(*a) - kbps).abs();
                let db = (f64::from(*b) - kbps).abs();
                da.total_cmp(&db).then(b.cmp(a))
            })
            .unwrap_or(128);
        Mp3Mode::Cbr(best)
    }
}

/// The CBR rates valid at a sample rate (MPEG-1 above 24 kHz, MPEG-2/2.5 below).
pub fn allowed_bitrates(sample_rate: u32) -> &'static [u16] {
    const LOW: [u16; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    if sample_rate >= 32_000 {
        &BITRATES
    } else if sample_rate >= 16_000 {
        &LOW
    } else {
        &LOW[..8]
    }
}

/// Why a stream cannot be written as MP3, if it cannot.
pub fn unsupported(sample_rate: u32, channels: usize) -> Option<String> {
    if channels == 0 || channels > 2 {
        return Some(format!("MP3 holds one or two channels, this stream has {channels}"));
    }
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Some(format!(
            "MP3 cannot store {sample_rate} Hz (it holds 8, 11.025, 12, 16, 22.05, 24, 32, 44.1 or 48 kHz)"
        ));
    }
    None
}

/// Writes one MP3 file. Call [`Mp3Writer::finalize`]: it completes the last frame and
/// writes the LAME header (length, delay, padding) over its placeholder.
pub struct Mp3Writer {
    file: BufWriter<File>,
    encoder: mp3lame_encoder::Encoder,
    channels: usize,
    /// Where the first MPEG frame (the LAME header placeholder) starts: after the ID3 tag.
    stream_start: u64,
    out: Vec<u8>,
    left: Vec<f32>,
    right: Vec<f32>,
    bytes_written: u64,
    frames: u64,
}

impl std::fmt::Debug for Mp3Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mp3Writer")
            .field("channels", &self.channels)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn lame_error(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("MP3 encoder: {what}: {e}"))
}

impl Mp3Writer {
    /// Creates (or truncates) `path`; see [`Mp3Writer::into_file`].
    pub fn create(path: &Path, sample_rate: u32, channels: usize, mode: Mp3Mode, id3: &[u8]) -> io::Result<Mp3Writer> {
        Self::into_file(File::create(path)?, sample_rate, channels, mode, id3)
    }

    /// Truncates `file` (open for writing), writes `id3` (a complete ID3v2 tag, or nothing),
    /// and sets LAME up to keep the input's sample rate.
    pub fn into_file(
        mut file: File,
        sample_rate: u32,
        channels: usize,
        mode: Mp3Mode,
        id3: &[u8],
    ) -> io::Result<Mp3Writer> {
        if let Some(why) = unsupported(sample_rate, channels) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let mut builder = Builder::new().ok_or_else(|| lame_error("setup", "out of memory"))?;
        builder
            .set_num_channels(channels as u8)
            .map_err(|e| lame_error("channels", e))?;
        builder
            .set_sample_rate(sample_rate)
            .map_err(|e| lame_error("sample rate", e))?;
        // Without this LAME may resample (e.g. to 22.05 kHz at low bit rates).
        builder
            .set_output_sample_rate(NonZeroU32::new(sample_rate))
            .map_err(|e| lame_error("sample rate", e))?;
        builder
            .set_mode(if channels == 1 { Mode::Mono } else { Mode::JointStereo })
            .map_err(|e| lame_error("mode", e))?;
        builder
            .set_quality(ALGORITHM_QUALITY)
            .map_err(|e| lame_error("quality", e))?;
        match mode {
            Mp3Mode::Cbr(kbps) => {
                builder.set_vbr_mode(VbrMode::Off).map_err(|e| lame_error("mode", e))?;
                builder
                    .set_brate(bitrate(kbps)?)
                    .map_err(|e| lame_error(&format!("{kbps} kb/s"), e))?;
                // LAME's CBR presets scale the input down against clipping (by 0.95 up to
                // 160 kb/s: the decoded file measured 0.45 LU under its samples). podclean
                // limits the true peak itself and verifies it on the decoded file, so the
                // scale is undone: a CBR file decodes as loud as the samples it was made from.
                // SAFETY: the pointer is the live builder's own; LAME only stores the factor,
                // which its parameter setup then multiplies by the preset's.
                unsafe {
                    mp3lame_encoder::ffi::lame_set_scale(builder.as_ptr(), 1.0 / lame_cbr_scale(kbps));
                }
            }
            Mp3Mode::Vbr(q) => {
                builder.set_vbr_mode(VbrMode::Mtrh).map_err(|e| lame_error("mode", e))?;
                builder
                    .set_vbr_quality(vbr_quality(q)?)
                    .map_err(|e| lame_error("VBR quality", e))?;
            }
        }
        // The LAME/Xing header carries the frame count, encoder delay and padding that
        // decoders use to trim the output to the input's exact length.
        builder
            .set_to_write_vbr_tag(true)
            .map_err(|e| lame_error("LAME header", e))?;
        let encoder = builder
            .build()
            .map_err(|e| lame_error(&format!("{sample_rate} Hz, {}", mode.label()), e))?;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(id3)?;
        Ok(Mp3Writer {
            file,
            encoder,
            channels,
            stream_start: id3.len() as u64,
            out: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            bytes_written: id3.len() as u64,
            frames: 0,
        })
    }

    /// Encodes frames `range` of `block`. Values beyond ±1.0 clamp, NaN becomes 0; what the
    /// encoder was given goes to `written` (the decoded file is what gets metered, not this).
    pub fn write(
        &mut self,
        block: &[Vec<f32>],
        range: std::ops::Range<usize>,
        written: &mut [Vec<f32>],
    ) -> io::Result<()> {
        let n = range.len();
        let clean = |x: f32| if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
        self.left.clear();
        self.left.extend(block[0][range.clone()].iter().map(|&x| clean(x)));
        written[0][range.clone()].copy_from_slice(&self.left);
        self.out.clear();
        self.out.reserve(mp3lame_encoder::max_required_buffer_size(n));
        let encoded = if self.channels == 2 {
            self.right.clear();
            self.right.extend(block[1][range.clone()].iter().map(|&x| clean(x)));
            written[1][range].copy_from_slice(&self.right);
            let input = DualPcm {
                left: &self.left,
                right: &self.right,
            };
            self.encoder.encode_to_vec(input, &mut self.out)
        } else {
            self.encoder.encode_to_vec(MonoPcm(&self.left), &mut self.out)
        };
        encoded.map_err(|e| lame_error("encoding", e))?;
        self.file.write_all(&self.out)?;
        self.bytes_written += self.out.len() as u64;
        self.frames += n as u64;
        Ok(())
    }

    /// Flushes the last frames, writes the LAME header into its placeholder, fsyncs.
    /// Returns the bytes of MPEG frames (the ID3 tag excluded).
    pub fn finalize(mut self) -> io::Result<u64> {
        self.out.clear();
        self.out.reserve(7_200 * 2);
        self.encoder
            .flush_to_vec::<FlushGap>(&mut self.out)
            .map_err(|e| lame_error("flush", e))?;
        self.file.write_all(&self.out)?;
        self.bytes_written += self.out.len() as u64;
        let mut tag = Vec::with_capacity(self.encoder.lame_tag_size());
        self.encoder.lame_tag_encode_to_vec(&mut tag);
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        if !tag.is_empty() {
            // LAME wrote a blank frame of this size first; the real header replaces it.
            file.seek(SeekFrom::Start(self.stream_start))?;
            file.write_all(&tag)?;
        }
        file.flush()?;
        file.sync_all()?;
        Ok(self.bytes_written - self.stream_start)
    }
}

/// The input scale LAME's CBR/ABR preset table applies at `kbps` (its nearest listed rate).
fn lame_cbr_scale(kbps: u16) -> f32 {
    const TABLE: [(u16, f32); 17] = [
        (8, 0.95),
        (16, 0.95),
        (24, 0.95),
        (32, 0.95),
        (40, 0.95),
        (48, 0.95),
        (56, 0.95),
        (64, 0.95),
        (80, 0.95),
        (96, 0.95),
        (112, 0.95),
        (128, 0.95),
        (160, 0.95),
        (192, 0.97),
        (224, 0.98),
        (256, 1.0),
        (320, 1.0),
    ];
    // LAME picks the nearer of the two listed rates around `kbps`, the upper one on a tie.
    let upper = TABLE
        .iter()
        .position(|&(rate, _)| rate > kbps)
        .unwrap_or(TABLE.len() - 1);
    let lower = upper.saturating_sub(1);
    let (lo, hi) = (TABLE[lower], TABLE[upper]);
    if kbps >= hi.0 || hi.0 - kbps <= kbps.saturating_sub(lo.0) {
        hi.1
    } else {
        lo.1
    }
}

fn bitrate(kbps: u16) -> io::Result<Bitrate> {
    Ok(match kbps {
        8 => Bitrate::Kbps8,
        16 => Bitrate::Kbps16,
        24 => Bitrate::Kbps24,
        32 => Bitrate::Kbps32,
        40 => Bitrate::Kbps40,
        48 => Bitrate::Kbps48,
        64 => Bitrate::Kbps64,
        80 => Bitrate::Kbps80,
        96 => Bitrate::Kbps96,
        112 => Bitrate::Kbps112,
        128 => Bitrate::Kbps128,
        160 => Bitrate::Kbps160,
        192 => Bitrate::Kbps192,
        224 => Bitrate::Kbps224,
        256 => Bitrate::Kbps256,
        320 => Bitrate::Kbps320,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("MP3 bit rate {other} kb/s is not one LAME writes (8–320 in its steps)"),
            ))
        }
    })
}

fn vbr_quality(q: u8) -> io::Result<Quality> {
    Ok(match q {
        0 => Quality::Best,
        1 => Quality::SecondBest,
        2 => Quality::NearBest,
        3 => Quality::VeryNice,
        4 => Quality::Nice,
        5 => Quality::Good,
        6 => Quality::Decent,
        7 => Quality::Ok,
        8 => Quality::SecondWorst,
        9 => Quality::Worst,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("MP3 VBR quality {q} is not one of 0 to 9"),
            ))
        }
    })
}

/// What an MP3 input's frames say about its bit rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mp3Source {
    /// Average bit rate in kb/s.
    pub kbps: f64,
    /// Whether frames use more than one bit rate (or a Xing/VBRI header says VBR).
    pub vbr: bool,
}

/// Reads the first frames of an MPEG audio file (read-only) to find its bit rate: a Xing
/// header says VBR, an Info header says CBR, otherwise up to 64 frames are compared.
pub fn inspect_source(path: &Path) -> io::Result<Option<Mp3Source>> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 10];
    let mut start = 0u64;
    if file.read_exact(&mut head).is_ok() && &head[..3] == b"ID3" {
        let size = head[6..10]
            .iter()
            .fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7F));
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        start = 10 + size + footer;
    }
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(256 * 1024).read_to_end(&mut buf)?;
    let Some(first) = (0..buf.len().saturating_sub(4)).find(|&i| parse_header(&buf[i..]).is_some()) else {
        return Ok(None);
    };
    let header = parse_header(&buf[first..]).unwrap_or_default();
    let frame = &buf[first..(first + header.length).min(buf.len())];
    let side = header.side_info_len();
    if let Some(tag) = frame.get(4 + side..4 + side + 4) {
        if tag == b"Info" {
            return Ok(Some(Mp3Source {
                kbps: f64::from(header.kbps),
                vbr: false,
            }));
        }
        if tag == b"Xing" {
            let flags = frame
                .get(8 + side..12 + side)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let word = |i: usize| {
                frame
                    .get(i..i + 4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            if let Some(flags) = flags {
                if flags & 3 == 3 {
                    let (frames, bytes) = (word(12 + side), word(16 + side));
                    if let (Some(frames), Some(bytes)) = (frames, bytes) {
                        let seconds = f64::from(frames) * header.samples as f64 / f64::from(header.rate);
                        if seconds > 0.0 {
                            return Ok(Some(Mp3Source {
                                kbps: f64::from(bytes) * 8.0 / seconds / 1000.0,
                                vbr: true,
                            }));
                        }
                    }
                }
            }
        }
    }
    // No usable header: walk the frames.
    let mut at = first;
    let mut rates = Vec::new();
    while rates.len() < 64 {
        match buf.get(at..).and_then(parse_header) {
            Some(h) => {
                rates.push(h.kbps);
                at += h.length.max(1);
            }
            None => break,
        }
    }
    if rates.is_empty() {
        return Ok(None);
    }
    let mean = rates.iter().map(|&r| f64::from(r)).sum::<f64>() / rates.len() as f64;
    Ok(Some(Mp3Source {
        kbps: mean,
        vbr: rates.iter().any(|&r| r != rates[0]),
    }))
}

#[derive(Debug, Default, Clone, Copy)]
struct FrameHeader {
    mpeg1: bool,
    mono: bool,
    kbps: u16,
    rate: u32,
    samples: usize,
    length: usize,
}

impl FrameHeader {
    fn side_info_len(self) -> usize {
        match (self.mpeg1, self.mono) {
            (true, false) => 32,
            (true, true) | (false, false) => 17,
            (false, true) => 9,
        }
    }
}

/// A layer III frame header at the start of `b`, if there is one.
fn parse_header(b: &[u8]) -> Option<FrameHeader> {
    if b.len() < 4 || b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (b[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    let layer = (b[1] >> 1) & 3; // 1 = layer III
    if version == 1 || layer != 1 {
        return None;
    }
    let bitrate_index = usize::from(b[2] >> 4);
    let rate_index = usize::from((b[2] >> 2) & 3);
    if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1: [u16; 15] = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
    const V2: [u16; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    const RATES: [u32; 3] = [44_100, 48_000, 32_000];
    let mpeg1 = version == 3;
    let kbps = if mpeg1 { V1[bitrate_index] } else { V2[bitrate_index] };
    let rate = RATES[rate_index]
        >> if mpeg1 {
            0
        } else if version == 2 {
            1
        } else {
            2
        };
    let samples = if mpeg1 { 1_152 } else { 576 };
    let padding = usize::from((b[2] >> 1) & 1);
    let length = samples / 8 * usize::from(kbps) * 1_000 / rate as usize + padding;
    Some(FrameHeader {
        mpeg1,
        mono: b[3] >> 6 == 3,
        kbps,
        rate,
        samples,
        length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::decode::Decoder;
    use crate::io::encode::testing::{decode_file, in_uneven_pieces};

    fn voice_like(channels: usize, frames: usize, rate: u32) -> Vec<Vec<f32>> {
        (0..channels)
            .map(|ch| {
                (0..frames)
                    .map(|i| {
                        let t = i as f32 / rate as f32;
                        let syllable = (std::f32::consts::TAU * 3.0 * t).sin().max(0.0);
                        syllable
                            * (0.3 * (std::f32::consts::TAU * (180.0 + 20.0 * ch as f32) * t).sin()
                                + 0.1 * (std::f32::consts::TAU * 1_250.0 * t).sin())
                    })
                    .collect()
            })
            .collect()
    }

    fn encode(path: &Path, block: &[Vec<f32>], rate: u32, mode: Mp3Mode) {
        let frames = block[0].len();
        let mut w = Mp3Writer::create(path, rate, block.len(), mode, &[]).unwrap();
        let mut written = vec![vec![0.0; frames]; block.len()];
        in_uneven_pieces(frames, |range| w.write(block, range, &mut written).unwrap());
        w.finalize().unwrap();
    }

    /// Lag of `b` against `a` in samples, by cross-correlation over ±`max`.
    fn lag(a: &[f32], b: &[f32], max: isize) -> isize {
        let n = a.len().min(b.len()) as isize;
        (-max..=max)
            .max_by(|&x, &y| {
                let c = |l: isize| -> f64 {
                    (max..n - max)
                        .map(|i| f64::from(a[i as usize]) * f64::from(b[(i + l) as usize]))
                        .sum()
                };
                c(x).total_cmp(&c(y))
            })
            .unwrap_or(0)
    }

    #[test]
    fn decoded_length_and_timing_match_the_input() {
        let dir = tempfile::tempdir().unwrap();
        for (channels, rate, mode, frames) in [
            (1, 44_100, Mp3Mode::Cbr(128), 44_100 * 2 + 17),
            (2, 48_000, Mp3Mode::Vbr(2), 48_000 + 1_151),
            (2, 22_050, Mp3Mode::Cbr(64), 22_050),
            (1, 16_000, Mp3Mode::Vbr(5), 999),
        ] {
            let path = dir.path().join(format!("{channels}_{rate}.mp3"));
            let block = voice_like(channels, frames, rate);
            encode(&path, &block, rate, mode);
            let back = decode_file(&path);
            assert_eq!(back.len(), channels);
            assert_eq!(back[0].len(), frames, "{mode:?} at {rate} Hz: decoded length");
            let info = Decoder::open(&path).unwrap().info().clone();
            assert_eq!(info.sample_rate, rate);
            if frames > 4_000 {
                assert_eq!(lag(&block[0], &back[0], 200), 0, "{mode:?}: decoded audio is shifted");
                let err: f64 = block[0]
                    .iter()
                    .zip(&back[0])
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum();
                let sig: f64 = block[0].iter().map(|a| f64::from(*a).powi(2)).sum();
                let snr = 10.0 * (sig / err).log10();
                assert!(snr > 15.0, "{mode:?}: SNR {snr:.1} dB");
            }
        }
    }

    #[test]
    fn cbr_decodes_as_loud_as_its_input() {
        // LAME's own presets would scale these by 0.95, 0.97 and 0.98 (−0.45, −0.26, −0.18 dB).
        let dir = tempfile::tempdir().unwrap();
        let block = voice_like(2, 48_000 * 2, 48_000);
        let energy = |x: &[f32]| {
            x[4_800..x.len() - 4_800]
                .iter()
                .map(|v| f64::from(*v).powi(2))
                .sum::<f64>()
        };
        for kbps in [128, 192, 224, 320] {
            let path = dir.path().join(format!("{kbps}.mp3"));
            encode(&path, &block, 48_000, Mp3Mode::Cbr(kbps));
            let back = decode_file(&path);
            for ch in 0..2 {
                let change_db = 10.0 * (energy(&back[ch]) / energy(&block[ch])).log10();
                assert!(
                    change_db.abs() < 0.05,
                    "CBR {kbps}: channel {ch} decodes {change_db:+.3} dB off"
                );
            }
        }
        assert_eq!(lame_cbr_scale(144), 0.95);
        assert_eq!(lame_cbr_scale(176), 0.97);
        assert_eq!(lame_cbr_scale(240), 1.0);
        assert_eq!(lame_cbr_scale(8), 0.95);
    }

    #[test]
    fn source_bit_rate_is_read_from_the_headers() {
        let dir = tempfile::tempdir().unwrap();
        let block = voice_like(2, 44_100 * 3, 44_100);
        let cbr = dir.path().join("cbr.mp3");
        encode(&cbr, &block, 44_100, Mp3Mode::Cbr(160));
        assert_eq!(
            inspect_source(&cbr).unwrap(),
            Some(Mp3Source {
                kbps: 160.0,
                vbr: false
            })
        );
        let vbr = dir.path().join("vbr.mp3");
        encode(&vbr, &block, 44_100, Mp3Mode::Vbr(4));
        let found = inspect_source(&vbr).unwrap().unwrap();
        assert!(found.vbr);
        let size = std::fs::metadata(&vbr).unwrap().len() as f64;
        let expected = size * 8.0 / 3.0 / 1000.0;
        assert!(
            (found.kbps - expected).abs() < 0.1 * expected,
            "{found:?} vs {expected}"
        );
        // The fixture made by the reference LAME frontend (VBR, with a Xing header).
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/mp3_44k1_mono.mp3");
        assert!(inspect_source(&fixture).unwrap().unwrap().vbr);
        let not_mp3 = dir.path().join("x.mp3");
        std::fs::write(&not_mp3, b"hello").unwrap();
        assert_eq!(inspect_source(&not_mp3).unwrap(), None);
    }

    #[test]
    fn modes_are_chosen_by_bit_rate() {
        assert_eq!(Mp3Mode::cbr_nearest(128.0, 44_100), Mp3Mode::Cbr(128));
        assert_eq!(Mp3Mode::cbr_nearest(150.0, 44_100), Mp3Mode::Cbr(160));
        assert_eq!(Mp3Mode::cbr_nearest(320.0, 22_050), Mp3Mode::Cbr(160));
        assert_eq!(Mp3Mode::vbr_matching(190.0, 2), Mp3Mode::Vbr(2));
        assert_eq!(Mp3Mode::vbr_matching(60.0, 2), Mp3Mode::Vbr(9));
        assert_eq!(Mp3Mode::vbr_matching(95.0, 1), Mp3Mode::Vbr(2));
        assert_eq!(Mp3Mode::vbr_matching(400.0, 2), Mp3Mode::Vbr(0));
        assert_eq!(Mp3Mode::Cbr(128).kbps_per_channel(2), 64.0);
        assert_eq!(Mp3Mode::Cbr(64).kbps_per_channel(1), 64.0);
        assert_eq!(Mp3Mode::Vbr(2).kbps_per_channel(2), 95.0);
        assert_eq!(Mp3Mode::Vbr(2).kbps_per_channel(1), 95.0);
        assert!(unsupported(96_000, 2).is_some());
        assert!(unsupported(48_000, 6).is_some());
        assert!(unsupported(44_100, 2).is_none());
        let dir = tempfile::tempdir().unwrap();
        assert!(Mp3Writer::create(&dir.path().join("x.mp3"), 44_100, 2, Mp3Mode::Cbr(100), &[]).is_err());
        assert!(Mp3Writer::create(&dir.path().join("x.mp3"), 44_100, 2, Mp3Mode::Vbr(10), &[]).is_err());
    }
}
