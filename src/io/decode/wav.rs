//! podclean's own WAVE reader for PCM, because symphonia's reads none of these: RF64 and BW64
//! (EBU Tech 3306 / ITU-R BS.2088 `ds64` sizes, which podclean itself writes past 4 GiB),
//! files with several `data` chunks, and more than 28 channels (it called a 32-channel
//! recording "corrupt"). Symphonia's PCM decoder still turns the bytes into samples, and its
//! reader still reads compressed WAV (ADPCM) in plain RIFF.
//!
//! Several `data` chunks are decoded one after the other, as one stream, with a warning:
//! WAVE has one `fmt ` chunk, so a later `data` chunk can only be more audio in the same
//! format (recorders that append, tools that concatenate); ffmpeg reads them the same way.
//! Dropping one would lose audio without a word; refusing would fail a file every other tool
//! plays. A second `fmt ` chunk that changes the format before more data fails the file.

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{AudioCodecId, AudioCodecParameters};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::{Error as SymError, Result as SymResult, SeekErrorKind};
use symphonia::core::formats::well_known::FORMAT_ID_WAVE;
use symphonia::core::formats::{FormatInfo, FormatReader, MediaInfo, SeekMode, SeekTo, SeekedTo, Track};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::{Metadata, MetadataLog};
use symphonia::core::packet::Packet;
use symphonia::core::units::{Duration, TimeBase, Timestamp};

use super::input::Input;
use super::probe::{check_rate, MAX_CHANNELS};
use super::DecodeError;

/// Chunk headers read before giving up (hostile files).
const MAX_CHUNKS: usize = 10_000;
/// A packet holds at most this many bytes, and at most `MAX_PACKET_FRAMES` frames.
const PACKET_BYTES: u64 = 64 << 10;
const MAX_PACKET_FRAMES: u64 = 4096;
/// Speaker positions a WAVE channel mask can name; more channels than this have none.
const MASK_POSITIONS: u32 = 18;
/// `KSDATAFORMAT_SUBTYPE_*` GUIDs after their first two bytes (the format tag).
const SUBTYPE_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;
const WAVE_FORMAT_ALAW: u16 = 6;
const WAVE_FORMAT_MULAW: u16 = 7;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

const WAVE_INFO: FormatInfo = FormatInfo {
    format: FORMAT_ID_WAVE,
    short_name: "wave",
    long_name: "Waveform Audio File Format (podclean's PCM reader)",
};

/// What [`open`] found.
pub(super) enum Opened {
    /// Not a WAVE file.
    NotWave,
    /// A WAVE file with compressed audio (ADPCM...) in one `data` chunk of a plain RIFF file:
    /// symphonia's reader handles it.
    Compressed,
    /// PCM this module reads, and what was odd about the file.
    Pcm { reader: WavReader, warnings: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Riff,
    Rf64,
    Bw64,
}

/// The `ds64` chunk: 64-bit sizes of the RIFF, of `data`, and of other big chunks.
#[derive(Debug, Default)]
struct Ds64 {
    riff_size: u64,
    data_size: u64,
    table: Vec<([u8; 4], u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Decodable here: symphonia codec, bytes per sample, valid bits (integers only).
    Pcm {
        codec: AudioCodecId,
        bytes: u16,
        valid_bits: Option<u32>,
    },
    /// Anything else, by format tag.
    Compressed(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Format {
    channels: u16,
    rate: u32,
    mask: Option<u32>,
    encoding: Encoding,
}

impl Format {
    fn frame_bytes(&self) -> Option<u64> {
        match self.encoding {
            Encoding::Pcm { bytes, .. } => Some(u64::from(self.channels) * u64::from(bytes)),
            Encoding::Compressed(_) => None,
        }
    }

    fn describe(&self) -> String {
        let what = match self.encoding {
            Encoding::Pcm {
                codec,
                bytes,
                valid_bits,
                ..
            } => {
                let bits = valid_bits.unwrap_or(u32::from(bytes) * 8);
                if codec == codec_ids::CODEC_ID_PCM_F32LE || codec == codec_ids::CODEC_ID_PCM_F64LE {
                    format!("{bits}-bit float")
                } else if codec == codec_ids::CODEC_ID_PCM_ALAW {
                    "A-law".into()
                } else if codec == codec_ids::CODEC_ID_PCM_MULAW {
                    "µ-law".into()
                } else {
                    format!("{bits}-bit PCM")
                }
            }
            Encoding::Compressed(tag) => format!("format 0x{tag:04X}"),
        };
        format!("{what}, {} ch, {} Hz", self.channels, self.rate)
    }
}

/// One `data` chunk: where its bytes start, and how many (`None`: to the end of the file).
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: u64,
    len: Option<u64>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn corrupt(what: impl Into<String>) -> DecodeError {
    DecodeError::Corrupt(what.into())
}

const ENDS_IN_HEADER: &str = "the file ends inside its header";

/// Parses a `fmt ` chunk body. Channel count and sample rate are checked for every encoding,
/// so no other reader ever sees a count podclean cannot handle.
fn parse_format(body: &[u8]) -> Result<Format, DecodeError> {
    if body.len() < 16 {
        return Err(corrupt(format!("the fmt chunk is too short ({} bytes)", body.len())));
    }
    let tag = u16_at(body, 0);
    let channels = u16_at(body, 2);
    let rate = u32_at(body, 4);
    let block_align = u16_at(body, 12);
    let bits = u16_at(body, 14);
    if channels == 0 {
        return Err(corrupt("the header gives 0 channels"));
    }
    if usize::from(channels) > MAX_CHANNELS {
        return Err(DecodeError::UnsupportedChannels {
            count: u64::from(channels),
            max: MAX_CHANNELS,
            reader: "",
        });
    }
    check_rate(rate)?;
    let (tag, valid_bits, mask) = if tag == WAVE_FORMAT_EXTENSIBLE {
        if body.len() < 40 {
            return Err(corrupt(format!(
                "the extensible fmt chunk is too short ({} bytes)",
                body.len()
            )));
        }
        if body[26..40] != SUBTYPE_TAIL {
            // Ambisonic B-format and other sub-types: not plain PCM.
            return Ok(Format {
                channels,
                rate,
                mask: None,
                encoding: Encoding::Compressed(WAVE_FORMAT_EXTENSIBLE),
            });
        }
        (u16_at(body, 24), u16_at(body, 18), Some(u32_at(body, 20)))
    } else {
        (tag, bits, None)
    };
    if ![
        WAVE_FORMAT_PCM,
        WAVE_FORMAT_IEEE_FLOAT,
        WAVE_FORMAT_ALAW,
        WAVE_FORMAT_MULAW,
    ]
    .contains(&tag)
    {
        return Ok(Format {
            channels,
            rate,
            mask,
            encoding: Encoding::Compressed(tag),
        });
    }
    let container_bytes = if tag == WAVE_FORMAT_PCM && mask.is_none() && !bits.is_multiple_of(8) {
        // Plain PCM with, say, 20 valid bits: the container is what the block holds.
        let per_channel = block_align / channels;
        if block_align.is_multiple_of(channels) && per_channel * 8 >= bits {
            per_channel
        } else {
            bits.div_ceil(8)
        }
    } else {
        if !bits.is_multiple_of(8) || bits == 0 {
            return Err(corrupt(format!("the header gives {bits} bits per sample")));
        }
        bits / 8
    };
    let float = |bytes| match bytes {
        4 => Ok(codec_ids::CODEC_ID_PCM_F32LE),
        8 => Ok(codec_ids::CODEC_ID_PCM_F64LE),
        _ => Err(corrupt(format!("{bits}-bit floating-point samples do not exist"))),
    };
    let encoding = match tag {
        WAVE_FORMAT_PCM => {
            let codec = match container_bytes {
                1 => codec_ids::CODEC_ID_PCM_U8,
                2 => codec_ids::CODEC_ID_PCM_S16LE,
                3 => codec_ids::CODEC_ID_PCM_S24LE,
                4 => codec_ids::CODEC_ID_PCM_S32LE,
                _ => {
                    return Err(DecodeError::UnsupportedContainer {
                        format: "wav".into(),
                        what: format!("{}-bit integer samples", container_bytes * 8),
                    })
                }
            };
            let width = u32::from(container_bytes) * 8;
            let valid = u32::from(valid_bits);
            Encoding::Pcm {
                codec,
                bytes: container_bytes,
                valid_bits: Some(if valid == 0 || valid > width { width } else { valid }),
            }
        }
        WAVE_FORMAT_IEEE_FLOAT => Encoding::Pcm {
            codec: float(container_bytes)?,
            bytes: container_bytes,
            valid_bits: None,
        },
        WAVE_FORMAT_ALAW | WAVE_FORMAT_MULAW if container_bytes == 1 => Encoding::Pcm {
            codec: if tag == WAVE_FORMAT_ALAW {
                codec_ids::CODEC_ID_PCM_ALAW
            } else {
                codec_ids::CODEC_ID_PCM_MULAW
            },
            bytes: 1,
            valid_bits: None,
        },
        other => Encoding::Compressed(other),
    };
    Ok(Format {
        channels,
        rate,
        mask,
        encoding,
    })
}

fn parse_ds64(body: &[u8]) -> Result<Ds64, DecodeError> {
    if body.len() < 24 {
        return Err(corrupt(format!("the ds64 chunk is too short ({} bytes)", body.len())));
    }
    let mut ds64 = Ds64 {
        riff_size: u64_at(body, 0),
        data_size: u64_at(body, 8),
        table: Vec::new(),
    };
    if body.len() >= 28 {
        let entries = u32_at(body, 24) as usize;
        for entry in body[28..].chunks_exact(12).take(entries) {
            let mut id = [0u8; 4];
            id.copy_from_slice(&entry[..4]);
            ds64.table.push((id, u64_at(entry, 4)));
        }
    }
    Ok(ds64)
}

/// The channel layout for `count` channels and an optional WAVE channel mask, as symphonia's
/// reader gives it where it can (so roles do not change with the reader): the mask's speakers,
/// corrected to the count; without a mask, the first `count` speakers. Past the 18 speakers a
/// mask can name, channels are discrete (each weighted as a front channel).
fn channel_layout(count: u16, mask: Option<u32>) -> Channels {
    let n = u32::from(count);
    if n > MASK_POSITIONS {
        return Channels::Discrete(count);
    }
    let all_positions = (1u32 << MASK_POSITIONS) - 1;
    let first_n = (1u32 << n) - 1;
    let mut mask = mask.map_or(first_n, |m| m & all_positions);
    while mask.count_ones() > n {
        mask &= !(1u32 << (31 - mask.leading_zeros()));
    }
    if mask.count_ones() < n {
        // Too few speakers named: add the next ones above the highest named.
        let missing = n - mask.count_ones();
        let above = 32 - mask.leading_zeros();
        let extra = ((1u64 << missing) - 1) << above;
        mask = if extra <= u64::from(all_positions) {
            mask | extra as u32
        } else {
            first_n
        };
    }
    Position::from_bits(u64::from(mask)).map_or(Channels::Discrete(count), Channels::Positioned)
}

fn is_chunk_id(id: &[u8]) -> bool {
    id.iter().all(|b| (0x20..=0x7E).contains(b))
}

/// Reads the chunk structure of a WAVE file (RIFF, RF64 or BW64).
pub(super) fn open(input: &Input) -> Result<Opened, DecodeError> {
    let mut head = [0u8; 12];
    if input.read_at(&mut head, 0)? < 12 || &head[8..12] != b"WAVE" {
        return Ok(Opened::NotWave);
    }
    let form = match &head[0..4] {
        b"RIFF" => Form::Riff,
        b"RF64" => Form::Rf64,
        b"BW64" => Form::Bw64,
        _ => return Ok(Opened::NotWave),
    };
    let riff_size32 = u32_at(&head, 4);
    let file_len = input.len();
    let mut ds64: Option<Ds64> = None;
    let mut format: Option<Format> = None;
    // A `fmt ` chunk after audio, checked against the first when more audio follows.
    let mut later_format: Option<Format> = None;
    let mut segments: Vec<Segment> = Vec::new();
    let mut ends_inside = false;
    let mut scan_end = file_len;
    let mut pos = 12u64;
    // Where the next chunk would be if the previous, odd-sized one lacks its pad byte.
    let mut unpadded: Option<u64> = None;
    for _ in 0..MAX_CHUNKS {
        if pos.saturating_add(8) > scan_end {
            ends_inside |= pos < scan_end && segments.is_empty();
            break;
        }
        let mut header = [0u8; 8];
        input.read_at(&mut header, pos)?;
        if !is_chunk_id(&header[..4]) {
            if let Some(alt) = unpadded {
                let mut other = [0u8; 8];
                if input.read_at(&mut other, alt)? == 8 && is_chunk_id(&other[..4]) {
                    pos = alt;
                    header = other;
                }
            }
        }
        let id: [u8; 4] = [header[0], header[1], header[2], header[3]];
        if !segments.is_empty() && !is_chunk_id(&id) {
            break; // bytes after the audio that are not a chunk (a tag, garbage)
        }
        let size32 = u32_at(&header, 4);
        let size = if size32 != u32::MAX {
            Some(u64::from(size32))
        } else if form == Form::Riff {
            None // written to a pipe: the size was never filled in
        } else {
            match (&ds64, &id) {
                (Some(ds), b"data") => (ds.data_size != 0 && ds.data_size != u64::MAX).then_some(ds.data_size),
                (Some(ds), _) => ds.table.iter().find(|(t, _)| *t == id).map(|&(_, s)| s),
                (None, _) => None,
            }
        };
        let body = pos + 8;
        match &id {
            b"ds64" if form != Form::Riff => {
                let len = size.unwrap_or(0).min(4096) as usize;
                let mut buf = vec![0u8; len];
                if input.read_at(&mut buf, body)? < len {
                    ends_inside = true;
                    break;
                }
                ds64 = Some(parse_ds64(&buf)?);
            }
            b"fmt " => {
                let len = size.unwrap_or(0).min(4096) as usize;
                let mut buf = vec![0u8; len];
                if input.read_at(&mut buf, body)? < len {
                    ends_inside = segments.is_empty();
                    break;
                }
                let parsed = parse_format(&buf)?;
                if format.is_none() {
                    format = Some(parsed);
                } else if !segments.is_empty() {
                    later_format = Some(parsed);
                }
            }
            b"data" => {
                let Some(first) = format else {
                    return Err(corrupt("the WAV has no fmt chunk before its audio data"));
                };
                if let Some(later) = later_format.take() {
                    if later != first {
                        let frames = frames_in(&segments, &first).unwrap_or(0);
                        return Err(DecodeError::FormatChanged {
                            what: "WAV format",
                            from: first.describe(),
                            to: later.describe(),
                            at_s: frames as f64 / f64::from(first.rate),
                        });
                    }
                }
                segments.push(Segment { start: body, len: size });
                if segments.len() == 1 {
                    let riff_end = match form {
                        Form::Riff => (riff_size32 != u32::MAX).then(|| 8 + u64::from(riff_size32)),
                        Form::Rf64 | Form::Bw64 => ds64.as_ref().map(|d| d.riff_size.saturating_add(8)),
                    };
                    let data_end = size.map(|s| body.saturating_add(s));
                    if let (Some(riff_end), Some(data_end)) = (riff_end, data_end) {
                        // A RIFF size that does not even cover the audio is wrong: ignore it.
                        if riff_end >= data_end {
                            scan_end = scan_end.min(riff_end);
                        }
                    }
                }
            }
            _ => {}
        }
        let Some(size) = size else {
            break; // a chunk of unknown size runs to the end of the file
        };
        let end = body.saturating_add(size);
        if end > file_len {
            ends_inside |= segments.is_empty();
            break;
        }
        pos = end + (size & 1);
        unpadded = (size & 1 == 1).then_some(end);
    }
    let Some(format) = format else {
        return Err(corrupt(if ends_inside {
            ENDS_IN_HEADER
        } else {
            "the WAV has no fmt chunk"
        }));
    };
    if segments.is_empty() {
        return Err(corrupt(if ends_inside {
            ENDS_IN_HEADER
        } else {
            "the WAV has no data chunk"
        }));
    }
    let Some(frame_bytes) = format.frame_bytes() else {
        if form == Form::Riff && segments.len() == 1 {
            return Ok(Opened::Compressed);
        }
        return Err(DecodeError::UnsupportedContainer {
            format: "wav".into(),
            what: format!(
                "compressed audio ({}) in {}; convert it to PCM first",
                format.describe(),
                if form == Form::Riff {
                    "several data chunks"
                } else {
                    "an RF64/BW64 file"
                }
            ),
        });
    };
    let mut warnings = Vec::new();
    if segments.len() > 1 {
        let first_frames = segments[0].len.map_or(0, |l| l / frame_bytes);
        warnings.push(format!(
            "the file holds {} data chunks (more audio starts at {:.1} s); they were decoded in order, as one stream",
            segments.len(),
            first_frames as f64 / f64::from(format.rate)
        ));
        let stray: u64 = segments[..segments.len() - 1]
            .iter()
            .filter_map(|s| s.len)
            .map(|l| l % frame_bytes)
            .sum();
        if stray > 0 {
            warnings.push(format!(
                "{stray} byte{} at the ends of data chunks did not make a whole frame and were skipped",
                if stray == 1 { "" } else { "s" }
            ));
        }
    }
    if form != Form::Riff && ds64.is_none() && segments.iter().any(|s| s.len.is_none()) {
        warnings.push("the RF64 file has no ds64 chunk; its audio was read to the end of the file".into());
    }
    let reader = WavReader::new(input.clone(), &format, frame_bytes, segments);
    Ok(Opened::Pcm { reader, warnings })
}

/// Whole frames in `segments`, if all their sizes are known.
fn frames_in(segments: &[Segment], format: &Format) -> Option<u64> {
    let frame_bytes = format.frame_bytes()?;
    segments.iter().map(|s| s.len.map(|l| l / frame_bytes)).sum()
}

/// Hands out the PCM of each `data` chunk in order, in packets of whole frames.
pub(super) struct WavReader {
    input: Input,
    tracks: Vec<Track>,
    media_info: MediaInfo,
    metadata: MetadataLog,
    segments: Vec<Segment>,
    frame_bytes: u64,
    frames_per_packet: u64,
    /// The segment being read and the byte offset in it.
    current: usize,
    offset: u64,
    next_frame: u64,
}

impl WavReader {
    fn new(input: Input, format: &Format, frame_bytes: u64, segments: Vec<Segment>) -> WavReader {
        let frames_per_packet = (PACKET_BYTES / frame_bytes).clamp(1, MAX_PACKET_FRAMES);
        let mut params = AudioCodecParameters::new();
        params
            .with_sample_rate(format.rate)
            .with_channels(channel_layout(format.channels, format.mask))
            .with_max_frames_per_packet(frames_per_packet);
        if let Encoding::Pcm { codec, valid_bits, .. } = format.encoding {
            params.for_codec(codec);
            if let Some(bits) = valid_bits {
                params.with_bits_per_sample(bits).with_bits_per_coded_sample(bits);
            }
        }
        let mut track = Track::new(0);
        track.with_codec_params(CodecParameters::Audio(params));
        if let Some(time_base) = TimeBase::try_from_recip(format.rate) {
            track.with_time_base(time_base);
        }
        if let Some(frames) = frames_in(&segments, format) {
            track.with_num_frames(frames).with_duration(Duration::new(frames));
        }
        WavReader {
            input,
            media_info: MediaInfo::from_track(&track),
            tracks: vec![track],
            metadata: MetadataLog::default(),
            segments,
            frame_bytes,
            frames_per_packet,
            current: 0,
            offset: 0,
            next_frame: 0,
        }
    }
}

impl FormatReader for WavReader {
    fn format_info(&self) -> &FormatInfo {
        &WAVE_INFO
    }

    fn media_info(&self) -> &MediaInfo {
        &self.media_info
    }

    fn metadata(&mut self) -> Metadata<'_> {
        self.metadata.metadata()
    }

    /// podclean decodes front to back.
    fn seek(&mut self, _mode: SeekMode, _to: SeekTo) -> SymResult<SeekedTo> {
        Err(SymError::SeekError(SeekErrorKind::Unseekable))
    }

    fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    fn next_packet(&mut self) -> SymResult<Option<Packet>> {
        while let Some(segment) = self.segments.get(self.current) {
            let left = segment.len.map_or(u64::MAX, |len| len - self.offset);
            let frames = (left / self.frame_bytes).min(self.frames_per_packet);
            if frames == 0 {
                self.current += 1;
                self.offset = 0;
                continue;
            }
            let mut data = vec![0u8; (frames * self.frame_bytes) as usize];
            let got = self.input.read_at(&mut data, segment.start + self.offset)?;
            if got < data.len() {
                // The file ends here, whatever the chunk sizes promised.
                self.current = self.segments.len();
            }
            let whole = got as u64 / self.frame_bytes;
            if whole == 0 {
                return Ok(None);
            }
            data.truncate((whole * self.frame_bytes) as usize);
            let pts = Timestamp::new(i64::try_from(self.next_frame).unwrap_or(i64::MAX));
            self.next_frame += whole;
            self.offset += whole * self.frame_bytes;
            return Ok(Some(Packet::new(0, pts, Duration::new(whole), data)));
        }
        Ok(None)
    }

    fn into_inner<'s>(self: Box<Self>) -> MediaSourceStream<'s>
    where
        Self: 's,
    {
        MediaSourceStream::new(Box::new(self.input.cursor()), MediaSourceStreamOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::super::input::testing::Sparse;
    use super::super::testutil::*;
    use super::*;

    /// A `fmt ` chunk body for plain (non-extensible) audio.
    fn fmt_plain(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let block_align = channels * bits.div_ceil(8);
        let mut b = Vec::new();
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        b.extend_from_slice(&block_align.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b
    }

    /// A `WAVE_FORMAT_EXTENSIBLE` `fmt ` chunk body.
    fn fmt_extensible(sub_tag: u16, channels: u16, rate: u32, bits: u16, mask: u32) -> Vec<u8> {
        let mut b = fmt_plain(WAVE_FORMAT_EXTENSIBLE, channels, rate, bits);
        b.extend_from_slice(&22u16.to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(&mask.to_le_bytes());
        b.extend_from_slice(&sub_tag.to_le_bytes());
        b.extend_from_slice(&SUBTYPE_TAIL);
        b
    }

    fn ds64(riff_size: u64, data_size: u64, frames: u64, table: &[(&[u8; 4], u64)]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [riff_size, data_size, frames] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&(table.len() as u32).to_le_bytes());
        for (id, size) in table {
            b.extend_from_slice(*id);
            b.extend_from_slice(&size.to_le_bytes());
        }
        b
    }

    /// A chunk: its id, the size field as written, and its body (padded to even length).
    fn chunk(id: &[u8; 4], size: u32, body: &[u8]) -> Vec<u8> {
        let mut b = id.to_vec();
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(body);
        if body.len() % 2 == 1 {
            b.push(0);
        }
        b
    }

    /// `form` + RIFF size + `WAVE` + the chunks; the RIFF size is filled in for `RIFF`.
    fn wave(form: &[u8; 4], chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let size = if form == b"RIFF" {
            4 + body.len() as u32
        } else {
            u32::MAX
        };
        let mut b = form.to_vec();
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(b"WAVE");
        b.extend(body);
        b
    }

    /// The fixtures' tone as 16-bit samples, frames `from..to` at `rate`, each channel `k`
    /// scaled by `gains[k]`, interleaved.
    fn tone_s16(rate: u32, from: usize, to: usize, gains: &[f64]) -> Vec<u8> {
        let mut b = Vec::new();
        for i in from..to {
            for g in gains {
                let s = (g * tone(i as f64 / f64::from(rate)) * 32_768.0).round() as i16;
                b.extend_from_slice(&s.to_le_bytes());
            }
        }
        b
    }

    fn decode_bytes(bytes: Vec<u8>) -> Result<Decoded, DecodeError> {
        let input = super::super::input::testing::in_memory(bytes);
        decode_from(Decoder::open_input(input, Some("wav"))?, 1000)
    }

    /// Decodes all of `bytes` and returns the first channel.
    fn first_channel(bytes: Vec<u8>) -> (Vec<f32>, Vec<String>) {
        let input = super::super::input::testing::in_memory(bytes);
        let mut dec = Decoder::open_input(input, Some("wav")).unwrap();
        let mut block = vec![vec![0.0f32; 777]; dec.info().channels];
        let mut out = Vec::new();
        loop {
            let n = dec.read(&mut block).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&block[0][..n]);
        }
        (out, dec.warnings().to_vec())
    }

    fn assert_is_tone(samples: &[f32], rate: f64) {
        for (i, &s) in samples.iter().enumerate() {
            let want = tone(i as f64 / rate);
            assert!(
                (f64::from(s) - want).abs() <= 1.0 / 32_768.0,
                "frame {i}: {s} vs {want}"
            );
        }
    }

    #[test]
    fn header_only_wav_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("wav_s16_44k1_mono.wav")).unwrap();
        let data = find_chunk(&bytes, b"data");
        let path = dir.path().join("header.wav");
        std::fs::write(&path, &bytes[..data + 8]).unwrap();
        let err = decode_err(&path);
        assert_eq!(
            err.to_string(),
            "truncated: header promises 0.5 s of audio, file holds 0.0 s"
        );
        assert_eq!(err.kind(), DecodeErrorKind::Truncated);
        // A WAV cut inside its header.
        std::fs::write(&path, &bytes[..30]).unwrap();
        assert_eq!(
            decode_err(&path).to_string(),
            "corrupt stream: the file ends inside its header"
        );
    }

    #[test]
    fn truncated_wav_fails() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("wav_s16_44k1_mono.wav")).unwrap();
        let data = find_chunk(&bytes, b"data");
        let path = dir.path().join("cut.wav");
        // Header + 0.2 s of the promised 0.5 s.
        std::fs::write(&path, &bytes[..data + 8 + 17_640]).unwrap();
        assert_eq!(
            decode_err(&path).to_string(),
            "truncated: header promises 0.5 s of audio, file holds 0.2 s"
        );
    }

    #[test]
    fn wav_claiming_4_gib_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("wav_s16_44k1_mono.wav")).unwrap();
        let data = find_chunk(&bytes, b"data");
        let claimed: u32 = 0xFFFF_FF00;
        bytes[data + 4..data + 8].copy_from_slice(&claimed.to_le_bytes());
        let riff = claimed + data as u32; // still below u32::MAX
        bytes[4..8].copy_from_slice(&riff.to_le_bytes());
        let path = dir.path().join("huge.wav");
        std::fs::write(&path, &bytes).unwrap();
        let dec = Decoder::open(&path).unwrap();
        assert_eq!(dec.info().frames, Some(u64::from(claimed) / 2));
        assert_eq!(
            decode_err(&path).to_string(),
            "truncated: header promises 48695.8 s of audio, file holds 0.5 s"
        );
    }

    #[test]
    fn streamed_wav_without_sizes_decodes() {
        // ffmpeg writing to a pipe leaves both sizes at 0xFFFFFFFF: no length is promised.
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("wav_s16_44k1_mono.wav")).unwrap();
        let data = find_chunk(&bytes, b"data");
        bytes[data + 4..data + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let path = dir.path().join("streamed.wav");
        std::fs::write(&path, &bytes).unwrap();
        let d = decode_all(&path, 4096).unwrap();
        assert_eq!(d.info.frames, None);
        assert_eq!(d.frames, 22_050);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn rf64_and_bw64_read_like_riff() {
        // ffmpeg's RF64: `ds64` first, `data` size 0xFFFFFFFF.
        let rf64 = std::fs::read(fixture("wav_s16_48k_mono_rf64.wav")).unwrap();
        assert_eq!(&rf64[..4], b"RF64");
        let (samples, warnings) = first_channel(rf64.clone());
        assert_eq!(samples.len(), 12_000);
        assert_is_tone(&samples, 48_000.0);
        assert!(warnings.is_empty(), "{warnings:?}");
        // BW64 (ITU-R BS.2088) is the same layout under another name.
        let mut bw64 = rf64;
        bw64[..4].copy_from_slice(b"BW64");
        let (samples, _) = first_channel(bw64);
        assert_eq!(samples.len(), 12_000);
        assert_is_tone(&samples, 48_000.0);
        // podclean's own layout past 4 GiB, small: `ds64` where `JUNK` was reserved, then
        // `fmt `, then `data`; here with a big `LIST` chunk whose size is in the ds64 table.
        let audio = tone_s16(44_100, 0, 4_410, &[1.0]);
        let list_body = vec![b'x'; 10];
        let bytes = wave(
            b"RF64",
            &[
                chunk(b"ds64", 40, &ds64(0, audio.len() as u64, 4_410, &[(b"LIST", 10)])),
                chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 1, 44_100, 16)),
                chunk(b"LIST", u32::MAX, &list_body),
                chunk(b"data", u32::MAX, &audio),
            ],
        );
        let (samples, warnings) = first_channel(bytes);
        assert_eq!(samples.len(), 4_410);
        assert_is_tone(&samples, 44_100.0);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn rf64_claiming_more_than_it_holds_is_truncated() {
        let mut bytes = std::fs::read(fixture("wav_s16_48k_mono_rf64.wav")).unwrap();
        let ds64 = find_chunk(&bytes, b"ds64");
        let claimed: u64 = 5 << 30;
        bytes[ds64 + 16..ds64 + 24].copy_from_slice(&claimed.to_le_bytes());
        let err = decode_bytes(bytes).map(|d| d.frames).unwrap_err();
        assert_eq!(err.kind(), DecodeErrorKind::Truncated);
        assert_eq!(
            err.to_string(),
            "truncated: header promises 55924.1 s of audio, file holds 0.2 s"
        );
    }

    #[test]
    fn rf64_past_4_gib_decodes_to_its_last_frame() {
        // A 4 GiB + 19.2 kB RF64 file, held as its header, a gap of zeros that is never
        // stored, and 0.3 s of the tone at the end: 64-bit float stereo, the fewest samples
        // per byte, keeps the test quick.
        let rate = 48_000u32;
        let frame_bytes = 16u64;
        let tail_frames = 14_400u64;
        let gap_frames = (4u64 << 30) / frame_bytes + 1_200;
        let data_len = (gap_frames + tail_frames) * frame_bytes;
        assert!(data_len > u64::from(u32::MAX));
        let mut tail = Vec::new();
        for i in 0..tail_frames {
            let s = tone(i as f64 / f64::from(rate));
            tail.extend_from_slice(&s.to_le_bytes());
            tail.extend_from_slice(&(s / 2.0).to_le_bytes());
        }
        let head = wave(
            b"RF64",
            &[
                chunk(b"ds64", 28, &ds64(0, data_len, gap_frames + tail_frames, &[])),
                chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_IEEE_FLOAT, 2, rate, 64)),
                chunk(b"data", u32::MAX, &[]),
            ],
        );
        let input = Sparse {
            head,
            gap: gap_frames * frame_bytes,
            tail,
        }
        .into_input();
        let mut dec = Decoder::open_input(input, Some("wav")).unwrap();
        assert_eq!(dec.info().frames, Some(gap_frames + tail_frames));
        assert_eq!(dec.info().source, SourceFormat::PcmFloat { bits: 64 });
        let mut block = vec![vec![0.0f32; 65_536]; 2];
        let mut last = [Vec::new(), Vec::new()];
        loop {
            let n = dec.read(&mut block).unwrap();
            if n == 0 {
                break;
            }
            for (keep, plane) in last.iter_mut().zip(&block) {
                keep.extend_from_slice(&plane[..n]);
                let excess = keep.len().saturating_sub(tail_frames as usize);
                keep.drain(..excess);
            }
        }
        assert_eq!(dec.frames_decoded(), gap_frames + tail_frames);
        for (i, (&l, &r)) in last[0].iter().zip(&last[1]).enumerate() {
            let want = tone(i as f64 / f64::from(rate));
            assert!((f64::from(l) - want).abs() < 1e-6, "frame {i}");
            assert!((f64::from(r) - want / 2.0).abs() < 1e-6, "frame {i}");
        }
    }

    #[test]
    fn thirty_two_channels_decode_in_order() {
        let gains: Vec<f64> = (0..32).map(|k| f64::from(k + 1) / 32.0).collect();
        let audio = tone_s16(48_000, 0, 1_200, &gains);
        let plain = wave(
            b"RIFF",
            &[
                chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 32, 48_000, 16)),
                chunk(b"data", audio.len() as u32, &audio),
            ],
        );
        let extensible = wave(
            b"RIFF",
            &[
                chunk(b"fmt ", 40, &fmt_extensible(WAVE_FORMAT_PCM, 32, 48_000, 16, 0)),
                chunk(b"data", audio.len() as u32, &audio),
            ],
        );
        for bytes in [plain, extensible] {
            let d = decode_bytes(bytes).unwrap();
            assert_eq!((d.info.channels, d.frames), (32, 1_200));
            // Past the 18 speakers a mask can name, every channel is weighted as a front one.
            assert_eq!(d.info.channel_roles, vec![ChannelRole::Other; 32]);
            for (k, &got) in d.rms_db.iter().enumerate() {
                let want = TONE_DB + 20.0 * gains[k].log10();
                assert!(
                    (got - want).abs() < 0.05,
                    "channel {k}: {got:.2} dB, expected {want:.2}"
                );
            }
        }
        // One more is refused, naming the count.
        let audio = tone_s16(48_000, 0, 100, &[0.5; 33]);
        let err = decode_bytes(wave(
            b"RIFF",
            &[
                chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 33, 48_000, 16)),
                chunk(b"data", audio.len() as u32, &audio),
            ],
        ))
        .map(|d| d.frames)
        .unwrap_err();
        assert_eq!(err.kind(), DecodeErrorKind::UnsupportedChannels);
        assert_eq!(err.to_string(), "unsupported: 33 channels (podclean reads at most 32)");
    }

    #[test]
    fn channel_masks_are_corrected_like_symphonias() {
        let bits = |count, mask| match channel_layout(count, mask) {
            Channels::Positioned(p) => p.bits(),
            other => panic!("{other:?}"),
        };
        assert_eq!(bits(9, Some(0)), 0b1_1111_1111);
        assert_eq!(bits(5, Some(0b10_1000)), 0b1_1110_1000);
        assert_eq!(bits(5, Some(0b1011_1011_1010)), 0b1011_1010);
        assert_eq!(bits(8, Some(0xFFFF_FFFF)), 0b1111_1111);
        assert_eq!(bits(6, None), 0b11_1111);
        assert_eq!(bits(2, Some(0b11)), 0b11);
        // Too few named speakers with no room above them: the first ones.
        assert_eq!(bits(3, Some(1 << 17)), 0b111);
        assert!(matches!(channel_layout(19, None), Channels::Discrete(19)));
    }

    #[test]
    fn two_data_chunks_decode_in_order_with_a_warning() {
        // The second chunk continues the tone where the first stopped; an odd-sized LIST
        // chunk (with its pad byte) sits between them.
        let first = tone_s16(48_000, 0, 4_800, &[1.0]);
        let second = tone_s16(48_000, 4_800, 9_600, &[1.0]);
        let bytes = wave(
            b"RIFF",
            &[
                chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 1, 48_000, 16)),
                chunk(b"data", first.len() as u32, &first),
                chunk(b"LIST", 5, b"INFOx"),
                chunk(b"data", second.len() as u32, &second),
            ],
        );
        let d = decode_bytes(bytes.clone()).unwrap();
        assert_eq!(d.info.frames, Some(9_600), "both chunks are promised");
        let (samples, warnings) = first_channel(bytes);
        assert_eq!(samples.len(), 9_600);
        assert_is_tone(&samples, 48_000.0);
        assert_eq!(
            warnings,
            ["the file holds 2 data chunks (more audio starts at 0.1 s); they were decoded in order, as one stream"]
        );
    }

    #[test]
    fn an_odd_chunk_without_its_pad_byte_still_leads_to_the_next() {
        // 8-bit audio of odd length, and a writer that forgot the pad byte.
        let fmt = chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 1, 8_000, 8));
        let mut bytes = wave(b"RIFF", &[fmt]);
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&801u32.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0xC0u8, 801));
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&200u32.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0x40u8, 200));
        let (samples, warnings) = first_channel(bytes);
        assert_eq!(samples.len(), 1_001);
        assert_eq!((samples[800], samples[801]), (0.5, -0.5));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn trailing_bytes_that_are_not_chunks_are_ignored() {
        let mut bytes = std::fs::read(fixture("wav_s16_44k1_mono.wav")).unwrap();
        bytes.extend_from_slice(b"TAG\x00\xff\xfe junk from a tagger");
        let d = decode_bytes(bytes).unwrap();
        assert_eq!(d.frames, 22_050);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn a_format_change_between_data_chunks_fails() {
        let first = tone_s16(48_000, 0, 4_800, &[1.0]);
        let fmt16 = chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 1, 48_000, 16));
        let fmt24 = chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 1, 48_000, 24));
        let data = chunk(b"data", first.len() as u32, &first);
        let err = decode_bytes(wave(b"RIFF", &[fmt16.clone(), data.clone(), fmt24, data.clone()]))
            .map(|d| d.frames)
            .unwrap_err();
        assert_eq!(err.kind(), DecodeErrorKind::FormatChanged);
        assert_eq!(
            err.to_string(),
            "WAV format changes mid-stream (16-bit PCM, 1 ch, 48000 Hz → 24-bit PCM, 1 ch, 48000 Hz) at 0.1 s; split the file first"
        );
        // The same format said twice is no change.
        let d = decode_bytes(wave(b"RIFF", &[fmt16.clone(), data.clone(), fmt16, data])).unwrap();
        assert_eq!(d.frames, 9_600);
    }

    #[test]
    fn compressed_audio_in_two_data_chunks_is_refused() {
        let mut bytes = std::fs::read(fixture("adpcm_ima_22k_mono.wav")).unwrap();
        let data = find_chunk(&bytes, b"data");
        let len = u32::from_le_bytes(bytes[data + 4..data + 8].try_into().unwrap()) as usize;
        let body = bytes[data + 8..data + 8 + len].to_vec();
        bytes.extend(chunk(b"data", len as u32, &body));
        let riff = bytes.len() as u32 - 8;
        bytes[4..8].copy_from_slice(&riff.to_le_bytes());
        let err = decode_bytes(bytes).map(|d| d.frames).unwrap_err();
        assert_eq!(err.kind(), DecodeErrorKind::UnsupportedContainer);
        assert_eq!(
            err.to_string(),
            "unsupported wav file: compressed audio (format 0x0011, 1 ch, 22050 Hz) in several data chunks; convert it to PCM first"
        );
    }

    #[test]
    fn missing_chunks_are_named() {
        let audio = tone_s16(48_000, 0, 100, &[1.0]);
        let fmt = chunk(b"fmt ", 16, &fmt_plain(WAVE_FORMAT_PCM, 1, 48_000, 16));
        let data = chunk(b"data", audio.len() as u32, &audio);
        let err = |chunks: &[Vec<u8>]| {
            decode_bytes(wave(b"RIFF", chunks))
                .map(|d| d.frames)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(std::slice::from_ref(&data)),
            "corrupt stream: the WAV has no fmt chunk before its audio data"
        );
        assert_eq!(err(&[fmt]), "corrupt stream: the WAV has no data chunk");
    }
}
