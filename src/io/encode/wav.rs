//! The WAV writer: planar f32 → 16/24/32-bit integer or 32-bit float WAV, with TPDF dither
//! for 16-bit (exact digital silence stays silence). Bytes are packed here rather than through
//! hound's per-sample calls (≈1.7× faster at 24-bit), files past 4 GiB become RF64 (EBU Tech
//! 3306) instead of failing, and extra chunks (`bext`, `iXML`, `LIST`, `id3 `) are written
//! around the samples, which hound cannot do.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::bext::{Bext, LOUDNESS_OFFSET};
use crate::io::{ChannelRole, SampleFormat};

/// Size of the `JUNK` chunk's payload reserved after `RIFF`/`WAVE`; it becomes a `ds64`
/// chunk (riff size, data size, sample count: 3 × u64, table length: u32) if the file
/// outgrows 4 GiB.
const DS64_LEN: u32 = 28;

/// `KSDATAFORMAT_SUBTYPE_PCM` / `_IEEE_FLOAT` without their first two bytes (the format tag).
const SUBTYPE_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Writes one WAV file. Call [`WavWriter::finalize`]: without it the header keeps
/// placeholder sizes.
pub struct WavWriter {
    file: BufWriter<File>,
    channels: usize,
    format: SampleFormat,
    /// Bytes of the header before the sample data.
    header_len: u64,
    /// Sample data bytes written so far.
    data_len: u64,
    frames: u64,
    /// Reused packing buffer.
    bytes: Vec<u8>,
    dither: Xorshift,
    /// Largest RIFF size written as plain RIFF; beyond it the file becomes RF64. Lowered
    /// in tests.
    rf64_above: u64,
    /// File offset of the `bext` loudness fields, patched by [`WavWriter::set_loudness`].
    bext_loudness_at: Option<u64>,
    loudness: Option<[u8; 10]>,
    /// Chunks written after the sample data (`LIST`/`INFO`, `id3 `), already framed.
    trailer: Vec<u8>,
}

/// Chunks beside the samples: `bext` before `data` (where broadcast tools look first), the
/// rest after it — an `iXML` body of odd length needs a pad byte that naive readers skipping
/// by declared size would trip over before reaching the samples.
#[derive(Debug, Clone, Default)]
pub struct WavChunks {
    pub bext: Option<Bext>,
    /// An input's `iXML` chunk body, carried unchanged.
    pub ixml: Option<Vec<u8>>,
    /// Other chunks as (id, body), written after the samples in this order.
    pub trailing: Vec<([u8; 4], Vec<u8>)>,
}

impl std::fmt::Debug for WavWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavWriter")
            .field("channels", &self.channels)
            .field("format", &self.format)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl WavWriter {
    /// Creates (or truncates) `path` and writes a provisional header. The channel mask is
    /// the default for the count: mono = front centre, stereo = front left/right, more =
    /// unassigned.
    pub fn create(path: &Path, sample_rate: u32, channels: usize, format: SampleFormat) -> io::Result<WavWriter> {
        Self::open(
            File::create(path)?,
            sample_rate,
            channels,
            format,
            default_mask(channels),
            &WavChunks::default(),
        )
    }

    /// Writes into `file` (open for writing; truncated first), the channel mask from `roles`
    /// as [`WavWriter::create_with_layout`] does.
    pub fn into_file(
        file: File,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        roles: &[ChannelRole],
    ) -> io::Result<WavWriter> {
        Self::into_file_with_chunks(file, sample_rate, channels, format, roles, &WavChunks::default())
    }

    /// Like [`WavWriter::into_file`], with `chunks` written around the samples.
    pub fn into_file_with_chunks(
        file: File,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        roles: &[ChannelRole],
        chunks: &WavChunks,
    ) -> io::Result<WavWriter> {
        let mask = if roles.len() == channels {
            mask_for(roles)
        } else {
            default_mask(channels)
        };
        file.set_len(0)?;
        Self::open(file, sample_rate, channels, format, mask, chunks)
    }

    /// Like [`WavWriter::create`], with the channel mask derived from the input's roles
    /// (`roles.len()` must equal `channels`). Layouts a WAV mask cannot express in channel
    /// order (e.g. an `Other` channel) get an unassigned mask.
    pub fn create_with_layout(
        path: &Path,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        roles: &[ChannelRole],
    ) -> io::Result<WavWriter> {
        if roles.len() != channels {
            return Err(invalid(format!(
                "{} channel roles given for {channels} channels",
                roles.len()
            )));
        }
        Self::create_with_chunks(path, sample_rate, channels, format, roles, &WavChunks::default())
    }

    /// Like [`WavWriter::create_with_layout`], with `chunks` written around the samples.
    pub fn create_with_chunks(
        path: &Path,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        roles: &[ChannelRole],
        chunks: &WavChunks,
    ) -> io::Result<WavWriter> {
        if roles.len() != channels {
            return Err(invalid(format!(
                "{} channel roles given for {channels} channels",
                roles.len()
            )));
        }
        Self::open(
            File::create(path)?,
            sample_rate,
            channels,
            format,
            mask_for(roles),
            chunks,
        )
    }

    fn open(
        mut file: File,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        mask: u32,
        chunks: &WavChunks,
    ) -> io::Result<WavWriter> {
        let bytes_per_sample = bytes_per_sample(format);
        let block_align = channels * bytes_per_sample;
        if channels == 0 || block_align > usize::from(u16::MAX) {
            return Err(invalid(format!("cannot write a WAV file with {channels} channels")));
        }
        if sample_rate == 0 {
            return Err(invalid("cannot write a WAV file at 0 Hz".into()));
        }
        let mut extra = Vec::new();
        let mut bext_loudness_at = None;
        if let Some(bext) = &chunks.bext {
            bext_loudness_at = Some(FMT_END[usize::from(is_extensible(channels, format))] + 8 + LOUDNESS_OFFSET as u64);
            push_chunk(&mut extra, *b"bext", &bext.to_bytes());
        }
        let mut trailer = Vec::new();
        if let Some(ixml) = &chunks.ixml {
            push_chunk(&mut trailer, *b"iXML", ixml);
        }
        for (id, body) in &chunks.trailing {
            push_chunk(&mut trailer, *id, body);
        }
        let header = header(sample_rate, channels, format, mask, &extra);
        file.seek(SeekFrom::Start(0))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        file.write_all(&header)?;
        Ok(WavWriter {
            file,
            channels,
            format,
            header_len: header.len() as u64,
            data_len: 0,
            frames: 0,
            bytes: Vec::new(),
            dither: Xorshift::new(),
            rf64_above: u64::from(u32::MAX) - 1,
            bext_loudness_at,
            loudness: None,
            trailer,
        })
    }

    /// The loudness of the written samples, stored in the `bext` chunk (if there is one)
    /// when the file is finalized.
    pub fn set_loudness(&mut self, fields: [u8; 10]) {
        self.loudness = Some(fields);
    }

    /// Quantizes frames `range` of the planar `block` (one plane per channel; TPDF dither
    /// for 16-bit), writes them, and stores the exact values written, as f32 in ±1.0, at the
    /// same indices of `written` so the caller can meter the real output.
    ///
    /// Values outside ±1.0 clamp to full scale (never wrap); NaN becomes 0. Float output
    /// keeps overs as they are and writes NaN/Inf as 0.
    ///
    /// # Panics
    ///
    /// If `block` or `written` has fewer than `channels` planes or a plane shorter than
    /// `range.end`.
    pub fn write(
        &mut self,
        block: &[Vec<f32>],
        range: std::ops::Range<usize>,
        written: &mut [Vec<f32>],
    ) -> io::Result<()> {
        let channels = self.channels;
        assert!(
            block.len() >= channels && written.len() >= channels,
            "need {channels} planes in block and written"
        );
        assert!(
            block[..channels]
                .iter()
                .chain(&written[..channels])
                .all(|p| p.len() >= range.end),
            "planes shorter than the range {range:?}"
        );
        let frames = range.len();
        self.bytes.clear();
        self.bytes.reserve(frames * channels * bytes_per_sample(self.format));
        match self.format {
            SampleFormat::Int16 => {
                for i in range {
                    for ch in 0..channels {
                        let x = block[ch][i];
                        // Digital silence stays exact zeros: dither there would only add
                        // noise where the source has none.
                        let q = if x == 0.0 {
                            0
                        } else {
                            quantize(x, 32_768.0, self.dither.tpdf())
                        };
                        written[ch][i] = q as f32 / 32_768.0;
                        self.bytes.extend_from_slice(&(q as i16).to_le_bytes());
                    }
                }
            }
            SampleFormat::Int24 => {
                for i in range {
                    for ch in 0..channels {
                        let q = quantize(block[ch][i], 8_388_608.0, 0.0);
                        written[ch][i] = q as f32 / 8_388_608.0;
                        self.bytes.extend_from_slice(&q.to_le_bytes()[..3]);
                    }
                }
            }
            SampleFormat::Int32 => {
                for i in range {
                    for ch in 0..channels {
                        let q = quantize(block[ch][i], 2_147_483_648.0, 0.0);
                        written[ch][i] = (f64::from(q) / 2_147_483_648.0) as f32;
                        self.bytes.extend_from_slice(&q.to_le_bytes());
                    }
                }
            }
            SampleFormat::Float32 => {
                for i in range {
                    for ch in 0..channels {
                        let x = block[ch][i];
                        let x = if x.is_finite() { x } else { 0.0 };
                        written[ch][i] = x;
                        self.bytes.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
        }
        self.file.write_all(&self.bytes)?;
        self.data_len += self.bytes.len() as u64;
        self.frames += frames as u64;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes of sample data written so far.
    pub fn data_bytes(&self) -> u64 {
        self.data_len
    }

    /// Pads the data chunk to an even length, writes the real sizes into the header
    /// (switching to RF64 past 4 GiB), flushes and fsyncs. Errors are real (disk full).
    pub fn finalize(mut self) -> io::Result<()> {
        if self.data_len % 2 == 1 {
            self.file.write_all(&[0])?;
        }
        let padded = self.data_len + self.data_len % 2;
        self.file.write_all(&self.trailer)?;
        let riff_len = self.header_len - 8 + padded + self.trailer.len() as u64;
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        if let (Some(at), Some(fields)) = (self.bext_loudness_at, self.loudness) {
            file.seek(SeekFrom::Start(at))?;
            file.write_all(&fields)?;
        }
        let data_size_at = self.header_len - 4;
        if riff_len > self.rf64_above {
            file.seek(SeekFrom::Start(0))?;
            let mut head = Vec::with_capacity(12 + 8 + DS64_LEN as usize);
            head.extend_from_slice(b"RF64");
            head.extend_from_slice(&u32::MAX.to_le_bytes());
            head.extend_from_slice(b"WAVE");
            head.extend_from_slice(b"ds64");
            head.extend_from_slice(&DS64_LEN.to_le_bytes());
            head.extend_from_slice(&riff_len.to_le_bytes());
            head.extend_from_slice(&self.data_len.to_le_bytes());
            head.extend_from_slice(&self.frames.to_le_bytes());
            head.extend_from_slice(&0u32.to_le_bytes()); // no table entries
            file.write_all(&head)?;
            file.seek(SeekFrom::Start(data_size_at))?;
            file.write_all(&u32::MAX.to_le_bytes())?;
        } else {
            // Both fit: riff_len ≤ u32::MAX − 1 and data_len < riff_len.
            file.seek(SeekFrom::Start(4))?;
            file.write_all(&(riff_len as u32).to_le_bytes())?;
            file.seek(SeekFrom::Start(data_size_at))?;
            file.write_all(&(self.data_len as u32).to_le_bytes())?;
        }
        file.flush()?;
        file.sync_all()
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn bytes_per_sample(format: SampleFormat) -> usize {
    match format {
        SampleFormat::Int16 => 2,
        SampleFormat::Int24 => 3,
        SampleFormat::Int32 | SampleFormat::Float32 => 4,
    }
}

/// `x` × `scale` plus `dither` (in LSBs), clamped to the integer range of that scale and
/// rounded to nearest. NaN gives 0.
#[inline]
pub(crate) fn quantize(x: f32, scale: f64, dither: f64) -> i32 {
    // Adding and subtracting 1.5 × 2^52 rounds an f64 of magnitude < 2^51 to the nearest
    // integer (ties to even) without a libm call.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let v = (f64::from(x) * scale + dither).clamp(-scale, scale - 1.0);
    ((v + ROUND) - ROUND) as i32
}

/// Appends a chunk: id, little-endian size, body, and a pad byte if the body is odd.
pub(crate) fn push_chunk(out: &mut Vec<u8>, id: [u8; 4], body: &[u8]) {
    out.extend_from_slice(&id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

/// Where the `fmt ` chunk ends (plain, extensible): the next chunk starts there.
const FMT_END: [u64; 2] = [12 + 8 + DS64_LEN as u64 + 8 + 16, 12 + 8 + DS64_LEN as u64 + 8 + 40];

fn is_extensible(channels: usize, format: SampleFormat) -> bool {
    channels > 2 || bytes_per_sample(format) > 2
}

/// The whole header with placeholder sizes: `RIFF`, `WAVE`, a `JUNK` chunk reserved for
/// `ds64`, `fmt ` (plain PCM for ≤ 2 channels at 16 bits, `WAVE_FORMAT_EXTENSIBLE`
/// otherwise), the framed `extra` chunks, and the `data` chunk header.
fn header(sample_rate: u32, channels: usize, format: SampleFormat, mask: u32, extra: &[u8]) -> Vec<u8> {
    let bytes = bytes_per_sample(format);
    let bits = (bytes * 8) as u16;
    let block_align = (channels * bytes) as u16;
    let extensible = is_extensible(channels, format);
    let tag = match format {
        SampleFormat::Float32 => WAVE_FORMAT_IEEE_FLOAT,
        _ => WAVE_FORMAT_PCM,
    };
    let mut h = Vec::with_capacity(104 + extra.len());
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(b"WAVE");
    h.extend_from_slice(b"JUNK");
    h.extend_from_slice(&DS64_LEN.to_le_bytes());
    h.extend_from_slice(&[0; DS64_LEN as usize]);
    h.extend_from_slice(b"fmt ");
    h.extend_from_slice(&(if extensible { 40u32 } else { 16 }).to_le_bytes());
    h.extend_from_slice(&(if extensible { WAVE_FORMAT_EXTENSIBLE } else { tag }).to_le_bytes());
    h.extend_from_slice(&(channels as u16).to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&(sample_rate.saturating_mul(u32::from(block_align))).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        h.extend_from_slice(&22u16.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes()); // valid bits
        h.extend_from_slice(&mask.to_le_bytes());
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&SUBTYPE_TAIL);
    }
    debug_assert_eq!(h.len() as u64, FMT_END[usize::from(extensible)]);
    h.extend_from_slice(extra);
    h.extend_from_slice(b"data");
    h.extend_from_slice(&0u32.to_le_bytes());
    h
}

// WAVE channel mask bits.
const FL: u32 = 0x1;
const FR: u32 = 0x2;
const FC: u32 = 0x4;
const LFE: u32 = 0x8;
const BL: u32 = 0x10;
const BR: u32 = 0x20;
const SL: u32 = 0x200;
const SR: u32 = 0x400;

fn default_mask(channels: usize) -> u32 {
    match channels {
        1 => FC,
        2 => FL | FR,
        _ => 0,
    }
}

/// The WAVE channel mask for these roles. WAV orders channels by ascending mask bit, so
/// each role takes the lowest fitting bit above the previous one (surrounds: back, then
/// side); if that is impossible the mask is 0, "no particular assignment".
fn mask_for(roles: &[ChannelRole]) -> u32 {
    let mut mask = 0u32;
    let mut last = 0u32;
    for role in roles {
        let candidates: &[u32] = match role {
            ChannelRole::Left => &[FL],
            ChannelRole::Right => &[FR],
            ChannelRole::Center => &[FC],
            ChannelRole::Lfe => &[LFE],
            ChannelRole::LeftSurround => &[BL, SL],
            ChannelRole::RightSurround => &[BR, SR],
            ChannelRole::Other => &[],
        };
        match candidates.iter().find(|&&bit| bit > last) {
            Some(&bit) => {
                mask |= bit;
                last = bit;
            }
            None => return 0,
        }
    }
    mask
}

/// xorshift64*: deterministic, so the same input always gives the same file.
pub(crate) struct Xorshift(u64);

impl Xorshift {
    pub(crate) fn new() -> Self {
        Xorshift(0x2545_F491_4F6C_DD1D)
    }

    #[inline]
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Triangular noise in (−1, 1) LSB: the difference of two uniform values.
    #[inline]
    pub(crate) fn tpdf(&mut self) -> f64 {
        let r = self.next();
        let a = (r >> 32) as f64 * (1.0 / 4_294_967_296.0);
        let b = (r & 0xFFFF_FFFF) as f64 * (1.0 / 4_294_967_296.0);
        a - b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::encode::testing::in_uneven_pieces;
    use std::path::PathBuf;

    const ALL: [SampleFormat; 4] = [
        SampleFormat::Int16,
        SampleFormat::Int24,
        SampleFormat::Int32,
        SampleFormat::Float32,
    ];

    /// A test signal: a 997 Hz sine on channel 0, a ramp from −1 to 1 on the others.
    fn signal(channels: usize, frames: usize) -> Vec<Vec<f32>> {
        (0..channels)
            .map(|ch| {
                (0..frames)
                    .map(|i| {
                        if ch == 0 {
                            0.7 * (std::f32::consts::TAU * 997.0 * i as f32 / 48_000.0).sin()
                        } else {
                            // Stops short of +1.0, which clamps to 1 − 1 LSB.
                            -1.0 + 1.999 * i as f32 / (frames - 1) as f32
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Writes `block` in uneven pieces; returns the path and what `written` reported.
    fn write_file(dir: &Path, format: SampleFormat, block: &[Vec<f32>]) -> (PathBuf, Vec<Vec<f32>>) {
        let path = dir.join(format!("out_{}.wav", format.label()));
        let frames = block[0].len();
        let mut w = WavWriter::create(&path, 48_000, block.len(), format).unwrap();
        let mut written = vec![vec![f32::NAN; frames]; block.len()];
        in_uneven_pieces(frames, |range| w.write(block, range, &mut written).unwrap());
        assert_eq!(w.frames(), frames as u64);
        w.finalize().unwrap();
        (path, written)
    }

    /// Reads a WAV back with hound as planar f32 in ±1.0.
    fn read_back(path: &Path) -> (hound::WavSpec, Vec<Vec<f32>>) {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        let channels = spec.channels as usize;
        let samples: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
            hound::SampleFormat::Int => {
                let scale = 2f64.powi(spec.bits_per_sample as i32 - 1);
                r.samples::<i32>()
                    .map(|s| (f64::from(s.unwrap()) / scale) as f32)
                    .collect()
            }
        };
        let mut planes = vec![Vec::new(); channels];
        for (i, s) in samples.into_iter().enumerate() {
            planes[i % channels].push(s);
        }
        (spec, planes)
    }

    fn lsb(format: SampleFormat) -> f64 {
        match format {
            SampleFormat::Int16 => 1.0 / 32_768.0,
            SampleFormat::Int24 => 1.0 / 8_388_608.0,
            SampleFormat::Int32 => 1.0 / 2_147_483_648.0,
            SampleFormat::Float32 => 0.0,
        }
    }

    #[test]
    fn every_format_round_trips_through_hound() {
        let dir = tempfile::tempdir().unwrap();
        let block = signal(2, 10_001);
        for format in ALL {
            let (path, written) = write_file(dir.path(), format, &block);
            let (spec, back) = read_back(&path);
            assert_eq!(spec.channels, 2);
            assert_eq!(spec.sample_rate, 48_000);
            assert_eq!(spec.bits_per_sample as usize, 8 * bytes_per_sample(format));
            assert_eq!(back, written, "{format:?}: written must be exactly what is in the file");
            // Within quantization: ½ LSB, plus up to 1 LSB of dither at 16 bits; f32 input
            // carries 24 bits, so 32-bit ints also pick up f32 rounding of `written`.
            let tolerance = match format {
                SampleFormat::Int16 => 1.5 * lsb(format),
                SampleFormat::Int24 => 0.5 * lsb(format),
                SampleFormat::Int32 => 0.5 * lsb(format) + 1e-7,
                SampleFormat::Float32 => 0.0,
            };
            for ch in 0..2 {
                for (i, (&a, &b)) in block[ch].iter().zip(&back[ch]).enumerate() {
                    let err = (f64::from(a) - f64::from(b)).abs();
                    assert!(err <= tolerance, "{format:?} ch {ch} frame {i}: {a} → {b}");
                }
            }
            // The file is exactly as long as it should be.
            let len = std::fs::metadata(&path).unwrap().len();
            let data = 10_001 * 2 * bytes_per_sample(format) as u64;
            let header = if format == SampleFormat::Int16 { 80 } else { 104 };
            assert_eq!(len, header + data + data % 2);
        }
    }

    #[test]
    fn symphonia_reads_what_we_write() {
        let dir = tempfile::tempdir().unwrap();
        let block = signal(2, 5_000);
        for format in ALL {
            let (path, written) = write_file(dir.path(), format, &block);
            let mut dec = crate::io::decode::Decoder::open(&path).unwrap();
            assert_eq!(dec.info().frames, Some(5_000));
            let mut out = vec![vec![0.0f32; 6_000]; 2];
            assert_eq!(dec.read(&mut out).unwrap(), 5_000);
            for ch in 0..2 {
                assert_eq!(out[ch][..5_000], written[ch][..], "{format:?}");
            }
        }
    }

    #[test]
    fn odd_data_length_is_padded() {
        let dir = tempfile::tempdir().unwrap();
        let block = signal(1, 3);
        let (path, written) = write_file(dir.path(), SampleFormat::Int24, &block);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 104 + 9 + 1);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 104 + 10 - 8);
        assert_eq!(u32::from_le_bytes(bytes[100..104].try_into().unwrap()), 9);
        assert_eq!(read_back(&path).1, written);
    }

    #[test]
    fn full_scale_clamps_and_never_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let values = [1.0f32, -1.0, 1.5, -1.5, 1e30, -1e30, f32::INFINITY, f32::NEG_INFINITY];
        let block = vec![values.repeat(100), vec![f32::NAN; 800]];
        for format in ALL {
            let (path, written) = write_file(dir.path(), format, &block);
            let (_, back) = read_back(&path);
            assert_eq!(back, written);
            if format == SampleFormat::Float32 {
                for (&x, &y) in block[0].iter().zip(&back[0]) {
                    assert_eq!(y, if x.is_finite() { x } else { 0.0 });
                }
            } else {
                // The raw codes: the extreme ones, never wrapped.
                let bits = 8 * bytes_per_sample(format) as u32;
                let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
                let mut r = hound::WavReader::open(&path).unwrap();
                let codes: Vec<i64> = r.samples::<i32>().map(|s| i64::from(s.unwrap())).collect();
                for (i, &x) in block[0].iter().enumerate() {
                    let code = codes[2 * i];
                    if x > 0.0 {
                        assert_eq!(code, max, "{format:?} {x}");
                    } else if x == -1.0 && format == SampleFormat::Int16 {
                        // Dither may lift exactly −1.0 by one code.
                        assert!(code <= min + 1, "{x} → {code}");
                    } else {
                        assert_eq!(code, min, "{format:?} {x}");
                    }
                }
            }
            assert!(back[1].iter().all(|&y| y.abs() <= 1.0 / 32_768.0), "NaN → ~0");
        }
    }

    #[test]
    fn dither_is_unbiased_triangular_noise() {
        let dir = tempfile::tempdir().unwrap();
        // Values between codes, and silence.
        for level in [0.3f32, 0.123_456_7, -0.5 + 0.25 / 32_768.0, 1e-9] {
            let block = vec![vec![level; 200_000]];
            let (path, written) = write_file(dir.path(), SampleFormat::Int16, &block);
            let (_, back) = read_back(&path);
            assert_eq!(back, written);
            let errs: Vec<f64> = back[0]
                .iter()
                .map(|&y| (f64::from(y) - f64::from(level)) * 32_768.0)
                .collect();
            let n = errs.len() as f64;
            let mean = errs.iter().sum::<f64>() / n;
            let rms = (errs.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
            let max = errs.iter().fold(0.0f64, |m, e| m.max(e.abs()));
            // TPDF (variance 1/6) plus rounding (1/12): total error RMS ½ LSB whatever the
            // input, mean 0, never more than 1.5 LSB.
            assert!(mean.abs() < 0.01, "{level}: mean error {mean} LSB");
            assert!((rms - 0.5).abs() < 0.02, "{level}: error RMS {rms} LSB");
            assert!(max <= 1.5, "{level}: max error {max} LSB");
        }
    }

    #[test]
    fn digital_silence_stays_exact_zeros_while_signal_is_dithered() {
        let dir = tempfile::tempdir().unwrap();
        // Silence, a quiet tone (a few LSBs), silence again.
        let mut plane = vec![0.0f32; 50_000];
        plane.extend((0..100_000).map(|i| 3.3 / 32_768.0 * (i as f32 * 0.01).sin() + 0.2 / 32_768.0));
        plane.extend(vec![0.0f32; 50_000]);
        let block = vec![plane.clone(), vec![0.0; plane.len()]];
        let (path, written) = write_file(dir.path(), SampleFormat::Int16, &block);
        let (_, back) = read_back(&path);
        assert_eq!(back, written);
        assert!(back[1].iter().all(|&y| y == 0.0), "a silent channel stays silent");
        assert!(back[0][..50_000].iter().chain(&back[0][150_000..]).all(|&y| y == 0.0));
        // The tone still gets dither: its error is TPDF + rounding, ½ LSB RMS, not the
        // ≈0.29 LSB of plain rounding.
        let errs: Vec<f64> = (50_000..150_000)
            .map(|i| (f64::from(back[0][i]) - f64::from(plane[i])) * 32_768.0)
            .collect();
        let rms = (errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt();
        assert!((rms - 0.5).abs() < 0.02, "error RMS {rms} LSB");
    }

    #[test]
    fn dither_is_reproducible() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let block = signal(2, 20_000);
        let (pa, _) = write_file(a.path(), SampleFormat::Int16, &block);
        let (pb, _) = write_file(b.path(), SampleFormat::Int16, &block);
        assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
    }

    #[test]
    fn headers_pick_plain_or_extensible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.wav");
        let cases = [
            (1, SampleFormat::Int16, WAVE_FORMAT_PCM, None),
            (2, SampleFormat::Int16, WAVE_FORMAT_PCM, None),
            (3, SampleFormat::Int16, WAVE_FORMAT_EXTENSIBLE, Some(WAVE_FORMAT_PCM)),
            (1, SampleFormat::Int24, WAVE_FORMAT_EXTENSIBLE, Some(WAVE_FORMAT_PCM)),
            (2, SampleFormat::Int32, WAVE_FORMAT_EXTENSIBLE, Some(WAVE_FORMAT_PCM)),
            (
                2,
                SampleFormat::Float32,
                WAVE_FORMAT_EXTENSIBLE,
                Some(WAVE_FORMAT_IEEE_FLOAT),
            ),
        ];
        for (channels, format, tag, subtype) in cases {
            let w = WavWriter::create(&path, 44_100, channels, format).unwrap();
            w.finalize().unwrap();
            let b = std::fs::read(&path).unwrap();
            assert_eq!(&b[0..4], b"RIFF");
            assert_eq!(&b[12..16], b"JUNK");
            assert_eq!(&b[48..52], b"fmt ");
            assert_eq!(u16::from_le_bytes([b[56], b[57]]), tag, "{channels} {format:?}");
            if let Some(sub) = subtype {
                assert_eq!(u16::from_le_bytes([b[80], b[81]]), sub);
                assert_eq!(b[82..96], SUBTYPE_TAIL);
            }
            let (spec, planes) = read_back(&path);
            assert_eq!(spec.channels as usize, channels);
            assert!(planes.iter().all(Vec::is_empty));
        }
    }

    #[test]
    fn channel_mask_follows_roles() {
        use ChannelRole::*;
        let five_one = [Left, Right, Center, Lfe, LeftSurround, RightSurround];
        assert_eq!(mask_for(&five_one), 0x3F);
        let seven_one = [
            Left,
            Right,
            Center,
            Lfe,
            LeftSurround,
            RightSurround,
            LeftSurround,
            RightSurround,
        ];
        assert_eq!(mask_for(&seven_one), 0x63F);
        assert_eq!(mask_for(&[Center]), FC);
        assert_eq!(mask_for(&[Left, Right]), FL | FR);
        assert_eq!(mask_for(&[Right, Left]), 0, "not in WAV order");
        assert_eq!(mask_for(&[Left, Right, Other]), 0);

        // Round trip through our own decoder.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("51.wav");
        let mut w = WavWriter::create_with_layout(&path, 48_000, 6, SampleFormat::Int24, &five_one).unwrap();
        let block = vec![vec![0.25f32; 100]; 6];
        let mut written = vec![vec![0.0f32; 100]; 6];
        w.write(&block, 0..100, &mut written).unwrap();
        w.finalize().unwrap();
        let dec = crate::io::decode::Decoder::open(&path).unwrap();
        assert_eq!(dec.info().channel_roles, five_one);
        assert!(WavWriter::create_with_layout(&path, 48_000, 2, SampleFormat::Int16, &[Left]).is_err());
    }

    #[test]
    fn rf64_header_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wav");
        let mut w = WavWriter::create(&path, 48_000, 2, SampleFormat::Int24).unwrap();
        w.rf64_above = 1_000; // pretend 1 kB is 4 GiB
        let block = signal(2, 1_001);
        let mut written = vec![vec![0.0f32; 1_001]; 2];
        w.write(&block, 0..1_001, &mut written).unwrap();
        w.finalize().unwrap();
        let b = std::fs::read(&path).unwrap();
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let data_len = 1_001 * 6;
        assert_eq!(&b[0..4], b"RF64");
        assert_eq!(u32_at(4), u32::MAX);
        assert_eq!(&b[8..16], b"WAVEds64");
        assert_eq!(u32_at(16), 28);
        assert_eq!(u64_at(20), b.len() as u64 - 8, "riff size");
        assert_eq!(u64_at(28), data_len, "data size");
        assert_eq!(u64_at(36), 1_001, "sample count");
        assert_eq!(u32_at(44), 0, "table length");
        assert_eq!(&b[96..100], b"data");
        assert_eq!(u32_at(100), u32::MAX);
        assert_eq!(b.len() as u64, 104 + data_len);
        // The samples are where a reader expects them.
        assert_eq!(
            &b[104..107],
            &quantize(block[0][0], 8_388_608.0, 0.0).to_le_bytes()[..3]
        );
    }

    #[test]
    fn can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<WavWriter>();
    }

    #[test]
    fn bad_arguments_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        assert!(WavWriter::create(&path, 48_000, 0, SampleFormat::Int16).is_err());
        assert!(WavWriter::create(&path, 0, 2, SampleFormat::Int16).is_err());
        assert!(WavWriter::create(&path, 48_000, 20_000, SampleFormat::Int32).is_err());
        assert!(WavWriter::create(&dir.path().join("no/such/dir.wav"), 48_000, 1, SampleFormat::Int16).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn disk_full_is_reported() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let Ok(mut w) = WavWriter::create(Path::new("/dev/full"), 48_000, 1, SampleFormat::Int16) else {
            return;
        };
        let block = vec![vec![0.1f32; 1_000]];
        let mut written = vec![vec![0.0f32; 1_000]];
        let result = w.write(&block, 0..1_000, &mut written).and_then(|()| w.finalize());
        let err = result.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    }
}
