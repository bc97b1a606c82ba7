//! Loudness over time for the report's plots, made from the 100-ms block energies the meters
//! already keep (no extra decoding), reduced to a fixed number of points so a three-hour
//! file costs the report as much as a three-minute one, and rounded to 0.1 dB.
//!
//! A plot is a list of series on one time axis. Short-term loudness of the input and of the
//! output are two; any other per-time track (a leveler's gain, in dB) is one more
//! [`Series`] with its own [`SeriesKind`], built with [`Series::from_track`].

use serde::{Deserialize, Serialize, Serializer};

/// Points per series, whatever the file's length.
pub const POINTS: usize = 200;
/// Short-term loudness is the mean energy of the last 30 blocks of 100 ms (3 s).
const SHORT_TERM_BLOCKS: usize = 30;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    /// Length of the time axis, in seconds; point `k` of `n` sits at `(k + 0.5) / n` of it.
    pub duration_s: f64,
    pub series: Vec<Series>,
}

/// What a series shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Short-term loudness of the input, LUFS.
    Input,
    /// Short-term loudness of the written output, LUFS.
    Output,
    /// A gain curve applied over time (a leveler's), dB.
    Gain,
}

impl SeriesKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Input => "input",
            SeriesKind::Output => "output",
            SeriesKind::Gain => "gain",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub kind: SeriesKind,
    /// One value per point (`null`: no signal there — digital silence).
    #[serde(serialize_with = "one_line")]
    pub values: Vec<Option<f32>>,
    /// Points holding a true peak above the spec's ceiling (or the limiter's), ascending.
    #[serde(default, skip_serializing_if = "Vec::is_empty", serialize_with = "one_line")]
    pub overs: Vec<u16>,
}

/// The values on one line even in pretty-printed JSON: 200 numbers one per line would make a
/// thousand-file report three times longer.
fn one_line<T: Serialize, S: Serializer>(values: &[T], serializer: S) -> Result<S::Ok, S::Error> {
    let text = serde_json::to_string(values).map_err(serde::ser::Error::custom)?;
    let raw = serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

impl Plot {
    pub fn new(duration_s: f64) -> Plot {
        Plot {
            duration_s,
            series: Vec::new(),
        }
    }

    pub fn get(&self, kind: SeriesKind) -> Option<&Series> {
        self.series.iter().find(|s| s.kind == kind)
    }

    /// Adds or replaces the series of its kind.
    pub fn set(&mut self, series: Series) {
        self.series.retain(|s| s.kind != series.kind);
        self.series.push(series);
        self.series.sort_by_key(|s| s.kind as u8);
    }
}

/// The blocks that point `k` of `points` covers, for a track of `len` blocks: at least one.
fn bucket(k: usize, points: usize, len: usize) -> std::ops::Range<usize> {
    let start = k * len / points;
    let end = ((k + 1) * len / points).max(start + 1).min(len);
    start..end
}

fn round_tenth(value: f64) -> Option<f32> {
    value.is_finite().then(|| ((value * 10.0).round() / 10.0) as f32)
}

impl Series {
    /// Short-term loudness from a meter's 100-ms block energies
    /// ([`crate::loudness::Meter::block_track`]): at each block the mean energy of the last 30
    /// (in the first 3 s, of those there are: a plot that rose from silence there would show a
    /// fade-in the audio does not have), then per point the mean energy of its blocks, in
    /// LUFS. `over_blocks` (the meter's over marks) become point indices.
    pub fn short_term(kind: SeriesKind, block_energies: &[f32], over_blocks: &[u32]) -> Series {
        let len = block_energies.len();
        let mut short_term = Vec::with_capacity(len);
        let mut window = 0.0f64;
        for (k, &e) in block_energies.iter().enumerate() {
            window += e as f64;
            if k >= SHORT_TERM_BLOCKS {
                window -= block_energies[k - SHORT_TERM_BLOCKS] as f64;
            }
            short_term.push(window.max(0.0) / (k + 1).min(SHORT_TERM_BLOCKS) as f64);
        }
        let values = if len == 0 {
            Vec::new()
        } else {
            (0..POINTS)
                .map(|k| {
                    let blocks = bucket(k, POINTS, len);
                    let mean = short_term[blocks.clone()].iter().sum::<f64>() / blocks.len() as f64;
                    round_tenth(crate::loudness::block_energy_to_lufs(mean))
                })
                .collect()
        };
        let mut overs: Vec<u16> = over_blocks
            .iter()
            .filter(|&&b| (b as usize) < len.max(1))
            .map(|&b| (b as usize * POINTS / len.max(1)).min(POINTS - 1) as u16)
            .collect();
        overs.dedup();
        Series { kind, values, overs }
    }

    /// Any evenly spaced track of dB values (a gain curve): the mean of each point's values.
    pub fn from_track(kind: SeriesKind, track_db: &[f32]) -> Series {
        let len = track_db.len();
        let values = if len == 0 {
            Vec::new()
        } else {
            (0..POINTS)
                .map(|k| {
                    let values = &track_db[bucket(k, POINTS, len)];
                    round_tenth(values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64)
                })
                .collect()
        };
        Series {
            kind,
            values,
            overs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn energy(lufs: f64) -> f32 {
        10f64.powf((lufs + 0.691) / 10.0) as f32
    }

    #[test]
    fn a_long_and_a_short_file_make_the_same_number_of_points() {
        for blocks in [1, 7, 199, 200, 201, 1800, 108_000] {
            let track = vec![energy(-20.0); blocks];
            let series = Series::short_term(SeriesKind::Input, &track, &[]);
            assert_eq!(series.values.len(), POINTS, "{blocks}");
        }
        assert!(Series::short_term(SeriesKind::Input, &[], &[]).values.is_empty());
    }

    #[test]
    fn steady_loudness_reads_back_from_the_start() {
        let track = vec![energy(-16.0); 3000]; // 5 minutes
        let series = Series::short_term(SeriesKind::Output, &track, &[]);
        for v in &series.values {
            assert_eq!(*v, Some(-16.0));
        }
        // A loud first second then quiet: the first points hold the loud second's level.
        let mut track = vec![energy(-30.0); 100];
        track[..10].fill(energy(-10.0));
        let series = Series::short_term(SeriesKind::Input, &track, &[]);
        assert_eq!(series.values[0], Some(-10.0));
    }

    #[test]
    fn a_loud_minute_shows_where_it_is() {
        // 10 minutes at −23 with −13 from 5:00 to 6:00: points 100..120 read −13.
        let mut track = vec![energy(-23.0); 6000];
        for e in &mut track[3000..3600] {
            *e = energy(-13.0);
        }
        let series = Series::short_term(SeriesKind::Input, &track, &[]);
        assert_eq!(series.values[99], Some(-23.0));
        assert_eq!(series.values[101], Some(-13.0));
        assert_eq!(series.values[119], Some(-13.0));
        assert!(
            series.values[120].unwrap() > -23.0,
            "the 3-s window still holds loud blocks"
        );
        assert_eq!(series.values[122], Some(-23.0));
    }

    #[test]
    fn silence_is_null_and_overs_map_to_points() {
        let mut track = vec![energy(-20.0); 400];
        for e in &mut track[100..200] {
            *e = 0.0;
        }
        let series = Series::short_term(SeriesKind::Input, &track, &[5, 6, 399]);
        assert_eq!(series.values[75], None, "blocks 150..152: 3 s of silence behind them");
        assert_eq!(series.overs, vec![2, 3, 199]);
    }

    #[test]
    fn values_stay_on_one_line_in_pretty_json_and_read_back() {
        let series = Series::short_term(SeriesKind::Input, &[energy(-20.0); 400], &[3]);
        let json = serde_json::to_string_pretty(&series).unwrap();
        assert_eq!(json.lines().count(), 5, "{json}");
        assert!(json.contains("\"values\": [-20.0,-20.0,"), "{json}");
        let back: Series = serde_json::from_str(&json).unwrap();
        assert_eq!(back, series);
    }

    #[test]
    fn gain_track_is_averaged_per_point() {
        let track: Vec<f32> = (0..400).map(|k| if k < 200 { -3.0 } else { 6.04 }).collect();
        let series = Series::from_track(SeriesKind::Gain, &track);
        assert_eq!(series.values.len(), POINTS);
        assert_eq!(series.values[0], Some(-3.0));
        assert_eq!(series.values[199], Some(6.0));
        let mut plot = Plot::new(40.0);
        plot.set(series);
        plot.set(Series::short_term(SeriesKind::Input, &[energy(-20.0); 400], &[]));
        let kinds: Vec<_> = plot.series.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [SeriesKind::Input, SeriesKind::Gain]);
    }
}
