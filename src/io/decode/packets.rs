//! The packet loop: demux, decode, trim (gapless and MP4 edits), copy to planar f32 and hand
//! out in blocks of any size; lost packets become silence so later audio keeps its time.

use symphonia::core::audio::{Channels, GenericAudioBufferRef};
use symphonia::core::errors::Error as SymError;
use symphonia::core::packet::Packet;

use super::super::SourceFormat;
use super::probe::{channel_roles, check_channels, check_rate};
use super::{DecodeError, Decoder};

impl Decoder {
    pub(super) fn read_unguarded(&mut self, block: &mut [Vec<f32>]) -> Result<usize, DecodeError> {
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

    fn seconds(&self, frames: u64) -> f64 {
        if self.info.sample_rate == 0 {
            0.0
        } else {
            frames as f64 / self.info.sample_rate as f64
        }
    }

    /// Reads and decodes packets until one yields frames into `staging`. Returns false at
    /// the end of the stream (after the end-of-stream checks passed).
    pub(super) fn decode_next(&mut self) -> Result<bool, DecodeError> {
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
                    self.note_lost(1, 0)?;
                    if self.damage.bad_packets() > 10_000 {
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
                    if let Some(timing) = self.timing.take() {
                        // The MP4 edit, now that the decoded rate is known.
                        self.trim = timing.trim(spec_rate);
                        self.promised_frames = self.trim.length;
                        self.info.frames = self.trim.length;
                    }
                    // Safety net for decoders that do not apply the packet's gapless trim.
                    let (mut skip, mut keep) = trim_for(&packet, frames);
                    if self.trim.skip > 0 {
                        let drop = self.trim.skip.min(keep as u64) as usize;
                        self.trim.skip -= drop as u64;
                        skip += drop;
                        keep -= drop;
                    }
                    if let Some(limit) = self.trim.length {
                        let room = limit.saturating_sub(self.frames_produced);
                        keep = keep.min(room.min(usize::MAX as u64) as usize);
                    }
                    copy_planar(&buf, &mut self.staging, skip, keep);
                    self.damage.good_packet();
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
                    self.note_lost(1, packet.dur.get())?;
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

    /// Looks for bytes the MPEG demuxer skipped before this packet.
    fn track_junk(&mut self, packet: &Packet) {
        let Some(finder) = self.junk.as_mut() else {
            return;
        };
        let Some(skipped) = finder.next(&packet.data) else {
            // Lost track of the frames (should not happen): stop looking.
            self.junk = None;
            return;
        };
        let first = !self.seen_packet;
        self.seen_packet = true;
        if skipped > 0 && !first {
            let at_s = self.seconds(self.frames_produced);
            self.damage.junk(skipped, at_s, &self.info.codec);
        }
    }

    /// Records `packets` packets lost or undecodable, `fill` frames long: owes that much
    /// silence (unless implausibly long) so later audio stays in time.
    fn note_lost(&mut self, packets: u64, fill: u64) -> Result<(), DecodeError> {
        let at_s = self.seconds(self.frames_produced);
        let fill = self
            .damage
            .lost(packets, fill, at_s, self.info.sample_rate, &self.info.codec)?;
        self.pending_silence += fill;
        self.frames_produced += fill;
        Ok(())
    }

    /// Checks the decoded spec against `info`: the first good packet sets it, later ones must
    /// agree.
    fn check_spec(&mut self, rate: u32, channels: &Channels) -> Result<(), DecodeError> {
        let count = channels.count();
        if self.damage.good_packets() == 1 {
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
            self.damage.non_finite(bad);
        }
    }

    /// End-of-stream checks: too much damage, or fewer frames than a PCM/lossless header
    /// promised. `mid_packet` says the data ran out inside a packet.
    fn end_of_stream(&mut self, mid_packet: bool) -> Result<bool, DecodeError> {
        self.finished = true;
        self.damage.check_at_end(self.frames_produced, &self.info.codec)?;
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
            let text = format!(
                "the file ends in the middle of a {} packet after {:.1} s; the incomplete last packet was dropped",
                self.info.codec,
                self.seconds(held)
            );
            self.damage.warn(text);
        }
        Ok(false)
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

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

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
            ("wav_s16_48k_mono_rf64.wav", 48_000, int(16), "pcm_s16le", 12_000),
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

    /// All of a file's first channel.
    fn first_channel(path: &std::path::Path) -> (Vec<f32>, f64) {
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
        (samples, rate)
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
            let (samples, rate) = first_channel(&fixture(file));
            let lag = lag_of(&samples, rate, 400);
            assert!(lag.abs() <= 1, "{file}: decoded audio lags by {lag} frames");
        }
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
    fn truncated_flac_fails() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        let path = dir.path().join("cut.flac");
        std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
        let err = decode_err(&path);
        assert!(
            err.to_string()
                .starts_with("truncated: header promises 1.0 s of audio, file holds 0.4 s"),
            "{err}"
        );
        assert_eq!(err.kind(), DecodeErrorKind::Truncated);
    }
}
