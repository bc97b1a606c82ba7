//! Decoding: any file symphonia understands → planar f32 blocks in ±1.0. This is the one
//! place that knows symphonia's API; everything downstream sees `Decoder`, `StreamInfo` and
//! `DecodeError`. Memory stays bounded by the largest packet, whatever the file's length.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::{Channels, GenericAudioBufferRef, Position};
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::{FORMAT_ID_ISOMP4, FORMAT_ID_MP1, FORMAT_ID_MP2, FORMAT_ID_MP3};
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::TimeBase;

use super::{ChannelRole, SourceFormat, StreamInfo};

/// Lowest and highest sample rates accepted.
const MIN_RATE: u32 = 1_000;
const MAX_RATE: u32 = 768_000;
/// Most channels accepted.
const MAX_CHANNELS: usize = 32;
/// A corrupt packet longer than this (in seconds) is dropped instead of replaced by silence.
const MAX_FILL_S: u64 = 10;
/// Give up early once this many packets failed and they outnumber good ones four to one.
const EARLY_GIVE_UP_BAD: u64 = 50;

/// Why a file could not be decoded. Messages name the problem, not the file: the caller adds
/// the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("file is empty (0 bytes)")]
    Empty,
    #[error("not a recognised audio format{0}")]
    NotAudio(&'static str),
    #[error("the file contains no audio track{0}")]
    NoAudioTrack(&'static str),
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    #[error("unsupported {codec} stream: {feature}")]
    UnsupportedFeature { codec: String, feature: String },
    #[error("unsupported {format} file: {what}")]
    UnsupportedContainer { format: String, what: String },
    #[error("{0}")]
    BadStreamInfo(String),
    #[error("corrupt stream: {0}")]
    Corrupt(String),
    #[error("stream is mostly corrupt: {bad} of {total} {codec} packets could not be decoded")]
    MostlyCorrupt { bad: u64, total: u64, codec: String },
    #[error("truncated: header promises {promised_s:.1} s of audio, file holds {held_s:.1} s")]
    Truncated { promised_s: f64, held_s: f64 },
    #[error("{what} changes mid-stream ({from} → {to}) at {at_s:.1} s; split the file first")]
    FormatChanged {
        what: &'static str,
        from: String,
        to: String,
        at_s: f64,
    },
    #[error("could not read the file: {0}")]
    Io(#[from] std::io::Error),
}

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
    /// Frames still to drop from the start, and the total length, from an MP4 edit list.
    edit_skip: u64,
    edit_limit: Option<u64>,
    /// Silence owed for corrupt packets, handed out before the staged frames.
    pending_silence: u64,
    /// Frames decoded or owed as silence so far: the stream position of the next packet.
    frames_produced: u64,
    /// Frames handed to the caller.
    frames_delivered: u64,
    /// Set once decoding failed or panicked: the reader state can no longer be trusted.
    poisoned: bool,
    good_packets: u64,
    bad_packets: u64,
    bad_first_s: f64,
    bad_last_s: f64,
    filled_frames: u64,
    non_finite: u64,
    /// Plain PCM (WAV/AIFF/CAF): its reader loses nothing at an early end of file.
    is_pcm: bool,
    /// Packet timestamps come from the frames themselves (FLAC): gaps mean lost frames.
    frame_timestamps: bool,
    next_pts: Option<i64>,
    /// Finds bytes between MPEG audio frames (damage the demuxer skips without a word).
    junk: Option<junk::JunkFinder>,
    /// Whether a packet of the track was seen: bytes before the first (tags, the Xing
    /// frame) are not junk.
    seen_packet: bool,
    junk_bytes: u64,
    junk_runs: u64,
    junk_first_s: f64,
    junk_last_s: f64,
    junk_warning: Option<usize>,
    warnings: Vec<String>,
    bad_warning: Option<usize>,
    nan_warning: Option<usize>,
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
    /// Opens `path` read-only, probes it (the extension is a hint), picks the first audio
    /// track and decodes its first packet so that `info()` reflects the real decoded stream.
    pub fn open(path: &Path) -> Result<Decoder, DecodeError> {
        // Symphonia panics on some malformed headers (found by fuzzing: an extensible WAV
        // claiming 309 channels overflows its channel-mask fix-up). A panic in a library
        // parsing hostile bytes is a corrupt file, not a podclean bug.
        contain_panic("its header", || Self::open_unguarded(path))
    }

    fn open_unguarded(path: &Path) -> Result<Decoder, DecodeError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Err(DecodeError::Empty);
        }
        let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let reader = symphonia::default::get_probe()
            .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| open_error(e, path))?;
        let format = reader.format_info().format;
        // The MPEG audio demuxer skips junk between frames silently; look for it ourselves.
        let junk = if [FORMAT_ID_MP3, FORMAT_ID_MP2, FORMAT_ID_MP1].contains(&format) {
            junk::JunkFinder::open(path).ok()
        } else {
            None
        };
        let edit = |track_id| {
            if format == FORMAT_ID_ISOMP4 {
                mp4::edit_for_track(path, track_id)
            } else {
                None
            }
        };
        Self::from_reader(reader, edit, junk)
    }

    /// `edit` looks up the container's edit list for a track id (symphonia ignores MP4
    /// edit lists, which is where AAC's encoder delay is declared).
    fn from_reader(
        reader: Box<dyn FormatReader>,
        edit: impl FnOnce(u32) -> Option<mp4::Edit>,
        junk: Option<junk::JunkFinder>,
    ) -> Result<Decoder, DecodeError> {
        let has_other_tracks = !reader.tracks().is_empty();
        let track = match reader.default_track(TrackType::Audio) {
            Some(track) => track,
            None => match reader.first_track(TrackType::Audio) {
                Some(track) => track,
                None if has_other_tracks => {
                    return Err(DecodeError::NoAudioTrack(" (only video or subtitles)"));
                }
                None => return Err(DecodeError::NoAudioTrack("")),
            },
        };
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .cloned()
            .ok_or(DecodeError::NoAudioTrack(""))?;
        let track_id = track.id;
        let mut promised = track.num_frames;
        let track_time_base = track.time_base;
        let codec = codec_name(params.codec);
        if params.codec == codec_ids::CODEC_ID_OPUS {
            // No Opus decoder in symphonia: say what to do about it.
            return Err(DecodeError::UnsupportedCodec(
                "opus (no Opus decoder is built in; convert the file to FLAC or WAV first)".into(),
            ));
        }
        if symphonia::default::get_codecs()
            .get_audio_decoder(params.codec)
            .is_none()
        {
            return Err(DecodeError::UnsupportedCodec(codec));
        }
        if let Some(rate) = params.sample_rate {
            check_rate(rate)?;
        }
        if let Some(channels) = &params.channels {
            check_channels(channels.count())?;
        }
        let options = AudioDecoderOptions::default().gapless(true);
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &options)
            .map_err(|e| match e {
                SymError::Unsupported(feature) => DecodeError::UnsupportedFeature {
                    codec: codec.clone(),
                    feature: feature.to_string(),
                },
                SymError::IoError(e) => DecodeError::Io(e),
                other => DecodeError::Corrupt(format!("{codec} decoder setup failed: {other}")),
            })?;
        let source = source_format(&params);
        let mut edit_skip = 0;
        let mut edit_limit = None;
        if let (Some(edit), Some(rate)) = (edit(track_id), params.sample_rate) {
            edit_skip = edit.skip_frames(rate);
            edit_limit = edit.length_frames(rate);
            if let Some(limit) = edit_limit {
                promised = Some(limit);
            }
        }
        let channels = params.channels.as_ref().map_or(0, Channels::count);
        let info = StreamInfo {
            sample_rate: params.sample_rate.unwrap_or(0),
            channels,
            channel_roles: params.channels.as_ref().map(channel_roles).unwrap_or_default(),
            source,
            codec,
            frames: promised,
        };
        let is_pcm = info.codec.starts_with("pcm_");
        let mut decoder = Decoder {
            reader,
            decoder,
            track_id,
            info,
            promised_frames: promised,
            staging: Vec::new(),
            staged_pos: 0,
            staged_len: 0,
            edit_skip,
            edit_limit,
            pending_silence: 0,
            frames_produced: 0,
            frames_delivered: 0,
            poisoned: false,
            good_packets: 0,
            bad_packets: 0,
            bad_first_s: 0.0,
            bad_last_s: 0.0,
            filled_frames: 0,
            non_finite: 0,
            is_pcm,
            frame_timestamps: params.codec == codec_ids::CODEC_ID_FLAC
                && track_time_base.is_some()
                && track_time_base == params.sample_rate.and_then(TimeBase::try_from_recip),
            next_pts: None,
            junk,
            seen_packet: false,
            junk_bytes: 0,
            junk_runs: 0,
            junk_first_s: 0.0,
            junk_last_s: 0.0,
            junk_warning: None,
            warnings: Vec::new(),
            bad_warning: None,
            nan_warning: None,
            finished: false,
        };
        decoder.prime()?;
        Ok(decoder)
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

    fn read_unguarded(&mut self, block: &mut [Vec<f32>]) -> Result<usize, DecodeError> {
        debug_assert_eq!(block.len(), self.info.channels, "one plane per channel");
        let want = block.iter().map(Vec::len).min().unwrap_or(0);
        let mut written = 0;
        while written < want {
            if self.pending_silence > 0 {
                let n = ((want - written) as u64).min(self.pending_silence) as usize;
                for out in block.iter_mut() {
                    out[written..written + n].fill(0.0);
                }
                self.pending_silence -= n as u64;
                written += n;
                continue;
            }
            if self.staged_pos == self.staged_len {
                if !self.decode_next()? && self.pending_silence == 0 {
                    break;
                }
                continue;
            }
            let n = (want - written).min(self.staged_len - self.staged_pos);
            for (out, staged) in block.iter_mut().zip(&self.staging) {
                out[written..written + n].copy_from_slice(&staged[self.staged_pos..self.staged_pos + n]);
            }
            self.staged_pos += n;
            written += n;
        }
        self.frames_delivered += written as u64;
        Ok(written)
    }

    /// Damage seen so far that did not stop decoding, one sentence each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Frames handed out by `read` so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames_delivered
    }

    /// Decodes until the first good packet (or the end), then fixes `info` from what the
    /// decoder really produced.
    fn prime(&mut self) -> Result<(), DecodeError> {
        while self.good_packets == 0 && self.decode_next()? {}
        if self.info.sample_rate == 0 {
            return Err(DecodeError::BadStreamInfo(
                "the stream does not state its sample rate".into(),
            ));
        }
        check_rate(self.info.sample_rate)?;
        if self.info.channels == 0 {
            return Err(DecodeError::BadStreamInfo("the stream has no channels (0)".into()));
        }
        check_channels(self.info.channels)?;
        Ok(())
    }

    fn seconds(&self, frames: u64) -> f64 {
        if self.info.sample_rate == 0 {
            0.0
        } else {
            frames as f64 / self.info.sample_rate as f64
        }
    }

    /// Reads and decodes packets until one yields frames into `staging`. Returns false at
    /// the end of the stream (after the end-of-stream checks passed).
    fn decode_next(&mut self) -> Result<bool, DecodeError> {
        if self.finished {
            return Ok(false);
        }
        loop {
            let packet = match self.reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => return self.end_of_stream(false),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.end_of_stream(true);
                }
                Err(SymError::IoError(e)) => return Err(DecodeError::Io(e)),
                Err(SymError::DecodeError(msg)) => {
                    // The demuxer lost sync; it resynchronises on the next call.
                    self.note_bad_packet(None)?;
                    if self.bad_packets > 10_000 {
                        return Err(DecodeError::Corrupt(format!("the container is damaged ({msg})")));
                    }
                    continue;
                }
                Err(SymError::ResetRequired) => return Err(self.format_changed_unknown()),
                Err(SymError::Unsupported(feature)) => {
                    return Err(DecodeError::UnsupportedFeature {
                        codec: self.info.codec.clone(),
                        feature: feature.to_string(),
                    });
                }
                Err(other) => return Err(DecodeError::Corrupt(other.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            self.track_junk(&packet);
            self.track_gap(&packet)?;
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let frames = buf.frames();
                    let spec_rate = buf.spec().rate();
                    let spec_channels = buf.spec().channels().clone();
                    // Safety net for decoders that do not apply the packet's gapless trim.
                    let (mut skip, mut keep) = trim_for(&packet, frames);
                    if self.edit_skip > 0 {
                        let drop = self.edit_skip.min(keep as u64) as usize;
                        self.edit_skip -= drop as u64;
                        skip += drop;
                        keep -= drop;
                    }
                    if let Some(limit) = self.edit_limit {
                        let room = limit.saturating_sub(self.frames_produced);
                        keep = keep.min(room.min(usize::MAX as u64) as usize);
                    }
                    copy_planar(&buf, &mut self.staging, skip, keep);
                    self.good_packets += 1;
                    self.check_spec(spec_rate, &spec_channels)?;
                    if keep == 0 {
                        continue;
                    }
                    self.sanitize(keep);
                    self.staged_pos = 0;
                    self.staged_len = keep;
                    self.frames_produced += keep as u64;
                    return Ok(true);
                }
                Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                    // "Skip this packet": keep time by putting silence in its place.
                    self.note_bad_packet(Some(&packet))?;
                }
                Err(SymError::ResetRequired) => return Err(self.format_changed_unknown()),
                Err(SymError::Unsupported(feature)) => {
                    return Err(DecodeError::UnsupportedFeature {
                        codec: self.info.codec.clone(),
                        feature: feature.to_string(),
                    });
                }
                Err(other) => return Err(DecodeError::Corrupt(other.to_string())),
            }
        }
    }

    /// FLAC frames carry their position, and the FLAC demuxer drops a frame that fails its
    /// CRC without a word: a jump in timestamps is a lost frame, replaced by silence.
    fn track_gap(&mut self, packet: &Packet) -> Result<(), DecodeError> {
        if !self.frame_timestamps {
            return Ok(());
        }
        let pts = packet.pts.get();
        if let Some(expected) = self.next_pts {
            if pts > expected {
                let gap = (pts - expected) as u64;
                let per_packet = packet.block_dur().get().max(1);
                self.note_lost(gap.div_ceil(per_packet), gap)?;
            }
        }
        self.next_pts = pts.checked_add_unsigned(packet.block_dur().get());
        Ok(())
    }

    /// Looks for bytes the demuxer skipped before this packet.
    fn track_junk(&mut self, packet: &Packet) {
        let Some(finder) = self.junk.as_mut() else {
            return;
        };
        let skipped = match finder.next(&packet.data) {
            Some(skipped) => skipped,
            None => {
                // Lost track of the frames (should not happen): stop looking.
                self.junk = None;
                return;
            }
        };
        let first = !self.seen_packet;
        self.seen_packet = true;
        if skipped == 0 || first {
            return;
        }
        let at_s = self.seconds(self.frames_produced);
        if self.junk_runs == 0 {
            self.junk_first_s = at_s;
        }
        self.junk_last_s = at_s;
        self.junk_runs += 1;
        self.junk_bytes += skipped;
        let place = if self.junk_last_s - self.junk_first_s < 1.0 {
            format!("near {:.1} s", self.junk_first_s)
        } else {
            format!(
                "in {} places between {:.1} s and {:.1} s",
                self.junk_runs, self.junk_first_s, self.junk_last_s
            )
        };
        let text = format!(
            "skipped {} byte{} of junk between {} frames {place} (damaged or spliced file; expect a glitch)",
            self.junk_bytes,
            plural(self.junk_bytes),
            self.info.codec
        );
        set_warning(&mut self.warnings, &mut self.junk_warning, text);
    }

    /// Checks the decoded spec against `info`: the first good packet sets it, later ones must
    /// agree.
    fn check_spec(&mut self, rate: u32, channels: &Channels) -> Result<(), DecodeError> {
        let count = channels.count();
        if self.good_packets == 1 {
            check_rate(rate)?;
            check_channels(count)?;
            if self.info.channels != count || self.info.channel_roles.len() != count {
                self.info.channel_roles = channel_roles(channels);
            }
            self.info.sample_rate = rate;
            self.info.channels = count;
            return Ok(());
        }
        let at_s = self.seconds(self.frames_produced);
        if rate != self.info.sample_rate {
            return Err(DecodeError::FormatChanged {
                what: "sample rate",
                from: format!("{} Hz", self.info.sample_rate),
                to: format!("{rate} Hz"),
                at_s,
            });
        }
        if count != self.info.channels {
            return Err(DecodeError::FormatChanged {
                what: "channel count",
                from: self.info.channels.to_string(),
                to: count.to_string(),
                at_s,
            });
        }
        Ok(())
    }

    fn format_changed_unknown(&self) -> DecodeError {
        DecodeError::FormatChanged {
            what: "stream format",
            from: "as opened".into(),
            to: "different".into(),
            at_s: self.seconds(self.frames_produced),
        }
    }

    /// Replaces NaN/Inf in the first `frames` staged frames with 0 and counts them.
    fn sanitize(&mut self, frames: usize) {
        let mut bad = 0u64;
        for plane in self.staging.iter_mut() {
            for s in plane[..frames].iter_mut() {
                if !s.is_finite() {
                    *s = 0.0;
                    bad += 1;
                }
            }
        }
        if bad > 0 {
            self.non_finite += bad;
            let text = format!(
                "replaced {} NaN/Inf sample{} with silence",
                self.non_finite,
                plural(self.non_finite)
            );
            set_warning(&mut self.warnings, &mut self.nan_warning, text);
        }
    }

    /// Records a packet that could not be decoded; stages silence of its length when that is
    /// known, so later audio stays in time.
    fn note_bad_packet(&mut self, packet: Option<&Packet>) -> Result<(), DecodeError> {
        let fill = packet.map_or(0, |p| p.dur.get());
        self.note_lost(1, fill)
    }

    /// Records `packets` packets lost or undecodable, `fill` frames long: owes that much
    /// silence (unless implausibly long) so later audio stays in time.
    fn note_lost(&mut self, packets: u64, fill: u64) -> Result<(), DecodeError> {
        let at_s = self.seconds(self.frames_produced);
        if self.bad_packets == 0 {
            self.bad_first_s = at_s;
        }
        self.bad_last_s = at_s;
        self.bad_packets += packets;
        let max_fill = u64::from(self.info.sample_rate) * MAX_FILL_S;
        let fill = if fill <= max_fill { fill } else { 0 };
        self.pending_silence += fill;
        self.frames_produced += fill;
        self.filled_frames += fill;
        let n = self.bad_packets;
        let codec = &self.info.codec;
        let place = if self.bad_last_s - self.bad_first_s < 1.0 {
            format!("near {:.1} s", self.bad_first_s)
        } else {
            format!("between {:.1} s and {:.1} s", self.bad_first_s, self.bad_last_s)
        };
        let filled = if self.filled_frames > 0 {
            format!(
                " (replaced by {:.0} ms of silence to keep sync)",
                self.seconds(self.filled_frames) * 1000.0
            )
        } else {
            String::new()
        };
        let text = format!("skipped {n} corrupt {codec} packet{} {place}{filled}", plural(n));
        set_warning(&mut self.warnings, &mut self.bad_warning, text);
        if self.bad_packets >= EARLY_GIVE_UP_BAD && self.bad_packets > 4 * self.good_packets {
            return Err(self.mostly_corrupt());
        }
        Ok(())
    }

    fn mostly_corrupt(&self) -> DecodeError {
        DecodeError::MostlyCorrupt {
            bad: self.bad_packets,
            total: self.bad_packets + self.good_packets,
            codec: self.info.codec.clone(),
        }
    }

    /// End-of-stream checks: too much damage, or fewer frames than a PCM/lossless header
    /// promised. `mid_packet` says the data ran out inside a packet.
    fn end_of_stream(&mut self, mid_packet: bool) -> Result<bool, DecodeError> {
        self.finished = true;
        let decoded = self.frames_produced - self.filled_frames;
        if self.bad_packets > self.good_packets || self.filled_frames > decoded {
            return Err(self.mostly_corrupt());
        }
        let exact = !matches!(self.info.source, SourceFormat::Lossy);
        let held = self.frames_produced;
        if let (true, Some(promised)) = (exact, self.promised_frames) {
            if held < promised {
                return Err(DecodeError::Truncated {
                    promised_s: self.seconds(promised),
                    held_s: self.seconds(held),
                });
            }
        }
        if mid_packet && !self.is_pcm {
            // The riff reader ends every stream of unknown length (a WAV written to a pipe)
            // this way after handing out the partial last packet; elsewhere it means a cut.
            self.warnings.push(format!(
                "the file ends in the middle of a {} packet after {:.1} s; the incomplete last packet was dropped",
                self.info.codec,
                self.seconds(held)
            ));
        }
        Ok(false)
    }
}

/// Maps a probe failure to a message a person can act on.
fn open_error(e: SymError, path: &Path) -> DecodeError {
    match e {
        SymError::Unsupported(what) if what.contains("no suitable format reader") => {
            DecodeError::NotAudio(if looks_like_text(path) {
                " (it looks like a text file)"
            } else {
                ""
            })
        }
        SymError::Unsupported(what) => DecodeError::UnsupportedContainer {
            format: container_of(what),
            what: strip_prefix(what).to_string(),
        },
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Corrupt("the file ends inside its header".into())
        }
        SymError::IoError(e) => DecodeError::Io(e),
        SymError::DecodeError(msg) => DecodeError::Corrupt(format!("malformed header ({})", strip_prefix(msg))),
        SymError::LimitError(msg) => DecodeError::Corrupt(format!("header exceeds a safety limit ({msg})")),
        other => DecodeError::Corrupt(other.to_string()),
    }
}

/// "wav: missing data chunk" → "wav".
fn container_of(msg: &str) -> String {
    match msg.split_once(':') {
        Some((head, _)) if head.len() < 24 => head.trim().to_string(),
        _ => "audio".into(),
    }
}

/// "wav: missing data chunk" → "missing data chunk".
fn strip_prefix(msg: &str) -> &str {
    match msg.split_once(':') {
        Some((head, rest)) if head.len() < 24 => rest.trim(),
        _ => msg,
    }
}

/// True when the first KiB of the file is printable UTF-8 text.
fn looks_like_text(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 1024];
    let n = match File::open(path).and_then(|mut f| f.read(&mut head)) {
        Ok(n) => n,
        Err(_) => return false,
    };
    let text = match std::str::from_utf8(&head[..n]) {
        Ok(t) => t,
        // A multi-byte character cut off by the end of the window is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return false,
    };
    // Too few bytes to tell text from chance.
    n >= 16 && text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

fn check_rate(rate: u32) -> Result<(), DecodeError> {
    if rate == 0 {
        return Err(DecodeError::BadStreamInfo(
            "the header gives a sample rate of 0 Hz".into(),
        ));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(DecodeError::BadStreamInfo(format!(
            "sample rate {rate} Hz is outside the supported range (1 kHz to 768 kHz)"
        )));
    }
    Ok(())
}

fn check_channels(count: usize) -> Result<(), DecodeError> {
    if count == 0 {
        return Err(DecodeError::BadStreamInfo("the header gives 0 channels".into()));
    }
    if count > MAX_CHANNELS {
        return Err(DecodeError::BadStreamInfo(format!(
            "{count} channels is more than the supported {MAX_CHANNELS}"
        )));
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Sets the warning in `slot`, adding it on first use.
fn set_warning(warnings: &mut Vec<String>, slot: &mut Option<usize>, text: String) {
    match *slot {
        Some(i) => warnings[i] = text,
        None => {
            *slot = Some(warnings.len());
            warnings.push(text);
        }
    }
}

/// How many frames to drop at the start and keep, for a decoder output of `frames` frames.
/// Decoders that honour gapless trimming return `packet.dur` frames; one that returned the
/// whole block gets trimmed here.
fn trim_for(packet: &Packet, frames: usize) -> (usize, usize) {
    let dur = packet.dur.get();
    let start = packet.trim_start.get();
    let end = packet.trim_end.get();
    if (start > 0 || end > 0) && frames as u64 == packet.block_dur().get() && frames as u64 > dur {
        let skip = (start as usize).min(frames);
        (skip, (dur as usize).min(frames - skip))
    } else {
        (0, frames)
    }
}

/// Copies `keep` frames starting at `skip` of a decoded buffer into planar f32 `staging`,
/// reusing its allocations.
fn copy_planar(buf: &GenericAudioBufferRef<'_>, staging: &mut Vec<Vec<f32>>, skip: usize, keep: usize) {
    let channels = buf.num_planes();
    staging.resize(channels, Vec::new());
    for plane in staging.iter_mut() {
        plane.clear();
        plane.resize(keep, 0.0);
    }
    if keep == 0 {
        return;
    }
    if skip == 0 && keep == buf.frames() {
        buf.copy_to_slice_planar::<f32, _>(staging.as_mut_slice());
    } else {
        buf.slice(skip..skip + keep)
            .copy_to_slice_planar::<f32, _>(staging.as_mut_slice());
    }
}

/// One role per channel, in decoded order.
fn channel_roles(channels: &Channels) -> Vec<ChannelRole> {
    let count = channels.count();
    if count == 1 {
        // Mono is mono, whether the container calls it front-left or front-centre.
        return vec![ChannelRole::Center];
    }
    match channels {
        Channels::Positioned(mask) => mask.iter().map(position_role).collect(),
        Channels::Custom(labels) => labels
            .iter()
            .map(|label| match label {
                symphonia::core::audio::ChannelLabel::Positioned(pos) => position_role(*pos),
                _ => ChannelRole::Other,
            })
            .collect(),
        _ => fallback_roles(count),
    }
}

fn fallback_roles(count: usize) -> Vec<ChannelRole> {
    match count {
        1 => vec![ChannelRole::Center],
        2 => vec![ChannelRole::Left, ChannelRole::Right],
        n => vec![ChannelRole::Other; n],
    }
}

fn position_role(pos: Position) -> ChannelRole {
    if pos == Position::FRONT_LEFT {
        ChannelRole::Left
    } else if pos == Position::FRONT_RIGHT {
        ChannelRole::Right
    } else if pos == Position::FRONT_CENTER {
        ChannelRole::Center
    } else if pos == Position::LFE1 || pos == Position::LFE2 {
        ChannelRole::Lfe
    } else if pos == Position::REAR_LEFT || pos == Position::SIDE_LEFT {
        ChannelRole::LeftSurround
    } else if pos == Position::REAR_RIGHT || pos == Position::SIDE_RIGHT {
        ChannelRole::RightSurround
    } else {
        ChannelRole::Other
    }
}

/// What the samples were before decoding.
fn source_format(params: &AudioCodecParameters) -> SourceFormat {
    use codec_ids::*;
    let id = params.codec;
    let bits = params.bits_per_sample;
    let float = [
        CODEC_ID_PCM_F32LE,
        CODEC_ID_PCM_F32LE_PLANAR,
        CODEC_ID_PCM_F32BE,
        CODEC_ID_PCM_F32BE_PLANAR,
    ];
    let double = [
        CODEC_ID_PCM_F64LE,
        CODEC_ID_PCM_F64LE_PLANAR,
        CODEC_ID_PCM_F64BE,
        CODEC_ID_PCM_F64BE_PLANAR,
    ];
    if float.contains(&id) {
        return SourceFormat::PcmFloat { bits: 32 };
    }
    if double.contains(&id) {
        return SourceFormat::PcmFloat { bits: 64 };
    }
    if id == CODEC_ID_PCM_ALAW || id == CODEC_ID_PCM_MULAW {
        // Companded 8-bit; decodes to 16-bit integers.
        return SourceFormat::PcmInt { bits: 16 };
    }
    if let Some(width) = pcm_int_width(id) {
        return SourceFormat::PcmInt {
            bits: bits.unwrap_or(width).clamp(1, width),
        };
    }
    let lossless = [
        CODEC_ID_FLAC,
        CODEC_ID_ALAC,
        CODEC_ID_WAVPACK,
        CODEC_ID_MONKEYS_AUDIO,
        CODEC_ID_TTA,
        CODEC_ID_TRUEHD,
    ];
    if lossless.contains(&id) {
        return SourceFormat::PcmInt {
            bits: bits.unwrap_or(16).clamp(1, 32),
        };
    }
    SourceFormat::Lossy
}

/// Container width in bits of an integer PCM codec.
fn pcm_int_width(id: AudioCodecId) -> Option<u32> {
    use codec_ids::*;
    let table: [(AudioCodecId, u32); 24] = [
        (CODEC_ID_PCM_S32LE, 32),
        (CODEC_ID_PCM_S32LE_PLANAR, 32),
        (CODEC_ID_PCM_S32BE, 32),
        (CODEC_ID_PCM_S32BE_PLANAR, 32),
        (CODEC_ID_PCM_U32LE, 32),
        (CODEC_ID_PCM_U32LE_PLANAR, 32),
        (CODEC_ID_PCM_U32BE, 32),
        (CODEC_ID_PCM_U32BE_PLANAR, 32),
        (CODEC_ID_PCM_S24LE, 24),
        (CODEC_ID_PCM_S24LE_PLANAR, 24),
        (CODEC_ID_PCM_S24BE, 24),
        (CODEC_ID_PCM_S24BE_PLANAR, 24),
        (CODEC_ID_PCM_U24LE, 24),
        (CODEC_ID_PCM_U24LE_PLANAR, 24),
        (CODEC_ID_PCM_U24BE, 24),
        (CODEC_ID_PCM_U24BE_PLANAR, 24),
        (CODEC_ID_PCM_S16LE, 16),
        (CODEC_ID_PCM_S16LE_PLANAR, 16),
        (CODEC_ID_PCM_S16BE, 16),
        (CODEC_ID_PCM_S16BE_PLANAR, 16),
        (CODEC_ID_PCM_U16LE, 16),
        (CODEC_ID_PCM_U16LE_PLANAR, 16),
        (CODEC_ID_PCM_U16BE, 16),
        (CODEC_ID_PCM_U16BE_PLANAR, 16),
    ];
    if [
        CODEC_ID_PCM_S8,
        CODEC_ID_PCM_S8_PLANAR,
        CODEC_ID_PCM_U8,
        CODEC_ID_PCM_U8_PLANAR,
    ]
    .contains(&id)
    {
        return Some(8);
    }
    table.iter().find(|(c, _)| *c == id).map(|&(_, w)| w)
}

/// A short name for a codec, whether or not a decoder for it is built in.
fn codec_name(id: AudioCodecId) -> String {
    use codec_ids::*;
    if let Some(registered) = symphonia::default::get_codecs().get_audio_decoder(id) {
        return registered.codec.info.short_name.to_string();
    }
    let known: &[(AudioCodecId, &str)] = &[
        (CODEC_ID_OPUS, "opus"),
        (CODEC_ID_SPEEX, "speex"),
        (CODEC_ID_MUSEPACK, "musepack"),
        (CODEC_ID_AC3, "ac3"),
        (CODEC_ID_EAC3, "eac3"),
        (CODEC_ID_AC4, "ac4"),
        (CODEC_ID_DCA, "dts"),
        (CODEC_ID_WMA, "wma"),
        (CODEC_ID_ATRAC1, "atrac1"),
        (CODEC_ID_ATRAC3, "atrac3"),
        (CODEC_ID_ATRAC3PLUS, "atrac3plus"),
        (CODEC_ID_ATRAC9, "atrac9"),
        (CODEC_ID_WAVPACK, "wavpack"),
        (CODEC_ID_MONKEYS_AUDIO, "ape"),
        (CODEC_ID_TTA, "tta"),
        (CODEC_ID_TRUEHD, "truehd"),
        (CODEC_ID_ADPCM_G722, "adpcm_g722"),
        (CODEC_ID_ADPCM_G726, "adpcm_g726"),
        (CODEC_ID_ADPCM_G726LE, "adpcm_g726le"),
        (CODEC_ID_SBC, "sbc"),
        (CODEC_ID_APTX, "aptx"),
        (CODEC_ID_LDAC, "ldac"),
        (CODEC_ID_COOK, "cook"),
        (CODEC_ID_MP1, "mp1"),
        (CODEC_ID_MP2, "mp2"),
        (CODEC_ID_MP3, "mp3"),
        (CODEC_ID_AAC, "aac"),
        (CODEC_ID_VORBIS, "vorbis"),
        (CODEC_ID_FLAC, "flac"),
        (CODEC_ID_ALAC, "alac"),
    ];
    if id == symphonia::core::codecs::audio::CODEC_ID_NULL_AUDIO {
        return "unknown (the container does not name it)".into();
    }
    known
        .iter()
        .find(|(c, _)| *c == id)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("unknown codec (id {id})"))
}

/// Follows an MPEG audio file's bytes alongside the demuxer: every packet is a verbatim
/// copy of a frame in the file, so bytes between one packet and the next are junk the
/// demuxer skipped while resynchronising.
mod junk {
    use std::fs::File;
    use std::io::Read;
    use std::path::Path;

    /// Stop looking after this much junk in one run (keeps hostile files cheap).
    const MAX_RUN: u64 = 64 << 20;
    const CHUNK: usize = 64 << 10;

    pub struct JunkFinder {
        file: File,
        /// File bytes from `buf_start`; `cursor` indexes into it.
        buf: Vec<u8>,
        cursor: usize,
        eof: bool,
    }

    impl JunkFinder {
        /// Opens `path`, positioned at its start.
        pub fn open(path: &Path) -> std::io::Result<Self> {
            Ok(JunkFinder {
                file: File::open(path)?,
                buf: Vec::with_capacity(2 * CHUNK),
                cursor: 0,
                eof: false,
            })
        }

        /// Ensures `len` bytes are buffered from the cursor; false at end of file.
        fn fill(&mut self, len: usize) -> bool {
            while self.buf.len() - self.cursor < len {
                if self.eof {
                    return false;
                }
                if self.cursor >= CHUNK {
                    self.buf.drain(..self.cursor);
                    self.cursor = 0;
                }
                let old = self.buf.len();
                self.buf.resize(old + CHUNK, 0);
                match self.file.read(&mut self.buf[old..]) {
                    Ok(0) | Err(_) => {
                        self.buf.truncate(old);
                        self.eof = true;
                    }
                    Ok(n) => self.buf.truncate(old + n),
                }
            }
            true
        }

        /// Finds `frame` at or after the cursor; returns the bytes skipped to reach it, or
        /// `None` if it is not there.
        pub fn next(&mut self, frame: &[u8]) -> Option<u64> {
            let first = *frame.first()?;
            let mut skipped = 0u64;
            loop {
                if !self.fill(frame.len()) || skipped > MAX_RUN {
                    return None;
                }
                let here = &self.buf[self.cursor..];
                if here[0] == first && &here[..frame.len()] == frame {
                    self.cursor += frame.len();
                    return Some(skipped);
                }
                // Jump to the next candidate start byte within what is buffered.
                let step = here[1..].iter().position(|&b| b == first).map_or(here.len(), |i| i + 1);
                let step = step.min(here.len());
                self.cursor += step;
                skipped += step as u64;
            }
        }
    }
}

/// Just enough of ISO BMFF to read one track's edit list: symphonia 0.6 ignores edit lists,
/// so AAC in MP4/M4A would otherwise keep its encoder delay (usually 1024 frames) at the
/// start and its padding at the end.
mod mp4 {
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom};
    use std::path::Path;

    /// Boxes visited before giving up (hostile files).
    const MAX_BOXES: usize = 10_000;

    /// The one media edit of a track.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Edit {
        /// Start of the edit in media time units (`media_timescale`).
        pub media_time: u64,
        pub media_timescale: u32,
        /// Length of the edit in movie time units (`movie_timescale`); 0 = to the end.
        pub duration: u64,
        pub movie_timescale: u32,
    }

    impl Edit {
        pub fn skip_frames(&self, rate: u32) -> u64 {
            scale(self.media_time, rate, self.media_timescale)
        }

        pub fn length_frames(&self, rate: u32) -> Option<u64> {
            (self.duration > 0).then(|| scale(self.duration, rate, self.movie_timescale))
        }
    }

    fn scale(value: u64, rate: u32, timescale: u32) -> u64 {
        let scaled = (u128::from(value) * u128::from(rate) + u128::from(timescale) / 2) / u128::from(timescale.max(1));
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    struct Walker {
        file: File,
        visited: usize,
    }

    impl Walker {
        /// Finds the children of type `kind` in `start..end`: (payload start, payload end).
        fn children(&mut self, start: u64, end: u64, kind: &[u8; 4]) -> Vec<(u64, u64)> {
            let mut found = Vec::new();
            let mut pos = start;
            while pos + 8 <= end && self.visited < MAX_BOXES {
                self.visited += 1;
                let mut head = [0u8; 16];
                if self.file.seek(SeekFrom::Start(pos)).is_err() || self.file.read_exact(&mut head[..8]).is_err() {
                    break;
                }
                let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                let (header, size) = match size32 {
                    0 => (8, end - pos),
                    1 => {
                        if self.file.read_exact(&mut head[8..16]).is_err() {
                            break;
                        }
                        let mut large = [0u8; 8];
                        large.copy_from_slice(&head[8..16]);
                        (16, u64::from_be_bytes(large))
                    }
                    n => (8, u64::from(n)),
                };
                if size < header || pos.saturating_add(size) > end {
                    break;
                }
                if &head[4..8] == kind {
                    found.push((pos + header, pos + size));
                }
                pos += size;
            }
            found
        }

        fn child(&mut self, start: u64, end: u64, kind: &[u8; 4]) -> Option<(u64, u64)> {
            self.children(start, end, kind).into_iter().next()
        }

        fn read(&mut self, at: u64, end: u64, len: usize) -> Option<Vec<u8>> {
            if at.checked_add(len as u64)? > end || len > 1 << 20 {
                return None;
            }
            let mut buf = vec![0u8; len];
            self.file.seek(SeekFrom::Start(at)).ok()?;
            self.file.read_exact(&mut buf).ok()?;
            Some(buf)
        }

        /// Timescale of an `mvhd` or `mdhd` payload.
        fn timescale(&mut self, (start, end): (u64, u64)) -> Option<u32> {
            let version = self.read(start, end, 1)?[0];
            let offset = if version == 1 { 4 + 16 } else { 4 + 8 };
            let b = self.read(start + offset, end, 4)?;
            let ts = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            (ts > 0).then_some(ts)
        }

        /// Track id of a `tkhd` payload.
        fn track_id(&mut self, (start, end): (u64, u64)) -> Option<u32> {
            let version = self.read(start, end, 1)?[0];
            let offset = if version == 1 { 4 + 16 } else { 4 + 8 };
            let b = self.read(start + offset, end, 4)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }

        /// The single media edit in an `elst` payload: (media_time, duration). Empty edits
        /// (delays) and multi-segment lists are not handled: `None`.
        fn single_edit(&mut self, (start, end): (u64, u64)) -> Option<(u64, u64)> {
            let head = self.read(start, end, 8)?;
            let version = head[0];
            let count = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
            let entry_len = if version == 1 { 20 } else { 12 };
            let mut media = None;
            for i in 0..u64::from(count.min(64)) {
                let e = self.read(start + 8 + i * entry_len, end, entry_len as usize)?;
                let (duration, media_time) = if version == 1 {
                    let mut d = [0u8; 8];
                    let mut m = [0u8; 8];
                    d.copy_from_slice(&e[0..8]);
                    m.copy_from_slice(&e[8..16]);
                    (u64::from_be_bytes(d), i64::from_be_bytes(m))
                } else {
                    (
                        u64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
                        i64::from(i32::from_be_bytes([e[4], e[5], e[6], e[7]])),
                    )
                };
                if media_time < 0 || media.is_some() {
                    return None;
                }
                media = Some((media_time as u64, duration));
            }
            media
        }
    }

    /// The edit of track `track_id`, if the file has exactly one media edit for it.
    pub fn edit_for_track(path: &Path, track_id: u32) -> Option<Edit> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut w = Walker { file, visited: 0 };
        let moov = w.child(0, len, b"moov")?;
        let movie_timescale = w.child(moov.0, moov.1, b"mvhd").and_then(|b| w.timescale(b))?;
        for trak in w.children(moov.0, moov.1, b"trak") {
            let Some(tkhd) = w.child(trak.0, trak.1, b"tkhd") else {
                continue;
            };
            if w.track_id(tkhd) != Some(track_id) {
                continue;
            }
            let mdia = w.child(trak.0, trak.1, b"mdia")?;
            let media_timescale = w.child(mdia.0, mdia.1, b"mdhd").and_then(|b| w.timescale(b))?;
            let edts = w.child(trak.0, trak.1, b"edts")?;
            let elst = w.child(edts.0, edts.1, b"elst")?;
            let (media_time, duration) = w.single_edit(elst)?;
            return Some(Edit {
                media_time,
                media_timescale,
                duration,
                movie_timescale,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/formats")
            .join(name)
    }

    struct Decoded {
        info: StreamInfo,
        frames: u64,
        rms_db: Vec<f64>,
        warnings: Vec<String>,
    }

    /// Decodes a whole file in blocks of `block_len` frames.
    fn decode_all(path: &Path, block_len: usize) -> Result<Decoded, DecodeError> {
        let mut dec = Decoder::open(path)?;
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

    fn decode_err(path: &Path) -> String {
        match decode_all(path, 4096) {
            Ok(d) => panic!("{path:?} decoded: {:?}, {} frames", d.info, d.frames),
            Err(e) => e.to_string(),
        }
    }

    /// The fixtures' tone at time `t`.
    fn tone(t: f64) -> f64 {
        use std::f64::consts::TAU;
        0.25 * (TAU * 440.0 * t).sin() + 0.25 * (TAU * 1000.0 * t).sin()
    }

    /// RMS level of the fixtures' tone: 0.25 → −12.04 dBFS.
    const TONE_DB: f64 = -12.041_199_826_559_248;
    /// Right channel of the stereo fixtures is at half level.
    const HALF_DB: f64 = TONE_DB - 6.020_599_913_279_624;

    /// Frames by which the decoded first channel lags the reference tone (searched within
    /// ±`range`; the tone repeats every 25 ms, so keep `range` under 12 ms).
    fn lag(path: &Path, range: i64) -> i64 {
        let mut dec = Decoder::open(path).unwrap();
        let rate = f64::from(dec.info().sample_rate);
        let mut block = vec![vec![0.0f32; 4096]; dec.info().channels];
        let mut samples = Vec::new();
        loop {
            let n = dec.read(&mut block).unwrap();
            if n == 0 {
                break;
            }
            samples.extend_from_slice(&block[0][..n]);
        }
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

    struct Expect {
        file: &'static str,
        rate: u32,
        channels: usize,
        source: SourceFormat,
        codec: &'static str,
        frames: u64,
        /// Allowed difference in frames from `frames`.
        slack: u64,
        rms_db: &'static [f64],
    }

    fn check(e: &Expect) {
        let path = fixture(e.file);
        // 1000 divides no packet size, so reads cross packet boundaries.
        let d = decode_all(&path, 1000).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(d.info.sample_rate, e.rate, "{}", e.file);
        assert_eq!(d.info.channels, e.channels, "{}", e.file);
        assert_eq!(d.info.channel_roles.len(), e.channels, "{}", e.file);
        assert_eq!(d.info.source, e.source, "{}", e.file);
        assert_eq!(d.info.codec, e.codec, "{}", e.file);
        assert!(
            d.frames.abs_diff(e.frames) <= e.slack,
            "{}: {} frames, expected {} ± {}",
            e.file,
            d.frames,
            e.frames,
            e.slack
        );
        assert_eq!(d.rms_db.len(), e.rms_db.len());
        for (ch, (&got, &want)) in d.rms_db.iter().zip(e.rms_db).enumerate() {
            assert!(
                (got - want).abs() < 0.5,
                "{} channel {ch}: RMS {got:.2} dB, expected {want:.2} dB",
                e.file
            );
        }
        assert!(d.warnings.is_empty(), "{}: {:?}", e.file, d.warnings);
        // The block size changes nothing.
        for block_len in [1, 4096] {
            let other = decode_all(&path, block_len).unwrap();
            assert_eq!(other.frames, d.frames, "{}", e.file);
            assert_eq!(other.rms_db, d.rms_db, "{}", e.file);
        }
    }

    fn int(bits: u32) -> SourceFormat {
        SourceFormat::PcmInt { bits }
    }

    #[test]
    fn pcm_and_lossless_fixtures_decode_exactly() {
        let float = SourceFormat::PcmFloat { bits: 32 };
        let cases = [
            ("wav_s16_44k1_mono.wav", 44_100, int(16), "pcm_s16le", 22_050),
            ("wav_s24_48k_mono.wav", 48_000, int(24), "pcm_s24le", 12_000),
            ("wav_s32_48k_mono.wav", 48_000, int(32), "pcm_s32le", 12_000),
            ("wav_f32_48k_mono.wav", 48_000, float, "pcm_f32le", 12_000),
            ("wav_s16_8k_mono.wav", 8_000, int(16), "pcm_s16le", 8_000),
            ("wav_s16_192k_mono.wav", 192_000, int(16), "pcm_s16le", 19_200),
            ("aiff_s16_44k1_mono.aiff", 44_100, int(16), "pcm_s16be", 22_050),
            ("flac_s24_48k_mono.flac", 48_000, int(24), "flac", 24_000),
            ("alac_s16_44k1_mono.m4a", 44_100, int(16), "alac", 22_050),
        ];
        for (file, rate, source, codec, frames) in cases {
            check(&Expect {
                file,
                rate,
                channels: 1,
                source,
                codec,
                frames,
                slack: 0,
                rms_db: &[TONE_DB],
            });
            let info = Decoder::open(&fixture(file)).unwrap().info().clone();
            assert_eq!(info.channel_roles, vec![ChannelRole::Center], "{file}");
            assert_eq!(info.frames, Some(frames), "{file}");
        }
        check(&Expect {
            file: "flac_s16_44k1_stereo.flac",
            rate: 44_100,
            channels: 2,
            source: int(16),
            codec: "flac",
            frames: 44_100,
            slack: 0,
            rms_db: &[TONE_DB, HALF_DB],
        });
    }

    #[test]
    fn integers_are_scaled_by_two_to_the_bits_minus_one() {
        // The 16-bit tone matches the formula to within 1 LSB of 2^-15, sample for sample.
        let mut dec = Decoder::open(&fixture("wav_s16_44k1_mono.wav")).unwrap();
        let mut block = vec![vec![0.0f32; 30_000]];
        assert_eq!(dec.read(&mut block).unwrap(), 22_050);
        for (i, &s) in block[0][..22_050].iter().enumerate() {
            let want = tone(i as f64 / 44_100.0);
            assert!(
                (f64::from(s) - want).abs() <= 1.0 / 32_768.0,
                "frame {i}: {s} vs {want}"
            );
        }
        // The 24-bit one to within 1 LSB of 2^-23.
        let mut dec = Decoder::open(&fixture("wav_s24_48k_mono.wav")).unwrap();
        assert_eq!(dec.read(&mut block).unwrap(), 12_000);
        for (i, &s) in block[0][..12_000].iter().enumerate() {
            let want = tone(i as f64 / 48_000.0);
            assert!((f64::from(s) - want).abs() <= 1.5 / 8_388_608.0, "frame {i}");
        }
    }

    #[test]
    fn lossy_fixtures_are_gapless() {
        let cases: [(&str, usize, &str, &[f64]); 3] = [
            ("mp3_44k1_mono.mp3", 1, "mp3", &[TONE_DB]),
            ("aac_44k1_stereo.m4a", 2, "aac", &[TONE_DB, HALF_DB]),
            ("vorbis_44k1_stereo.ogg", 2, "vorbis", &[TONE_DB, HALF_DB]),
        ];
        for (file, channels, codec, rms_db) in cases {
            check(&Expect {
                file,
                rate: 44_100,
                channels,
                source: SourceFormat::Lossy,
                codec,
                frames: 44_100,
                // "Within a few ms" would do; all three measure exactly 44,100 frames.
                slack: 0,
                rms_db,
            });
            // Encoder delay is removed: the tone sits where it was encoded.
            let lag = lag(&fixture(file), 400);
            assert!(lag.abs() <= 1, "{file}: decoded audio lags by {lag} frames");
        }
    }

    #[test]
    fn adpcm_counts_as_lossy() {
        let d = decode_all(&fixture("adpcm_ima_22k_mono.wav"), 1000).unwrap();
        assert_eq!(d.info.source, SourceFormat::Lossy);
        assert_eq!(d.info.codec, "adpcm_ima_wav");
        assert_eq!((d.info.sample_rate, d.info.channels), (22_050, 1));
        // IMA ADPCM codes whole blocks: the last one is padded.
        assert!(d.frames >= 11_025 && d.frames < 11_025 + 2_048, "{}", d.frames);
        assert!((d.rms_db[0] - TONE_DB).abs() < 0.5, "{:?}", d.rms_db);
    }

    #[test]
    fn five_one_wav_has_roles_in_order() {
        check(&Expect {
            file: "wav_s16_48k_5p1.wav",
            rate: 48_000,
            channels: 6,
            source: int(16),
            codec: "pcm_s16le",
            frames: 2_400,
            slack: 0,
            // Channel k carries the tone at (k + 1) / 6.
            rms_db: &[
                TONE_DB - 15.563,
                TONE_DB - 9.542,
                TONE_DB - 6.021,
                TONE_DB - 3.522,
                TONE_DB - 1.584,
                TONE_DB,
            ],
        });
        let dec = Decoder::open(&fixture("wav_s16_48k_5p1.wav")).unwrap();
        use ChannelRole::*;
        assert_eq!(
            dec.info().channel_roles,
            vec![Left, Right, Center, Lfe, LeftSurround, RightSurround]
        );
    }

    #[test]
    fn roles_from_layouts() {
        use ChannelRole::*;
        let p = |mask: Position| channel_roles(&Channels::Positioned(mask));
        assert_eq!(p(Position::FRONT_LEFT), vec![Center], "mono is centre");
        assert_eq!(p(Position::FRONT_CENTER), vec![Center]);
        assert_eq!(p(Position::FRONT_LEFT | Position::FRONT_RIGHT), vec![Left, Right]);
        assert_eq!(
            p(Position::FRONT_LEFT
                | Position::FRONT_RIGHT
                | Position::FRONT_CENTER
                | Position::LFE1
                | Position::SIDE_LEFT
                | Position::SIDE_RIGHT),
            vec![Left, Right, Center, Lfe, LeftSurround, RightSurround]
        );
        assert_eq!(
            p(Position::FRONT_LEFT | Position::FRONT_RIGHT | Position::TOP_CENTER),
            vec![Left, Right, Other]
        );
        assert_eq!(channel_roles(&Channels::Discrete(2)), vec![Left, Right]);
        assert_eq!(channel_roles(&Channels::Discrete(1)), vec![Center]);
        assert_eq!(channel_roles(&Channels::Discrete(3)), vec![Other; 3]);
    }

    /// Deterministic junk bytes.
    fn junk(len: usize, mut seed: u64) -> Vec<u8> {
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
    fn find_chunk(bytes: &[u8], id: &[u8; 4]) -> usize {
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
        assert_eq!(decode_err(&path), "file is empty (0 bytes)");
    }

    #[test]
    fn missing_file() {
        let err = decode_err(Path::new("/nonexistent/podclean/x.wav"));
        assert!(err.starts_with("could not read the file: "), "{err}");
    }

    #[test]
    fn random_bytes_are_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        for (i, ext) in ["wav", "mp3", "flac", "m4a", "ogg", "aiff"].iter().enumerate() {
            for len in [1, 5, 100, 64 * 1024] {
                let path = dir.path().join(format!("noise{len}.{ext}"));
                std::fs::write(&path, junk(len, 0x9E37_79B9_7F4A_7C15 + i as u64)).unwrap();
                assert_eq!(decode_err(&path), "not a recognised audio format", "{len} bytes .{ext}");
            }
        }
    }

    #[test]
    fn text_file_is_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.wav");
        std::fs::write(&path, "Episode 12 notes\n- intro\n- interview with Zoë\n").unwrap();
        assert_eq!(
            decode_err(&path),
            "not a recognised audio format (it looks like a text file)"
        );
    }

    #[test]
    fn opus_is_an_unsupported_codec() {
        assert_eq!(
            decode_err(&fixture("opus_48k_mono.opus")),
            "unsupported codec: opus (no Opus decoder is built in; convert the file to FLAC or WAV first)"
        );
    }

    #[test]
    fn header_only_wav_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("wav_s16_44k1_mono.wav")).unwrap();
        let data = find_chunk(&bytes, b"data");
        let path = dir.path().join("header.wav");
        std::fs::write(&path, &bytes[..data + 8]).unwrap();
        assert_eq!(
            decode_err(&path),
            "truncated: header promises 0.5 s of audio, file holds 0.0 s"
        );
        // A WAV cut inside its header.
        std::fs::write(&path, &bytes[..30]).unwrap();
        assert_eq!(decode_err(&path), "corrupt stream: the file ends inside its header");
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
            decode_err(&path),
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
            decode_err(&path),
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
    fn truncated_flac_fails() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        let path = dir.path().join("cut.flac");
        std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
        let err = decode_err(&path);
        assert!(
            err.starts_with("truncated: header promises 1.0 s of audio, file holds 0.4 s"),
            "{err}"
        );
    }

    /// Offsets of FLAC frame headers (fixed-blocksize sync code 0xFFF8).
    fn flac_frames(bytes: &[u8]) -> Vec<usize> {
        (0..bytes.len() - 1)
            .filter(|&i| bytes[i] == 0xFF && bytes[i + 1] == 0xF8)
            .collect()
    }

    #[test]
    fn flac_with_a_damaged_frame_keeps_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        let frames = flac_frames(&bytes);
        assert!(frames.len() >= 9, "{frames:?}");
        bytes[frames[3] + 200] ^= 0x5A;
        let path = dir.path().join("damaged.flac");
        std::fs::write(&path, &bytes).unwrap();
        let d = decode_all(&path, 1000).unwrap();
        assert_eq!(d.frames, 44_100, "the lost frame became silence");
        assert_eq!(
            d.warnings,
            ["skipped 1 corrupt flac packet near 0.3 s (replaced by 104 ms of silence to keep sync)"]
        );
    }

    #[test]
    fn flac_that_is_mostly_damaged_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        for (k, &at) in flac_frames(&bytes).iter().enumerate() {
            if k % 8 != 0 {
                bytes[at + 200] ^= 0x5A;
            }
        }
        let path = dir.path().join("wrecked.flac");
        std::fs::write(&path, &bytes).unwrap();
        let err = decode_err(&path);
        assert!(err.starts_with("stream is mostly corrupt: "), "{err}");
    }

    #[test]
    fn mp3_with_garbage_spliced_in_decodes_with_warning() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("mp3_44k1_mono.mp3")).unwrap();
        let mid = bytes.len() / 2;
        let mut spliced = bytes[..mid].to_vec();
        spliced.extend(junk(3000, 42));
        spliced.extend_from_slice(&bytes[mid..]);
        let path = dir.path().join("spliced.mp3");
        std::fs::write(&path, &spliced).unwrap();
        let d = decode_all(&path, 4096).unwrap();
        assert_eq!(d.frames, 44_100);
        assert_eq!(
            d.warnings,
            ["skipped 3000 bytes of junk between mp3 frames near 0.4 s (damaged or spliced file; expect a glitch)"]
        );
        // The untouched file has no such warning (its ID3 tag and Xing frame are not junk).
        assert!(decode_all(&fixture("mp3_44k1_mono.mp3"), 4096)
            .unwrap()
            .warnings
            .is_empty());
    }

    #[test]
    fn truncated_mp3_decodes_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("mp3_44k1_mono.mp3")).unwrap();
        let path = dir.path().join("cut.mp3");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let d = decode_all(&path, 4096).unwrap();
        assert!(d.frames > 10_000 && d.frames < 30_000, "{}", d.frames);
    }

    fn write_float_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
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

    #[test]
    fn float_wav_with_nan_and_inf_is_sanitized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.wav");
        let mut samples = vec![0.5f32; 4_800];
        samples[100] = f32::NAN;
        samples[201] = f32::INFINITY;
        samples[4_000] = f32::NEG_INFINITY;
        write_float_wav(&path, 48_000, 2, &samples);
        let mut dec = Decoder::open(&path).unwrap();
        let mut block = vec![vec![0.0f32; 4_800]; 2];
        assert_eq!(dec.read(&mut block).unwrap(), 2_400);
        assert_eq!(dec.read(&mut block).unwrap(), 0);
        assert_eq!(block[0][50], 0.0); // interleaved sample 100 → frame 50, left
        assert_eq!(block[1][100], 0.0); // 201 → frame 100, right
        assert_eq!(block[0][2_000], 0.0);
        assert_eq!(block[0][51], 0.5);
        let finite = block.iter().all(|p| p[..2_400].iter().all(|s| s.is_finite()));
        assert!(finite);
        assert_eq!(dec.warnings(), ["replaced 3 NaN/Inf samples with silence"]);
    }

    #[test]
    fn sample_rate_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rate.wav");
        for (rate, ok) in [(500, false), (1_000, true), (768_000, true), (1_000_000, false)] {
            write_float_wav(&path, rate, 1, &[0.0; 64]);
            match decode_all(&path, 64) {
                Ok(d) => assert!(ok && d.info.sample_rate == rate, "{rate}"),
                Err(e) => {
                    assert!(!ok, "{rate}: {e}");
                    assert_eq!(
                        e.to_string(),
                        format!("sample rate {rate} Hz is outside the supported range (1 kHz to 768 kHz)")
                    );
                }
            }
        }
    }

    #[test]
    fn too_many_channels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.wav");
        write_float_wav(&path, 48_000, 40, &[0.0; 400]);
        let err = decode_err(&path);
        assert!(err.contains("channel"), "{err}");
    }

    #[test]
    fn zero_sample_rate_and_zero_channels_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let good = std::fs::read(fixture("wav_s16_8k_mono.wav")).unwrap();
        let fmt = find_chunk(&good, b"fmt ");
        let path = dir.path().join("zero.wav");
        let mut bytes = good.clone();
        bytes[fmt + 12..fmt + 16].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = decode_err(&path);
        assert!(err.contains("sample rate"), "{err}");
        let mut bytes = good;
        bytes[fmt + 10..fmt + 12].copy_from_slice(&0u16.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = decode_err(&path);
        assert!(err.contains("channel"), "{err}");
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

    #[test]
    fn a_panic_inside_symphonia_becomes_a_corrupt_file_error() {
        // Found by `cargo fuzz`: an extensible WAV header whose channel count overflows
        // symphonia's channel-mask fix-up (a shift overflow panic).
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/wav-309-channels.wav");
        let err = Decoder::open(&path).map(|_| ()).unwrap_err();
        assert!(err.to_string().starts_with("corrupt stream"), "{err}");
    }
}
