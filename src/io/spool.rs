//! The spool: pass A's cleaned audio as raw little-endian f32, interleaved, in a temp file
//! next to the output. Raw rather than WAV because WAV caps at 4 GiB; a temp file rather
//! than memory because an hour of stereo would cost gigabytes.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Writes planar blocks to the spool file.
pub struct SpoolWriter {
    file: BufWriter<File>,
    channels: usize,
    frames: u64,
    bytes: Vec<u8>,
}

impl SpoolWriter {
    /// Creates (or truncates) a spool file at `path` (benchmarks and tests; the pipeline uses
    /// a nameless file from [`crate::fsutil::OutDir::anonymous_file`]).
    pub fn create(path: &Path, channels: usize) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Self::from_file(file, channels)
    }

    /// Spools into `file`, which must be open for reading and writing, from its start.
    pub fn from_file(file: File, channels: usize) -> io::Result<Self> {
        file.set_len(0)?;
        (&file).seek(SeekFrom::Start(0))?;
        Ok(Self {
            file: BufWriter::with_capacity(1 << 18, file),
            channels,
            frames: 0,
            bytes: Vec::new(),
        })
    }

    pub fn write(&mut self, block: &[Vec<f32>], range: std::ops::Range<usize>) -> io::Result<()> {
        let frames = range.len();
        self.bytes.clear();
        self.bytes.reserve(frames * self.channels * 4);
        for i in range {
            for channel in block.iter().take(self.channels) {
                self.bytes.extend_from_slice(&channel[i].to_le_bytes());
            }
        }
        self.file.write_all(&self.bytes)?;
        self.frames += frames as u64;
        Ok(())
    }

    /// Flushes and hands over a reader-ready spool.
    pub fn finish(self) -> io::Result<Spool> {
        let file = self.file.into_inner().map_err(|e| e.into_error())?;
        Ok(Spool {
            file,
            channels: self.channels,
            frames: self.frames,
        })
    }
}

/// A finished spool that can be read from the start any number of times.
pub struct Spool {
    file: File,
    channels: usize,
    frames: u64,
}

impl Spool {
    pub fn frames(&self) -> u64 {
        self.frames
    }

    pub fn reader(&mut self) -> io::Result<SpoolReader<'_>> {
        self.file.seek(SeekFrom::Start(0))?;
        Ok(SpoolReader {
            file: BufReader::with_capacity(1 << 18, &self.file),
            channels: self.channels,
            frames_left: self.frames,
            bytes: Vec::new(),
        })
    }
}

pub struct SpoolReader<'a> {
    file: BufReader<&'a File>,
    channels: usize,
    frames_left: u64,
    bytes: Vec<u8>,
}

impl SpoolReader<'_> {
    /// Reads up to `block[0].len()` frames into the planar `block`; returns frames read
    /// (0 at the end).
    pub fn read(&mut self, block: &mut [Vec<f32>]) -> io::Result<usize> {
        let frames = (block[0].len() as u64).min(self.frames_left) as usize;
        if frames == 0 {
            return Ok(0);
        }
        self.bytes.resize(frames * self.channels * 4, 0);
        self.file.read_exact(&mut self.bytes)?;
        let mut samples = self.bytes.chunks_exact(4);
        for i in 0..frames {
            for channel in block.iter_mut().take(self.channels) {
                let b = samples.next().expect("sized above");
                channel[i] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        self.frames_left -= frames as u64;
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_planar_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.spool");
        let mut writer = SpoolWriter::create(&path, 2).unwrap();
        let block = vec![vec![0.5, -0.25, 1.5], vec![0.1, 0.2, 0.3]];
        writer.write(&block, 0..3).unwrap();
        writer.write(&block, 1..3).unwrap();
        let mut spool = writer.finish().unwrap();
        assert_eq!(spool.frames(), 5);
        for _ in 0..2 {
            let mut reader = spool.reader().unwrap();
            let mut out = vec![vec![0.0; 4]; 2];
            assert_eq!(reader.read(&mut out).unwrap(), 4);
            assert_eq!(out[0], vec![0.5, -0.25, 1.5, -0.25]);
            assert_eq!(out[1], vec![0.1, 0.2, 0.3, 0.2]);
            assert_eq!(reader.read(&mut out).unwrap(), 1);
            assert_eq!(out[0][0], 1.5);
            assert_eq!(reader.read(&mut out).unwrap(), 0);
        }
    }
}
