//! Opening a file: probing its format (the extension is only a hint), choosing the audio
//! track, checking the facts podclean depends on (codec, rate, channels) before any audio is
//! decoded, and what those facts mean downstream (source format, channel roles, codec name).

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{AudioCodecId, AudioCodecParameters, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::{FORMAT_ID_ISOMP4, FORMAT_ID_MP1, FORMAT_ID_MP2, FORMAT_ID_MP3};
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use super::super::{ChannelRole, SourceFormat, StreamInfo};
use super::input::{Cursor, Input};
use super::{damage, mp3_junk, mp4_edit, wav, DecodeError, Decoder};

/// Lowest and highest sample rates accepted.
pub(super) const MIN_RATE: u32 = 1_000;
pub(super) const MAX_RATE: u32 = 768_000;
/// Most channels accepted: as many as the loudness meter measures.
pub(super) const MAX_CHANNELS: usize = 32;

/// What [`from_reader`] needs besides the demuxer.
#[derive(Default)]
struct Extras {
    /// MP4: lengths come from the timing of each track, not from symphonia's frame counts
    /// (which include the encoder delay, or are 0 in fragmented files).
    mp4: bool,
    mp4_tracks: Vec<mp4_edit::TrackTiming>,
    junk: Option<mp3_junk::JunkFinder<Cursor>>,
    /// Oddities of the container, said once.
    warnings: Vec<String>,
}

/// Probes `input` and returns a decoder positioned after its first good packet.
pub(super) fn open(input: Input, extension: Option<&str>) -> Result<Decoder, DecodeError> {
    if input.len() == 0 {
        return Err(DecodeError::Empty);
    }
    let mut extras = Extras::default();
    let reader: Box<dyn FormatReader> = match wav::open(&input)? {
        wav::Opened::Pcm { reader, warnings } => {
            extras.warnings = warnings;
            Box::new(reader)
        }
        wav::Opened::NotWave | wav::Opened::Compressed => {
            let mss = MediaSourceStream::new(Box::new(input.cursor()), MediaSourceStreamOptions::default());
            let mut hint = Hint::new();
            if let Some(ext) = extension {
                hint.with_extension(ext);
            }
            symphonia::default::get_probe()
                .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
                .map_err(|e| open_error(e, &input))?
        }
    };
    let format = reader.format_info().format;
    if [FORMAT_ID_MP3, FORMAT_ID_MP2, FORMAT_ID_MP1].contains(&format) {
        // The MPEG audio demuxer skips junk between frames silently; look for it ourselves.
        extras.junk = Some(mp3_junk::JunkFinder::new(input.cursor()));
    }
    if format == FORMAT_ID_ISOMP4 {
        extras.mp4 = true;
        extras.mp4_tracks = mp4_edit::scan(input.cursor());
    }
    from_reader(reader, extras)
}

fn from_reader(reader: Box<dyn FormatReader>, extras: Extras) -> Result<Decoder, DecodeError> {
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
    let track_time_base = track.time_base;
    let timing = extras.mp4_tracks.into_iter().find(|t| t.track_id == track_id);
    // For MP4 the length comes from the track's timing once the decoded rate is known.
    let promised = if extras.mp4 { None } else { track.num_frames };
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
    // A rate of 0 in the container is left to the codec: MP4 sample entries hold rates
    // only up to 65,535 Hz, so 88.2/96 kHz AAC says 0 there and the real rate in its own
    // configuration. The decoded rate is checked after the first packet.
    if let Some(rate) = params.sample_rate.filter(|&r| r > 0) {
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
    let mut damage = damage::Damage::default();
    if let Some(mp4_edit::Edit::Unsupported { segments }) = timing.as_ref().map(|t| t.edit) {
        damage.warn(format!(
            "the MP4 edit list ({segments} entries) was not applied: the track was decoded whole"
        ));
    }
    for warning in extras.warnings {
        damage.warn(warning);
    }
    let mut decoder = Decoder {
        reader,
        decoder,
        track_id,
        info,
        promised_frames: promised,
        staging: Vec::new(),
        staged_pos: 0,
        staged_len: 0,
        timing,
        trim: mp4_edit::Trim::default(),
        pending_silence: 0,
        frames_produced: 0,
        frames_delivered: 0,
        poisoned: false,
        damage,
        is_pcm,
        frame_timestamps: params.codec == codec_ids::CODEC_ID_FLAC
            && track_time_base.is_some()
            && track_time_base == params.sample_rate.and_then(TimeBase::try_from_recip),
        next_pts: None,
        junk: extras.junk,
        seen_packet: false,
        finished: false,
    };
    decoder.prime()?;
    Ok(decoder)
}

impl Decoder {
    /// Decodes until the first good packet (or the end), then checks `info` from what the
    /// decoder really produced.
    fn prime(&mut self) -> Result<(), DecodeError> {
        while self.damage.good_packets() == 0 && self.decode_next()? {}
        if self.info.sample_rate == 0 {
            return Err(DecodeError::Corrupt("the stream does not state its sample rate".into()));
        }
        check_rate(self.info.sample_rate)?;
        if self.info.channels == 0 {
            return Err(DecodeError::Corrupt("the stream has no channels (0)".into()));
        }
        check_channels(self.info.channels)?;
        Ok(())
    }
}

/// Maps a probe failure to a message a person can act on.
fn open_error(e: SymError, input: &Input) -> DecodeError {
    match e {
        SymError::Unsupported(what) if what.contains("no suitable format reader") => {
            DecodeError::NotAudio(if looks_like_text(input) {
                " (it looks like a text file)"
            } else {
                ""
            })
        }
        SymError::Unsupported(what) if what.contains("caf: unsupported channel count") => {
            match caf_channels(input) {
                // Symphonia's CAF reader names at most 28 speaker positions.
                Some(count) => DecodeError::UnsupportedChannels {
                    count: u64::from(count),
                    max: MAX_CHANNELS.min(28),
                    reader: " from CAF; convert the file to WAV first",
                },
                None => DecodeError::UnsupportedContainer {
                    format: "caf".into(),
                    what: strip_prefix(what).to_string(),
                },
            }
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

/// The channel count in a CAF file's `desc` chunk (which must come first).
fn caf_channels(input: &Input) -> Option<u32> {
    let mut head = [0u8; 48];
    if input.read_at(&mut head, 0).ok()? < 48 || &head[0..4] != b"caff" || &head[8..12] != b"desc" {
        return None;
    }
    Some(u32::from_be_bytes([head[44], head[45], head[46], head[47]]))
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
fn looks_like_text(input: &Input) -> bool {
    let mut head = [0u8; 1024];
    let n = match input.read_at(&mut head, 0) {
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

pub(super) fn check_rate(rate: u32) -> Result<(), DecodeError> {
    if rate == 0 {
        return Err(DecodeError::Corrupt("the header gives a sample rate of 0 Hz".into()));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(DecodeError::UnsupportedRate { rate });
    }
    Ok(())
}

pub(super) fn check_channels(count: usize) -> Result<(), DecodeError> {
    if count == 0 {
        return Err(DecodeError::Corrupt("the header gives 0 channels".into()));
    }
    if count > MAX_CHANNELS {
        return Err(DecodeError::UnsupportedChannels {
            count: count as u64,
            max: MAX_CHANNELS,
            reader: "",
        });
    }
    Ok(())
}

/// One role per channel, in decoded order.
pub(super) fn channel_roles(channels: &Channels) -> Vec<ChannelRole> {
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

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn the_channel_limit_is_the_meters() {
        assert_eq!(MAX_CHANNELS, crate::loudness::MAX_CHANNELS);
    }

    #[test]
    fn random_bytes_are_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        for (i, ext) in ["wav", "mp3", "flac", "m4a", "ogg", "aiff"].iter().enumerate() {
            for len in [1, 5, 100, 64 * 1024] {
                let path = dir.path().join(format!("noise{len}.{ext}"));
                std::fs::write(&path, junk(len, 0x9E37_79B9_7F4A_7C15 + i as u64)).unwrap();
                let err = decode_err(&path);
                assert_eq!(err.to_string(), "not a recognised audio format", "{len} bytes .{ext}");
                assert_eq!(err.kind(), DecodeErrorKind::NotAudio);
            }
        }
    }

    #[test]
    fn text_file_is_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.wav");
        std::fs::write(&path, "Episode 12 notes\n- intro\n- interview with Zoë\n").unwrap();
        assert_eq!(
            decode_err(&path).to_string(),
            "not a recognised audio format (it looks like a text file)"
        );
    }

    #[test]
    fn opus_is_an_unsupported_codec() {
        let err = decode_err(&fixture("opus_48k_mono.opus"));
        assert_eq!(
            err.to_string(),
            "unsupported codec: opus (no Opus decoder is built in; convert the file to FLAC or WAV first)"
        );
        assert_eq!(err.kind(), DecodeErrorKind::UnsupportedCodec);
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
                        format!("unsupported: sample rate {rate} Hz (podclean reads 1 kHz to 768 kHz)")
                    );
                    assert_eq!(e.kind(), DecodeErrorKind::UnsupportedRate);
                }
            }
        }
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
        assert_eq!(
            err.to_string(),
            "corrupt stream: the header gives a sample rate of 0 Hz"
        );
        let mut bytes = good;
        bytes[fmt + 10..fmt + 12].copy_from_slice(&0u16.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = decode_err(&path);
        assert_eq!(err.to_string(), "corrupt stream: the header gives 0 channels");
        assert_eq!(err.kind(), DecodeErrorKind::Corrupt);
    }

    /// A minimal CAF file: `desc` for 16-bit big-endian PCM, then `data`.
    fn caf(channels: u32, frames: usize) -> Vec<u8> {
        let mut b = b"caff\x00\x01\x00\x00".to_vec();
        b.extend_from_slice(b"desc");
        b.extend_from_slice(&32u64.to_be_bytes());
        b.extend_from_slice(&48_000f64.to_be_bytes());
        b.extend_from_slice(b"lpcm");
        b.extend_from_slice(&2u32.to_be_bytes()); // flags: signed integer, big-endian
        b.extend_from_slice(&(2 * channels).to_be_bytes()); // bytes per packet
        b.extend_from_slice(&1u32.to_be_bytes()); // frames per packet
        b.extend_from_slice(&channels.to_be_bytes());
        b.extend_from_slice(&16u32.to_be_bytes());
        let data_len = 2 * channels as usize * frames;
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(4 + data_len as u64).to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes()); // edit count
        b.extend(std::iter::repeat_n(0u8, data_len));
        b
    }

    #[test]
    fn unsupported_channel_counts_are_named_in_every_container() {
        let dir = tempfile::tempdir().unwrap();
        // CAF: symphonia's reader stops at 28 speaker positions.
        let path = dir.path().join("many.caf");
        std::fs::write(&path, caf(2, 100)).unwrap();
        assert_eq!(decode_all(&path, 64).unwrap().info.channels, 2, "the CAF writer works");
        std::fs::write(&path, caf(30, 100)).unwrap();
        let err = decode_err(&path);
        assert_eq!(err.kind(), DecodeErrorKind::UnsupportedChannels);
        assert_eq!(
            err.to_string(),
            "unsupported: 30 channels (podclean reads at most 28 from CAF; convert the file to WAV first)"
        );
        // WAV, plain and extensible (hound writes more than two channels as extensible).
        let path = dir.path().join("many.wav");
        write_float_wav(&path, 48_000, 40, &[0.0; 400]);
        let err = decode_err(&path);
        assert_eq!(err.kind(), DecodeErrorKind::UnsupportedChannels);
        assert_eq!(err.to_string(), "unsupported: 40 channels (podclean reads at most 32)");
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
    fn aac_at_96_khz_takes_its_rate_from_the_codec() {
        // The MP4 sample entry holds rates up to 65,535 Hz; ffmpeg writes 0 there for 96 kHz
        // and the real rate in the AAC configuration.
        let d = decode_all(&fixture("aac_96k_mono.m4a"), 4096).unwrap();
        assert_eq!(d.info.sample_rate, 96_000);
        assert_eq!(d.frames, 9_600);
        assert_eq!(d.info.frames, Some(9_600));
        assert!((d.rms_db[0] - TONE_DB).abs() < 0.5, "{:?}", d.rms_db);
    }
}
