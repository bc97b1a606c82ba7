//! MPEG audio container quirk: the demuxer skips bytes between frames without a word while it
//! resynchronises. Every packet is a verbatim copy of a frame in the file, so following the
//! file alongside the demuxer finds those bytes — damage or a splice the user should hear about.

use std::io::Read;

/// Stop looking after this much junk in one run (keeps hostile files cheap).
const MAX_RUN: u64 = 64 << 20;
const CHUNK: usize = 64 << 10;

pub(super) struct JunkFinder<R> {
    file: R,
    /// File bytes read ahead; `cursor` indexes into it.
    buf: Vec<u8>,
    cursor: usize,
    eof: bool,
}

impl<R: Read> JunkFinder<R> {
    /// Follows `file` from its current position (the start of the file).
    pub fn new(file: R) -> Self {
        JunkFinder {
            file,
            buf: Vec::with_capacity(2 * CHUNK),
            cursor: 0,
            eof: false,
        }
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

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn finds_frames_and_counts_the_bytes_between_them() {
        let file: &[u8] = b"ID3xxFRAME1FRAME2junkjunkFRAME3";
        let mut finder = JunkFinder::new(file);
        assert_eq!(finder.next(b"FRAME1"), Some(5), "the tag before the first frame");
        assert_eq!(finder.next(b"FRAME2"), Some(0));
        assert_eq!(finder.next(b"FRAME3"), Some(8));
        assert_eq!(finder.next(b"FRAME4"), None);
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
}
