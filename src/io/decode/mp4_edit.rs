//! MP4 container quirk: symphonia 0.6 ignores edit lists, which is where AAC's encoder delay
//! is declared, and counts frames from `mdhd` alone. Just enough ISO BMFF to read each
//! track's edit list and media length, and to turn them into frames to skip and to keep.

use std::io::{Read, Seek, SeekFrom};

/// Boxes visited before giving up (hostile files).
const MAX_BOXES: usize = 10_000;
/// Edit list entries read at most.
const MAX_EDITS: u32 = 64;

/// What the container says about one track's timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TrackTiming {
    pub track_id: u32,
    pub movie_timescale: u32,
    pub media_timescale: u32,
    /// Length of the media in `media_timescale` units (`mdhd`), if stated.
    pub media_duration: Option<u64>,
    pub edit: Edit,
}

/// A track's edit list, as far as audio cares. Empty edits (presentation gaps, used to line
/// tracks up with each other) are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Edit {
    /// No edit list: the whole media is presented.
    None,
    /// One media edit: start `media_time` (media timescale) into the media and present
    /// `duration` (movie timescale; 0 = to the end).
    Single { media_time: u64, duration: u64 },
    /// Several media edits, or a non-1× rate: podclean decodes the track whole.
    Unsupported { segments: u32 },
}

/// Frames to drop from the start of the decoded track and frames to keep, at the decoded rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Trim {
    pub skip: u64,
    pub length: Option<u64>,
}

impl TrackTiming {
    /// The trim for a track decoded at `rate`.
    ///
    /// The edit's length is in the movie timescale, usually milliseconds, so writers round the
    /// media's real length to a whole tick (ffmpeg rounds up): taken as exact it cut up to a
    /// tick of real audio or promised audio that is not there (every ALAC file whose length
    /// is not a whole millisecond then read as truncated). Within one tick of the media's own
    /// length (`mdhd`, exact to the frame) the edit is read as "the whole media"; a shorter
    /// edit is a deliberate cut (AAC padding declared by the edit) and is honoured.
    pub fn trim(&self, rate: u32) -> Trim {
        let media_len = self.media_duration.map(|d| scale(d, rate, self.media_timescale));
        let (start, edit_len) = match self.edit {
            Edit::Single { media_time, duration } => (
                scale(media_time, rate, self.media_timescale),
                (duration > 0).then(|| scale(duration, rate, self.movie_timescale)),
            ),
            Edit::None | Edit::Unsupported { .. } => (0, None),
        };
        let available = media_len.map(|m| m.saturating_sub(start));
        let tick = u64::from(rate.div_ceil(self.movie_timescale.max(1)));
        let length = match (edit_len, available) {
            (Some(edit), Some(available)) if edit.saturating_add(tick) >= available => Some(available),
            (Some(edit), _) => Some(edit),
            (None, available) => available,
        };
        Trim { skip: start, length }
    }
}

fn scale(value: u64, rate: u32, timescale: u32) -> u64 {
    let scaled = (u128::from(value) * u128::from(rate) + u128::from(timescale) / 2) / u128::from(timescale.max(1));
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

struct Walker<R> {
    file: R,
    visited: usize,
}

impl<R: Read + Seek> Walker<R> {
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

    fn u32_at(&mut self, at: u64, end: u64) -> Option<u32> {
        let b = self.read(at, end, 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64_at(&mut self, at: u64, end: u64) -> Option<u64> {
        let b = self.read(at, end, 8)?;
        Some(u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// Timescale and duration of an `mvhd` or `mdhd` payload; the duration is `None` when
    /// unknown (0, as fragmented files write, or all ones).
    fn header(&mut self, (start, end): (u64, u64)) -> Option<(u32, Option<u64>)> {
        let version = self.read(start, end, 1)?[0];
        let (timescale, duration) = if version == 1 {
            let ts = self.u32_at(start + 4 + 16, end)?;
            let d = self.u64_at(start + 4 + 20, end)?;
            (ts, (d != 0 && d != u64::MAX).then_some(d))
        } else {
            let ts = self.u32_at(start + 4 + 8, end)?;
            let d = self.u32_at(start + 4 + 12, end)?;
            (ts, (d != 0 && d != u32::MAX).then_some(u64::from(d)))
        };
        (timescale > 0).then_some((timescale, duration))
    }

    /// Track id of a `tkhd` payload.
    fn track_id(&mut self, (start, end): (u64, u64)) -> Option<u32> {
        let version = self.read(start, end, 1)?[0];
        let offset = if version == 1 { 4 + 16 } else { 4 + 8 };
        self.u32_at(start + offset, end)
    }

    /// The media edits of an `elst` payload.
    fn edit_list(&mut self, (start, end): (u64, u64)) -> Option<Edit> {
        let head = self.read(start, end, 8)?;
        let version = head[0];
        let count = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let entry_len: u64 = if version == 1 { 20 } else { 12 };
        let mut media = Vec::new();
        for i in 0..u64::from(count.min(MAX_EDITS)) {
            let e = self.read(start + 8 + i * entry_len, end, entry_len as usize)?;
            let (duration, media_time, rate) = if version == 1 {
                let mut d = [0u8; 8];
                let mut m = [0u8; 8];
                d.copy_from_slice(&e[0..8]);
                m.copy_from_slice(&e[8..16]);
                (u64::from_be_bytes(d), i64::from_be_bytes(m), &e[16..20])
            } else {
                (
                    u64::from(u32::from_be_bytes([e[0], e[1], e[2], e[3]])),
                    i64::from(i32::from_be_bytes([e[4], e[5], e[6], e[7]])),
                    &e[8..12],
                )
            };
            if media_time == -1 {
                continue; // an empty edit: a gap before this track in the presentation
            }
            if media_time < 0 || rate != [0, 1, 0, 0] {
                return Some(Edit::Unsupported { segments: count });
            }
            media.push((media_time as u64, duration));
        }
        Some(match media[..] {
            [] => Edit::None,
            [(media_time, duration)] => Edit::Single { media_time, duration },
            _ => Edit::Unsupported { segments: count },
        })
    }
}

/// The timing of every track in the file's `moov` box (none if there is no readable one).
pub(super) fn scan<R: Read + Seek>(mut file: R) -> Vec<TrackTiming> {
    let Ok(len) = file.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let mut w = Walker { file, visited: 0 };
    let mut tracks = Vec::new();
    let Some(moov) = w.child(0, len, b"moov") else {
        return tracks;
    };
    let Some((movie_timescale, _)) = w.child(moov.0, moov.1, b"mvhd").and_then(|b| w.header(b)) else {
        return tracks;
    };
    for trak in w.children(moov.0, moov.1, b"trak") {
        let Some(track_id) = w.child(trak.0, trak.1, b"tkhd").and_then(|b| w.track_id(b)) else {
            continue;
        };
        let Some(mdia) = w.child(trak.0, trak.1, b"mdia") else {
            continue;
        };
        let Some((media_timescale, media_duration)) = w.child(mdia.0, mdia.1, b"mdhd").and_then(|b| w.header(b)) else {
            continue;
        };
        let edit = w
            .child(trak.0, trak.1, b"edts")
            .and_then(|edts| w.child(edts.0, edts.1, b"elst"))
            .map_or(Some(Edit::None), |elst| w.edit_list(elst))
            .unwrap_or(Edit::Unsupported { segments: 0 });
        tracks.push(TrackTiming {
            track_id,
            movie_timescale,
            media_timescale,
            media_duration,
            edit,
        });
    }
    tracks
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn timing(movie_timescale: u32, media_duration: Option<u64>, edit: Edit) -> TrackTiming {
        TrackTiming {
            track_id: 1,
            movie_timescale,
            media_timescale: 44_100,
            media_duration,
            edit,
        }
    }

    #[test]
    fn an_edit_within_one_tick_of_the_media_means_the_whole_media() {
        // ALAC, 392,506 frames; ffmpeg rounds the edit up to 8,901 ms (392,534 frames).
        let alac = timing(
            1000,
            Some(392_506),
            Edit::Single {
                media_time: 0,
                duration: 8_901,
            },
        );
        assert_eq!(
            alac.trim(44_100),
            Trim {
                skip: 0,
                length: Some(392_506)
            }
        );
        // AAC, 16.0104 s: 1024 frames of priming and 706,059 real frames in `mdhd`; the edit
        // rounds them down to 16,010 ms (706,041 frames): the media's length wins.
        let aac = timing(
            1000,
            Some(707_083),
            Edit::Single {
                media_time: 1024,
                duration: 16_010,
            },
        );
        assert_eq!(
            aac.trim(44_100),
            Trim {
                skip: 1024,
                length: Some(706_059)
            }
        );
        // Padding declared by the edit alone (an encoder that pads whole frames): honoured.
        let padded = timing(
            44_100,
            Some(2112 + 44_100 + 1_000),
            Edit::Single {
                media_time: 2112,
                duration: 44_100,
            },
        );
        assert_eq!(
            padded.trim(44_100),
            Trim {
                skip: 2112,
                length: Some(44_100)
            }
        );
    }

    #[test]
    fn unknown_lengths_stay_unknown() {
        let fragmented = timing(1000, None, Edit::None);
        assert_eq!(fragmented.trim(48_000), Trim { skip: 0, length: None });
        let whole = timing(1000, Some(1_000), Edit::Unsupported { segments: 2 });
        assert_eq!(
            whole.trim(44_100),
            Trim {
                skip: 0,
                length: Some(1_000)
            }
        );
        // A media timescale other than the decoded rate scales.
        let mut other = timing(1000, Some(44_100), Edit::None);
        other.media_timescale = 22_050;
        assert_eq!(other.trim(44_100).length, Some(88_200));
    }

    #[test]
    fn scans_the_fixtures() {
        let read = |name: &str| scan(std::fs::File::open(fixture(name)).unwrap());
        assert_eq!(
            read("aac_44k1_stereo.m4a"),
            [TrackTiming {
                track_id: 1,
                movie_timescale: 1000,
                media_timescale: 44_100,
                media_duration: Some(45_124),
                edit: Edit::Single {
                    media_time: 1024,
                    duration: 1000
                },
            }]
        );
        assert!(read("flac_s16_44k1_stereo.flac").is_empty());
    }

    /// Frames of the first channel, and the file's whole decode.
    fn decode_first_channel(path: &std::path::Path) -> (Vec<f32>, u64) {
        let mut dec = super::super::Decoder::open(path).unwrap();
        let mut block = vec![vec![0.0f32; 4096]; dec.info().channels];
        let mut samples = Vec::new();
        loop {
            let n = dec.read(&mut block).unwrap();
            if n == 0 {
                break;
            }
            samples.extend_from_slice(&block[0][..n]);
        }
        (samples, dec.frames_decoded())
    }

    #[test]
    fn alac_whose_length_is_not_a_whole_millisecond_decodes_fully() {
        // 0.5004 s at 44.1 kHz: 22,068 frames in `mdhd`; the edit rounds up to 501 ms
        // (22,094 frames), which read as "truncated".
        let path = fixture("alac_s16_44k1_mono_odd.m4a");
        let dec = super::super::Decoder::open(&path).unwrap();
        assert_eq!(dec.info().frames, Some(22_068));
        let (samples, frames) = decode_first_channel(&path);
        assert_eq!(frames, 22_068);
        // Lossless: the tone, sample for sample, to the last frame.
        for (i, &s) in samples.iter().enumerate() {
            assert!(
                (f64::from(s) - tone(i as f64 / 44_100.0)).abs() <= 1.0 / 32_768.0,
                "frame {i}"
            );
        }
    }

    #[test]
    fn aac_decodes_to_the_encoded_length_not_the_rounded_edit() {
        // 16.0104 s at 48 kHz: the encoder saw 768,499 frames and declares them in `mdhd`
        // after its 1024 frames of priming; the edit list rounds them down to 16,010 ms
        // (768,480 frames). The decoded length must be the encoded one, and start on time.
        let path = fixture("aac_48k_mono_16s.m4a");
        let dec = super::super::Decoder::open(&path).unwrap();
        assert_eq!(dec.info().frames, Some(768_499));
        let (samples, frames) = decode_first_channel(&path);
        assert_eq!(frames, 768_499);
        let lag = lag_of(&samples, 48_000.0, 48);
        assert!(lag.abs() <= 1, "decoded audio lags by {lag} frames");
        // The last 25 ms (one period of the tone) are still the tone, in place: the error
        // is 24 kb/s codec noise (about −20 dB), not missing audio (−12 dB, the tone itself).
        let end = samples.len();
        let error: f64 = (end - 1200..end)
            .map(|i| (f64::from(samples[i]) - tone(i as f64 / 48_000.0)).powi(2))
            .sum();
        let error_db = 10.0 * (error / 1200.0).log10();
        assert!(error_db < TONE_DB - 5.0, "tail error {error_db:.1} dB");
    }
}
