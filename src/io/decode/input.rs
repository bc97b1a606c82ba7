//! The one opened input, read through independent cursors: the demuxer, the MPEG junk
//! finder, the MP4 edit-list scan and the WAV reader all read the same file (the inode the
//! caller fingerprinted) by position, so none of them moves another's file offset.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use symphonia::core::io::MediaSource;

/// Bytes readable at any offset without a shared cursor.
pub(super) trait RandomAccess: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl RandomAccess for std::fs::File {
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }

    // `seek_read` moves the handle's offset, which is harmless: every reader of an `Input`
    // reads by position.
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(self, buf, offset)
    }
}

/// An opened file and its length when it was opened. Reads stop at that length, so a file
/// that is still growing is decoded as it was measured.
#[derive(Clone)]
pub(super) struct Input {
    source: Arc<dyn RandomAccess>,
    len: u64,
}

impl Input {
    pub fn new(source: Arc<dyn RandomAccess>, len: u64) -> Input {
        Input { source, len }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// A new reader positioned at the start.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            input: self.clone(),
            pos: 0,
        }
    }

    /// Fills as much of `buf` as the file holds at `offset`; returns the bytes read.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let room = self.len.saturating_sub(offset);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < want {
            match self.source.read_at(&mut buf[done..want], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// A `Read + Seek` view of an [`Input`] with its own position.
pub(super) struct Cursor {
    input: Input,
    pos: u64,
}

impl Read for Cursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.input.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.input.source.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.input.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        match target {
            Some(at) => {
                self.pos = at;
                Ok(at)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

impl MediaSource for Cursor {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.input.len)
    }
}

#[cfg(test)]
pub(super) mod testing {
    //! Inputs that are not files: audio held in memory, and a source that panics, to test
    //! what happens when a decoding library does.

    use super::*;

    /// `head` followed by `tail`, with `gap` zero bytes between them that are never stored:
    /// a file of many GiB that costs nothing.
    pub struct Sparse {
        pub head: Vec<u8>,
        pub gap: u64,
        pub tail: Vec<u8>,
    }

    impl Sparse {
        pub fn len(&self) -> u64 {
            self.head.len() as u64 + self.gap + self.tail.len() as u64
        }

        pub fn into_input(self) -> Input {
            let len = self.len();
            Input::new(Arc::new(self), len)
        }
    }

    impl RandomAccess for Sparse {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let head = self.head.len() as u64;
            let tail_start = head + self.gap;
            let len = self.len();
            if offset >= len {
                return Ok(0);
            }
            let n = buf.len().min(usize::try_from(len - offset).unwrap_or(usize::MAX));
            let mut done = 0;
            while done < n {
                let at = offset + done as u64;
                let out = &mut buf[done..n];
                let step = if at < head {
                    let src = &self.head[at as usize..];
                    let k = out.len().min(src.len());
                    out[..k].copy_from_slice(&src[..k]);
                    k
                } else if at < tail_start {
                    let k = out.len().min(usize::try_from(tail_start - at).unwrap_or(usize::MAX));
                    out[..k].fill(0);
                    k
                } else {
                    let src = &self.tail[(at - tail_start) as usize..];
                    let k = out.len().min(src.len());
                    out[..k].copy_from_slice(&src[..k]);
                    k
                };
                done += step;
            }
            Ok(n)
        }
    }

    /// Serves `bytes`, but panics when asked for a byte in `panic_in`, the way a library
    /// bug on hostile data would: in debug and release builds alike. Reads that start before
    /// the range stop short at it; the bytes after it (where readers look for end tags) are
    /// served.
    pub struct PanicsIn {
        pub bytes: Vec<u8>,
        pub panic_in: std::ops::Range<u64>,
    }

    impl RandomAccess for PanicsIn {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            if self.panic_in.contains(&offset) && !buf.is_empty() {
                panic!("injected: a decoding library panicked at byte {offset}");
            }
            let start = (offset as usize).min(self.bytes.len());
            let end = if offset < self.panic_in.start {
                self.panic_in.start as usize
            } else {
                self.bytes.len()
            };
            let n = buf.len().min(end.saturating_sub(start));
            buf[..n].copy_from_slice(&self.bytes[start..start + n]);
            Ok(n)
        }
    }

    pub fn in_memory(bytes: Vec<u8>) -> Input {
        let len = bytes.len() as u64;
        Input::new(
            Arc::new(Sparse {
                head: bytes,
                gap: 0,
                tail: Vec::new(),
            }),
            len,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn cursors_do_not_share_a_position() {
        let input = in_memory((0u8..=255).collect());
        let mut a = input.cursor();
        let mut b = input.cursor();
        let mut buf = [0u8; 4];
        a.seek(SeekFrom::Start(100)).unwrap();
        a.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [100, 101, 102, 103]);
        b.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [0, 1, 2, 3]);
        a.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [104, 105, 106, 107]);
        assert_eq!(a.seek(SeekFrom::End(-1)).unwrap(), 255);
        assert!(a.seek(SeekFrom::Current(-1000)).is_err());
    }

    #[test]
    fn reads_stop_at_the_length_measured_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.bin");
        std::fs::write(&path, [7u8; 100]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let input = Input::new(Arc::new(file), 100);
        // The upload goes on after the file was measured.
        let mut writer = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut writer, &[9u8; 100]).unwrap();
        let mut all = Vec::new();
        input.cursor().read_to_end(&mut all).unwrap();
        assert_eq!(all, vec![7u8; 100]);
        let mut buf = [0u8; 10];
        assert_eq!(input.read_at(&mut buf, 95).unwrap(), 5);
    }

    #[test]
    fn sparse_input_is_as_long_as_it_says() {
        let input = Sparse {
            head: vec![1, 2],
            gap: 5 << 30,
            tail: vec![3, 4],
        }
        .into_input();
        assert_eq!(input.len(), (5 << 30) + 4);
        let mut buf = [9u8; 6];
        assert_eq!(input.read_at(&mut buf, 0).unwrap(), 6);
        assert_eq!(buf, [1, 2, 0, 0, 0, 0]);
        assert_eq!(input.read_at(&mut buf, input.len() - 3).unwrap(), 3);
        assert_eq!(&buf[..3], &[0, 3, 4]);
    }
}
