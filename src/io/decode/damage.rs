//! Damage that does not stop decoding (lost or undecodable packets, junk between MPEG
//! frames, NaN/Inf samples): counted, placed in time, worded as one warning per kind that is
//! updated as more is found — and a file that is mostly damage fails instead.

use super::DecodeError;

/// A corrupt packet longer than this (in seconds) is dropped instead of replaced by silence.
const MAX_FILL_S: u64 = 10;
/// Give up early once this many packets failed and they outnumber good ones four to one.
const EARLY_GIVE_UP_BAD: u64 = 50;

#[derive(Debug, Default)]
pub(super) struct Damage {
    good_packets: u64,
    bad_packets: u64,
    bad_first_s: f64,
    bad_last_s: f64,
    /// Frames of silence put in place of lost audio.
    filled_frames: u64,
    non_finite: u64,
    junk_bytes: u64,
    junk_runs: u64,
    junk_first_s: f64,
    junk_last_s: f64,
    warnings: Vec<String>,
    bad_warning: Option<usize>,
    nan_warning: Option<usize>,
    junk_warning: Option<usize>,
}

impl Damage {
    pub fn good_packet(&mut self) {
        self.good_packets += 1;
    }

    pub fn good_packets(&self) -> u64 {
        self.good_packets
    }

    pub fn bad_packets(&self) -> u64 {
        self.bad_packets
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A warning about the file as a whole (said once).
    pub fn warn(&mut self, text: String) {
        self.warnings.push(text);
    }

    /// Records `packets` packets lost or undecodable at `at_s`, `fill` frames long. Returns
    /// the frames of silence to put in their place (none if implausibly long), or fails once
    /// damage clearly outweighs audio.
    pub fn lost(&mut self, packets: u64, fill: u64, at_s: f64, rate: u32, codec: &str) -> Result<u64, DecodeError> {
        if self.bad_packets == 0 {
            self.bad_first_s = at_s;
        }
        self.bad_last_s = at_s;
        self.bad_packets += packets;
        let max_fill = u64::from(rate) * MAX_FILL_S;
        let fill = if fill <= max_fill { fill } else { 0 };
        self.filled_frames += fill;
        let n = self.bad_packets;
        let place = if self.bad_last_s - self.bad_first_s < 1.0 {
            format!("near {:.1} s", self.bad_first_s)
        } else {
            format!("between {:.1} s and {:.1} s", self.bad_first_s, self.bad_last_s)
        };
        let filled = if self.filled_frames > 0 && rate > 0 {
            format!(
                " (replaced by {:.0} ms of silence to keep sync)",
                self.filled_frames as f64 * 1000.0 / f64::from(rate)
            )
        } else {
            String::new()
        };
        let text = format!("skipped {n} corrupt {codec} packet{} {place}{filled}", plural(n));
        set_warning(&mut self.warnings, &mut self.bad_warning, text);
        if self.bad_packets >= EARLY_GIVE_UP_BAD && self.bad_packets > 4 * self.good_packets {
            return Err(self.mostly_corrupt(codec));
        }
        Ok(fill)
    }

    /// Records `skipped` bytes of junk the demuxer stepped over before a frame at `at_s`.
    pub fn junk(&mut self, skipped: u64, at_s: f64, codec: &str) {
        if self.junk_runs == 0 {
            self.junk_first_s = at_s;
        }
        self.junk_last_s = at_s;
        self.junk_runs += 1;
        self.junk_bytes += skipped;
        let place = if self.junk_last_s - self.junk_first_s < 1.0 {
            format!("near {:.1} s", self.junk_first_s)
        } else {
            format!(
                "in {} places between {:.1} s and {:.1} s",
                self.junk_runs, self.junk_first_s, self.junk_last_s
            )
        };
        let text = format!(
            "skipped {} byte{} of junk between {codec} frames {place} (damaged or spliced file; expect a glitch)",
            self.junk_bytes,
            plural(self.junk_bytes),
        );
        set_warning(&mut self.warnings, &mut self.junk_warning, text);
    }

    /// Records `count` NaN/Inf samples that were replaced with silence.
    pub fn non_finite(&mut self, count: u64) {
        self.non_finite += count;
        let text = format!(
            "replaced {} NaN/Inf sample{} with silence",
            self.non_finite,
            plural(self.non_finite)
        );
        set_warning(&mut self.warnings, &mut self.nan_warning, text);
    }

    /// At the end of the stream: fails if damage outweighs audio (`produced` frames, silence
    /// fill included).
    pub fn check_at_end(&self, produced: u64, codec: &str) -> Result<(), DecodeError> {
        let decoded = produced - self.filled_frames.min(produced);
        if self.bad_packets > self.good_packets || self.filled_frames > decoded {
            return Err(self.mostly_corrupt(codec));
        }
        Ok(())
    }

    fn mostly_corrupt(&self, codec: &str) -> DecodeError {
        DecodeError::MostlyCorrupt {
            bad: self.bad_packets,
            total: self.bad_packets + self.good_packets,
            codec: codec.to_string(),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Sets the warning in `slot`, adding it on first use.
fn set_warning(warnings: &mut Vec<String>, slot: &mut Option<usize>, text: String) {
    match *slot {
        Some(i) => warnings[i] = text,
        None => {
            *slot = Some(warnings.len());
            warnings.push(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn one_warning_per_kind_updated_in_place() {
        let mut d = Damage::default();
        for _ in 0..10 {
            d.good_packet();
        }
        assert_eq!(d.lost(1, 4_800, 0.3, 48_000, "flac").unwrap(), 4_800);
        d.non_finite(1);
        assert_eq!(d.lost(2, 4_800, 2.0, 48_000, "flac").unwrap(), 4_800);
        d.non_finite(2);
        assert_eq!(
            d.warnings(),
            [
                "skipped 3 corrupt flac packets between 0.3 s and 2.0 s (replaced by 200 ms of silence to keep sync)",
                "replaced 3 NaN/Inf samples with silence",
            ]
        );
        // An implausibly long gap is not filled.
        assert_eq!(d.lost(1, 48_000 * 11, 3.0, 48_000, "flac").unwrap(), 0);
    }

    #[test]
    fn damage_that_outweighs_audio_fails_early_and_at_the_end() {
        let mut d = Damage::default();
        d.good_packet();
        for i in 0..EARLY_GIVE_UP_BAD - 1 {
            d.lost(1, 0, i as f64, 44_100, "mp3").unwrap();
        }
        let err = d.lost(1, 0, 60.0, 44_100, "mp3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "stream is mostly corrupt: 50 of 51 mp3 packets could not be decoded"
        );
        let mut d = Damage::default();
        d.good_packet();
        d.lost(2, 1_000, 0.0, 44_100, "aac").unwrap();
        assert!(d.check_at_end(3_000, "aac").is_err(), "more bad packets than good");
    }

    /// Offsets of FLAC frame headers (fixed-blocksize sync code 0xFFF8).
    fn flac_frames(bytes: &[u8]) -> Vec<usize> {
        (0..bytes.len() - 1)
            .filter(|&i| bytes[i] == 0xFF && bytes[i + 1] == 0xF8)
            .collect()
    }

    #[test]
    fn flac_with_a_damaged_frame_keeps_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        let frames = flac_frames(&bytes);
        assert!(frames.len() >= 9, "{frames:?}");
        bytes[frames[3] + 200] ^= 0x5A;
        let path = dir.path().join("damaged.flac");
        std::fs::write(&path, &bytes).unwrap();
        let d = decode_all(&path, 1000).unwrap();
        assert_eq!(d.frames, 44_100, "the lost frame became silence");
        assert_eq!(
            d.warnings,
            ["skipped 1 corrupt flac packet near 0.3 s (replaced by 104 ms of silence to keep sync)"]
        );
    }

    #[test]
    fn flac_that_is_mostly_damaged_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture("flac_s16_44k1_stereo.flac")).unwrap();
        for (k, &at) in flac_frames(&bytes).iter().enumerate() {
            if k % 8 != 0 {
                bytes[at + 200] ^= 0x5A;
            }
        }
        let path = dir.path().join("wrecked.flac");
        std::fs::write(&path, &bytes).unwrap();
        let err = decode_err(&path);
        assert!(err.to_string().starts_with("stream is mostly corrupt: "), "{err}");
        assert_eq!(err.kind(), super::super::DecodeErrorKind::Corrupt);
    }

    #[test]
    fn float_wav_with_nan_and_inf_is_sanitized() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.wav");
        let mut samples = vec![0.5f32; 4_800];
        samples[100] = f32::NAN;
        samples[201] = f32::INFINITY;
        samples[4_000] = f32::NEG_INFINITY;
        write_float_wav(&path, 48_000, 2, &samples);
        let mut dec = super::super::Decoder::open(&path).unwrap();
        let mut block = vec![vec![0.0f32; 4_800]; 2];
        assert_eq!(dec.read(&mut block).unwrap(), 2_400);
        assert_eq!(dec.read(&mut block).unwrap(), 0);
        assert_eq!(block[0][50], 0.0); // interleaved sample 100 → frame 50, left
        assert_eq!(block[1][100], 0.0); // 201 → frame 100, right
        assert_eq!(block[0][2_000], 0.0);
        assert_eq!(block[0][51], 0.5);
        let finite = block.iter().all(|p| p[..2_400].iter().all(|s| s.is_finite()));
        assert!(finite);
        assert_eq!(dec.warnings(), ["replaced 3 NaN/Inf samples with silence"]);
    }
}
