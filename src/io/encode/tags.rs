//! Tags, cover art and chapters carried from an input to its output (through `lofty`): read
//! once from the input (read-only), mapped to the output's tag format, with every item that
//! cannot be carried named in a warning. Loudness-gain tags (ReplayGain, R128, iTunNORM,
//! RVA2) are dropped: the output is already normalized, and a player applying a stale gain
//! would undo that.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use lofty::config::{ParseOptions, ParsingMode, WriteOptions};
use lofty::file::{AudioFile, FileType, TaggedFileExt};
use lofty::flac::FlacFile;
use lofty::id3::v2::{
    ChapterFrame, ChapterTableOfContentsFrame, CtocFlags, Frame, FrameId, FrameList, Id3v2Tag, TextInformationFrame,
};
use lofty::iff::aiff::AiffFile;
use lofty::iff::wav::WavFile;
use lofty::mpeg::MpegFile;
use lofty::ogg::tag::VorbisComments;
use lofty::ogg::{OggPictureStorage, OpusFile, VorbisFile};
use lofty::picture::{Picture, PictureInformation};
use lofty::tag::{ItemKey, Tag, TagExt, TagType};
use lofty::TextEncoding;

/// One chapter: a span of the timeline with an optional title. Times are those of the
/// input, which are those of the output (podclean keeps length and timing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chapter {
    pub start_ms: u32,
    pub end_ms: u32,
    pub title: Option<String>,
}

/// What an input carries, read once before processing.
#[derive(Clone, Default)]
pub struct SourceTags {
    /// The input's ID3v2 tag (MP3, or the `id3 ` chunk of WAV/AIFF), chapters included.
    pub id3: Option<Id3v2Tag>,
    /// The input's Vorbis comments (FLAC, Ogg) and FLAC picture blocks.
    pub vorbis: Option<VorbisComments>,
    /// Every tag of the input in lofty's format-neutral form (text items and pictures).
    pub generic: Option<Tag>,
    pub chapters: Vec<Chapter>,
    /// Gain tags found and dropped (by name).
    pub dropped_gain: Vec<String>,
    /// Problems reading tags (the audio is still processed).
    pub warnings: Vec<String>,
}

/// A RIFF chunk: id and body.
pub type Chunk = ([u8; 4], Vec<u8>);

/// What was written, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// Text fields and pictures written.
    pub tags: usize,
    pub chapters: usize,
    /// Items of the input that the output format cannot hold.
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
}

/// ID3 frames that locate positions in the MPEG stream by byte: meaningless after re-encoding.
const BYTE_INDEX_FRAMES: [&str; 4] = ["MLLT", "SEEK", "ASPI", "RBUF"];

/// The most of an MP4 `moov` box read when looking for chapter lists.
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;

impl std::fmt::Debug for SourceTags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTags")
            .field("id3_frames", &self.id3.as_ref().map(|t| t.len()))
            .field("vorbis_items", &self.vorbis.as_ref().map(|t| t.items().len()))
            .field("generic_items", &self.generic.as_ref().map(|t| t.items().len()))
            .field("chapters", &self.chapters)
            .field("dropped_gain", &self.dropped_gain)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl SourceTags {
    /// Reads the tags of `path` (read-only). Failures become warnings: tags never stop a
    /// file from being processed.
    pub fn read(path: &Path) -> SourceTags {
        let mut tags = std::panic::catch_unwind(|| read_unguarded(path)).unwrap_or_else(|_| SourceTags {
            warnings: vec!["tags not carried: the tag reader could not make sense of the file's tags".into()],
            ..SourceTags::default()
        });
        tags.drop_gain_tags();
        tags
    }

    /// Whether there is anything to carry.
    pub fn is_empty(&self) -> bool {
        self.id3.is_none() && self.vorbis.is_none() && self.generic.as_ref().is_none_or(|t| t.is_empty())
    }

    fn drop_gain_tags(&mut self) {
        let mut dropped = BTreeSet::new();
        if let Some(id3) = &mut self.id3 {
            id3.retain(|frame| {
                let gain = match frame {
                    Frame::UserText(f) => is_gain_name(&f.description),
                    Frame::Comment(f) => f.description.eq_ignore_ascii_case("iTunNORM"),
                    Frame::RelativeVolumeAdjustment(_) => true,
                    other => ["RVAD", "RVA2", "RVA"].contains(&other.id_str()),
                };
                if gain {
                    dropped.insert(match frame {
                        Frame::UserText(f) => format!("TXXX:{}", f.description),
                        Frame::Comment(f) => format!("COMM:{}", f.description),
                        other => other.id_str().to_string(),
                    });
                }
                !gain
            });
        }
        if let Some(vorbis) = &mut self.vorbis {
            let keys: Vec<String> = vorbis
                .items()
                .map(|(k, _)| k.to_string())
                .filter(|k| is_gain_name(k))
                .collect();
            for key in keys {
                let _ = vorbis.remove(&key).count();
                dropped.insert(key);
            }
        }
        // The source's encoder name and settings describe a file that is no longer there.
        if let Some(id3) = &mut self.id3 {
            id3.retain(|f| f.id_str() != "TSSE");
        }
        if let Some(vorbis) = &mut self.vorbis {
            let _ = vorbis.remove("ENCODER").count();
            let _ = vorbis.remove("ENCODER_OPTIONS").count();
        }
        if let Some(generic) = &mut self.generic {
            generic.retain(|item| !matches!(item.key(), ItemKey::EncoderSoftware | ItemKey::EncoderSettings));
            generic.retain(|item| {
                let gain = is_gain_key(item.key());
                if gain {
                    dropped.insert(format!("{:?}", item.key()));
                }
                !gain
            });
        }
        self.dropped_gain = dropped.into_iter().collect();
    }

    /// The ID3v2 tag for an MP3 output (or a WAV `id3 ` chunk): the input's own ID3 tag
    /// when it has one (every frame kept), else its tags mapped to ID3; chapters as
    /// `CHAP`/`CTOC` frames. Empty when there is nothing to write.
    pub fn to_id3(&self, duration_ms: u32) -> (Vec<u8>, Carried) {
        let mut carried = Carried::default();
        let mut id3 = match &self.id3 {
            Some(id3) => {
                let mut id3 = id3.clone();
                // Chapters are rewritten below (their byte offsets point into the old
                // stream); frames that index the old stream by byte go.
                id3.retain(|f| {
                    !matches!(f, Frame::Chapter(_) | Frame::TableOfContents(_))
                        && !BYTE_INDEX_FRAMES.contains(&f.id_str())
                });
                id3
            }
            None => match &self.generic {
                Some(generic) => {
                    let mut generic = generic.clone();
                    generic.retain(|item| !is_chapter_key(item.key()));
                    let id3 = Id3v2Tag::from(generic.clone());
                    carried
                        .warnings
                        .extend(lost_items(&generic, &Tag::from(id3.clone()), "ID3v2"));
                    id3
                }
                None => Id3v2Tag::new(),
            },
        };
        let chapters = clamp_chapters(&self.chapters, duration_ms);
        for (i, chapter) in chapters.iter().enumerate() {
            let mut children = FrameList::new();
            if let Some(title) = &chapter.title {
                children.insert(Frame::Text(TextInformationFrame::new(
                    FrameId::Valid(Cow::Borrowed("TIT2")),
                    TextEncoding::UTF8,
                    title.clone(),
                )));
            }
            id3.insert(Frame::Chapter(ChapterFrame::new(
                format!("chp{i}"),
                chapter.start_ms..chapter.end_ms,
                u32::MAX..u32::MAX,
                children,
            )));
        }
        if !chapters.is_empty() {
            let entries: Vec<Cow<'static, str>> = (0..chapters.len()).map(|i| Cow::Owned(format!("chp{i}"))).collect();
            id3.insert(Frame::TableOfContents(ChapterTableOfContentsFrame::new(
                "toc",
                CtocFlags {
                    top_level: true,
                    ordered: true,
                },
                entries,
                FrameList::new(),
            )));
        }
        carried.chapters = chapters.len();
        carried.tags = id3
            .iter()
            .filter(|f| !matches!(f, Frame::Chapter(_) | Frame::TableOfContents(_)))
            .count();
        self.note_drops(&mut carried);
        if id3.is_empty() {
            return (Vec::new(), carried);
        }
        let mut bytes = Vec::new();
        if let Err(e) = id3.dump_to(&mut bytes, WriteOptions::default()) {
            carried
                .warnings
                .push(format!("tags not carried: cannot write the ID3v2 tag ({e})"));
            carried.tags = 0;
            carried.chapters = 0;
            return (Vec::new(), carried);
        }
        (bytes, carried)
    }

    /// FLAC metadata blocks (type, body): Vorbis comments (chapters as `CHAPTERnnn`
    /// comments) and one PICTURE block per picture.
    pub fn to_flac_blocks(&self, duration_ms: u32) -> (Vec<(u8, Vec<u8>)>, Carried) {
        let mut carried = Carried::default();
        let (mut vorbis, pictures) = match &self.vorbis {
            Some(vorbis) => (vorbis.clone(), vorbis.pictures().to_vec()),
            None => match &self.generic {
                Some(generic) => {
                    let mut generic = generic.clone();
                    generic.retain(|item| !is_chapter_key(item.key()));
                    let vorbis = VorbisComments::from(generic.clone());
                    carried
                        .warnings
                        .extend(lost_items(&generic, &Tag::from(vorbis.clone()), "Vorbis comments"));
                    let pictures = vorbis.pictures().to_vec();
                    (vorbis, pictures)
                }
                None => (VorbisComments::default(), Vec::new()),
            },
        };
        let chapter_keys: Vec<String> = vorbis
            .items()
            .map(|(k, _)| k.to_string())
            .filter(|k| k.to_ascii_uppercase().starts_with("CHAPTER"))
            .collect();
        for key in chapter_keys {
            let _ = vorbis.remove(&key).count();
        }
        let chapters = clamp_chapters(&self.chapters, duration_ms);
        for (i, chapter) in chapters.iter().enumerate() {
            vorbis.push(format!("CHAPTER{:03}", i + 1), format_ms(chapter.start_ms));
            if let Some(title) = &chapter.title {
                vorbis.push(format!("CHAPTER{:03}NAME", i + 1), title.clone());
            }
        }
        carried.chapters = chapters.len();
        let mut blocks = Vec::new();
        let items: Vec<(String, String)> = vorbis.items().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let chapter_items = items
            .iter()
            .filter(|(k, _)| k.to_ascii_uppercase().starts_with("CHAPTER"))
            .count();
        carried.tags = items.len() - chapter_items + pictures.len();
        if !items.is_empty() {
            blocks.push((super::flac::BLOCK_VORBIS_COMMENT, vorbis_comment_body(&items)));
        }
        for (picture, info) in &pictures {
            let body = picture.as_flac_bytes(*info, false);
            if body.len() > super::flac::MAX_BLOCK_LEN {
                carried
                    .warnings
                    .push(format!("picture of {} bytes not carried: too big for FLAC", body.len()));
                carried.tags -= 1;
                continue;
            }
            blocks.push((super::flac::BLOCK_PICTURE, body));
        }
        self.note_drops(&mut carried);
        (blocks, carried)
    }

    /// WAV chunks after the samples: `LIST`/`INFO` (what most WAV readers show) and an
    /// `id3 ` chunk with everything, pictures and chapters included.
    pub fn to_wav_chunks(&self, duration_ms: u32) -> (Vec<Chunk>, Carried) {
        let (id3, carried) = self.to_id3(duration_ms);
        let mut chunks = Vec::new();
        if id3.is_empty() {
            return (chunks, carried);
        }
        let generic = self.generic.clone().unwrap_or_else(|| Tag::new(TagType::Id3v2));
        let info = riff_info_body(&generic);
        if !info.is_empty() {
            chunks.push((*b"LIST", info));
        }
        chunks.push((*b"id3 ", id3));
        (chunks, carried)
    }

    fn note_drops(&self, carried: &mut Carried) {
        carried.warnings.extend(self.warnings.iter().cloned());
        if !self.dropped_gain.is_empty() {
            carried.notes.push(format!(
                "gain tags dropped (the output is already normalized): {}",
                self.dropped_gain.join(", ")
            ));
        }
    }
}

fn read_unguarded(path: &Path) -> SourceTags {
    let mut tags = SourceTags::default();
    let options = ParseOptions::new()
        .read_properties(false)
        .parsing_mode(ParsingMode::Relaxed)
        .max_junk_bytes(1 << 16);
    let tagged = match lofty::probe::Probe::open(path)
        .map_err(|e| e.to_string())
        .and_then(|p| p.options(options).guess_file_type().map_err(|e| e.to_string()))
        .and_then(|p| p.read().map_err(|e| e.to_string()))
    {
        Ok(tagged) => tagged,
        Err(e) => {
            // Formats lofty does not know (RF64, CAF...) simply have no tags for us.
            let unsupported = e.to_lowercase().contains("unsupported");
            if !unsupported {
                tags.warnings.push(format!("tags not carried: {e}"));
            }
            return tags;
        }
    };
    let file_type = tagged.file_type();
    if let Some(primary) = tagged.primary_tag().or_else(|| tagged.first_tag()) {
        let mut generic = primary.clone();
        // Pictures may sit in another tag of the same file (e.g. FLAC picture blocks).
        for other in tagged.tags() {
            if generic.pictures().is_empty() {
                for picture in other.pictures() {
                    generic.push_picture(picture.clone());
                }
            }
        }
        tags.generic = Some(generic);
    }
    let open = || File::open(path);
    let result: Result<(), Box<dyn std::error::Error>> = (|| {
        match file_type {
            FileType::Mpeg => {
                tags.id3 = MpegFile::read_from(&mut open()?, options)?.id3v2().cloned();
            }
            FileType::Wav => tags.id3 = WavFile::read_from(&mut open()?, options)?.id3v2().cloned(),
            FileType::Aiff => tags.id3 = AiffFile::read_from(&mut open()?, options)?.id3v2().cloned(),
            FileType::Flac => {
                let flac = FlacFile::read_from(&mut open()?, options)?;
                let mut vorbis = flac.vorbis_comments().cloned().unwrap_or_default();
                for (picture, info) in flac.pictures() {
                    let _ = vorbis.insert_picture(picture.clone(), Some(*info));
                }
                tags.vorbis = Some(vorbis);
            }
            // Ogg comments map to FLAC's one to one: keep every one of them.
            FileType::Vorbis => {
                tags.vorbis = Some(VorbisFile::read_from(&mut open()?, options)?.vorbis_comments().clone());
            }
            FileType::Opus => {
                tags.vorbis = Some(OpusFile::read_from(&mut open()?, options)?.vorbis_comments().clone());
            }
            FileType::Mp4 if mp4_has_chapters(path) => {
                tags.warnings
                    .push("chapters not carried: MP4 chapter lists cannot be read yet".into());
            }
            _ => {}
        }
        Ok(())
    })();
    if let Err(e) = result {
        tags.warnings.push(format!("tags not carried in full: {e}"));
    }
    if let Some(id3) = &tags.id3 {
        tags.chapters = id3_chapters(id3);
    } else if let Some(vorbis) = &tags.vorbis {
        tags.chapters = vorbis_chapters(vorbis);
    }
    if tags
        .vorbis
        .as_ref()
        .is_some_and(|v| v.is_empty() && v.pictures().is_empty())
    {
        tags.vorbis = None;
    }
    if tags.id3.as_ref().is_some_and(|t| t.is_empty()) {
        tags.id3 = None;
    }
    tags
}

/// The chapters of an ID3v2 tag, in the order of its top-level table of contents (or by
/// start time without one).
fn id3_chapters(id3: &Id3v2Tag) -> Vec<Chapter> {
    let mut chapters: Vec<(String, Chapter)> = id3
        .iter()
        .filter_map(|f| match f {
            Frame::Chapter(c) => Some((
                c.id.to_string(),
                Chapter {
                    start_ms: c.times.start,
                    end_ms: c.times.end,
                    title: c.title().map(str::to_string),
                },
            )),
            _ => None,
        })
        .collect();
    let order: Option<Vec<String>> = id3.iter().find_map(|f| match f {
        Frame::TableOfContents(t) if t.flags.top_level => Some(t.entries.iter().map(|e| e.to_string()).collect()),
        _ => None,
    });
    match order {
        Some(order) if order.len() == chapters.len() => {
            chapters.sort_by_key(|(id, _)| order.iter().position(|o| o == id).unwrap_or(usize::MAX));
        }
        _ => chapters.sort_by_key(|(_, c)| c.start_ms),
    }
    chapters.into_iter().map(|(_, c)| c).collect()
}

/// `CHAPTERnnn=HH:MM:SS.mmm` and `CHAPTERnnnNAME=title` (the Vorbis chapter extension).
fn vorbis_chapters(vorbis: &VorbisComments) -> Vec<Chapter> {
    let mut starts: Vec<(u32, u32, Option<String>)> = Vec::new();
    for (key, value) in vorbis.items() {
        let upper = key.to_ascii_uppercase();
        let Some(rest) = upper.strip_prefix("CHAPTER") else {
            continue;
        };
        if rest.len() == 3 && rest.bytes().all(|b| b.is_ascii_digit()) {
            if let (Ok(n), Some(ms)) = (rest.parse::<u32>(), parse_ms(value)) {
                let title = vorbis.get(&format!("{key}NAME")).map(str::to_string);
                starts.push((n, ms, title));
            }
        }
    }
    starts.sort_by_key(|(n, _, _)| *n);
    let mut chapters: Vec<Chapter> = Vec::new();
    for (i, (_, start, title)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(u32::MAX, |(_, s, _)| *s);
        chapters.push(Chapter {
            start_ms: *start,
            end_ms: end,
            title: title.clone(),
        });
    }
    chapters
}

/// Chapters with open ends closed at the file's end.
fn clamp_chapters(chapters: &[Chapter], duration_ms: u32) -> Vec<Chapter> {
    chapters
        .iter()
        .map(|c| Chapter {
            end_ms: if c.end_ms == u32::MAX {
                duration_ms.max(c.start_ms)
            } else {
                c.end_ms
            },
            ..c.clone()
        })
        .collect()
}

fn parse_ms(text: &str) -> Option<u32> {
    let mut parts = text.trim().split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let seconds: f64 = s.parse().ok()?;
    let total = h.parse::<f64>().ok()? * 3_600.0 + m.parse::<f64>().ok()? * 60.0 + seconds;
    (total >= 0.0 && total < f64::from(u32::MAX) / 1000.0).then(|| (total * 1000.0).round() as u32)
}

fn format_ms(ms: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn is_gain_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["REPLAYGAIN_", "R128_", "MP3GAIN_"]
        .iter()
        .any(|p| upper.starts_with(p))
        || upper == "ITUNNORM"
}

fn is_gain_key(key: ItemKey) -> bool {
    matches!(
        key,
        ItemKey::ReplayGainAlbumGain
            | ItemKey::ReplayGainAlbumPeak
            | ItemKey::ReplayGainTrackGain
            | ItemKey::ReplayGainTrackPeak
    ) || format!("{key:?}").to_ascii_uppercase().contains("REPLAYGAIN")
}

fn is_chapter_key(key: ItemKey) -> bool {
    format!("{key:?}").to_ascii_uppercase().starts_with("CHAPTER")
}

/// Items (by key) and pictures of `source` missing from `mapped`, as warnings.
fn lost_items(source: &Tag, mapped: &Tag, format: &str) -> Vec<String> {
    let have: BTreeSet<String> = mapped.items().map(|i| format!("{:?}", i.key())).collect();
    let lost: BTreeSet<String> = source
        .items()
        .map(|i| format!("{:?}", i.key()))
        .filter(|k| !have.contains(k))
        .collect();
    let mut warnings = Vec::new();
    if !lost.is_empty() {
        warnings.push(format!(
            "tags not carried ({format} has no field for them): {}",
            lost.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let lost_pictures = source.pictures().len().saturating_sub(mapped.pictures().len());
    if lost_pictures > 0 {
        warnings.push(format!("{lost_pictures} picture(s) not carried into {format}"));
    }
    warnings
}

/// A FLAC VORBIS_COMMENT body: vendor, then `key=value` entries, lengths little-endian.
fn vorbis_comment_body(items: &[(String, String)]) -> Vec<u8> {
    let vendor = concat!("podclean ", env!("CARGO_PKG_VERSION"));
    let mut b = Vec::new();
    b.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    b.extend_from_slice(vendor.as_bytes());
    b.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for (key, value) in items {
        let entry = format!("{key}={value}");
        b.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        b.extend_from_slice(entry.as_bytes());
    }
    b
}

/// A `LIST` chunk body of type `INFO` with the fields RIFF INFO has (title, artist, album,
/// date, genre, comment, track); empty when none is set.
fn riff_info_body(tag: &Tag) -> Vec<u8> {
    let fields: [(&[u8; 4], ItemKey); 7] = [
        (b"INAM", ItemKey::TrackTitle),
        (b"IART", ItemKey::TrackArtist),
        (b"IPRD", ItemKey::AlbumTitle),
        (b"ICRD", ItemKey::RecordingDate),
        (b"IGNR", ItemKey::Genre),
        (b"ICMT", ItemKey::Comment),
        (b"ITRK", ItemKey::TrackNumber),
    ];
    let mut body = Vec::new();
    for (id, key) in fields {
        if let Some(text) = tag.get_string(key).filter(|t| !t.is_empty()) {
            let mut value = text.as_bytes().to_vec();
            value.push(0);
            super::wav::push_chunk(&mut body, *id, &value);
        }
    }
    if body.is_empty() {
        return body;
    }
    let mut list = b"INFO".to_vec();
    list.extend_from_slice(&body);
    list
}

/// Whether an MP4 file has a chapter list (Nero `chpl` or a QuickTime chapter track
/// reference), from the `moov` box alone.
fn mp4_has_chapters(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = File::open(path) else { return false };
    let mut header = [0u8; 8];
    let mut at = 0u64;
    while file.seek(SeekFrom::Start(at)).is_ok() && file.read_exact(&mut header).is_ok() {
        let size = u64::from(u32::from_be_bytes([header[0], header[1], header[2], header[3]]));
        if &header[4..8] == b"moov" {
            let mut moov = Vec::new();
            let _ = (&mut file).take(size.min(MAX_MOOV_BYTES)).read_to_end(&mut moov);
            return moov.windows(4).any(|w| w == b"chpl")
                || moov.windows(8).any(|w| &w[4..] == b"chap" && w[..4] != [0; 4]);
        }
        if size < 8 {
            return false;
        }
        at += size;
    }
    false
}

/// Cover art for tests and for callers that build tags: a picture from raw bytes.
pub fn front_cover(data: Vec<u8>, mime: &str) -> Picture {
    Picture::unchecked(data)
        .pic_type(lofty::picture::PictureType::CoverFront)
        .mime_type(lofty::picture::MimeType::from_str(mime))
        .build()
}

/// Picture information for a FLAC picture block, best effort.
pub fn picture_info(picture: &Picture) -> PictureInformation {
    PictureInformation::from_picture(picture).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lofty::tag::Accessor;

    fn vorbis_source() -> SourceTags {
        let mut vorbis = VorbisComments::default();
        vorbis.set_title("Talk".into());
        vorbis.push("CHAPTER001".into(), "00:00:00.000".into());
        vorbis.push("CHAPTER001NAME".into(), "Hello".into());
        vorbis.push("CHAPTER002".into(), "00:01:02.500".into());
        vorbis.push("REPLAYGAIN_TRACK_GAIN".into(), "-3 dB".into());
        vorbis.push("R128_TRACK_GAIN".into(), "-768".into());
        let generic = Tag::from(vorbis.clone());
        let mut tags = SourceTags {
            chapters: vorbis_chapters(&vorbis),
            vorbis: Some(vorbis),
            generic: Some(generic),
            ..SourceTags::default()
        };
        tags.drop_gain_tags();
        tags
    }

    #[test]
    fn vorbis_chapters_and_times_round_trip() {
        let tags = vorbis_source();
        assert_eq!(
            tags.chapters,
            vec![
                Chapter {
                    start_ms: 0,
                    end_ms: 62_500,
                    title: Some("Hello".into())
                },
                Chapter {
                    start_ms: 62_500,
                    end_ms: u32::MAX,
                    title: None
                },
            ]
        );
        assert_eq!(format_ms(3_723_004), "01:02:03.004");
        assert_eq!(parse_ms("01:02:03.004"), Some(3_723_004));
        assert_eq!(parse_ms("nonsense"), None);
        assert!(tags.dropped_gain.contains(&"REPLAYGAIN_TRACK_GAIN".to_string()));
        assert!(tags.dropped_gain.contains(&"R128_TRACK_GAIN".to_string()));
    }

    #[test]
    fn vorbis_source_becomes_id3_chapters_in_a_wav_and_reads_back() {
        use crate::io::encode::wav::{WavChunks, WavWriter};
        let (chunks, carried) = vorbis_source().to_wav_chunks(90_000);
        assert_eq!(carried.chapters, 2);
        assert!(carried.notes.iter().any(|n| n.contains("REPLAYGAIN_TRACK_GAIN")));
        assert_eq!(
            chunks.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [*b"LIST", *b"id3 "]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let chunks = WavChunks {
            trailing: chunks,
            ..WavChunks::default()
        };
        let roles = [crate::io::ChannelRole::Center];
        let mut w =
            WavWriter::create_with_chunks(&path, 48_000, 1, crate::io::SampleFormat::Int16, &roles, &chunks).unwrap();
        let mut written = vec![vec![0.0; 480]];
        w.write(&[vec![0.1; 480]], 0..480, &mut written).unwrap();
        w.finalize().unwrap();

        let back = SourceTags::read(&path);
        assert!(back.warnings.is_empty(), "{:?}", back.warnings);
        let tag = back.id3.expect("id3 chunk read back");
        assert_eq!(tag.title().as_deref(), Some("Talk"));
        assert!(tag.get_user_text("REPLAYGAIN_TRACK_GAIN").is_none());
        assert!(
            tag.get_user_text("CHAPTER001").is_none(),
            "chapters are CHAP frames, not text"
        );
        let chapters = back.chapters;
        assert_eq!(chapters.len(), 2);
        assert_eq!(chapters[0].title.as_deref(), Some("Hello"));
        assert_eq!(
            (chapters[1].start_ms, chapters[1].end_ms),
            (62_500, 90_000),
            "an open end is closed at the file's end"
        );
    }

    #[test]
    fn flac_blocks_carry_comments_and_rewrite_chapters() {
        let (blocks, carried) = vorbis_source().to_flac_blocks(90_000);
        assert_eq!(blocks.len(), 1);
        let body = String::from_utf8_lossy(&blocks[0].1).into_owned();
        assert!(body.contains("TITLE=Talk") || body.contains("title=Talk"), "{body}");
        assert!(body.contains("CHAPTER002=00:01:02.500"), "{body}");
        assert!(!body.contains("REPLAYGAIN"), "{body}");
        assert!(!body.contains("R128"), "{body}");
        assert_eq!(carried.tags, 1);
        assert_eq!(carried.chapters, 2);
    }

    #[test]
    fn nothing_to_carry_writes_nothing() {
        let empty = SourceTags::default();
        assert!(empty.is_empty());
        assert_eq!(empty.to_id3(1_000).0, Vec::<u8>::new());
        assert!(empty.to_flac_blocks(1_000).0.is_empty());
        assert!(empty.to_wav_chunks(1_000).0.is_empty());
    }
}
