//! From a speech-level track to a gain curve: the level of whoever speaks, followed across
//! speaker changes at once but steady inside a speaker's phrase; gains bounded; pauses never
//! lifted above the speech around them.
//!
//! 1. **Chunks**: each phrase of speech (or, past 3 s, each stretch of about 2 s of it) gets
//!    one level, the mean momentary loudness (400 ms, as BS.1770's gating blocks) around its
//!    speech hops, gated as BS.1770 gates (hops more than 10 dB under the phrase's ungated
//!    level do not count), with the median pitch of its phrase where enough of it is voiced.
//! 2. **Level path** (Viterbi over a 0.25-dB grid): the most likely level behind the chunks.
//!    A chunk scatters around its voice's level by 2 dB plus a measuring noise that falls
//!    with its length; from one chunk to the next the level either drifts (a random walk,
//!    0.4 dB per √s) or jumps to any level for a fixed cost (a new voice) — cheaper between
//!    phrases than inside one, and cheaper still when the median pitch moved by half an
//!    octave. So a speaker change is a step, one voice's 2–4 dB of phrase-to-phrase
//!    variation is not, and a short "yeah" 14 dB under the host is its own voice.
//! 3. **Trend**: through each stretch of one voice (between jumps) a local linear fit
//!    (Gaussian weights in time, σ 3.5 s) gives the level at every chunk: a slow drift is
//!    followed without lag, phrase-to-phrase variation averages out.
//! 4. **Gain**: the file's reference level minus the level, bounded by `max_boost_db` /
//!    `max_cut_db`. The reference is the typical speech level (the median, weighted by time),
//!    moved only as far as it must for the quietest and the loudest voice (the 2nd and 98th
//!    percentiles of the speech time) both to reach it within those bounds. So when a quiet
//!    guest does most of the talking, the host is cut by up to `max_cut_db` and the guest
//!    raised by the rest: voices up to `max_boost_db + max_cut_db` apart come out level,
//!    whoever talks more.
//! 5. **Phrases and pauses**: inside a phrase the gain is interpolated between its chunks.
//!    A phrase's gain holds 100 ms past its end (the decay of the last word) and from 50 ms
//!    before its start (the breath in); in between, the gain holds the lower of the two
//!    neighbours' gains (it holds or falls, never rises), with 80-ms ramps. Across a gap too
//!    short for that, it moves straight from one phrase's gain to the next's. Before the
//!    first and after the last phrase the nearest phrase's gain holds. So room tone, breaths
//!    and coughs in pauses are never raised above the speech next to them.
//! 6. A 50-ms moving average rounds the corners of the ramps.

use super::super::speech::Detection;

/// A phrase longer than this (hops) is measured in several chunks, so a long turn can drift
/// and a speaker change without a pause is still followed.
const MAX_CHUNK_HOPS: usize = 300;
/// BS.1770's relative gate (10 dB under the ungated level), as an energy ratio.
const RELATIVE_GATE: f64 = 0.1;
/// Half of the momentary window (hops): 400 ms in all, as BS.1770's gating blocks.
const MOMENTARY_HALF_HOPS: usize = 20;
/// Length long phrases are cut into (hops), about.
const CHUNK_HOPS: usize = 200;
/// How far one speaker's stretches of speech scatter around their local level (dB, σ):
/// phrase-to-phrase variation plus the measuring noise of a short stretch, which falls with
/// its length (a few syllables can be quieter or louder than the voice).
const SCATTER_DB: f64 = 2.0;
const SHORT_SCATTER_DB_SQRT_S: f64 = 2.0;
/// How fast a speaker's level may drift (dB per √second, σ of a random walk).
const DRIFT_DB_PER_SQRT_S: f64 = 0.4;
/// Cost of a jump to a new level (a new voice) between phrases, in units of squared σs.
const CHANGE_COST: f64 = 1.2;
/// Inside a phrase (no pause) a new voice is less likely: the jump costs this many times more.
const CHANGE_IN_PHRASE_FACTOR: f64 = 3.0;
/// Two stretches whose median pitches lie this far apart (octaves) are taken for different
/// voices, and a new level costs only [`VOICE_CHANGE_FACTOR`] of a change there.
const VOICE_CHANGE_OCTAVES: f64 = 0.5;
const VOICE_CHANGE_FACTOR: f64 = 0.2;
/// Voiced hops a phrase needs for a median pitch.
const MIN_PITCHED_HOPS: usize = 20;
/// The quietest and the loudest voice are measured at these quantiles of the speech time (and
/// one minus it), so a stray second of something very quiet or very loud does not move the
/// reference: such a passage is bounded by `max_boost_db` / `max_cut_db` from the typical level.
const VOICE_RANGE_QUANTILE: f64 = 0.02;
/// Time constant (σ) of the smoothing of the level inside one voice's stretch, in hops (3.5 s).
const TREND_SIGMA_HOPS: f64 = 350.0;
/// Resolution of the level grid, dB.
const GRID_DB: f64 = 0.25;
/// Hops per second.
const HOPS_PER_S: f64 = 100.0;
/// Gain ramps in pauses, in hops (80 ms).
const RAMP_HOPS: usize = 8;
/// A phrase's gain holds this long after its last speech hop (its decay), in hops (100 ms).
const HANG_HOPS: usize = 10;
/// And is reached this long before its first (a soft onset, the breath in), in hops (50 ms).
const LEAD_HOPS: usize = 5;
/// Final moving average, in hops (odd).
const SMOOTH_HOPS: usize = 5;

/// The leveler's decision for one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    /// Gain per hop in dB.
    pub gain_db: Vec<f32>,
    /// The speech level every gain is counted from (LUFS of the hop energies).
    pub reference_lufs: f64,
}

/// Builds the gain curve of a file from its per-hop energies and where its speech is;
/// `None` when there is no speech (the leveler then leaves the file alone).
pub fn gain_curve(
    energy: &[f32],
    pitch_hz: &[f32],
    detection: &Detection,
    max_boost_db: f64,
    max_cut_db: f64,
) -> Option<Curve> {
    let hops = energy.len();
    let chunks = chunks(energy, pitch_hz, detection);
    if chunks.is_empty() {
        return None;
    }
    let smoothed = level_path(&chunks);
    let reference = reference_level(&chunks, &smoothed, max_boost_db, max_cut_db);
    let chunk_gain: Vec<(usize, f32)> = chunks
        .iter()
        .zip(&smoothed)
        .map(|(chunk, &level)| {
            (
                chunk.centre,
                (reference - level).clamp(-max_cut_db, max_boost_db) as f32,
            )
        })
        .collect();

    let mut gain = vec![0.0f32; hops];
    let mut phrase_gains: Vec<(usize, f32, usize, f32)> = Vec::with_capacity(detection.phrases.len());
    let mut first = 0;
    for (p, phrase) in detection.phrases.iter().enumerate() {
        while first < chunks.len() && chunks[first].phrase < p {
            first += 1;
        }
        let mut end = first;
        while end < chunks.len() && chunks[end].phrase == p {
            end += 1;
        }
        if end == first {
            continue;
        }
        for k in phrase.clone() {
            gain[k] = interpolate(&chunk_gain[first..end], k);
        }
        phrase_gains.push((phrase.start, gain[phrase.start], phrase.end - 1, gain[phrase.end - 1]));
        first = end;
    }
    fill_pauses(&mut gain, &phrase_gains);
    Some(Curve {
        gain_db: moving_average(&gain, SMOOTH_HOPS),
        reference_lufs: reference - 0.691,
    })
}

/// A stretch of one phrase measured as one level: the energy mean of its speech hops.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    phrase: usize,
    centre: usize,
    level_db: f64,
    /// Speech hops in it.
    weight: f64,
    /// Median pitch of its phrase's voiced hops, in octaves (log2 Hz), if it has enough.
    pitch: Option<f64>,
}

fn chunks(energy: &[f32], pitch_hz: &[f32], detection: &Detection) -> Vec<Chunk> {
    // Momentary energy around each hop (400 ms, as BS.1770's gating blocks), counting
    // sounds that are not speech (a cough, a knock) as silence.
    let mut prefix = vec![0.0f64; energy.len() + 1];
    for k in 0..energy.len() {
        let heard = detection.speech[k] || !detection.active[k];
        prefix[k + 1] = prefix[k] + if heard { energy[k] as f64 } else { 0.0 };
    }
    let momentary = |k: usize| {
        let lo = k.saturating_sub(MOMENTARY_HALF_HOPS);
        let hi = (k + MOMENTARY_HALF_HOPS).min(energy.len());
        (prefix[hi] - prefix[lo]) / (hi - lo) as f64
    };
    let mut out = Vec::new();
    let mut pitches = Vec::new();
    for (p, phrase) in detection.phrases.iter().enumerate() {
        pitches.clear();
        pitches.extend(
            phrase
                .clone()
                .filter(|&k| detection.voiced[k] && pitch_hz[k] > 0.0)
                .map(|k| (pitch_hz[k] as f64).log2()),
        );
        let pitch = (pitches.len() >= MIN_PITCHED_HOPS).then(|| {
            let mid = pitches.len() / 2;
            *pitches.select_nth_unstable_by(mid, f64::total_cmp).1
        });
        let len = phrase.len();
        let pieces = if len <= MAX_CHUNK_HOPS {
            1
        } else {
            (len + CHUNK_HOPS / 2) / CHUNK_HOPS
        };
        // BS.1770's relative gate over the phrase: its fading ends and trailing syllables
        // weigh no more than a meter lets them, however many of them the detector took for
        // speech (a cleaner denoiser leaves more of them above the noise floor).
        let (mut phrase_sum, mut phrase_speech) = (0.0f64, 0usize);
        for k in phrase.clone().filter(|&k| detection.speech[k]) {
            phrase_sum += momentary(k);
            phrase_speech += 1;
        }
        let gate = phrase_sum / phrase_speech.max(1) as f64 * RELATIVE_GATE;
        for i in 0..pieces {
            let start = phrase.start + len * i / pieces;
            let end = phrase.start + len * (i + 1) / pieces;
            // The level of a stretch of speech as a loudness meter sees it: the momentary
            // loudness around its speech hops, so the gaps between words count as they do in
            // BS.1770's 400-ms blocks.
            let (mut sum, mut speech) = (0.0f64, 0usize);
            for k in (start..end).filter(|&k| detection.speech[k] && momentary(k) >= gate) {
                sum += momentary(k);
                speech += 1;
            }
            if speech > 0 && sum > 0.0 {
                out.push(Chunk {
                    phrase: p,
                    centre: (start + end) / 2,
                    level_db: 10.0 * (sum / speech as f64).log10(),
                    weight: speech as f64,
                    pitch,
                });
            }
        }
    }
    out
}

/// Step 2 of the module documentation: the most likely level path through the chunks
/// (Viterbi over a 0.25-dB grid). The cost of a path is the squared distance of each chunk
/// from it in scatter σs, weighted by the chunk's seconds of speech, plus a random-walk cost
/// for drifting between chunks, or a fixed cost for jumping to any level (a new voice).
fn level_path(chunks: &[Chunk]) -> Vec<f64> {
    let lowest = chunks.iter().map(|c| c.level_db).fold(f64::INFINITY, f64::min) - 1.0;
    let highest = chunks.iter().map(|c| c.level_db).fold(f64::NEG_INFINITY, f64::max) + 1.0;
    let states = ((highest - lowest) / GRID_DB).ceil() as usize + 1;
    let level = |s: usize| lowest + s as f64 * GRID_DB;
    let emission = |chunk: &Chunk, s: usize| (chunk.level_db - level(s)).powi(2) / (2.0 * variance(chunk));
    // `from[i·states + s]`: the state before chunk i on the best path through state s.
    let mut from = vec![0u32; chunks.len() * states];
    let mut cost: Vec<f64> = (0..states).map(|s| emission(&chunks[0], s)).collect();
    let mut next = vec![0.0; states];
    for i in 1..chunks.len() {
        let gap_s = (chunks[i].centre - chunks[i - 1].centre) as f64 / HOPS_PER_S;
        let variance = DRIFT_DB_PER_SQRT_S * DRIFT_DB_PER_SQRT_S * gap_s.max(0.01);
        let new_phrase = chunks[i].phrase != chunks[i - 1].phrase;
        let voice_changed = match (chunks[i].pitch, chunks[i - 1].pitch) {
            (Some(a), Some(b)) => new_phrase && (a - b).abs() >= VOICE_CHANGE_OCTAVES,
            _ => false,
        };
        let change = if voice_changed {
            CHANGE_COST * VOICE_CHANGE_FACTOR
        } else if !new_phrase {
            CHANGE_COST * CHANGE_IN_PHRASE_FACTOR
        } else {
            CHANGE_COST
        };
        // Beyond this many states a drift costs more than a change.
        let reach = ((2.0 * change * variance).sqrt() / GRID_DB).ceil() as usize;
        let (best_state, best_cost) =
            cost.iter()
                .enumerate()
                .fold((0, f64::INFINITY), |b, (s, &c)| if c < b.1 { (s, c) } else { b });
        for s in 0..states {
            let (mut arg, mut min) = (best_state, best_cost + change);
            let lo = s.saturating_sub(reach);
            for (prev, &previous) in cost.iter().enumerate().take((s + reach + 1).min(states)).skip(lo) {
                let c = previous + (level(s) - level(prev)).powi(2) / (2.0 * variance);
                if c < min {
                    (arg, min) = (prev, c);
                }
            }
            next[s] = min + emission(&chunks[i], s);
            // The high bit marks a jump (a new voice) rather than a drift.
            let jumped = if min == best_cost + change { JUMP } else { 0 };
            from[i * states + s] = arg as u32 | jumped;
        }
        std::mem::swap(&mut cost, &mut next);
    }
    let mut state = cost
        .iter()
        .enumerate()
        .fold((0, f64::INFINITY), |b, (s, &c)| if c < b.1 { (s, c) } else { b })
        .0;
    // Walk back, cutting the chunks into stretches of one voice where the path jumped.
    let mut starts = vec![0];
    for i in (1..chunks.len()).rev() {
        let step = from[i * states + state];
        if step & JUMP != 0 {
            starts.push(i);
        }
        state = (step & !JUMP) as usize;
    }
    starts.sort_unstable();
    starts.push(chunks.len());
    let mut path = Vec::with_capacity(chunks.len());
    for stretch in starts.windows(2) {
        trend(&chunks[stretch[0]..stretch[1]], &mut path);
    }
    path
}

const JUMP: u32 = 1 << 31;

/// The level through one voice's stretch of chunks: a local linear fit (Gaussian weights in
/// time, σ 3.5 s, each chunk counted by the inverse of its scatter) evaluated at every chunk.
/// It follows a slow drift without lag and averages phrase-to-phrase variation.
fn trend(chunks: &[Chunk], out: &mut Vec<f64>) {
    let reach = (3.0 * TREND_SIGMA_HOPS) as usize;
    for chunk in chunks {
        let (mut s0, mut s1, mut s2, mut t0, mut t1) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for other in chunks {
            let distance = other.centre.abs_diff(chunk.centre);
            if distance > reach {
                continue;
            }
            let d = (other.centre as f64 - chunk.centre as f64) / TREND_SIGMA_HOPS;
            let w = (-0.5 * d * d).exp() / variance(other);
            s0 += w;
            s1 += w * d;
            s2 += w * d * d;
            t0 += w * other.level_db;
            t1 += w * d * other.level_db;
        }
        // A little ridge on the slope keeps a one-sided fit (at a stretch's ends) sane.
        let s2 = s2 + TREND_RIDGE * s0;
        let det = s0 * s2 - s1 * s1;
        out.push(if det > 1e-12 {
            (t0 * s2 - s1 * t1) / det
        } else {
            t0 / s0
        });
    }
}

/// Ridge on the slope of [`trend`], relative to the weight of the fit.
const TREND_RIDGE: f64 = 1.0;

/// Scatter (dB²) of a chunk's level around its voice's level.
fn variance(chunk: &Chunk) -> f64 {
    let seconds = chunk.weight / HOPS_PER_S;
    SCATTER_DB.powi(2) + SHORT_SCATTER_DB_SQRT_S.powi(2) / seconds
}

/// Step 4 of the module documentation: the level every passage is brought to.
fn reference_level(chunks: &[Chunk], levels: &[f64], max_boost_db: f64, max_cut_db: f64) -> f64 {
    let mut by_level: Vec<(f64, f64)> = levels.iter().zip(chunks).map(|(&l, c)| (l, c.weight)).collect();
    by_level.sort_by(|a, b| a.0.total_cmp(&b.0));
    let typical = weighted_quantile(&by_level, 0.5);
    let quietest = weighted_quantile(&by_level, VOICE_RANGE_QUANTILE);
    let loudest = weighted_quantile(&by_level, 1.0 - VOICE_RANGE_QUANTILE);
    // Any reference in [loudest - cut, quietest + boost] levels every voice within the bounds.
    // When the voices lie further apart than both bounds together, that range is empty and the
    // typical level stays wherever it lies between its two ends.
    let (a, b) = (loudest - max_cut_db, quietest + max_boost_db);
    typical.clamp(a.min(b), a.max(b))
}

/// The level below which a fraction `q` of the speech lies; `by_level` holds (level, hops of
/// speech) sorted by level.
fn weighted_quantile(by_level: &[(f64, f64)], q: f64) -> f64 {
    let wanted = by_level.iter().map(|p| p.1).sum::<f64>() * q;
    let mut acc = 0.0;
    for &(level, weight) in by_level {
        acc += weight;
        if acc >= wanted {
            return level;
        }
    }
    by_level.last().map_or(0.0, |p| p.0)
}

/// Linear interpolation of `(hop, gain)` points at hop `k`, holding the ends.
fn interpolate(points: &[(usize, f32)], k: usize) -> f32 {
    let i = points.partition_point(|p| p.0 <= k);
    match (i.checked_sub(1).map(|i| points[i]), points.get(i)) {
        (Some(a), Some(b)) => a.1 + (b.1 - a.1) * (k - a.0) as f32 / (b.0 - a.0) as f32,
        (Some(a), None) => a.1,
        (None, Some(b)) => b.1,
        (None, None) => 0.0,
    }
}

/// Step 4 of the module documentation for everything outside phrases. `phrases` holds, per
/// phrase in order, (first hop, its gain, last hop, its gain).
fn fill_pauses(gain: &mut [f32], phrases: &[(usize, f32, usize, f32)]) {
    let Some(&(first, first_gain, ..)) = phrases.first() else {
        return;
    };
    gain[..first].fill(first_gain);
    for pair in phrases.windows(2) {
        let (_, _, end, end_gain) = pair[0];
        let (start, start_gain, ..) = pair[1];
        let hold = end_gain.min(start_gain);
        // A voice's decay and its breath in keep its gain for a moment (hang, lead); across
        // a gap too short for both, the gain simply moves from one phrase's to the next's.
        let (hang_end, lead_start) = (end + HANG_HOPS, start.saturating_sub(LEAD_HOPS));
        for (k, g) in gain.iter_mut().enumerate().take(start).skip(end + 1) {
            *g = if hang_end >= lead_start {
                end_gain + (start_gain - end_gain) * (k - end) as f32 / (start - end) as f32
            } else if k <= hang_end {
                end_gain
            } else if k >= lead_start {
                start_gain
            } else {
                // Down from the phrase that ended, up to the one that starts: the lower of the two.
                let after = (k - hang_end) as f32 / RAMP_HOPS as f32;
                let before = (lead_start - k) as f32 / RAMP_HOPS as f32;
                let down = end_gain + (hold - end_gain) * after.min(1.0);
                let up = start_gain + (hold - start_gain) * before.min(1.0);
                down.min(up)
            };
        }
    }
    if let Some(&(.., last, last_gain)) = phrases.last() {
        gain[last + 1..].fill(last_gain);
    }
}

/// Centred moving average over `width` (odd) values, shrinking at the ends.
fn moving_average(values: &[f32], width: usize) -> Vec<f32> {
    let half = width / 2;
    let mut prefix = vec![0.0f64; values.len() + 1];
    for (k, &v) in values.iter().enumerate() {
        prefix[k + 1] = prefix[k] + v as f64;
    }
    (0..values.len())
        .map(|k| {
            let lo = k.saturating_sub(half);
            let hi = (k + half + 1).min(values.len());
            ((prefix[hi] - prefix[lo]) / (hi - lo) as f64) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::white_noise;
    use std::ops::Range;

    /// A file of phrases `(seconds, level dB)` separated by `pause` seconds of room tone at
    /// −60 dB; hop energies scatter ±3 dB (syllables). Returns the energies, the detection
    /// and each phrase's hop range.
    fn scene(phrases: &[(f64, f64)], pause: f64) -> (Vec<f32>, Detection, Vec<Range<usize>>) {
        let jitter = white_noise(100_000, 3);
        let pause_hops = (pause * HOPS_PER_S) as usize;
        let (mut energy, mut speech, mut ranges) = (Vec::new(), Vec::new(), Vec::new());
        let room = |n: usize, energy: &mut Vec<f32>, speech: &mut Vec<bool>| {
            energy.extend(std::iter::repeat_n(1e-6f32, n));
            speech.extend(std::iter::repeat_n(false, n));
        };
        room(pause_hops, &mut energy, &mut speech);
        for &(seconds, level) in phrases {
            let start = energy.len();
            for _ in 0..(seconds * HOPS_PER_S) as usize {
                let db = level + 3.0 * jitter[energy.len() % jitter.len()] as f64;
                energy.push(10f64.powf(db / 10.0) as f32);
                speech.push(true);
            }
            ranges.push(start..energy.len());
            room(pause_hops, &mut energy, &mut speech);
        }
        let detection = Detection {
            phrases: ranges.clone(),
            active: speech.clone(),
            voiced: speech.clone(),
            speech,
        };
        (energy, detection, ranges)
    }

    fn mean_gain(curve: &Curve, range: &Range<usize>) -> f64 {
        curve.gain_db[range.clone()].iter().map(|&g| g as f64).sum::<f64>() / range.len() as f64
    }

    fn spread(curve: &Curve, range: &Range<usize>) -> f64 {
        let g = &curve.gain_db[range.start + SMOOTH_HOPS..range.end - SMOOTH_HOPS];
        let (lo, hi) = g
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        (hi - lo) as f64
    }

    #[test]
    fn two_voices_twelve_db_apart_get_gains_twelve_db_apart_and_steady() {
        let phrases: Vec<(f64, f64)> = (0..12)
            .map(|i| (3.0 + (i % 4) as f64 * 2.0, if i % 2 == 0 { -20.0 } else { -32.0 }))
            .collect();
        let (energy, detection, ranges) = scene(&phrases, 0.6);
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        for (i, range) in ranges.iter().enumerate() {
            let expected = if i % 2 == 0 { -20.0 } else { -32.0 };
            let levelled = expected + mean_gain(&curve, range);
            let first = -20.0 + mean_gain(&curve, &ranges[0]);
            assert!(
                (levelled - first).abs() < 0.5,
                "phrase {i}: {levelled:.2} vs {first:.2}"
            );
            assert!(
                spread(&curve, range) < 0.5,
                "phrase {i} pumps: {:.2} dB",
                spread(&curve, range)
            );
        }
        // Pauses hold the lower gain: the loud voice's.
        for pair in ranges.windows(2) {
            let pause = pair[0].end + HANG_HOPS + RAMP_HOPS + 3..pair[1].start - LEAD_HOPS - RAMP_HOPS - 3;
            // Never above the gain where the speech on either side ends or starts.
            let low = curve.gain_db[pair[0].end - 1].min(curve.gain_db[pair[1].start]);
            for &g in &curve.gain_db[pause] {
                assert!(g <= low + 0.05, "pause gain {g} over {low}");
            }
        }
    }

    #[test]
    fn gains_stay_within_their_bounds() {
        let (energy, detection, ranges) = scene(&[(5.0, -10.0), (5.0, -30.0), (5.0, -50.0), (5.0, -30.0)], 0.5);
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        let max = curve.gain_db.iter().fold(f32::MIN, |m, &g| m.max(g));
        let min = curve.gain_db.iter().fold(f32::MAX, |m, &g| m.min(g));
        assert!(max <= 15.0 + 1e-4 && min >= -12.0 - 1e-4, "{min}..{max}");
        // The reference is the median voice (−30): −10 is cut by its 12 dB at most, −50 raised
        // by its 15 at most.
        assert!((mean_gain(&curve, &ranges[0]) + 12.0).abs() < 0.3);
        assert!((mean_gain(&curve, &ranges[2]) - 15.0).abs() < 0.3);
    }

    #[test]
    fn voices_as_far_apart_as_both_bounds_allow_are_levelled_whoever_talks_more() {
        // A quiet guest doing most of the talking (the typical level is theirs) and a host
        // 15 dB louder: the host is cut by all of max_cut (12 dB), the guest raised by the 3
        // dB left. A median reference alone would leave the host 3 dB over.
        let phrases: Vec<(f64, f64)> = (0..16)
            .map(|i| if i % 2 == 0 { (6.0, -35.0) } else { (3.0, -20.0) })
            .collect();
        let (energy, detection, ranges) = scene(&phrases, 0.6);
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        for pair in ranges.chunks(2) {
            let guest = -35.0 + mean_gain(&curve, &pair[0]);
            let host = -20.0 + mean_gain(&curve, &pair[1]);
            assert!(
                (host - guest).abs() < 0.5,
                "host {host:.2}, guest {guest:.2} after levelling"
            );
            assert!(mean_gain(&curve, &pair[1]) >= -12.0 - 1e-3);
        }
        let max = curve.gain_db.iter().fold(f32::MIN, |m, &g| m.max(g));
        let min = curve.gain_db.iter().fold(f32::MAX, |m, &g| m.min(g));
        assert!(max <= 15.0 + 1e-4 && min >= -12.0 - 1e-4, "{min}..{max}");
    }

    #[test]
    fn a_stray_second_of_very_quiet_speech_does_not_move_the_reference() {
        // One voice for a minute and one second of something 30 dB under it: the voice keeps
        // a gain of 0 dB (the reference stays its level) and the stray second is raised by
        // max_boost only.
        let mut phrases: Vec<(f64, f64)> = (0..12).map(|_| (5.0, -20.0)).collect();
        phrases.insert(6, (1.0, -50.0));
        let (energy, detection, ranges) = scene(&phrases, 0.6);
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        for (i, range) in ranges.iter().enumerate().filter(|(i, _)| *i != 6) {
            assert!(
                mean_gain(&curve, range).abs() < 0.3,
                "phrase {i}: {:.2} dB",
                mean_gain(&curve, range)
            );
        }
        assert!((mean_gain(&curve, &ranges[6]) - 15.0).abs() < 0.5);
    }

    #[test]
    fn a_short_quiet_interjection_is_levelled_and_a_steady_voice_is_left_alone() {
        let mut phrases = Vec::new();
        for i in 0..10 {
            phrases.push((4.0 + (i % 3) as f64, -20.0));
            if i == 5 {
                phrases.push((0.7, -34.0));
            }
        }
        let (energy, detection, ranges) = scene(&phrases, 0.5);
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        let host: Vec<f64> = ranges
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 6)
            .map(|(_, r)| mean_gain(&curve, r))
            .collect();
        let (lo, hi) = host
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &g| (lo.min(g), hi.max(g)));
        assert!(hi - lo < 0.5, "the steady host's gain moves: {lo:.2}..{hi:.2} dB");
        let lift = mean_gain(&curve, &ranges[6]) - host.iter().sum::<f64>() / host.len() as f64;
        assert!((lift - 14.0).abs() < 1.5, "interjection lifted by {lift:.2} dB");
    }

    #[test]
    fn a_slow_drift_is_followed() {
        // One voice sinking 12 dB over two minutes, phrases of 4 s.
        let phrases: Vec<(f64, f64)> = (0..26).map(|i| (4.0, -18.0 - 12.0 * i as f64 / 25.0)).collect();
        let (energy, detection, ranges) = scene(&phrases, 0.6);
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        let levelled: Vec<f64> = ranges
            .iter()
            .zip(&phrases)
            .map(|(r, &(_, level))| level + mean_gain(&curve, r))
            .collect();
        let (lo, hi) = levelled
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &l| (lo.min(l), hi.max(l)));
        assert!(hi - lo < 1.0, "levelled phrases span {lo:.2}..{hi:.2}");
    }

    #[test]
    fn faint_trailing_syllables_taken_for_speech_do_not_pull_a_voice_down() {
        // A host and a guest 10 dB under, alternating; every phrase of the guest trails off
        // into 1.5 s of syllables 22 dB down that the detector counted as speech (what a
        // clean denoiser leaves above the floor). A meter gates those out; so must the
        // leveler, or the guest comes out louder than the host.
        let mut phrases = Vec::new();
        for _ in 0..6 {
            phrases.push((4.0, -20.0));
            phrases.push((3.0, -30.0));
        }
        let (mut energy, detection, ranges) = scene(&phrases, 0.6);
        for range in ranges.iter().skip(1).step_by(2) {
            for e in &mut energy[range.end - 150..range.end] {
                *e *= 10f32.powf(-22.0 / 10.0);
            }
        }
        let pitch = vec![0.0; energy.len()];
        let curve = gain_curve(&energy, &pitch, &detection, 15.0, 12.0).unwrap();
        for pair in ranges.chunks(2) {
            let host = -20.0 + mean_gain(&curve, &pair[0]);
            let guest = -30.0 + mean_gain(&curve, &(pair[1].start..pair[1].end - 150));
            assert!(
                (host - guest).abs() < 1.0,
                "host {host:.2}, guest {guest:.2} after levelling"
            );
        }
    }

    #[test]
    fn no_speech_means_no_curve() {
        let (energy, mut detection, _) = scene(&[(2.0, -20.0)], 1.0);
        detection.speech.fill(false);
        detection.phrases.clear();
        assert_eq!(
            gain_curve(&energy, &vec![0.0; energy.len()], &detection, 15.0, 12.0),
            None
        );
    }
}
