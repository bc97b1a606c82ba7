//! Reads the broadcast chunks (`bext`, `iXML`) of a WAV/RF64/BW64 input, read-only, so the
//! output can carry them. Walks the chunk list by the sizes in the headers (the `ds64` chunk's
//! for an RF64 `data` chunk) and never reads the samples.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::bext::Bext;

/// Chunks bigger than this are not read (a hostile header could claim gigabytes).
const MAX_CHUNK: u64 = 16 * 1024 * 1024;
/// Stop after this many chunks (a file of empty chunks would otherwise walk forever).
const MAX_CHUNKS: usize = 10_000;

/// What a WAV input carries for broadcast use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastChunks {
    pub bext: Option<Bext>,
    pub ixml: Option<Vec<u8>>,
}

/// Reads `bext` and `iXML` from `path` if it is a RIFF/RF64/BW64 WAVE file; anything else
/// (another format, a damaged chunk list) gives what was found so far.
pub fn read_broadcast_chunks(path: &Path) -> io::Result<BroadcastChunks> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut found = BroadcastChunks::default();
    let mut head = [0u8; 12];
    if file.read_exact(&mut head).is_err() {
        return Ok(found);
    }
    let rf64 = match &head[0..4] {
        b"RIFF" => false,
        b"RF64" | b"BW64" => true,
        _ => return Ok(found),
    };
    if &head[8..12] != b"WAVE" {
        return Ok(found);
    }
    let mut data_size_64 = None;
    let mut at = 12u64;
    for _ in 0..MAX_CHUNKS {
        if at + 8 > len {
            break;
        }
        file.seek(SeekFrom::Start(at))?;
        let mut header = [0u8; 8];
        file.read_exact(&mut header)?;
        let id = [header[0], header[1], header[2], header[3]];
        let mut size = u64::from(u32::from_le_bytes([header[4], header[5], header[6], header[7]]));
        if rf64 && &id == b"data" && size == u64::from(u32::MAX) {
            size = data_size_64.unwrap_or(len - at - 8);
        }
        let body_at = at + 8;
        let wanted = matches!(&id, b"bext" | b"iXML" | b"ds64");
        if wanted && size <= MAX_CHUNK && body_at + size <= len {
            let mut body = vec![0u8; size as usize];
            file.read_exact(&mut body)?;
            match &id {
                b"bext" => found.bext = Bext::parse(&body),
                b"iXML" => found.ixml = Some(body),
                _ => {
                    if body.len() >= 16 {
                        data_size_64 = Some(u64::from_le_bytes(body[8..16].try_into().unwrap_or_default()));
                    }
                }
            }
        }
        at = body_at + size + size % 2;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::encode::wav::{WavChunks, WavWriter};
    use crate::io::{ChannelRole, SampleFormat};

    #[test]
    fn reads_what_the_writer_wrote_including_rf64_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.wav");
        let bext = Bext::for_output(None, 1_700_000_000, "A=PCM,F=48000,W=24,M=mono,T=test");
        let chunks = WavChunks {
            bext: Some(bext.clone()),
            ixml: Some(b"<?xml version=\"1.0\"?><BWFXML><SCENE>12A</SCENE></BWFXML>".to_vec()),
            trailing: vec![(*b"LIST", b"INFOINAM\x04\x00\x00\x00abc\x00".to_vec())],
        };
        let mut w =
            WavWriter::create_with_chunks(&path, 48_000, 1, SampleFormat::Int24, &[ChannelRole::Center], &chunks)
                .unwrap();
        let mut written = vec![vec![0.0; 1000]];
        w.write(&[vec![0.1; 1000]], 0..1000, &mut written).unwrap();
        w.finalize().unwrap();
        let found = read_broadcast_chunks(&path).unwrap();
        assert_eq!(found.bext, Some(bext));
        assert_eq!(found.ixml, chunks.ixml);
        // hound and symphonia still read the samples past the extra chunks.
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.samples::<i32>().count(), 1000);
    }

    #[test]
    fn other_files_and_damaged_lists_give_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"fLaC\0\0\0\0").unwrap();
        assert_eq!(read_broadcast_chunks(&path).unwrap(), BroadcastChunks::default());
        let mut wav = b"RIFF\0\0\0\0WAVEbext".to_vec();
        wav.extend_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &wav).unwrap();
        assert_eq!(read_broadcast_chunks(&path).unwrap(), BroadcastChunks::default());
    }
}
