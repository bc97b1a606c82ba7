//! Streaming fixed-ratio sample-rate conversion: RNNoise only runs at 48 kHz, so the denoiser
//! converts other rates in and out with this, in whatever block sizes the chain delivers.
//!
//! rubato's FFT resampler wants fixed-size chunks; [`StreamResampler`] puts an input
//! accumulator in front of it and an output FIFO behind it, so callers push and pop any
//! number of frames. Everything is allocated in [`StreamResampler::new`].

use std::ops::Range;

use audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// Aim for FFT blocks of at least this many frames on the lower-rate side, which sets the
/// anti-alias filter: its cutoff is ≈ 0.987 × the lower Nyquist frequency at 1024 frames
/// (0.92 at 172). The price is delay: half a block, ~10–64 ms.
const TARGET_BLOCK: usize = 1024;

/// Highest sample rate accepted, in Hz.
pub const MAX_RATE: u32 = 768_000;

/// Why a [`StreamResampler`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleSetupError {
    #[error("sample rate must be between 1 and {MAX_RATE} Hz, got {0}")]
    InvalidRate(u32),
    #[error("channel count must be at least 1, got 0")]
    NoChannels,
    #[error("cannot set up the {from} Hz -> {to} Hz resampler: {reason}")]
    Rubato { from: u32, to: u32, reason: String },
}

/// Converts an N-channel planar stream from `rate_in` to `rate_out` at a fixed ratio.
///
/// Push any number of input frames with [`push`](Self::push); whole chunks are converted as
/// soon as they are complete and land in an output FIFO, which [`pop`](Self::pop) drains.
/// The output stream is the input delayed by exactly [`output_delay`](Self::output_delay)
/// output frames (an integer: the FFT blocks are kept even-sized so the filter is centred on
/// a sample). Trim that many frames from the start and push
/// `ceil(output_delay × rate_in / rate_out)` frames of silence at the end to get the whole
/// signal out. No allocation after construction.
pub struct StreamResampler {
    rate_in: u32,
    rate_out: u32,
    channels: usize,
    fft: Fft<f32>,
    chunk_in: usize,
    chunk_out: usize,
    /// Input accumulator: `chunk_in` frames per channel, `filled` of them valid.
    input: Vec<Vec<f32>>,
    filled: usize,
    /// One converted chunk, `chunk_out` frames per channel.
    scratch: Vec<Vec<f32>>,
    /// Output ring buffer per channel: `queued` frames starting at `head`.
    fifo: Vec<Vec<f32>>,
    head: usize,
    queued: usize,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("rate_in", &self.rate_in)
            .field("rate_out", &self.rate_out)
            .field("channels", &self.channels)
            .field("chunk_in", &self.chunk_in)
            .field("chunk_out", &self.chunk_out)
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl StreamResampler {
    /// A converter for `channels` channels whose output FIFO holds at least `capacity` frames
    /// (raised to one output chunk if smaller). Size it for the most output the caller lets
    /// pile up: what is already queued plus [`max_output_for`](Self::max_output_for) the
    /// largest push.
    pub fn new(rate_in: u32, rate_out: u32, channels: usize, capacity: usize) -> Result<Self, ResampleSetupError> {
        for rate in [rate_in, rate_out] {
            if rate == 0 || rate > MAX_RATE {
                return Err(ResampleSetupError::InvalidRate(rate));
            }
        }
        if channels == 0 {
            return Err(ResampleSetupError::NoChannels);
        }
        let (chunk_in, chunk_out) = Self::chunk_sizes(rate_in, rate_out);
        let fft = Fft::<f32>::new_custom(
            rate_in as usize,
            rate_out as usize,
            chunk_in,
            1,
            channels,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| ResampleSetupError::Rubato {
            from: rate_in,
            to: rate_out,
            reason: e.to_string(),
        })?;
        // With FixedSync::Both and a chunk that is a whole number of minimal blocks, one
        // chunk is exactly one FFT block on each side.
        debug_assert_eq!(
            (fft.input_frames_next(), fft.output_frames_next()),
            (chunk_in, chunk_out)
        );
        debug_assert_eq!(fft.output_delay() * 2, chunk_out);
        let capacity = capacity.max(chunk_out);
        Ok(Self {
            rate_in,
            rate_out,
            channels,
            fft,
            chunk_in,
            chunk_out,
            input: vec![vec![0.0; chunk_in]; channels],
            filled: 0,
            scratch: vec![vec![0.0; chunk_out]; channels],
            fifo: vec![vec![0.0; capacity]; channels],
            head: 0,
            queued: 0,
        })
    }

    /// Input and output frames of one FFT block for this rate pair: the smallest even multiple
    /// of the minimal block (`rate / gcd`) that reaches [`TARGET_BLOCK`] on the lower-rate
    /// side. Even sizes put the filter centre on a sample, so the delay is an exact integer.
    pub fn chunk_sizes(rate_in: u32, rate_out: u32) -> (usize, usize) {
        let g = gcd(rate_in as u64, rate_out as u64);
        let min_in = (rate_in as u64 / g) as usize;
        let min_out = (rate_out as u64 / g) as usize;
        let blocks = TARGET_BLOCK.div_ceil(min_in.min(min_out)).max(1);
        let blocks = blocks + blocks % 2;
        (blocks * min_in, blocks * min_out)
    }

    pub fn rate_in(&self) -> u32 {
        self.rate_in
    }

    pub fn rate_out(&self) -> u32 {
        self.rate_out
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Input frames converted at a time.
    pub fn chunk_in(&self) -> usize {
        self.chunk_in
    }

    /// Output frames produced per converted chunk.
    pub fn chunk_out(&self) -> usize {
        self.chunk_out
    }

    /// Frames of delay of the output stream, in output frames (exact).
    pub fn output_delay(&self) -> usize {
        self.chunk_out / 2
    }

    /// Frames the output FIFO can hold.
    pub fn capacity(&self) -> usize {
        self.fifo[0].len()
    }

    /// Frames waiting in the output FIFO.
    pub fn available(&self) -> usize {
        self.queued
    }

    /// Input frames waiting for their chunk to complete.
    pub fn pending_input(&self) -> usize {
        self.filled
    }

    /// The most output frames a push of `input_frames` can add to the FIFO (whatever is
    /// already pending in the input accumulator).
    pub fn max_output_for(&self, input_frames: usize) -> usize {
        input_frames.div_ceil(self.chunk_in) * self.chunk_out
    }

    /// Appends frames `range` of every channel of `input`. Returns how many were taken: all
    /// of them unless the output FIFO is too full to receive another converted chunk, in
    /// which case pop and push the rest.
    pub fn push(&mut self, input: &[Vec<f32>], range: Range<usize>) -> usize {
        debug_assert!(input.len() >= self.channels);
        self.push_with(range.len(), |dst, ch, done| {
            let from = range.start + done;
            dst.copy_from_slice(&input[ch][from..from + dst.len()]);
        })
    }

    /// Appends `frames` frames of silence (to flush the delayed tail at the end of a stream).
    /// Returns how many were taken, as [`push`](Self::push).
    pub fn push_silence(&mut self, frames: usize) -> usize {
        self.push_with(frames, |dst, _, _| dst.fill(0.0))
    }

    fn push_with(&mut self, frames: usize, mut fill: impl FnMut(&mut [f32], usize, usize)) -> usize {
        let mut done = 0;
        loop {
            if self.filled == self.chunk_in {
                if self.capacity() - self.queued < self.chunk_out {
                    return done;
                }
                self.convert_chunk();
            }
            if done == frames {
                return done;
            }
            let take = (frames - done).min(self.chunk_in - self.filled);
            for (ch, buf) in self.input.iter_mut().enumerate() {
                fill(&mut buf[self.filled..self.filled + take], ch, done);
            }
            self.filled += take;
            done += take;
        }
    }

    /// Converts the full input accumulator into the FIFO (room is checked by the caller).
    fn convert_chunk(&mut self) {
        let (chunk_in, chunk_out, channels) = (self.chunk_in, self.chunk_out, self.channels);
        let converted = SequentialSliceOfVecs::new(&self.input[..], channels, chunk_in)
            .ok()
            .zip(SequentialSliceOfVecs::new_mut(&mut self.scratch[..], channels, chunk_out).ok())
            .and_then(|(src, mut dst)| self.fft.process_into_buffer(&src, &mut dst, None).ok());
        // Buffer sizes are fixed at construction, so rubato cannot refuse; should it ever,
        // emit silence rather than stale samples.
        if converted != Some((chunk_in, chunk_out)) {
            debug_assert!(false, "rubato refused a chunk: {converted:?}");
            self.scratch.iter_mut().for_each(|s| s.fill(0.0));
        }
        self.filled = 0;
        let cap = self.capacity();
        let tail = (self.head + self.queued) % cap;
        let first = chunk_out.min(cap - tail);
        for (ring, chunk) in self.fifo.iter_mut().zip(&self.scratch) {
            ring[tail..tail + first].copy_from_slice(&chunk[..first]);
            ring[..chunk_out - first].copy_from_slice(&chunk[first..]);
        }
        self.queued += chunk_out;
    }

    /// Appends `frames` frames of silence straight to the output FIFO: a pure delay of the
    /// output stream (call it on a fresh or reset converter). Returns how many fitted.
    pub fn delay_output(&mut self, frames: usize) -> usize {
        let frames = frames.min(self.capacity() - self.queued);
        let cap = self.capacity();
        let tail = (self.head + self.queued) % cap;
        let first = frames.min(cap - tail);
        for ring in &mut self.fifo {
            ring[tail..tail + first].fill(0.0);
            ring[..frames - first].fill(0.0);
        }
        self.queued += frames;
        frames
    }

    /// Moves up to `range.len()` frames from the FIFO into `range` of every channel of `out`;
    /// returns how many were moved.
    pub fn pop(&mut self, out: &mut [Vec<f32>], range: Range<usize>) -> usize {
        debug_assert!(out.len() >= self.channels);
        let frames = range.len().min(self.queued);
        let cap = self.capacity();
        let first = frames.min(cap - self.head);
        for (ring, dst) in self.fifo.iter().zip(out.iter_mut()) {
            let dst = &mut dst[range.start..range.start + frames];
            dst[..first].copy_from_slice(&ring[self.head..self.head + first]);
            dst[first..].copy_from_slice(&ring[..frames - first]);
        }
        self.head = (self.head + frames) % cap;
        self.queued -= frames;
        frames
    }

    /// Forgets all signal: the converter behaves as if new.
    pub fn reset(&mut self) {
        self.fft.reset();
        self.input.iter_mut().for_each(|b| b.fill(0.0));
        self.filled = 0;
        self.head = 0;
        self.queued = 0;
    }
}

/// `input` (planar) converted whole from `rate_in` to `rate_out`, in memory: the converter's
/// delay trimmed and its tail flushed, so output frame 0 is input time 0, and
/// `ceil(frames × rate_out / rate_in)` frames long. For whole signals held in memory (test
/// fixtures, benchmark material); streams go through [`StreamResampler`].
pub fn convert(input: &[Vec<f32>], rate_in: u32, rate_out: u32) -> Result<Vec<Vec<f32>>, ResampleSetupError> {
    let frames = input.first().map_or(0, Vec::len);
    let mut converter = StreamResampler::new(rate_in, rate_out, input.len(), 0)?;
    let (chunk_in, chunk_out) = (converter.chunk_in(), converter.chunk_out());
    let want = (frames as u64 * u64::from(rate_out)).div_ceil(u64::from(rate_in)) as usize;
    let delay = converter.output_delay();
    let mut out = vec![Vec::with_capacity(want + delay + chunk_out); input.len()];
    let mut popped = vec![vec![0.0f32; chunk_out]; input.len()];
    let mut pushed = 0;
    while out[0].len() < want + delay {
        if pushed < frames {
            pushed += converter.push(input, pushed..frames.min(pushed + chunk_in));
        } else {
            converter.push_silence(chunk_in);
        }
        let n = converter.pop(&mut popped, 0..chunk_out);
        for (o, p) in out.iter_mut().zip(&popped) {
            o.extend_from_slice(&p[..n]);
        }
    }
    Ok(out.into_iter().map(|c| c[delay..delay + want].to_vec()).collect())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{best_lag, BLOCK_SIZES};
    use std::f64::consts::PI;

    /// Streams `input` through a fresh converter in pushes of `block` frames, trims the delay,
    /// flushes, and returns exactly `ceil(len × out / in)` frames per channel.
    fn convert_in_blocks(input: &[Vec<f32>], rate_in: u32, rate_out: u32, block: usize) -> Vec<Vec<f32>> {
        let channels = input.len();
        let len = input[0].len();
        let want = (len as u64 * rate_out as u64).div_ceil(rate_in as u64) as usize;
        let rs = StreamResampler::new(rate_in, rate_out, channels, 0).unwrap();
        let cap = rs.max_output_for(block) + rs.chunk_out();
        let mut rs = StreamResampler::new(rate_in, rate_out, channels, cap).unwrap();
        let mut skip = rs.output_delay();
        let mut out = vec![Vec::with_capacity(want + skip); channels];
        let mut buf = vec![vec![0.0f32; cap]; channels];
        let mut drain = |rs: &mut StreamResampler, out: &mut Vec<Vec<f32>>| {
            let n = rs.pop(&mut buf, 0..cap);
            let s = skip.min(n);
            skip -= s;
            for (o, b) in out.iter_mut().zip(&buf) {
                o.extend_from_slice(&b[s..n]);
            }
        };
        let mut pos = 0;
        while pos < len {
            let n = block.min(len - pos);
            let mut taken = 0;
            while taken < n {
                taken += rs.push(input, pos + taken..pos + n);
                drain(&mut rs, &mut out);
            }
            pos += n;
        }
        while out[0].len() < want {
            let n = rs.push_silence(block);
            assert!(n > 0 || rs.available() > 0);
            drain(&mut rs, &mut out);
        }
        for o in &mut out {
            o.truncate(want);
        }
        out
    }

    fn sine_at(freq: f64, rate: u32, len: usize, phase_s: f64) -> Vec<f32> {
        (0..len)
            .map(|i| (0.5 * (2.0 * PI * freq * (i as f64 / rate as f64 + phase_s)).sin()) as f32)
            .collect()
    }

    /// A sine (with a fade-in/out so the ends are band-limited too) resampled by the stream
    /// converter matches the same sine sampled at the new rate: same length, lag 0, and a
    /// small error in the steady part.
    #[test]
    fn sine_keeps_length_and_alignment() {
        for (rate_in, rate_out) in [
            (44_100, 48_000),
            (48_000, 44_100),
            (16_000, 48_000),
            (48_000, 16_000),
            (8_000, 48_000),
            (96_000, 48_000),
            (22_050, 48_000),
            (48_000, 48_000),
        ] {
            let secs = 0.5;
            let len_in = (rate_in as f64 * secs) as usize;
            let freq = 997.0;
            let fade = |t: f64| (t / 0.05).clamp(0.0, 1.0) * ((secs - t) / 0.05).clamp(0.0, 1.0);
            let make = |rate: u32, len: usize| -> Vec<f32> {
                (0..len)
                    .map(|i| {
                        let t = i as f64 / rate as f64;
                        (0.5 * fade(t) * (2.0 * PI * freq * t).sin()) as f32
                    })
                    .collect()
            };
            let input = vec![make(rate_in, len_in)];
            let out = convert_in_blocks(&input, rate_in, rate_out, 480);
            let want = (len_in as u64 * rate_out as u64).div_ceil(rate_in as u64) as usize;
            assert_eq!(out[0].len(), want, "{rate_in}->{rate_out} length");
            let expected = make(rate_out, want);
            assert_eq!(best_lag(&expected, &out[0], 8), 0, "{rate_in}->{rate_out} lag");
            let err = out[0]
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 5e-4, "{rate_in}->{rate_out}: max error {err}");
        }
    }

    /// The one-shot conversion is the stream's, pushed in any blocks: the same samples.
    #[test]
    fn whole_signal_conversion_is_the_streams_output() {
        for (rate_in, rate_out) in [(44_100, 48_000), (48_000, 16_000), (44_100, 44_100)] {
            let len = rate_in as usize / 2 + 1;
            let input = vec![sine_at(997.0, rate_in, len, 0.0), sine_at(3_001.0, rate_in, len, 0.001)];
            let whole = convert(&input, rate_in, rate_out).unwrap();
            assert_eq!(
                whole,
                convert_in_blocks(&input, rate_in, rate_out, 4096),
                "{rate_in}->{rate_out}"
            );
        }
        assert!(convert(&[vec![0.0; 10]], 0, 48_000).is_err());
    }

    /// 16 → 48 → 16 kHz with trimmed delays gives back the input: same length, lag 0, and
    /// sample-by-sample agreement (pushes of 7 frames one way, 4096 the other).
    #[test]
    fn round_trip_16_48_16_is_transparent() {
        let len = 16_000;
        let fade = |i: usize| ((i as f32 / 800.0).min(1.0)) * (((len - i) as f32 / 800.0).min(1.0));
        let x: Vec<f32> = sine_at(440.0, 16_000, len, 0.0)
            .iter()
            .zip(sine_at(1_900.0, 16_000, len, 0.001))
            .enumerate()
            .map(|(i, (a, b))| fade(i) * (a + b) * 0.5)
            .collect();
        let up = convert_in_blocks(std::slice::from_ref(&x), 16_000, 48_000, 7);
        assert_eq!(up[0].len(), 48_000);
        let back = convert_in_blocks(&up, 48_000, 16_000, 4096);
        assert_eq!(back[0].len(), len);
        assert_eq!(best_lag(&x, &back[0], 8), 0);
        let err = x
            .iter()
            .zip(&back[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 2e-3, "round trip error {err}");
    }

    #[test]
    fn output_does_not_depend_on_push_size_and_channels_stay_apart() {
        for (rate_in, rate_out) in [(44_100, 48_000), (48_000, 16_000)] {
            let len = rate_in as usize / 3;
            let input = vec![sine_at(300.0, rate_in, len, 0.0), sine_at(2_500.0, rate_in, len, 0.0)];
            let reference = convert_in_blocks(&input, rate_in, rate_out, 4096);
            for &block in &BLOCK_SIZES {
                assert_eq!(
                    convert_in_blocks(&input, rate_in, rate_out, block),
                    reference,
                    "block {block}"
                );
            }
            let left = convert_in_blocks(&input[..1], rate_in, rate_out, 4096);
            assert_eq!(left[0], reference[0]);
        }
    }

    #[test]
    fn reset_reproduces_and_fifo_backpressure_holds() {
        let mut rs = StreamResampler::new(44_100, 48_000, 1, 0).unwrap();
        assert_eq!(rs.capacity(), rs.chunk_out());
        let x = vec![sine_at(1_000.0, 44_100, 5_000, 0.0)];
        // The FIFO holds one chunk: the second chunk must wait until it is popped.
        let taken = rs.push(&x, 0..5_000);
        assert_eq!(taken, 2 * rs.chunk_in());
        assert_eq!(rs.available(), rs.chunk_out());
        assert_eq!(rs.pending_input(), rs.chunk_in());
        let mut first = vec![vec![0.0; rs.chunk_out()]];
        assert_eq!(rs.pop(&mut first, 0..rs.chunk_out()), rs.chunk_out());
        rs.reset();
        assert_eq!((rs.available(), rs.pending_input()), (0, 0));
        rs.push(&x, 0..rs.chunk_in());
        let mut again = vec![vec![0.0; rs.chunk_out()]];
        rs.pop(&mut again, 0..rs.chunk_out());
        assert_eq!(again, first);
        assert_eq!(rs.delay_output(10), 10);
        assert_eq!(rs.available(), 10);
    }

    #[test]
    fn chunk_sizes_are_even_and_delay_exact() {
        for rate in [
            8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 44_101, 88_200, 96_000, 192_000,
        ] {
            for (a, b) in [(rate, 48_000), (48_000, rate)] {
                let (ci, co) = StreamResampler::chunk_sizes(a, b);
                assert!(ci % 2 == 0 && co % 2 == 0, "{a}->{b}: {ci}/{co}");
                assert_eq!(ci as u64 * b as u64, co as u64 * a as u64);
            }
        }
        assert_eq!(StreamResampler::chunk_sizes(44_100, 48_000), (1176, 1280));
        assert_eq!(
            StreamResampler::new(0, 48_000, 1, 0).unwrap_err().to_string(),
            "sample rate must be between 1 and 768000 Hz, got 0"
        );
        assert!(StreamResampler::new(48_000, 44_100, 0, 0).is_err());
    }
}
