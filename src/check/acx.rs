//! The unweighted level measures of the ACX audiobook rules, streamed over planar blocks in
//! the same pass that meters loudness: RMS of the whole file, noise floor (RMS of the quietest
//! 500 ms), and the room tone before the narration starts and after it ends.
//!
//! How each is measured (the README's "ACX" section says why):
//! * **RMS**: the root mean square of every sample of the file, unweighted (no A- or
//!   K-weighting, no gate), the channels' powers averaged — what ACX and its Audacity "ACX
//!   Check" call RMS. For a mono or dual-mono file it is the RMS of each channel.
//! * **Noise floor**: the RMS of the quietest 500-ms stretch of the file, searched on a 10-ms
//!   grid (ACX Check: "the RMS level of the quietest 500 mS").
//! * **Room tone**: a 10-ms slice is narration when its RMS rises more than
//!   [`ROOM_TONE_MARGIN_DB`] above the quietest 100 ms of the file (and above
//!   [`ROOM_TONE_MIN_DBFS`]); the head is the time before the first such slice, the tail the
//!   time after the last one. (The 100-ms reference still finds room tone shorter than the
//!   noise floor's 500-ms window.)

use crate::loudness::Measurement;

/// Length of the window whose RMS is the noise floor, in seconds.
pub const NOISE_WINDOW_S: f64 = 0.5;
/// Slices of [`SLICE_S`] per noise window.
const NOISE_SLICES: usize = 50;
/// Slices of [`SLICE_S`] in the room-tone reference window (100 ms).
const REFERENCE_SLICES: usize = 10;
/// The grid of the noise-floor search and the room-tone edges, in seconds.
pub const SLICE_S: f64 = 0.01;
/// A slice louder than the noise floor by more than this is narration, not room tone. Room
/// tone's own 10-ms slices wander a few dB around its mean; a voice starts 30 dB or more above it.
pub const ROOM_TONE_MARGIN_DB: f64 = 12.0;
/// Nothing quieter than this is narration, however quiet the floor (digital silence).
pub const ROOM_TONE_MIN_DBFS: f64 = -70.0;
/// When no slice stands out, a file whose quietest 100 ms is louder than this is narration
/// without any room tone (head and tail 0 s), otherwise room tone without narration.
pub const ROOM_TONE_MAX_DBFS: f64 = -40.0;
/// Head and tail room tone are measured within this many seconds of each end: longer room
/// tone reads as this value (every spec asks for a few seconds at most).
pub const ROOM_TONE_WINDOW_S: f64 = 60.0;

/// What [`LevelMeter`] measured; `None` where undefined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Levels {
    /// `None` for digital silence.
    pub rms_dbfs: Option<f64>,
    /// `None` when shorter than 500 ms, or when the quietest 500 ms is digital silence.
    pub noise_floor_dbfs: Option<f64>,
    /// `None` when nothing rises above the room tone.
    pub room_tone_head_s: Option<f64>,
    pub room_tone_tail_s: Option<f64>,
}

impl Levels {
    /// `measurement` with these figures added.
    pub fn add_to(self, measurement: Measurement) -> Measurement {
        Measurement {
            rms_dbfs: self.rms_dbfs,
            noise_floor_dbfs: self.noise_floor_dbfs,
            room_tone_head_s: self.room_tone_head_s,
            room_tone_tail_s: self.room_tone_tail_s,
            ..measurement
        }
    }
}

/// Streams planar blocks; allocates only in [`LevelMeter::new`].
#[derive(Debug, Clone)]
pub struct LevelMeter {
    channels: usize,
    sample_rate: u32,
    slice_frames: usize,
    /// Frames and pooled sum of squares of the slice being filled.
    slice_fill: usize,
    slice_sum: f64,
    total_sum: f64,
    total_frames: u64,
    /// Sums of squares of the last [`NOISE_SLICES`] slices (a ring) and how many slices ended.
    recent: [f64; NOISE_SLICES],
    slices: u64,
    quietest_window: f64,
    /// Sum of squares of the quietest [`REFERENCE_SLICES`] consecutive slices.
    quietest_reference: f64,
    /// Mean squares of the first slices, up to [`ROOM_TONE_WINDOW_S`].
    head: Vec<f32>,
    /// Mean squares of the last slices, a ring of the same length.
    tail: Vec<f32>,
    window_slices: usize,
}

impl LevelMeter {
    pub fn new(sample_rate: u32, channels: usize) -> LevelMeter {
        let slice_frames = ((sample_rate as f64 * SLICE_S).round() as usize).max(1);
        let window_slices = (ROOM_TONE_WINDOW_S / SLICE_S) as usize;
        LevelMeter {
            channels: channels.max(1),
            sample_rate,
            slice_frames,
            slice_fill: 0,
            slice_sum: 0.0,
            total_sum: 0.0,
            total_frames: 0,
            recent: [0.0; NOISE_SLICES],
            slices: 0,
            quietest_window: f64::INFINITY,
            quietest_reference: f64::INFINITY,
            head: Vec::with_capacity(window_slices),
            tail: vec![0.0; window_slices],
            window_slices,
        }
    }

    /// Adds `range` of each channel of a planar block.
    pub fn add(&mut self, block: &[Vec<f32>], range: std::ops::Range<usize>) {
        let mut start = range.start;
        while start < range.end {
            let n = (self.slice_frames - self.slice_fill).min(range.end - start);
            let mut sum = 0.0f64;
            for channel in block.iter().take(self.channels) {
                let part: f32 = channel[start..start + n].iter().map(|&x| x * x).sum();
                sum += part as f64;
            }
            self.slice_sum += sum;
            self.slice_fill += n;
            start += n;
            if self.slice_fill == self.slice_frames {
                self.end_slice();
            }
        }
    }

    fn end_slice(&mut self) {
        let sum = self.slice_sum;
        self.total_sum += sum;
        self.total_frames += self.slice_frames as u64;
        self.slice_sum = 0.0;
        self.slice_fill = 0;
        let mean_square = (sum / (self.slice_frames * self.channels) as f64) as f32;
        if self.head.len() < self.window_slices {
            self.head.push(mean_square);
        }
        let at = (self.slices % self.window_slices as u64) as usize;
        self.tail[at] = mean_square;
        self.recent[(self.slices % NOISE_SLICES as u64) as usize] = sum;
        self.slices += 1;
        if self.slices >= REFERENCE_SLICES as u64 {
            let last = self.slices as usize - 1;
            let reference: f64 = (0..REFERENCE_SLICES)
                .map(|back| self.recent[(last - back) % NOISE_SLICES])
                .sum();
            self.quietest_reference = self.quietest_reference.min(reference);
        }
        if self.slices >= NOISE_SLICES as u64 {
            let window: f64 = self.recent.iter().sum();
            self.quietest_window = self.quietest_window.min(window);
        }
    }

    pub fn finish(&self) -> Levels {
        let frames = self.total_frames + self.slice_fill as u64;
        let samples = (frames * self.channels as u64) as f64;
        let db = |mean_square: f64| Some(10.0 * mean_square.log10()).filter(|v| v.is_finite());
        let rms_dbfs = if frames == 0 {
            None
        } else {
            db((self.total_sum + self.slice_sum) / samples)
        };
        let window_samples = (NOISE_SLICES * self.slice_frames * self.channels) as f64;
        let noise_floor_dbfs = if self.quietest_window.is_finite() {
            db(self.quietest_window / window_samples)
        } else {
            None
        };
        let reference_samples = (REFERENCE_SLICES * self.slice_frames * self.channels) as f64;
        let (room_tone_head_s, room_tone_tail_s) = self.room_tone(self.quietest_reference / reference_samples, frames);
        Levels {
            rms_dbfs,
            noise_floor_dbfs,
            room_tone_head_s,
            room_tone_tail_s,
        }
    }

    /// Head and tail room tone in seconds, given the mean square of the quietest 100 ms.
    fn room_tone(&self, reference: f64, frames: u64) -> (Option<f64>, Option<f64>) {
        let floor = if reference.is_finite() {
            reference
        } else {
            // Shorter than 100 ms: the quietest slice stands in.
            self.head.iter().fold(f64::INFINITY, |m, &v| m.min(v as f64))
        };
        if !floor.is_finite() {
            return (None, None);
        }
        let threshold = (floor * 10f64.powf(ROOM_TONE_MARGIN_DB / 10.0)).max(10f64.powf(ROOM_TONE_MIN_DBFS / 10.0));
        let slice_s = self.slice_frames as f64 / self.sample_rate as f64;
        let duration = frames as f64 / self.sample_rate as f64;
        let first = self.head.iter().position(|&v| v as f64 > threshold);
        let kept = (self.slices as usize).min(self.window_slices);
        // The ring's slices in time order: the oldest kept one sits at `slices % len` once full.
        let oldest = if self.slices as usize > self.window_slices {
            (self.slices % self.window_slices as u64) as usize
        } else {
            0
        };
        let last_from_end = (0..kept).position(|back| {
            let at = (oldest + kept - 1 - back) % self.window_slices;
            self.tail[at] as f64 > threshold
        });
        let whole_file_seen = self.slices as usize <= self.window_slices;
        match (first, last_from_end) {
            // Nothing stands out: all narration (no room tone at all) or all room tone.
            (None, None) if whole_file_seen && floor >= 10f64.powf(ROOM_TONE_MAX_DBFS / 10.0) => (Some(0.0), Some(0.0)),
            (None, None) if whole_file_seen => (None, None),
            (first, last) => {
                let head = first.map_or(ROOM_TONE_WINDOW_S, |k| k as f64 * slice_s);
                // After the last narration slice: the slices that follow it and the partial slice.
                let partial = self.slice_fill as f64 / self.sample_rate as f64;
                let tail = last.map_or(ROOM_TONE_WINDOW_S, |back| back as f64 * slice_s + partial);
                (Some(head.min(duration)), Some(tail.min(duration)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic white noise at `rms_dbfs` (uniform: RMS = amplitude / √3).
    fn noise(n: usize, rms_dbfs: f64, seed: u64) -> Vec<f32> {
        let amplitude = 10f64.powf(rms_dbfs / 20.0) * 3f64.sqrt();
        let mut state = seed.max(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amplitude as f32
            })
            .collect()
    }

    fn tone(n: usize, rate: u32, rms_dbfs: f64) -> Vec<f32> {
        let amplitude = 10f64.powf(rms_dbfs / 20.0) * 2f64.sqrt();
        (0..n)
            .map(|i| (amplitude * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / rate as f64).sin()) as f32)
            .collect()
    }

    fn measure(channels: &[Vec<f32>], rate: u32, block: usize) -> Levels {
        let mut meter = LevelMeter::new(rate, channels.len());
        let n = channels[0].len();
        for start in (0..n).step_by(block) {
            meter.add(channels, start..(start + block).min(n));
        }
        meter.finish()
    }

    /// Room tone, narration (a tone at `voice_dbfs`), room tone.
    fn narration(rate: u32, head_s: f64, voice_s: f64, tail_s: f64, floor_dbfs: f64, voice_dbfs: f64) -> Vec<f32> {
        let frames = |s: f64| (s * rate as f64).round() as usize;
        let mut signal = noise(frames(head_s + voice_s + tail_s), floor_dbfs, 7);
        let start = frames(head_s);
        for (s, v) in signal[start..start + frames(voice_s)]
            .iter_mut()
            .zip(tone(frames(voice_s), rate, voice_dbfs))
        {
            *s += v;
        }
        signal
    }

    #[test]
    fn rms_of_a_sine_and_of_noise() {
        let rate = 44_100;
        let levels = measure(&[tone(rate as usize * 3, rate, -20.0)], rate, 4096);
        assert!((levels.rms_dbfs.unwrap() + 20.0).abs() < 0.01, "{levels:?}");
        let levels = measure(&[noise(rate as usize * 3, -40.0, 3)], rate, 4096);
        assert!((levels.rms_dbfs.unwrap() + 40.0).abs() < 0.05, "{levels:?}");
        assert!((levels.noise_floor_dbfs.unwrap() + 40.0).abs() < 0.3, "{levels:?}");
    }

    #[test]
    fn stereo_pools_the_channels_power() {
        let rate = 48_000;
        let left = tone(rate as usize * 2, rate, -20.0);
        let right = tone(rate as usize * 2, rate, -26.0);
        let levels = measure(&[left, right], rate, 1000);
        let pooled = 10.0 * ((10f64.powf(-2.0) + 10f64.powf(-2.6)) / 2.0).log10();
        assert!(
            (levels.rms_dbfs.unwrap() - pooled).abs() < 0.01,
            "{levels:?} vs {pooled}"
        );
    }

    #[test]
    fn noise_floor_is_the_quietest_half_second() {
        // 2 s at −50, then 0.5 s at −65, then 2 s at −50: the floor is the −65 stretch.
        let rate = 44_100;
        let part = |s: f64, db: f64, seed| noise((s * rate as f64) as usize, db, seed);
        let signal = [part(2.0, -50.0, 1), part(0.5, -65.0, 2), part(2.0, -50.0, 3)].concat();
        let levels = measure(&[signal], rate, 777);
        assert!((levels.noise_floor_dbfs.unwrap() + 65.0).abs() < 0.3, "{levels:?}");
        // 0.3 s of quiet is shorter than the window: the floor reads louder than −65.
        let signal = [part(2.0, -50.0, 1), part(0.3, -65.0, 2), part(2.0, -50.0, 3)].concat();
        let levels = measure(&[signal], rate, 777);
        assert!(levels.noise_floor_dbfs.unwrap() > -56.0, "{levels:?}");
    }

    #[test]
    fn room_tone_edges_are_found_to_the_slice() {
        let rate = 44_100;
        for (head, tail) in [(0.5, 1.0), (0.73, 4.2), (1.0, 5.0), (0.2, 0.4), (0.12, 0.11)] {
            let signal = narration(rate, head, 6.0, tail, -65.0, -20.0);
            let levels = measure(&[signal], rate, 4096);
            let h = levels.room_tone_head_s.unwrap();
            let t = levels.room_tone_tail_s.unwrap();
            assert!((h - head).abs() <= 0.011, "head {head}: {levels:?}");
            assert!((t - tail).abs() <= 0.011, "tail {tail}: {levels:?}");
            if head >= 0.5 {
                assert!((levels.noise_floor_dbfs.unwrap() + 65.0).abs() < 0.3, "{levels:?}");
            }
        }
        // Narration from the first sample to the last: no room tone at either end.
        let levels = measure(&[tone(rate as usize * 3, rate, -20.0)], rate, 4096);
        assert_eq!(
            (levels.room_tone_head_s, levels.room_tone_tail_s),
            (Some(0.0), Some(0.0))
        );
    }

    #[test]
    fn results_do_not_depend_on_block_size() {
        let rate = 22_050;
        let signal = narration(rate, 0.61, 3.0, 1.7, -62.0, -22.0);
        let stereo = [signal.clone(), signal.iter().map(|s| s * 0.5).collect()];
        let reference = measure(&stereo, rate, 4096);
        for block in [1, 7, 480] {
            let levels = measure(&stereo, rate, block);
            assert_eq!(levels.room_tone_head_s, reference.room_tone_head_s, "{block}");
            assert_eq!(levels.room_tone_tail_s, reference.room_tone_tail_s, "{block}");
            for (a, b) in [
                (levels.rms_dbfs, reference.rms_dbfs),
                (levels.noise_floor_dbfs, reference.noise_floor_dbfs),
            ] {
                assert!(
                    (a.unwrap() - b.unwrap()).abs() < 1e-3,
                    "{block}: {levels:?} vs {reference:?}"
                );
            }
        }
    }

    #[test]
    fn long_room_tone_reads_as_the_window_and_silence_as_no_narration() {
        let rate = 8_000;
        let signal = narration(rate, 70.0, 2.0, 65.0, -70.0, -20.0);
        let levels = measure(&[signal], rate, 4096);
        assert_eq!(levels.room_tone_head_s, Some(ROOM_TONE_WINDOW_S));
        assert_eq!(levels.room_tone_tail_s, Some(ROOM_TONE_WINDOW_S));
        let silence = vec![0.0f32; rate as usize * 3];
        let levels = measure(&[silence], rate, 4096);
        assert_eq!(levels, Levels::default(), "digital silence: every figure undefined");
        let levels = measure(&[noise(rate as usize * 3, -60.0, 9)], rate, 4096);
        assert_eq!((levels.room_tone_head_s, levels.room_tone_tail_s), (None, None));
    }

    #[test]
    fn a_file_shorter_than_the_window_has_no_floor_but_edges() {
        let rate = 16_000;
        let signal = narration(rate, 0.1, 0.2, 0.1, -60.0, -20.0);
        let levels = measure(&[signal], rate, 100);
        assert_eq!(levels.noise_floor_dbfs, None);
        assert!((levels.room_tone_head_s.unwrap() - 0.1).abs() <= 0.011, "{levels:?}");
        assert!((levels.room_tone_tail_s.unwrap() - 0.1).abs() <= 0.011, "{levels:?}");
    }
}
