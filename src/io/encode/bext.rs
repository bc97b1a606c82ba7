//! The Broadcast Wave `bext` chunk (EBU Tech 3285, version 2 with the loudness fields of
//! supplement 1): written into WAV outputs so a delivered spot carries its own loudness
//! figures, and parsed from inputs so their originator fields and coding history survive.

use crate::loudness::Measurement;

/// Byte offset of `LoudnessValue` in the chunk body; the five loudness fields follow it.
pub const LOUDNESS_OFFSET: usize = 412;
/// Length of the fixed part of the body; `CodingHistory` follows.
pub const FIXED_LEN: usize = 602;
/// What an unset loudness field holds.
pub const UNSET: i16 = 0x7FFF;
/// Longest coding history parsed or written (the chunk has no limit, a hostile input might).
const MAX_HISTORY: usize = 64 * 1024;

/// The five loudness fields, in 0.01 units (LU, LUFS, dBTP); `None` is written as 0x7FFF.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BextLoudness {
    pub loudness_value: Option<i16>,
    pub loudness_range: Option<i16>,
    pub max_true_peak_level: Option<i16>,
    pub max_momentary_loudness: Option<i16>,
    pub max_short_term_loudness: Option<i16>,
}

impl BextLoudness {
    /// The fields for a measurement; undefined or unrepresentable values (silence: −∞) stay
    /// unset.
    pub fn from_measurement(m: &Measurement) -> Self {
        let field = |v: Option<f64>| {
            v.filter(|v| v.is_finite())
                .map(|v| (v * 100.0).round())
                .filter(|v| (f64::from(i16::MIN)..f64::from(UNSET)).contains(v))
                .map(|v| v as i16)
        };
        BextLoudness {
            loudness_value: field(m.integrated_lufs),
            loudness_range: field(m.lra_lu),
            max_true_peak_level: field(m.true_peak_dbtp),
            max_momentary_loudness: field(m.max_momentary_lufs),
            max_short_term_loudness: field(m.max_short_term_lufs),
        }
    }

    /// The ten bytes at [`LOUDNESS_OFFSET`].
    pub fn to_bytes(self) -> [u8; 10] {
        let mut out = [0u8; 10];
        let fields = [
            self.loudness_value,
            self.loudness_range,
            self.max_true_peak_level,
            self.max_momentary_loudness,
            self.max_short_term_loudness,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[2 * i..2 * i + 2].copy_from_slice(&v.unwrap_or(UNSET).to_le_bytes());
        }
        out
    }

    fn from_bytes(b: &[u8]) -> Self {
        let field = |i: usize| {
            let v = i16::from_le_bytes([b[2 * i], b[2 * i + 1]]);
            (v != UNSET).then_some(v)
        };
        BextLoudness {
            loudness_value: field(0),
            loudness_range: field(1),
            max_true_peak_level: field(2),
            max_momentary_loudness: field(3),
            max_short_term_loudness: field(4),
        }
    }
}

/// A `bext` chunk body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bext {
    pub description: String,
    pub originator: String,
    pub originator_reference: String,
    /// `yyyy-mm-dd`.
    pub origination_date: String,
    /// `hh:mm:ss`.
    pub origination_time: String,
    /// Samples since midnight of the first sample: the file's place on a timeline.
    pub time_reference: u64,
    pub version: u16,
    pub umid: [u8; 64],
    pub loudness: BextLoudness,
    /// Lines of `A=…,F=…,W=…,M=…,T=…` ending in CR LF (EBU R 98).
    pub coding_history: String,
}

impl Bext {
    /// A fresh chunk for an output made by podclean at `now` (seconds since the Unix epoch,
    /// UTC), carrying an input's originator fields, time reference, UMID and coding history
    /// when there is one, and ending the history with `line`.
    pub fn for_output(input: Option<&Bext>, now_unix_s: u64, line: &str) -> Bext {
        let (date, time) = utc_date_time(now_unix_s);
        let mut bext = match input {
            Some(input) => Bext {
                version: 2,
                loudness: BextLoudness::default(),
                ..input.clone()
            },
            None => Bext {
                description: String::new(),
                originator: "podclean".into(),
                originator_reference: String::new(),
                origination_date: date,
                origination_time: time,
                time_reference: 0,
                version: 2,
                umid: [0; 64],
                loudness: BextLoudness::default(),
                coding_history: String::new(),
            },
        };
        let history = &mut bext.coding_history;
        if !history.is_empty() && !history.ends_with("\r\n") {
            history.push_str("\r\n");
        }
        history.push_str(line);
        history.push_str("\r\n");
        bext
    }

    /// The chunk body (without the chunk header).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; FIXED_LEN];
        put_text(&mut b[0..256], &self.description);
        put_text(&mut b[256..288], &self.originator);
        put_text(&mut b[288..320], &self.originator_reference);
        put_text(&mut b[320..330], &self.origination_date);
        put_text(&mut b[330..338], &self.origination_time);
        b[338..346].copy_from_slice(&self.time_reference.to_le_bytes());
        b[346..348].copy_from_slice(&self.version.to_le_bytes());
        b[348..412].copy_from_slice(&self.umid);
        b[LOUDNESS_OFFSET..LOUDNESS_OFFSET + 10].copy_from_slice(&self.loudness.to_bytes());
        let history = self.coding_history.as_bytes();
        b.extend_from_slice(&history[..history.len().min(MAX_HISTORY)]);
        // An even body needs no pad byte: readers that skip chunks by their declared size
        // alone (hound among them) would otherwise lose the `data` chunk behind it.
        if b.len() % 2 == 1 {
            b.push(0);
        }
        b
    }

    /// Parses a chunk body. Version 0 and 1 chunks (no loudness fields: those bytes were
    /// reserved, zero) parse with the loudness unset. `None` if the body is too short.
    pub fn parse(body: &[u8]) -> Option<Bext> {
        if body.len() < FIXED_LEN {
            return None;
        }
        let version = u16::from_le_bytes([body[346], body[347]]);
        let mut umid = [0u8; 64];
        umid.copy_from_slice(&body[348..412]);
        let history = &body[FIXED_LEN..body.len().min(FIXED_LEN + MAX_HISTORY)];
        Some(Bext {
            description: get_text(&body[0..256]),
            originator: get_text(&body[256..288]),
            originator_reference: get_text(&body[288..320]),
            origination_date: get_text(&body[320..330]),
            origination_time: get_text(&body[330..338]),
            time_reference: u64::from_le_bytes(body[338..346].try_into().ok()?),
            version,
            umid,
            loudness: if version >= 2 {
                BextLoudness::from_bytes(&body[LOUDNESS_OFFSET..LOUDNESS_OFFSET + 10])
            } else {
                BextLoudness::default()
            },
            coding_history: get_text(history),
        })
    }
}

/// ASCII (EBU Tech 3285 says so), zero-padded, cut to the field.
fn put_text(field: &mut [u8], text: &str) {
    let ascii: Vec<u8> = text.bytes().map(|c| if c.is_ascii() { c } else { b'?' }).collect();
    let n = ascii.len().min(field.len());
    field[..n].copy_from_slice(&ascii[..n]);
}

fn get_text(field: &[u8]) -> String {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// `("yyyy-mm-dd", "hh:mm:ss")` in UTC.
fn utc_date_time(unix_s: u64) -> (String, String) {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", secs / 3_600, secs / 60 % 60, secs % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_input() -> Bext {
        Bext {
            description: "Spot 42: spring sale".into(),
            originator: "Studio B".into(),
            originator_reference: "USID-0042".into(),
            origination_date: "2024-03-01".into(),
            origination_time: "09:30:00".into(),
            time_reference: 1_728_000_000,
            version: 1,
            umid: [7; 64],
            loudness: BextLoudness::default(),
            coding_history: "A=PCM,F=48000,W=24,M=stereo,T=Studio B desk\r\n".into(),
        }
    }

    #[test]
    fn fields_sit_at_the_offsets_of_the_spec() {
        let mut bext = Bext::for_output(Some(&sample_input()), 0, "A=PCM,F=48000,W=24,M=stereo,T=podclean");
        bext.loudness = BextLoudness::from_measurement(&Measurement {
            integrated_lufs: Some(-23.004),
            lra_lu: Some(4.5),
            true_peak_dbtp: Some(-1.236),
            max_momentary_lufs: Some(-18.0),
            max_short_term_lufs: None,
            ..Measurement::default()
        });
        let b = bext.to_bytes();
        let i16_at = |i: usize| i16::from_le_bytes([b[i], b[i + 1]]);
        assert_eq!(&b[0..20], b"Spot 42: spring sale");
        assert_eq!(b[20], 0);
        assert_eq!(&b[256..264], b"Studio B");
        assert_eq!(&b[288..297], b"USID-0042");
        assert_eq!(&b[320..330], b"2024-03-01");
        assert_eq!(&b[330..338], b"09:30:00");
        assert_eq!(u64::from_le_bytes(b[338..346].try_into().unwrap()), 1_728_000_000);
        assert_eq!(u16::from_le_bytes([b[346], b[347]]), 2, "written as version 2");
        assert_eq!(b[348..412], [7; 64]);
        assert_eq!(
            [i16_at(412), i16_at(414), i16_at(416), i16_at(418), i16_at(420)],
            [-2300, 450, -124, -1800, 0x7FFF]
        );
        assert!(b[422..602].iter().all(|&c| c == 0), "reserved bytes stay zero");
        assert_eq!(b.len() % 2, 0, "even length, no pad byte needed");
        assert_eq!(
            std::str::from_utf8(&b[602..]).unwrap().trim_end_matches('\0'),
            "A=PCM,F=48000,W=24,M=stereo,T=Studio B desk\r\nA=PCM,F=48000,W=24,M=stereo,T=podclean\r\n"
        );
        assert_eq!(Bext::parse(&b), Some(bext));
    }

    #[test]
    fn silence_and_out_of_range_values_stay_unset() {
        let loudness = BextLoudness::from_measurement(&Measurement {
            integrated_lufs: None,
            lra_lu: Some(f64::NAN),
            true_peak_dbtp: Some(f64::NEG_INFINITY),
            max_momentary_lufs: Some(-400.0),
            max_short_term_lufs: Some(-70.0),
            ..Measurement::default()
        });
        assert_eq!(
            loudness.to_bytes()[..8],
            [0xFF, 0x7F, 0xFF, 0x7F, 0xFF, 0x7F, 0xFF, 0x7F]
        );
        assert_eq!(loudness.max_short_term_loudness, Some(-7000));
    }

    #[test]
    fn version_1_chunk_parses_without_loudness_and_short_body_is_refused() {
        let mut body = sample_input().to_bytes();
        body[LOUDNESS_OFFSET..LOUDNESS_OFFSET + 2].copy_from_slice(&[1, 2]);
        let parsed = Bext::parse(&body).unwrap();
        assert_eq!(parsed.version, 1);
        assert_eq!(parsed.loudness, BextLoudness::default(), "reserved bytes in v1");
        assert!(Bext::parse(&body[..601]).is_none());
    }

    #[test]
    fn new_chunk_is_dated_and_signed() {
        // 2024-02-29 13:05:09 UTC.
        let bext = Bext::for_output(None, 1_709_211_909, "T=podclean");
        assert_eq!(bext.origination_date, "2024-02-29");
        assert_eq!(bext.origination_time, "13:05:09");
        assert_eq!(bext.originator, "podclean");
        assert_eq!(bext.coding_history, "T=podclean\r\n");
        assert_eq!(utc_date_time(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(utc_date_time(951_782_400).0, "2000-02-29");
    }
}
