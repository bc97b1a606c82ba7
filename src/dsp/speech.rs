//! Where the speech is, per 10 ms, without a neural network: the leveler's own detector,
//! used when no cleanup stage makes a speech estimate (denoising off), and fused with the
//! estimate when one does. The leveler must ride the level of voices, not of coughs, door
//! slams, breaths or room tone, so "speech" here means *voiced sound well above the noise
//! floor, lasting like a word does*.
//!
//! **Features** ([`SpeechAnalyzer`], streaming, one value each per hop):
//! * level — K-weighted mean square summed over channels (BS.1770's weighting, so the
//!   leveler measures what a loudness meter measures);
//! * periodicity — the highest normalized autocorrelation of the 250 Hz–4 kHz band over the
//!   lags of a 60–400 Hz pitch, on a 50 ms Hann window, divided by the window's own
//!   autocorrelation (Boersma 1993, the method of Praat's pitch tracker): about 1 for a
//!   sustained vowel, 0.1–0.3 for noise, bursts and breaths. Band-limiting removes the hum
//!   fundamental and the low resonance of a door slam, which are periodic but not voices;
//! * spectral flatness of the same band (geometric over arithmetic mean of the power
//!   spectrum): about 0.56 for white noise, under 0.3 for voiced speech.
//!
//! The mono mix is low-passed at 4 kHz and decimated to 16–24 kHz first: nothing above 4 kHz
//! is used, and the FFTs stay small whatever the file's rate.
//!
//! **Decision** ([`detect`], whole file, non-causal):
//! 1. noise floor: the 5th percentile of the hop levels over ±6 s, every 0.5 s (minimum
//!    statistics; any stretch of 12 s of speech has enough pauses between words to show
//!    the floor). A hop is *active* when it is 8 dB above the floor and above −70 LUFS;
//! 2. a hop is *voiced* when its periodicity is at least 0.45 (Praat's voicing threshold)
//!    and its flatness under 0.45 (not noise-like). With a speech probability from the
//!    denoiser, the voicing score is the geometric mean of that probability and the
//!    periodicity score, so each can veto the other;
//! 3. active hops less than 200 ms apart form islands; an island is speech when at least
//!    100 ms and 20 % of its active hops are voiced — a "yeah" has 0.3–1 s of voicing, a
//!    cough, a slam or a breath almost none;
//! 4. inside a speech island, an active hop is *speech* when it lies within 150 ms of a
//!    voiced hop (so consonants count, but a cough right after a word does not). The
//!    island from its first to its last speech hop is a *phrase*;
//! 5. a phrase needs 300 ms of speech (a word; a click or a breath that looks voiced for a
//!    moment has less), and may not lie more than 30 dB under the loudest phrase of at least
//!    a second within 30 s: no voice of one conversation sits that far under another, but a
//!    distant door's ringing or a breath the denoiser left voiced does.

use std::ops::Range;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::biquad::{butterworth_lowpass, Cascade};
use crate::loudness::k_weighting;

/// Hop of every per-hop track, in seconds.
pub const HOP_S: f64 = 0.01;

/// Periodicity analysis band and pitch range.
const BAND_LOW_HZ: f64 = 250.0;
const BAND_HIGH_HZ: f64 = 4000.0;
const PITCH_MIN_HZ: f64 = 60.0;
const PITCH_MAX_HZ: f64 = 400.0;
/// Analysis window: three periods of the lowest pitch.
const WINDOW_S: f64 = 0.05;
/// Lowest frequency of the pitch band (a low voice's fundamental is in it).
const PITCH_BAND_LOW_HZ: f64 = 50.0;
/// Praat's "octave cost": a lag twice as long must correlate this much better (relative) to
/// be taken as the period, so a period is not mistaken for two.
const OCTAVE_COST: f32 = 0.04;
/// The decimated analysis rate is at least this (so 4 kHz stays well inside it).
const ANALYSIS_RATE_MIN: u32 = 16_000;

/// Frames per hop at `sample_rate` (10 ms, rounded; at least 1).
pub fn hop_frames(sample_rate: u32) -> usize {
    ((sample_rate as f64 * HOP_S).round() as usize).max(1)
}

/// Streaming feature extraction (module documentation). Feed every frame in order with
/// [`SpeechAnalyzer::add`], then call [`SpeechAnalyzer::finish`] once.
pub struct SpeechAnalyzer {
    channels: usize,
    hop: usize,
    k_weighting: Cascade,
    hop_energy: f64,
    frames_in_hop: usize,
    decimation: usize,
    analysis_rate: f64,
    lowpass: Cascade,
    frames_seen: u64,
    /// The last `window.len()` decimated samples, oldest at `ring_pos`.
    ring: Vec<f32>,
    ring_pos: usize,
    window: Vec<f32>,
    /// Autocorrelation of the window, normalized to 1 at lag 0, for the lags searched and
    /// one beyond.
    window_acf: Vec<f32>,
    lags: Range<usize>,
    band: Range<usize>,
    pitch_band: Range<usize>,
    power: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    freq: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Hops by which the features trail the level (window centre vs hop centre).
    feature_delay: usize,
    tracks: Features,
}

/// Per-hop features of a whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// K-weighted mean square, summed over channels (0 for silence).
    pub energy: Vec<f32>,
    /// 0..1, see the module documentation.
    pub periodicity: Vec<f32>,
    /// 0..1, see the module documentation.
    pub flatness: Vec<f32>,
    /// The pitch (Hz): the lag of the highest autocorrelation of the band above 50 Hz, with
    /// a small preference for shorter lags. Meaningful only where the hop is voiced.
    pub pitch_hz: Vec<f32>,
}

impl Features {
    /// Hop level in LUFS (−∞ for silence), as BS.1770 would read a block of this energy.
    pub fn level_lufs(&self, hop: usize) -> f32 {
        energy_to_lufs(self.energy[hop] as f64) as f32
    }
}

/// BS.1770: loudness = −0.691 + 10·log10(energy).
pub fn energy_to_lufs(energy: f64) -> f64 {
    if energy > 0.0 {
        -0.691 + 10.0 * energy.log10()
    } else {
        f64::NEG_INFINITY
    }
}

impl SpeechAnalyzer {
    pub fn new(sample_rate: u32, channels: usize) -> SpeechAnalyzer {
        let rate = sample_rate as f64;
        let decimation = (sample_rate / ANALYSIS_RATE_MIN).max(1) as usize;
        let analysis_rate = rate / decimation as f64;
        let cutoff = BAND_HIGH_HZ.min(0.45 * analysis_rate);
        let n = ((WINDOW_S * analysis_rate).round() as usize).max(16);
        let max_lag = ((analysis_rate / PITCH_MIN_HZ).round() as usize).min(n / 2);
        let min_lag = ((analysis_rate / PITCH_MAX_HZ).round() as usize).clamp(1, max_lag);
        let size = (n + max_lag + 1).next_power_of_two();
        let window: Vec<f32> = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * (i as f64 + 0.5) / n as f64).cos()) as f32)
            .collect();
        let energy: f64 = window.iter().map(|&w| (w as f64).powi(2)).sum();
        let window_acf = (0..=max_lag + 1)
            .map(|lag| {
                let r: f64 = (0..n - lag).map(|i| window[i] as f64 * window[i + lag] as f64).sum();
                (r / energy) as f32
            })
            .collect();
        let bin = |hz: f64| (hz * size as f64 / analysis_rate).round() as usize;
        let band = bin(BAND_LOW_HZ).max(1)..(bin(cutoff) + 1).min(size / 2);
        let pitch_band = bin(PITCH_BAND_LOW_HZ).max(1)..band.end;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let hop = hop_frames(sample_rate);
        let window_centre_s = n as f64 / 2.0 / analysis_rate;
        let feature_delay = ((window_centre_s - HOP_S / 2.0) / HOP_S).round().max(0.0) as usize;
        let mut k = Cascade::new(k_weighting(rate).to_vec());
        k.prepare(channels);
        let mut lowpass = Cascade::new(butterworth_lowpass(rate, cutoff, 4));
        lowpass.prepare(1);
        SpeechAnalyzer {
            channels,
            hop,
            k_weighting: k,
            hop_energy: 0.0,
            frames_in_hop: 0,
            decimation,
            analysis_rate,
            lowpass,
            frames_seen: 0,
            ring: vec![0.0; n],
            ring_pos: 0,
            window,
            window_acf,
            lags: min_lag..max_lag + 1,
            band,
            pitch_band,
            power: vec![0.0; size / 2 + 1],
            time: forward.make_input_vec(),
            freq: forward.make_output_vec(),
            scratch: vec![Complex::new(0.0, 0.0); scratch_len],
            forward,
            inverse,
            feature_delay,
            tracks: Features::default(),
        }
    }

    /// Frames per hop.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Adds `range` of each channel of `block` (the next frames of the file).
    pub fn add(&mut self, block: &[Vec<f32>], range: Range<usize>) {
        debug_assert_eq!(block.len(), self.channels);
        let scale = 1.0 / self.channels as f64;
        for i in range {
            let mut mono = 0.0;
            for (c, channel) in block.iter().enumerate() {
                let x = channel[i] as f64;
                let x = if x.is_finite() { x } else { 0.0 };
                let y = self.k_weighting.tick(c, x);
                self.hop_energy += y * y;
                mono += x;
            }
            let low = self.lowpass.tick(0, mono * scale);
            if self.frames_seen.is_multiple_of(self.decimation as u64) {
                self.ring[self.ring_pos] = low as f32;
                self.ring_pos = (self.ring_pos + 1) % self.ring.len();
            }
            self.frames_seen += 1;
            self.frames_in_hop += 1;
            if self.frames_in_hop == self.hop {
                self.end_hop();
            }
        }
    }

    /// Closes the last, partial hop and returns the features, aligned so that hop `k` of
    /// every track describes frames `[k·hop, (k+1)·hop)`.
    pub fn finish(mut self) -> Features {
        if self.frames_in_hop > 0 {
            self.end_hop();
        }
        let delay = self.feature_delay;
        let mut tracks = self.tracks;
        for track in [&mut tracks.periodicity, &mut tracks.flatness, &mut tracks.pitch_hz] {
            if track.len() > delay {
                track.drain(..delay);
                let last = *track.last().unwrap_or(&0.0);
                track.extend(std::iter::repeat_n(last, delay));
            } else {
                track.fill(0.0);
            }
        }
        tracks
    }

    fn end_hop(&mut self) {
        let energy = self.hop_energy / self.frames_in_hop as f64;
        self.tracks.energy.push(energy as f32);
        self.hop_energy = 0.0;
        self.frames_in_hop = 0;
        let hop = self.window_features();
        self.tracks.periodicity.push(hop.periodicity);
        self.tracks.flatness.push(hop.flatness);
        self.tracks.pitch_hz.push(hop.pitch_hz);
    }

    /// The features of the window ending now.
    fn window_features(&mut self) -> HopFeatures {
        let silent = HopFeatures {
            periodicity: 0.0,
            flatness: 1.0,
            pitch_hz: 0.0,
        };
        let n = self.ring.len();
        let (older, newer) = self.ring.split_at(self.ring_pos);
        for ((t, &x), &w) in self.time.iter_mut().zip(newer.iter().chain(older)).zip(&self.window) {
            *t = x * w;
        }
        self.time[n..].fill(0.0);
        if self
            .forward
            .process_with_scratch(&mut self.time, &mut self.freq, &mut self.scratch)
            .is_err()
        {
            return silent;
        }
        for (p, c) in self.power.iter_mut().zip(&self.freq) {
            *p = c.norm_sqr();
        }
        let band = &self.power[self.band.clone()];
        let bins = band.len().max(1) as f64;
        let sum: f64 = band.iter().map(|&p| p as f64).sum();
        // Silence or near-silence: no periodicity to speak of, flat by convention.
        if sum.is_nan() || sum <= 1e-14 * bins {
            return silent;
        }
        let log_sum: f64 = band.iter().map(|&p| (p as f64 + 1e-20).ln()).sum();
        let flatness = ((log_sum / bins).exp() / (sum / bins)).clamp(0.0, 1.0) as f32;
        let mut features = HopFeatures { flatness, ..silent };
        // Voicing from the band above 250 Hz (no hum, no thump); pitch from everything above
        // 50 Hz, where a low voice's fundamental is, so its period is not taken for half.
        let lags = self.lags.clone();
        if !self.autocorrelation(self.band.clone()) {
            return features;
        }
        features.periodicity = lags
            .clone()
            .map(|lag| self.time[lag])
            .fold(0.0f32, f32::max)
            .clamp(0.0, 1.0);
        if !self.autocorrelation(self.pitch_band.clone()) {
            return features;
        }
        let min_lag = lags.start as f32;
        let period = lags
            .clone()
            .map(|lag| {
                (
                    lag,
                    self.time[lag] * (1.0 - OCTAVE_COST * (lag as f32 / min_lag).log2()),
                )
            })
            .fold((lags.start, f32::MIN), |best, x| if x.1 > best.1 { x } else { best })
            .0;
        features.pitch_hz = (self.analysis_rate / period as f64) as f32;
        features
    }

    /// Puts in `self.time[..lags.end]` the normalized autocorrelation (1 at lag 0, divided
    /// by the window's own) of the part of the last analysed window's spectrum in `bins`;
    /// false if that band is silent.
    fn autocorrelation(&mut self, bins: Range<usize>) -> bool {
        for (b, c) in self.freq.iter_mut().enumerate() {
            let p = if bins.contains(&b) { self.power[b] } else { 0.0 };
            *c = Complex::new(p, 0.0);
        }
        if self
            .inverse
            .process_with_scratch(&mut self.freq, &mut self.time, &mut self.scratch)
            .is_err()
        {
            return false;
        }
        let r0 = self.time[0];
        if r0.is_nan() || r0 <= 0.0 {
            return false;
        }
        for (lag, r) in self.time[..self.lags.end].iter_mut().enumerate() {
            *r /= r0 * self.window_acf[lag].max(1e-3);
        }
        true
    }
}

/// The features of one analysis window.
struct HopFeatures {
    periodicity: f32,
    flatness: f32,
    pitch_hz: f32,
}

/// Where the speech is (module documentation, "Decision"), per hop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// Hops whose level counts as speech level.
    pub speech: Vec<bool>,
    /// Stretches from the first to the last speech hop of an island, in order.
    pub phrases: Vec<Range<usize>>,
    /// Hops well above the noise floor, speech or not.
    pub active: Vec<bool>,
    /// Speech hops with a clear pitch.
    pub voiced: Vec<bool>,
}

impl Detection {
    /// Hops marked as speech.
    pub fn speech_hops(&self) -> usize {
        self.speech.iter().filter(|&&s| s).count()
    }
}

const FLOOR_PERCENTILE: f64 = 0.05;
const FLOOR_HALF_WINDOW_HOPS: usize = 600;
const FLOOR_STEP_HOPS: usize = 50;
const ACTIVE_ABOVE_FLOOR_DB: f32 = 8.0;
const ABSOLUTE_GATE_LUFS: f32 = -70.0;
/// Periodicity scores 0 at `LOW` and 1 at `HIGH`; a hop is voiced at a score of 0.5
/// (periodicity 0.45 without a second opinion).
const PERIODICITY_LOW: f32 = 0.3;
const PERIODICITY_HIGH: f32 = 0.6;
const VOICED_SCORE: f32 = 0.5;
const MAX_VOICED_FLATNESS: f32 = 0.45;
const BRIDGE_HOPS: usize = 20;
const MIN_VOICED_HOPS: usize = 10;
/// An island needs this much speech to count at all: a word's worth (300 ms). A short
/// "yeah" has more; a breath or a click that looks voiced for a moment has less.
const MIN_SPEECH_HOPS: usize = 30;
/// A phrase more than this under the loudest phrase (of at least a second of speech) within
/// 30 s is not speech: no voice in one conversation sits 30 dB under another (and the
/// leveler's bounds could not bring it up), but a distant door's ringing or a breath that the
/// denoiser left voiced does.
const BELOW_LOUDEST_SPEECH_DB: f64 = 30.0;
const REFERENCE_MIN_SPEECH_HOPS: usize = 100;
const REFERENCE_REACH_HOPS: usize = 3000;
const MIN_VOICED_FRACTION: f32 = 0.2;
const VOICE_REACH_HOPS: usize = 15;

/// Decides where the speech is from a file's features; `external[k]`, if given, is another
/// stage's speech probability for hop `k` (NaN: no opinion) (module documentation).
pub fn detect(features: &Features, external: Option<&[f32]>) -> Detection {
    let hops = features.energy.len();
    let levels: Vec<f32> = (0..hops).map(|k| features.level_lufs(k).max(-150.0)).collect();
    let floor = noise_floor(&levels);
    let active: Vec<bool> = (0..hops)
        .map(|k| levels[k] > ABSOLUTE_GATE_LUFS && levels[k] > floor[k] + ACTIVE_ABOVE_FLOOR_DB)
        .collect();
    let voiced: Vec<bool> = (0..hops)
        .map(|k| {
            let own =
                ((features.periodicity[k] - PERIODICITY_LOW) / (PERIODICITY_HIGH - PERIODICITY_LOW)).clamp(0.0, 1.0);
            // A missing or undefined probability is no opinion.
            let score = match external.and_then(|p| p.get(k)).filter(|p| p.is_finite()) {
                Some(&p) => (own * p.clamp(0.0, 1.0)).sqrt(),
                None => own,
            };
            active[k] && score >= VOICED_SCORE && features.flatness[k] < MAX_VOICED_FLATNESS
        })
        .collect();

    // Islands are more than BRIDGE_HOPS apart, farther than VOICE_REACH_HOPS: the reach of
    // one island's voicing never spills into another.
    let near_voice = reach(&voiced, VOICE_REACH_HOPS);
    // Candidate phrases: their speech hops and their level (energy mean over those hops).
    let mut candidates: Vec<(Vec<usize>, f64)> = Vec::new();
    for island in islands(&active) {
        let active_hops = island.clone().filter(|&k| active[k]).count();
        let voiced_hops = island.clone().filter(|&k| voiced[k]).count();
        if voiced_hops < MIN_VOICED_HOPS || (voiced_hops as f32) < MIN_VOICED_FRACTION * active_hops as f32 {
            continue;
        }
        let said: Vec<usize> = island.filter(|&k| active[k] && near_voice[k]).collect();
        if said.len() < MIN_SPEECH_HOPS {
            continue;
        }
        let energy = said.iter().map(|&k| features.energy[k] as f64).sum::<f64>() / said.len() as f64;
        candidates.push((said, energy_to_lufs(energy)));
    }
    // Far under the loudest speech around it, a "phrase" is the room, not a voice.
    let centre = |c: &(Vec<usize>, f64)| (c.0[0] + c.0[c.0.len() - 1]) / 2;
    let mut speech = vec![false; hops];
    let mut phrases = Vec::new();
    for candidate in &candidates {
        let loudest = candidates
            .iter()
            .filter(|other| other.0.len() >= REFERENCE_MIN_SPEECH_HOPS)
            .filter(|other| centre(other).abs_diff(centre(candidate)) <= REFERENCE_REACH_HOPS)
            .map(|other| other.1)
            .fold(f64::NEG_INFINITY, f64::max);
        if candidate.1 < loudest - BELOW_LOUDEST_SPEECH_DB {
            continue;
        }
        let said = &candidate.0;
        for &k in said {
            speech[k] = true;
        }
        phrases.push(said[0]..said[said.len() - 1] + 1);
    }
    let voiced = voiced.iter().zip(&speech).map(|(&v, &s)| v && s).collect();
    Detection {
        speech,
        phrases,
        active,
        voiced,
    }
}

/// For each hop, whether a `marks` hop lies within `reach` hops of it.
fn reach(marks: &[bool], reach: usize) -> Vec<bool> {
    let mut near = vec![false; marks.len()];
    let mut last_mark: Option<usize> = None;
    for k in 0..marks.len() {
        if marks[k] {
            last_mark = Some(k);
        }
        near[k] = last_mark.is_some_and(|m| k - m <= reach);
    }
    let mut next_mark: Option<usize> = None;
    for k in (0..marks.len()).rev() {
        if marks[k] {
            next_mark = Some(k);
        }
        near[k] |= next_mark.is_some_and(|m| m - k <= reach);
    }
    near
}

/// Runs of `active` hops, merged across gaps of at most [`BRIDGE_HOPS`].
fn islands(active: &[bool]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut k = 0;
    while k < active.len() {
        if !active[k] {
            k += 1;
            continue;
        }
        let start = k;
        while k < active.len() && active[k] {
            k += 1;
        }
        match out.last_mut() {
            Some(last) if start - last.end <= BRIDGE_HOPS => last.end = k,
            _ => out.push(start..k),
        }
    }
    out
}

/// The noise floor per hop (module documentation, step 1), in LUFS.
fn noise_floor(levels: &[f32]) -> Vec<f32> {
    let hops = levels.len();
    if hops == 0 {
        return Vec::new();
    }
    let mut scratch = Vec::with_capacity(2 * FLOOR_HALF_WINDOW_HOPS + 1);
    let centres: Vec<usize> = (0..hops).step_by(FLOOR_STEP_HOPS).collect();
    let values: Vec<f32> = centres
        .iter()
        .map(|&c| {
            let window = c.saturating_sub(FLOOR_HALF_WINDOW_HOPS)..(c + FLOOR_HALF_WINDOW_HOPS + 1).min(hops);
            scratch.clear();
            scratch.extend_from_slice(&levels[window]);
            let nth = ((scratch.len() - 1) as f64 * FLOOR_PERCENTILE).round() as usize;
            *scratch.select_nth_unstable_by(nth, f32::total_cmp).1
        })
        .collect();
    (0..hops)
        .map(|k| {
            let i = k / FLOOR_STEP_HOPS;
            let frac = (k % FLOOR_STEP_HOPS) as f32 / FLOOR_STEP_HOPS as f32;
            match values.get(i + 1) {
                Some(&next) => values[i] + (next - values[i]) * frac,
                None => values[i],
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dsp::testutil::white_noise;

    /// A voice-like harmonic complex: harmonics of `f0` (±3 % vibrato) up to 4 kHz falling
    /// 6 dB per octave, in 4-Hz syllables, at `rms_db` dBFS while it sounds.
    pub fn harmonic_voice(f0: f64, seconds: f64, rate: u32, rms_db: f64) -> Vec<f32> {
        let n = (seconds * rate as f64) as usize;
        let mut phase = 0.0f64;
        let harmonics = (4000.0 / f0) as usize;
        let mut out: Vec<f64> = (0..n)
            .map(|i| {
                let t = i as f64 / rate as f64;
                phase += f0 * (1.0 + 0.03 * (std::f64::consts::TAU * 5.0 * t).sin()) / rate as f64;
                let syllable = 0.3 + 0.7 * (std::f64::consts::PI * (t * 4.0).fract()).sin();
                let x: f64 = (1..=harmonics)
                    .map(|k| (std::f64::consts::TAU * k as f64 * phase).sin() / k as f64)
                    .sum();
                x * syllable
            })
            .collect();
        let rms = (out.iter().map(|x| x * x).sum::<f64>() / n.max(1) as f64).sqrt();
        let scale = 10f64.powf(rms_db / 20.0) / rms.max(1e-30);
        out.iter_mut().for_each(|x| *x *= scale);
        out.into_iter().map(|x| x as f32).collect()
    }

    fn analyze(signal: &[f32], rate: u32) -> Features {
        let mut analyzer = SpeechAnalyzer::new(rate, 1);
        let block = [signal.to_vec()];
        for start in (0..signal.len()).step_by(4096) {
            analyzer.add(&block, start..(start + 4096).min(signal.len()));
        }
        analyzer.finish()
    }

    fn median(values: &[f32]) -> f32 {
        let mut v = values.to_vec();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    }

    #[test]
    fn a_harmonic_voice_is_periodic_at_its_pitch_and_noise_is_not() {
        for rate in [16_000, 44_100, 48_000] {
            for f0 in [95.0, 140.0, 220.0] {
                let f = analyze(&harmonic_voice(f0, 1.0, rate, -20.0), rate);
                let inner = 10..f.energy.len() - 10;
                let periodicity = median(&f.periodicity[inner.clone()]);
                let pitch = median(&f.pitch_hz[inner.clone()]);
                assert!(periodicity > 0.8, "{rate} Hz, f0 {f0}: periodicity {periodicity}");
                assert!(
                    (pitch as f64 / f0 - 1.0).abs() < 0.05,
                    "{rate} Hz, f0 {f0}: pitch {pitch}"
                );
                assert!(median(&f.flatness[inner]) < 0.3, "{rate} Hz, f0 {f0}");
            }
            let noise: Vec<f32> = white_noise(rate as usize, 3).iter().map(|x| x * 0.1).collect();
            let f = analyze(&noise, rate);
            let inner = 10..f.energy.len() - 10;
            assert!(median(&f.periodicity[inner.clone()]) < 0.35, "{rate} Hz noise");
            assert!(median(&f.flatness[inner]) > 0.45, "{rate} Hz noise");
        }
    }

    #[test]
    fn hop_energy_is_k_weighted_like_the_meter() {
        // Steady white noise: every hop reads the same, and the loudness of the mean hop
        // energy equals BS.1770 integrated loudness (nothing is gated).
        for rate in [16_000, 44_100, 48_000] {
            let noise: Vec<f32> = white_noise(rate as usize * 2, 9).iter().map(|x| x * 0.05).collect();
            let f = analyze(&noise, rate);
            assert_eq!(f.energy.len(), (noise.len()).div_ceil(hop_frames(rate)));
            let mean = f.energy[5..].iter().map(|&e| e as f64).sum::<f64>() / (f.energy.len() - 5) as f64;
            let mut meter = crate::loudness::Meter::new(
                rate,
                &[crate::io::ChannelRole::Center],
                crate::loudness::MeterKind::IntegratedOnly,
            )
            .unwrap();
            meter.add(std::slice::from_ref(&noise), 0..noise.len());
            let reference = meter.integrated().unwrap();
            assert!(
                (energy_to_lufs(mean) - reference).abs() < 0.05,
                "{rate} Hz: {} vs {reference}",
                energy_to_lufs(mean)
            );
        }
    }

    /// Room tone at −60 dBFS with things laid over it at given seconds.
    fn scene(rate: u32, seconds: f64, events: &[(f64, Vec<f32>)]) -> Vec<f32> {
        let mut out: Vec<f32> = white_noise((seconds * rate as f64) as usize, 17)
            .iter()
            .map(|x| x * 10f32.powf(-60.0 / 20.0) * 3f32.sqrt())
            .collect();
        for (at, sound) in events {
            let start = (at * rate as f64) as usize;
            for (o, s) in out[start..].iter_mut().zip(sound) {
                *o += s;
            }
        }
        out
    }

    fn speech_seconds(d: &Detection, range_s: Range<f64>) -> f64 {
        let hops = (range_s.start / HOP_S) as usize..(range_s.end / HOP_S) as usize;
        d.speech[hops].iter().filter(|&&s| s).count() as f64 * HOP_S
    }

    #[test]
    fn a_short_voiced_word_is_speech_and_bursts_thumps_and_blips_are_not() {
        let rate = 16_000;
        let burst: Vec<f32> = white_noise(rate as usize * 3 / 10, 5)
            .iter()
            .enumerate()
            .map(|(i, x)| x * 0.3 * (-(i as f32) / (0.08 * rate as f32)).exp())
            .collect();
        let thump: Vec<f32> = (0..rate as usize / 2)
            .map(|i| {
                let t = i as f32 / rate as f32;
                0.5 * (-(t / 0.08)).exp() * (std::f32::consts::TAU * 70.0 * t).sin()
            })
            .collect();
        let events = [
            (1.0, harmonic_voice(180.0, 0.6, rate, -25.0)),  // "yeah"
            (3.0, burst),                                    // a cough-like burst
            (5.0, thump),                                    // a door's thump
            (7.0, harmonic_voice(120.0, 0.06, rate, -25.0)), // a 60-ms blip
            (9.0, harmonic_voice(120.0, 1.5, rate, -40.0)),  // a quiet voice, 20 dB over the room
        ];
        let f = analyze(&scene(rate, 11.0, &events), rate);
        let d = detect(&f, None);
        assert!(
            speech_seconds(&d, 0.9..1.7) > 0.4,
            "the word: {}",
            speech_seconds(&d, 0.9..1.7)
        );
        assert_eq!(speech_seconds(&d, 2.9..3.5), 0.0, "the burst");
        assert_eq!(speech_seconds(&d, 4.9..5.6), 0.0, "the thump");
        assert_eq!(speech_seconds(&d, 6.9..7.3), 0.0, "the blip");
        assert!(speech_seconds(&d, 8.9..10.6) > 1.0, "the quiet voice");
        assert_eq!(speech_seconds(&d, 0.0..0.9), 0.0, "room tone");
        assert_eq!(d.phrases.len(), 2, "{:?}", d.phrases);
    }

    #[test]
    fn a_second_opinion_can_veto_or_confirm_voicing() {
        let rate = 16_000;
        let f = analyze(
            &scene(rate, 6.0, &[(1.0, harmonic_voice(150.0, 3.0, rate, -25.0))]),
            rate,
        );
        let hops = f.energy.len();
        let own = detect(&f, None);
        assert!(speech_seconds(&own, 1.0..4.0) > 2.0);
        // The other stage says: no speech at all.
        let none = detect(&f, Some(&vec![0.0; hops]));
        assert_eq!(none.speech_hops(), 0);
        // It says speech only in the second half of the voice: only that half is speech
        // (and the 150 ms before it, which lie within reach of its voicing).
        let half: Vec<f32> = (0..hops).map(|k| if k >= 250 { 1.0 } else { 0.0 }).collect();
        let d = detect(&f, Some(&half));
        assert_eq!(speech_seconds(&d, 1.0..2.3), 0.0);
        assert!(speech_seconds(&d, 2.6..4.0) > 1.0);
        // No opinion (NaN) leaves the detector's own decision.
        assert_eq!(detect(&f, Some(&vec![f32::NAN; hops])), own);
    }

    #[test]
    fn real_speech_is_mostly_speech_and_its_silences_are_not() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/speech_aew_a0001.wav");
        let mut reader = hound::WavReader::open(path).unwrap();
        let rate = reader.spec().sample_rate;
        let samples: Vec<f32> = reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect();
        let f = analyze(&samples, rate);
        let d = detect(&f, None);
        let fraction = d.speech_hops() as f64 / f.energy.len() as f64;
        assert!((0.5..0.95).contains(&fraction), "speech fraction {fraction}");
        // The recording opens with 160 ms of room tone.
        assert!(!d.speech[..15].iter().any(|&s| s));
        assert!(d.speech[20..30].iter().all(|&s| s));
    }

    #[test]
    fn garbage_in_gives_finite_features() {
        let mut signal = vec![0.3f32; 16_000];
        for (i, s) in signal.iter_mut().enumerate() {
            if i % 7 == 0 {
                *s = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
            }
        }
        let f = analyze(&signal, 16_000);
        for track in [&f.energy, &f.periodicity, &f.flatness, &f.pitch_hz] {
            assert!(track.iter().all(|v| v.is_finite()));
        }
        let _ = detect(&f, None);
    }
}
