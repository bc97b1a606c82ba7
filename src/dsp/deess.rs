//! De-esser: turns down harsh "s"/"sh" sibilance (5–10 kHz) only while it sticks out, without
//! dulling the voice in between — a compressor or EQ alone would do one or the other.
//!
//! **Cut: two dynamic bells in series.** Each bell is `y = x + (g − 1)·B(x)`, where `B` is an
//! RBJ constant-0-dB-peak band-pass and `g ≤ 1` the sidechain's gain: exactly a peaking-EQ cut
//! of depth `g` at `B`'s centre (a band-pass has unit gain and zero phase there), and never a
//! boost anywhere (`B` lies on the circle |B − ½| = ½, so |1 − (1 − g)·B| ≤ 1). The first bell
//! sits at 1.24·`frequency_hz` with Q 1.8, the second at 1.9·`frequency_hz` with Q 1.0 and runs
//! on the first one's output; both get the same gain. At the default 5 kHz and 10 dB of
//! reduction the pair cuts −11.5 dB at 6 kHz, −9.2 at 7, −8.5 at 8, −10.5 at 9, −10.1 at 10,
//! −4.5 at 12 kHz, and spares the voice's presence below: −4.4 dB at 5 kHz, −1.7 at 4, −0.7 at
//! 3, −0.3 at 2 kHz. One wider bell cannot do both: the former single bell (6 kHz, Q 1.2) cut
//! 4–5 kHz deeper (−3.7 dB at 4.5 kHz) yet left 8–10 kHz at −2…−3.4 dB.
//!
//! Below 27 kHz (16, 22.05, 24 kHz files, which podclean de-esses at their own rate) the band
//! runs into Nyquist, where a band-pass is zero and a bell cuts nothing: the first bell moves
//! down to 0.35·fs at most (5.6 kHz at 16 kHz) and the second element becomes a first-order
//! shelf `y = x + (g − 1)·HP₁(x)` with its corner at 1.2·`frequency_hz` (HP₁ is `(1 − A)/2` for
//! a first-order all-pass `A`, so it never boosts either). At 16 kHz and 10 dB: −11.9 dB at
//! 5.6 kHz, −4.7 at 6.5, −8.3 at 7.5, −9.9 at 7.9, −3.9 at 5 and −1.1 at 4 kHz. The former
//! design, its bell clamped to 5.4 kHz and narrowed by the warping near Nyquist, cut 16 kHz
//! speech by less than 2 dB.
//!
//! Measured through the CLI (`bench/deess/run.sh`; the test `sibilant_speech_is_de_essed_
//! and_plain_speech_keeps_its_presence` checks the same on the clips in `tests/fixtures/deess/`):
//! on the twelve most sibilant of 57 LibriSpeech/ARCTIC/VCTK/Valentini/JFK recordings the
//! sibilance index (energy 5–10 kHz over 0.1–4 kHz, whole file) drops by 5.9 dB on average at
//! 48 kHz (4.6 dB at least) and by 4.7 dB at their own 16 kHz (3.6 dB at least), while that of
//! the twelve least sibilant ones drops by 0.7 dB on average and their presence (2–5 kHz over
//! 0.1–4 kHz, and over the full band) moves by 0.24 dB at most. A detector that judged each
//! "s" against its own full-band power (the previous design, −12 dB) cut both classes: 6.1 and
//! 2.4 dB at 48 kHz.
//!
//! **No reduction means no processing.** The bells' dry path holds no filter: with `g = 1` the
//! output is the input bit for bit (reductions below 1e-6 dB, a change under one f32 step,
//! count as none), so a voice without sibilance passes untouched and the stage never shifts
//! timing — the output/input cross-correlation peaks at lag 0, also on speech that is being
//! de-essed (a cut band has zero phase at its centre; its residual phase off-centre tilts the
//! peak by a fraction of a sample, and only while reducing: +0.43 sample, 9 µs, on ARCTIC
//! speech at 48 kHz that is de-essed 60 % of the time, +0.08 at 16 kHz). Latency 0.
//!
//! **Sidechain.** The short-term power (3 ms mean square) of the sibilance band — an 8th-order
//! Linkwitz-Riley high-pass at `frequency_hz`, low-passed at 2.2·`frequency_hz` (5–11 kHz by
//! default) — is compared with the level of the voice around it: the larger of the full band's
//! short-term power and a follower of the power outside the band that rises in 5 ms and falls
//! over 300 ms. Inside an "s" the follower still holds the vowels before it, so what decides is
//! how loud the "s" is against the voice, not its spectrum: every "s" has most of its power in
//! the band (a detector that compares the band with the full band alone sees 0…−6 dB in all of
//! them and cuts them all alike), but only a harsh one comes near its vowels' level. After a
//! pause the follower has fallen and a sibilant that opens the phrase is judged against itself.
//! The threshold is that ratio in dB, so quiet and loud voices are treated alike, and the
//! reduction is as many dB as the ratio exceeds the threshold (up to `max_reduction_db`),
//! smoothed by `attack_ms`/`release_ms`: a sibilant that barely sticks out is touched lightly,
//! a piercing one is brought down to the threshold, so sibilants keep their order of loudness
//! instead of all being flattened to one (lisping) level. Starting the band at 5 kHz rather
//! than 4 keeps fricatives and formants of the 4–5 kHz presence region from triggering it.
//! Channels are linked: powers are summed over channels and all get the same gain.
//!
//! At sample rates where the band does not exist (`frequency_hz` above 0.4·fs: 8 and
//! 11.025 kHz input at the default), the stage passes audio through untouched and reports
//! `bypassed = 1`. Otherwise the sidechain's upper edge is clamped to 0.45·fs (16 kHz input:
//! 5–7.2 kHz).

use serde::{Deserialize, Serialize};

use super::biquad::{butterworth_highpass, butterworth_lowpass, Cascade, Coeffs};
use super::check_range;
use super::envelope::{AttackRelease, MeanSquare};
use super::Stage;

/// `[deess]` preset table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeessSettings {
    pub enabled: bool,
    /// Lower edge of the sibilance band, in Hz: the sidechain listens to
    /// `frequency_hz … 2.2·frequency_hz` (5–11 kHz at 5 kHz), and the two cut bells sit at
    /// 1.24× and 1.9× it (6.2 and 9.5 kHz).
    pub frequency_hz: f64,
    /// How far the band's power may come up to the voice's level (dB, ≤ 0: the larger of the
    /// full band now and the level of the vowels around) before reduction starts.
    pub threshold_db: f64,
    /// The most the band is ever turned down (at the bells' centres), in dB.
    pub max_reduction_db: f64,
    /// Time constant for reduction to grow, ms.
    pub attack_ms: f64,
    /// Time constant for reduction to recover, ms.
    pub release_ms: f64,
}

impl Default for DeessSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            frequency_hz: 5000.0,
            // In voiced speech the 5–11 kHz band sits 25–45 dB below the voice; an "s" has most
            // of its power in it, and what tells a harsh one from an ordinary one is how close
            // it comes to the level of the vowels around it. On the de-esser bench, the twelve
            // most and twelve least sibilant of 48 LibriSpeech/ARCTIC recordings, at their own
            // 16 kHz, lose 4.7 and 0.7 dB of sibilance index at −18 dB, 4.1 and 0.3 dB at −15,
            // 3.1 and 0.1 dB at −12 (too little on the sibilant ones: the weakest lost 1.8 dB).
            threshold_db: -18.0,
            // A sibilant that sticks out by more than this keeps some of its edge: deeper cuts
            // start to sound like a lisp.
            max_reduction_db: 10.0,
            // Fast enough to catch the onset of an "s", slow enough to recover without
            // chattering between sibilant and vowel.
            attack_ms: 1.0,
            release_ms: 60.0,
        }
    }
}

impl DeessSettings {
    /// Checks every value's range; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        check_range("deess.frequency_hz", self.frequency_hz, 2000.0, 12000.0)?;
        check_range("deess.threshold_db", self.threshold_db, -40.0, 0.0)?;
        check_range("deess.max_reduction_db", self.max_reduction_db, 0.0, 30.0)?;
        check_range("deess.attack_ms", self.attack_ms, 0.1, 50.0)?;
        check_range("deess.release_ms", self.release_ms, 5.0, 1000.0)
    }
}

/// Sidechain power window (time constant), ms.
const DETECTOR_MS: f64 = 3.0;
/// The voice level that sibilance is judged against follows the power outside the sibilance
/// band: it rises within a few milliseconds of a vowel's onset and falls over 300 ms, so across
/// an "s" (100–250 ms) it still holds the level of the vowels around it, while after a pause it
/// has fallen far enough that a sibilant opening the next phrase is judged against itself.
const VOICE_ATTACK_MS: f64 = 5.0;
const VOICE_RELEASE_MS: f64 = 300.0;
/// Power added to the full-band power before the ratio (−50 dBFS), so hiss in pauses, whose
/// spectrum is mostly "high band", is not mistaken for sibilance.
const FLOOR_POWER: f64 = 1e-5;
/// Reduction (dB) above which a frame counts as de-essed in the metrics.
const ACTIVE_DB: f64 = 0.1;
/// Upper edge of the sidechain band, as a multiple of `frequency_hz`.
const SIDECHAIN_TOP: f64 = 2.2;
/// The first cut bell: centre as a multiple of `frequency_hz`, and Q. It covers 5–7.5 kHz
/// (where band-limited recordings keep all their sibilance) with a lower skirt steep enough to
/// spare 2–5 kHz.
const LOW_BELL: (f64, f64) = (1.24, 1.8);
/// The second, wider bell covers 7.5–12 kHz, where the sample rate leaves room for it.
const HIGH_BELL: (f64, f64) = (1.9, 1.0);
/// Highest bell centre, as a fraction of the sample rate: above it a band-pass narrows
/// (frequency warping) until it misses most of the band.
const MAX_BELL_CENTRE: f64 = 0.35;
/// Below 27 kHz (16, 22.05, 24 kHz input) the band runs into Nyquist, where a bell cuts
/// nothing; the second element is then a first-order shelf `1 − (1 − g)·HP₁` with its corner
/// at this multiple of `frequency_hz`, whose cut reaches full depth at Nyquist.
const SHELF_CORNER: f64 = 1.2;
/// Reduction (dB) below which the output is the input untouched. 1e-6 dB scales the band by
/// 1 − 1.2e-7, less than one step of f32, so skipping it changes nothing audible or
/// measurable, but lets the output return to bit-exact as soon as the release has settled.
const IDENTITY_DB: f64 = 1e-6;

/// The de-esser stage. Latency 0.
pub struct DeessStage {
    settings: DeessSettings,
    bypassed: bool,
    /// Sidechain: high-pass (LR8) then low-pass, giving the detection band.
    split_high: Cascade,
    side_lowpass: Cascade,
    /// The band-passes `B` of the bells (or the first-order high-pass of the shelf) in series;
    /// each one's output is subtracted from its input, scaled by `1 − g`.
    bells: Vec<Cascade>,
    detector: MeanSquare,
    smoother: AttackRelease,
    voice_follower: AttackRelease,
    band_power: f64,
    full_power: f64,
    /// The voice's level around now: power outside the sibilance band, held over an "s".
    voice_power: f64,
    /// Smoothed reduction in dB (≥ 0).
    reduction: f64,
    /// Band/full power ratio (linear) at the threshold.
    threshold: f64,
    /// Per frame of the current chunk: Σ band² and Σ x² over channels, then `1 − g`.
    band_sq: Vec<f64>,
    full_sq: Vec<f64>,
    stats: Stats,
}

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    max_reduction: f64,
    active_sum: f64,
    active_frames: u64,
    frames: u64,
}

impl DeessStage {
    pub fn new(settings: &DeessSettings) -> Self {
        Self {
            settings: settings.clone(),
            bypassed: false,
            split_high: Cascade::default(),
            side_lowpass: Cascade::default(),
            bells: Vec::new(),
            detector: MeanSquare::default(),
            smoother: AttackRelease::default(),
            voice_follower: AttackRelease::default(),
            band_power: 0.0,
            full_power: 0.0,
            voice_power: 0.0,
            reduction: 0.0,
            threshold: 1.0,
            band_sq: Vec::new(),
            full_sq: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Processes one chunk of at most `self.band_sq.len()` frames.
    fn process_chunk(&mut self, block: &mut [Vec<f32>], start: usize, frames: usize) {
        let band_sq = &mut self.band_sq[..frames];
        let full_sq = &mut self.full_sq[..frames];
        band_sq.fill(0.0);
        full_sq.fill(0.0);
        // Pass 1, per channel: silence non-finite input, run the sidechain filters and sum
        // their powers over channels.
        for (ch, samples) in block.iter_mut().enumerate() {
            for (i, s) in samples[start..start + frames].iter_mut().enumerate() {
                if !s.is_finite() {
                    *s = 0.0;
                }
                let x = *s as f64;
                let band = self.side_lowpass.tick(ch, self.split_high.tick(ch, x));
                band_sq[i] += band * band;
                full_sq[i] += x * x;
            }
        }
        // Pass 2, per frame: linked gain, stored over `band_sq` as (1 − g).
        let max_reduction = self.settings.max_reduction_db;
        let threshold_db = self.settings.threshold_db;
        for (b, &f) in band_sq.iter_mut().zip(full_sq.iter()) {
            let band = self.detector.step(&mut self.band_power, *b);
            let full = self.detector.step(&mut self.full_power, f);
            let voice = self.voice_follower.step(&mut self.voice_power, (full - band).max(0.0));
            let reference = full.max(voice) + FLOOR_POWER;
            let target = if band > self.threshold * reference {
                (10.0 * (band / reference).log10() - threshold_db).min(max_reduction)
            } else {
                0.0
            };
            let reduction = self.smoother.step(&mut self.reduction, target);
            *b = if reduction > IDENTITY_DB {
                1.0 - (-reduction * (std::f64::consts::LN_10 / 20.0)).exp()
            } else {
                0.0
            };
            self.stats.frames += 1;
            self.stats.max_reduction = self.stats.max_reduction.max(reduction);
            if reduction > ACTIVE_DB {
                self.stats.active_sum += reduction;
                self.stats.active_frames += 1;
            }
        }
        // Pass 3, per channel: each bell in turn, y ← y − (1 − g)·B(y). The band-passes run on
        // every sample so their state is current when a cut starts; samples without reduction
        // are left as they are.
        for (ch, samples) in block.iter_mut().enumerate() {
            for (s, &cut) in samples[start..start + frames].iter_mut().zip(band_sq.iter()) {
                let mut y = *s as f64;
                for bell in &mut self.bells {
                    let b = bell.tick(ch, y);
                    y -= cut * b;
                }
                if cut != 0.0 {
                    *s = y as f32;
                }
            }
        }
    }
}

/// First-order (bilinear) high-pass at `corner` Hz. Like the band-pass it is `(1 − A)/2` for
/// an all-pass `A`, so `1 − (1 − g)·HP₁` never boosts either.
fn first_order_highpass(sample_rate: f64, corner: f64) -> Coeffs {
    let k = (std::f64::consts::PI * corner / sample_rate).tan();
    Coeffs {
        b0: 1.0 / (1.0 + k),
        b1: -1.0 / (1.0 + k),
        b2: 0.0,
        a1: (k - 1.0) / (1.0 + k),
        a2: 0.0,
    }
}

impl Stage for DeessStage {
    fn name(&self) -> &'static str {
        "deess"
    }

    fn prepare(&mut self, sample_rate: u32, channels: usize, max_block: usize) -> Result<(), super::PrepareError> {
        let fs = sample_rate as f64;
        let bottom = self.settings.frequency_hz;
        let top = (bottom * SIDECHAIN_TOP).min(0.45 * fs);
        self.bypassed = bottom > 0.4 * fs;
        let mut lr8 = butterworth_highpass(fs, bottom, 4);
        lr8.extend_from_within(..);
        self.split_high = Cascade::new(lr8);
        self.side_lowpass = Cascade::new(butterworth_lowpass(fs, top, 2));
        let bell = |(ratio, q): (f64, f64)| Cascade::new(vec![Coeffs::bandpass(fs, bottom * ratio, q)]);
        let low = (bottom * LOW_BELL.0).min(MAX_BELL_CENTRE * fs) / bottom;
        let high = if bottom * HIGH_BELL.0 <= MAX_BELL_CENTRE * fs {
            bell(HIGH_BELL)
        } else {
            Cascade::new(vec![first_order_highpass(fs, bottom * SHELF_CORNER)])
        };
        self.bells = vec![bell((low, LOW_BELL.1)), high];
        self.split_high.prepare(channels);
        self.side_lowpass.prepare(channels);
        for bell in &mut self.bells {
            bell.prepare(channels);
        }
        self.detector = MeanSquare::new(DETECTOR_MS, sample_rate);
        self.smoother = AttackRelease::new(self.settings.attack_ms, self.settings.release_ms, sample_rate);
        self.voice_follower = AttackRelease::new(VOICE_ATTACK_MS, VOICE_RELEASE_MS, sample_rate);
        self.threshold = 10f64.powf(self.settings.threshold_db / 10.0);
        let chunk = max_block.max(1);
        self.band_sq = vec![0.0; chunk];
        self.full_sq = vec![0.0; chunk];
        self.reset();
        Ok(())
    }

    fn process(&mut self, block: &mut [Vec<f32>], frames: usize) {
        if self.bypassed {
            super::sanitize(block, frames);
            return;
        }
        let chunk = self.band_sq.len();
        let mut start = 0;
        while start < frames {
            let n = chunk.min(frames - start);
            self.process_chunk(block, start, n);
            start += n;
        }
    }

    fn latency(&self) -> usize {
        0
    }

    fn reset(&mut self) {
        self.split_high.reset();
        self.side_lowpass.reset();
        for bell in &mut self.bells {
            bell.reset();
        }
        self.band_power = 0.0;
        self.full_power = 0.0;
        self.voice_power = 0.0;
        self.reduction = 0.0;
        self.stats = Stats::default();
    }

    /// `max_reduction_db`: the most the band was turned down (at the bells' centres);
    /// `mean_reduction_db`: mean reduction over the frames that were de-essed (reduction above
    /// 0.1 dB), not over all frames (sibilance is a few percent of speech); `active_percent`:
    /// share of frames de-essed; `bypassed`: 1 if the sample rate is too low for a sibilance
    /// band.
    fn metrics(&self) -> Vec<(&'static str, f64)> {
        let st = &self.stats;
        vec![
            ("max_reduction_db", st.max_reduction),
            ("mean_reduction_db", st.active_sum / st.active_frames.max(1) as f64),
            (
                "active_percent",
                100.0 * st.active_frames as f64 / st.frames.max(1) as f64,
            ),
            ("bypassed", if self.bypassed { 1.0 } else { 0.0 }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testutil::{
        assert_block_size_invariant, assert_survives_garbage, best_lag, rms_db, run, sine, white_noise,
    };
    use realfft::num_complex::Complex;
    use std::f64::consts::PI;

    const FS: u32 = 48_000;

    fn stage() -> Box<dyn Stage> {
        Box::new(DeessStage::new(&DeessSettings::default()))
    }

    fn prepared(fs: u32) -> DeessStage {
        let mut s = DeessStage::new(&DeessSettings::default());
        s.prepare(fs, 1, 4096).unwrap();
        s
    }

    /// A vowel stand-in: 150 Hz harmonics up to 2850 Hz with 1/k amplitudes, scaled to `rms_db`,
    /// fading in over 5 ms as a voice does (a hard start would be a broadband click).
    fn voiced(len: usize, rms_db_target: f64, fs: u32) -> Vec<f32> {
        let fade = fs as f64 / 200.0;
        let raw: Vec<f64> = (0..len)
            .map(|i| {
                let t = i as f64 / fs as f64;
                let onset = 0.5 - 0.5 * (PI * (i as f64 / fade).min(1.0)).cos();
                onset
                    * (1..=19)
                        .map(|k| (2.0 * PI * 150.0 * k as f64 * t + k as f64).sin() / k as f64)
                        .sum::<f64>()
            })
            .collect();
        let rms = (raw.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
        let scale = crate::dsp::db_to_amp(rms_db_target) / rms;
        raw.iter().map(|v| (v * scale) as f32).collect()
    }

    /// Sibilance stand-in: white noise band-limited to `lo`–`hi` Hz (8th-order Butterworth
    /// high- and low-pass), scaled to `rms_db` over `on` and silent outside it.
    fn hiss_burst(len: usize, on: std::ops::Range<usize>, rms_db_target: f64, lo: f64, hi: f64) -> Vec<f32> {
        let mut noise = white_noise(len, 77);
        let mut sections = butterworth_highpass(FS as f64, lo, 8);
        sections.extend(butterworth_lowpass(FS as f64, hi, 8));
        filter(&mut noise, sections);
        let scale = crate::dsp::db_to_amp(rms_db_target - rms_db(&noise[on.clone()])) as f32;
        for (i, s) in noise.iter_mut().enumerate() {
            *s = if on.contains(&i) { *s * scale } else { 0.0 };
        }
        noise
    }

    fn mix(a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter().zip(b).map(|(x, y)| x + y).collect()
    }

    fn filter(x: &mut [f32], sections: Vec<Coeffs>) {
        let mut c = Cascade::new(sections);
        c.prepare(1);
        c.process(0, x);
    }

    /// Energy (dB) in `range` below 3 kHz (8th-order Butterworth low-pass).
    fn below_3k_db(x: &[f32], range: std::ops::Range<usize>) -> f64 {
        let mut y = x.to_vec();
        filter(&mut y, butterworth_lowpass(FS as f64, 3000.0, 8));
        rms_db(&y[range])
    }

    /// Energy (dB) in `range` between `lo` and `hi` Hz (8th-order Butterworth high- and
    /// low-pass) at sample rate `fs`.
    fn band_db(x: &[f32], fs: u32, lo: f64, hi: f64, range: std::ops::Range<usize>) -> f64 {
        let mut y = x.to_vec();
        let mut sections = butterworth_highpass(fs as f64, lo, 8);
        sections.extend(butterworth_lowpass(fs as f64, hi, 8));
        filter(&mut y, sections);
        rms_db(&y[range])
    }

    fn process(s: &mut dyn Stage, input: &[Vec<f32>]) -> Vec<Vec<f32>> {
        s.prepare(FS, input.len(), 4096).unwrap();
        run(s, input, 4096)
    }

    /// Complex response of one biquad at `freq`.
    fn response(c: &Coeffs, fs: f64, freq: f64) -> Complex<f64> {
        let z1 = Complex::from_polar(1.0, -2.0 * PI * freq / fs);
        let z2 = z1 * z1;
        (c.b0 + c.b1 * z1 + c.b2 * z2) / (1.0 + c.a1 * z1 + c.a2 * z2)
    }

    /// Magnitude (dB) of the prepared stage's cut at `freq` while it reduces by `reduction_db`:
    /// the product over the bells of `1 − (1 − g)·B`.
    fn cut_db(s: &DeessStage, fs: u32, freq: f64, reduction_db: f64) -> f64 {
        let depth = 1.0 - crate::dsp::db_to_amp(-reduction_db);
        let h: Complex<f64> = s
            .bells
            .iter()
            .map(|bell| 1.0 - depth * response(&bell.sections()[0], fs as f64, freq))
            .product();
        20.0 * h.norm().log10()
    }

    /// Whole-signal band energies from one FFT, as the bench measures them: sibilance index
    /// (5–10 kHz over 0.1–4 kHz), presence over 0.1–4 kHz and presence over the full band
    /// (2–5 kHz in both), all in dB.
    fn indices(x: &[f32], fs: u32) -> [f64; 3] {
        let mut planner = realfft::RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(x.len());
        let mut input: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut spectrum = fft.make_output_vec();
        fft.process(&mut input, &mut spectrum).unwrap();
        let bin_hz = fs as f64 / x.len() as f64;
        let energy = |lo: f64, hi: f64| -> f64 {
            spectrum
                .iter()
                .enumerate()
                .filter(|(k, _)| (lo..hi).contains(&(*k as f64 * bin_hz)))
                .map(|(_, c)| c.norm_sqr())
                .sum::<f64>()
                + 1e-30
        };
        let db = |a: f64, b: f64| 10.0 * (a / b).log10();
        let low = energy(100.0, 4000.0);
        let presence = energy(2000.0, 5000.0);
        [
            db(energy(5000.0, 10_000.0), low),
            db(presence, low),
            db(presence, energy(20.0, fs as f64 / 2.0)),
        ]
    }

    /// Cross-correlation `Σ input[i]·output[i + lag]` (the convention of `best_lag`).
    fn xcorr(input: &[f32], output: &[f32], lag: isize) -> f64 {
        input
            .iter()
            .enumerate()
            .filter_map(|(i, &x)| {
                let j = i as isize + lag;
                (j >= 0 && (j as usize) < output.len()).then(|| x as f64 * output[j as usize] as f64)
            })
            .sum()
    }

    /// Lag of the cross-correlation peak to a fraction of a sample: `best_lag` refined by a
    /// parabola through the peak and its two neighbours.
    fn subsample_lag(input: &[f32], output: &[f32]) -> f64 {
        let lag = best_lag(input, output, 50);
        let (before, at, after) = (
            xcorr(input, output, lag - 1),
            xcorr(input, output, lag),
            xcorr(input, output, lag + 1),
        );
        lag as f64 + 0.5 * (before - after) / (before - 2.0 * at + after)
    }

    /// A 16 kHz mono 16-bit fixture as f32 in ±1.
    fn fixture_16k(name: &str) -> Vec<f32> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut reader = hound::WavReader::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(reader.spec().sample_rate, 16_000, "{path}");
        reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32_768.0).collect()
    }

    /// The CMU ARCTIC fixture (16 kHz mono speech).
    fn speech_16k() -> Vec<f32> {
        fixture_16k("speech_aew_a0001.wav")
    }

    /// Upsamples by 3 (16 → 48 kHz) with a Hann-windowed sinc, 64 taps per output sample,
    /// cut off at 0.9 of the input's Nyquist.
    fn upsample_3x(x: &[f32]) -> Vec<f32> {
        const HALF: isize = 32;
        const CUTOFF: f64 = 0.9;
        let tap = |u: f64| {
            if u.abs() >= HALF as f64 {
                return 0.0;
            }
            let window = 0.5 * (1.0 + (PI * u / HALF as f64).cos());
            let sinc = if u == 0.0 {
                1.0
            } else {
                (PI * CUTOFF * u).sin() / (PI * CUTOFF * u)
            };
            CUTOFF * sinc * window
        };
        (0..x.len() * 3)
            .map(|m| {
                let t = m as f64 / 3.0;
                let k0 = (m / 3) as isize;
                let acc: f64 = (k0 - HALF + 1..=k0 + HALF)
                    .filter(|&k| k >= 0 && (k as usize) < x.len())
                    .map(|k| x[k as usize] as f64 * tap(t - k as f64))
                    .sum();
                acc as f32
            })
            .collect()
    }

    /// Three seconds of voice at −20 dBFS with three 150 ms sibilant bursts (white noise
    /// band-limited to 5–10 kHz, −16 dBFS), 48 kHz.
    fn voice_with_sibilants() -> Vec<f32> {
        let len = 3 * FS as usize;
        let mut noise = white_noise(len, 21);
        let mut sections = butterworth_highpass(FS as f64, 5000.0, 4);
        sections.extend(butterworth_lowpass(FS as f64, 10_000.0, 4));
        filter(&mut noise, sections);
        let scale = crate::dsp::db_to_amp(-16.0 - rms_db(&noise)) as f32;
        let bursts = [20_000..27_200, 60_000..67_200, 110_000..117_200];
        voiced(len, -20.0, FS)
            .iter()
            .zip(&noise)
            .enumerate()
            .map(|(i, (v, n))| {
                if bursts.iter().any(|b| b.contains(&i)) {
                    v + n * scale
                } else {
                    *v
                }
            })
            .collect()
    }

    /// The cut's shape, from the prepared filters: never a boost at any frequency or depth; at
    /// the full 10 dB, 8–12 dB down across 6–10 kHz, while the presence region keeps most of
    /// its level (≤ 2 dB down at 4 kHz, ≤ 0.4 dB at 2 kHz) and the voice body none of it.
    #[test]
    fn cut_covers_5_to_10_khz_and_never_boosts() {
        let s = prepared(FS);
        assert_eq!(s.bells.len(), 2);
        let grid: Vec<f64> = (0..=300).map(|k| 20.0 * 1000f64.powf(k as f64 / 300.0)).collect();
        for reduction in [0.5, 3.0, 10.0, 30.0] {
            let worst = grid
                .iter()
                .map(|&f| cut_db(&s, FS, f, reduction))
                .fold(f64::MIN, f64::max);
            assert!(worst <= 1e-9, "{reduction} dB: boost of {worst:.2e} dB");
        }
        let at = |f: f64| cut_db(&s, FS, f, 10.0);
        let shape: Vec<String> = [
            1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0, 9000.0, 10_000.0, 12_000.0,
        ]
        .iter()
        .map(|&f| format!("{:.0} Hz {:.1}", f, at(f)))
        .collect();
        eprintln!("cut at 10 dB: {}", shape.join(", "));
        for f in [6000.0, 7000.0, 8000.0, 9000.0, 10_000.0] {
            assert!((-12.0..=-8.0).contains(&at(f)), "{f} Hz: {:.2} dB", at(f));
        }
        assert!(at(5000.0) < -3.0, "5 kHz: {:.2} dB", at(5000.0));
        assert!(at(4000.0) > -2.0, "4 kHz: {:.2} dB", at(4000.0));
        assert!(at(2000.0) > -0.4, "2 kHz: {:.2} dB", at(2000.0));
        assert!(at(1000.0) > -0.1, "1 kHz: {:.2} dB", at(1000.0));
        assert_eq!(cut_db(&s, FS, 7000.0, 0.0), 0.0);
    }

    /// Known answers on steady tones: a 1 kHz "voice" at −20 dBFS and a 7 kHz "sibilant" at a
    /// set level. The reduction equals how far the sidechain's band/full power ratio (computed
    /// from the filters' responses) exceeds the default −18 dB threshold, capped at 10 dB, within
    /// 0.2 dB (the 3 ms mean square ripples at 2 kHz by ±0.1 dB and the 1 ms attack follows
    /// its peaks); the 7 kHz tone loses what the cut's response says; the 1 kHz tone only the
    /// bells' far skirt (under 0.15 dB); a tone below the threshold leaves the output bit for
    /// bit equal to the input.
    #[test]
    fn reduction_follows_how_far_the_sibilance_sticks_out() {
        let len = FS as usize;
        let voice = sine(1000.0, crate::dsp::db_to_amp(-17.0), FS, len);
        let settle = FS as usize / 2..len;
        for relative_db in [-20.0, -12.0, -9.0, -6.0, 0.0, 6.0] {
            let sib_amp = crate::dsp::db_to_amp(-17.0 + relative_db);
            let hiss = sine(7000.0, sib_amp, FS, len);
            let x = mix(&voice, &hiss);
            let mut s = prepared(FS);
            let y = run(&mut s, std::slice::from_ref(&x), 4096);
            let side_gain = s.split_high.magnitude(FS as f64, 7000.0) * s.side_lowpass.magnitude(FS as f64, 7000.0);
            let band_power = (sib_amp * side_gain).powi(2) / 2.0;
            let full_power = (crate::dsp::db_to_amp(-17.0).powi(2) + sib_amp.powi(2)) / 2.0 + FLOOR_POWER;
            let threshold_db = DeessSettings::default().threshold_db;
            let expected = (10.0 * (band_power / full_power).log10() - threshold_db).clamp(0.0, 10.0);
            let sib_change =
                band_db(&y[0], FS, 6000.0, 8000.0, settle.clone()) - band_db(&x, FS, 6000.0, 8000.0, settle.clone());
            let voice_change = below_3k_db(&y[0], settle.clone()) - below_3k_db(&x, settle.clone());
            eprintln!(
                "7 kHz at {relative_db:+} dB: reduction {:.3} dB (expected {expected:.3}), 7 kHz {sib_change:.2} dB \
                 (cut {:.2}), 1 kHz {voice_change:.4} dB",
                s.reduction,
                cut_db(&s, FS, 7000.0, s.reduction)
            );
            assert!(
                (s.reduction - expected).abs() < 0.2,
                "{relative_db}: {:.3} vs {expected:.3}",
                s.reduction
            );
            assert!(
                (sib_change - cut_db(&s, FS, 7000.0, s.reduction)).abs() < 0.2,
                "{relative_db}: {sib_change:.2}"
            );
            // The 1 kHz tone only feels the bells' far skirt: what the response says, under 0.15 dB.
            let skirt = cut_db(&s, FS, 1000.0, s.reduction);
            assert!(
                (voice_change - skirt).abs() < 0.02 && skirt > -0.15,
                "{relative_db}: 1 kHz changed {voice_change:.4} dB, skirt {skirt:.4} dB"
            );
            if expected == 0.0 {
                assert!(y[0] == x, "{relative_db}: not bit for bit below the threshold");
            }
        }
    }

    /// A 5–10 kHz burst as loud as the voice under it must lose at least 7 dB in 5.5–9.5 kHz
    /// while the energy below 3 kHz moves less than 0.5 dB, at a loud and a quiet level alike
    /// (the threshold is relative).
    #[test]
    fn sibilance_is_reduced_and_the_voice_is_not() {
        let len = FS as usize * 3 / 2;
        let burst = FS as usize / 2..FS as usize;
        let measure = burst.start + FS as usize / 10..burst.end;
        for level in [-12.0, -42.0] {
            let voice = voiced(len, level, FS);
            let x = mix(&voice, &hiss_burst(len, burst.clone(), level, 5000.0, 10_000.0));
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            let band = |x: &[f32], r: std::ops::Range<usize>| band_db(x, FS, 5500.0, 9500.0, r);
            let band_change = band(&y[0], measure.clone()) - band(&x, measure.clone());
            let band_change_burst = band(&y[0], burst.clone()) - band(&x, burst.clone());
            let low_change = below_3k_db(&y[0], measure.clone()) - below_3k_db(&x, measure.clone());
            let low_change_all = below_3k_db(&y[0], 0..len) - below_3k_db(&x, 0..len);
            eprintln!(
                "{level} dB: 5.5-9.5 kHz {band_change:.2} dB (whole burst {band_change_burst:.2}), \
                 <3 kHz {low_change:.3} dB in burst, {low_change_all:.3} dB overall, {:?}",
                s.metrics()
            );
            assert!(
                band_change < -7.0 && band_change_burst < -7.0,
                "{level} dB: sibilance band changed {band_change:.2} / {band_change_burst:.2} dB"
            );
            assert!(
                low_change.abs() < 0.5,
                "{level} dB: below 3 kHz changed {low_change:.3} dB during the burst"
            );
            assert!(
                low_change_all.abs() < 0.5,
                "{level} dB: below 3 kHz changed {low_change_all:.3} dB"
            );
            // Before the burst nothing was reduced, so nothing changed at all.
            assert_eq!(y[0][..burst.start], x[..burst.start], "{level} dB");
            let m = s.metrics();
            assert!(m[0].1 > 6.0 && m[0].1 <= 10.0, "{m:?}");
            assert_eq!(m[3], ("bypassed", 0.0));
        }
    }

    /// Sibilance is judged against the voice around it, not against itself: a 150 ms hiss
    /// (5–10 kHz) right after half a second of voice at −20 dBFS is cut by at least 7 dB when it
    /// is as loud as the voice, and left bit for bit when it lies 26 dB under it, as the "s" of
    /// a speaker without harsh sibilance does. The same soft hiss after 1.5 s of silence has
    /// nothing louder around it and counts as sibilance again (≥ 7 dB).
    #[test]
    fn sibilance_is_judged_against_the_voice_around_it() {
        let len = FS as usize * 5 / 2;
        let hiss_after_voice = FS as usize / 2..FS as usize * 13 / 20;
        let hiss_after_pause = 2 * FS as usize..FS as usize * 43 / 20;
        let voice: Vec<f32> = voiced(len, -20.0, FS)
            .iter()
            .enumerate()
            .map(|(i, &v)| if i < hiss_after_voice.start { v } else { 0.0 })
            .collect();
        let band = |x: &[f32], r: std::ops::Range<usize>| band_db(x, FS, 5500.0, 9500.0, r);
        for (hiss_db, on, expect_cut) in [
            (-20.0, hiss_after_voice.clone(), true),
            (-46.0, hiss_after_voice.clone(), false),
            (-46.0, hiss_after_pause.clone(), true),
        ] {
            let x = mix(&voice, &hiss_burst(len, on.clone(), hiss_db, 5000.0, 10_000.0));
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            let change = band(&y[0], on.clone()) - band(&x, on.clone());
            eprintln!(
                "hiss at {hiss_db} dBFS from {} ms: 5.5-9.5 kHz {change:.2} dB, {:?}",
                on.start * 1000 / FS as usize,
                s.metrics()
            );
            if expect_cut {
                assert!(change < -7.0, "{hiss_db} dB at {}: changed {change:.2} dB", on.start);
            } else {
                assert_eq!(s.metrics()[0], ("max_reduction_db", 0.0));
                assert!(y[0] == x, "{hiss_db} dB at {}: not bit for bit", on.start);
            }
        }
    }

    /// The voiced signal alone, quiet and loud, passes bit for bit: no reduction, and no
    /// filter in the path when there is none.
    #[test]
    fn voice_without_sibilance_passes_unchanged() {
        let len = FS as usize;
        for level in [-45.0, -6.0] {
            let x = voiced(len, level, FS);
            let mut s = stage();
            let y = process(s.as_mut(), std::slice::from_ref(&x));
            assert_eq!(s.metrics()[0], ("max_reduction_db", 0.0));
            assert!(y[0] == x, "{level} dB: output is not the input bit for bit");
        }
    }

    /// Real recordings (16 kHz LibriSpeech and CMU ARCTIC clips in `tests/fixtures/deess/`),
    /// de-essed at their own rate and brought to 48 kHz: on the sibilant-heavy ones the
    /// sibilance index (5–10 kHz over 0.1–4 kHz, whole clip) drops by at least
    /// `SIBILANT_MIN_DROP` dB each and `SIBILANT_MEAN_DROP` on average; on the non-sibilant
    /// ones the 2–5 kHz presence, against 0.1–4 kHz and against the full band, moves by less
    /// than 0.8 dB (the target is ±1 dB), and their index by less than `PLAIN_MAX_DROP`: their
    /// "s" sit far under their vowels and are mostly left alone (a detector that compared each
    /// "s" with itself took 3–4.5 dB off two of them).
    #[test]
    fn sibilant_speech_is_de_essed_and_plain_speech_keeps_its_presence() {
        const SIBILANT_MIN_DROP: f64 = 3.0;
        const SIBILANT_MEAN_DROP: f64 = 4.0;
        const PLAIN_MAX_DROP: f64 = 3.0;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/deess");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".wav"))
            .collect();
        names.sort();
        let mut failures = Vec::new();
        for fs in [16_000, FS] {
            let mut sibilant_drops = Vec::new();
            let mut plain = 0;
            for name in &names {
                let speech = fixture_16k(&format!("deess/{name}"));
                let x = if fs == FS { upsample_3x(&speech) } else { speech };
                let mut s = prepared(fs);
                let y = run(&mut s, std::slice::from_ref(&x), 4096);
                let (before, after) = (indices(&x, fs), indices(&y[0], fs));
                let change: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
                eprintln!(
                    "{fs} Hz {name}: index {:.2} dB, change {:.2} dB; presence/0.1-4k {:+.2} dB, \
                     presence/full {:+.2} dB; active {:.0} %",
                    before[0],
                    change[0],
                    change[1],
                    change[2],
                    s.metrics()[2].1
                );
                if name.starts_with("sibilant_") {
                    if change[0] > -SIBILANT_MIN_DROP {
                        failures.push(format!("{fs} Hz {name}: sibilance index only {:.2} dB down", change[0]));
                    }
                    sibilant_drops.push(change[0]);
                } else {
                    assert!(name.starts_with("plain_"), "{name}: fixtures are sibilant_* or plain_*");
                    if change[1].abs() >= 0.8 || change[2].abs() >= 0.8 {
                        failures.push(format!("{fs} Hz {name}: presence moved {change:?}"));
                    }
                    if change[0] <= -PLAIN_MAX_DROP {
                        failures.push(format!("{fs} Hz {name}: sibilance index {:.2} dB down", change[0]));
                    }
                    plain += 1;
                }
            }
            let mean = sibilant_drops.iter().sum::<f64>() / sibilant_drops.len() as f64;
            eprintln!("{fs} Hz: mean sibilance change {mean:.2} dB");
            assert!(sibilant_drops.len() >= 3 && plain >= 3, "fixtures missing in {dir}");
            assert!(
                mean <= -SIBILANT_MEAN_DROP,
                "{fs} Hz: mean sibilance drop only {mean:.2} dB"
            );
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    /// Sample-exact sync: the output/input cross-correlation peaks at lag 0 on real speech at
    /// 16 kHz (clamped band, one bell) and upsampled to 48 kHz, and on a voice with loud
    /// sibilant bursts, all of them de-essed by up to the full 10 dB (with no reduction the
    /// output is the input bit for bit, so the lag is trivially 0).
    ///
    /// The parabolic sub-sample peak is held to ±0.25 sample: while a band is being cut, a
    /// causal, zero-latency cut cannot be zero-phase (that needs an impulse response symmetric
    /// about 0), and its residual phase (lag below a bell's centre, lead above) tilts the
    /// correlation peak by a fraction of a sample, one way or the other depending on where the
    /// sibilance sits. That is 5 µs at most, and only while de-essing.
    #[test]
    fn output_is_not_shifted_in_time() {
        let speech = speech_16k();
        let cases = [
            ("speech 16 kHz", 16_000, speech.clone(), 0.5),
            ("speech 48 kHz", FS, upsample_3x(&speech), 0.5),
            ("synthetic sibilants 48 kHz", FS, voice_with_sibilants(), 0.5),
        ];
        for (name, fs, x, tolerance) in cases {
            let mut s = stage();
            s.prepare(fs, 1, 4096).unwrap();
            let y = run(s.as_mut(), std::slice::from_ref(&x), 4096);
            let lag = best_lag(&x, &y[0], 50);
            let fine = subsample_lag(&x, &y[0]);
            eprintln!("{name}: lag {lag}, sub-sample {fine:+.4}, {:?}", s.metrics());
            assert!(s.metrics()[0].1 > 9.0, "{name}: not de-essed, {:?}", s.metrics());
            assert_eq!(lag, 0, "{name}");
            assert!(fine.abs() < tolerance, "{name}: sub-sample lag {fine:+.4}");
        }
    }

    /// Real speech (the ARCTIC fixture upsampled to 48 kHz, a speaker with loud sibilants) with
    /// the default threshold: every run of frames dominated by 5–8 kHz (an "s") is de-essed by
    /// at least 9 dB at its peak and the sibilant frames by 7 dB on average, no voiced frame
    /// (5–8 kHz more than 20 dB down) ever makes the reduction grow — vowels only inherit the
    /// release of a preceding sibilant — and the reduction never exceeds the 10 dB maximum.
    #[test]
    fn real_speech_is_de_essed_on_sibilants_only() {
        let x = upsample_3x(&speech_16k());
        let mut s = DeessStage::new(&DeessSettings::default());
        s.prepare(FS, 1, 1).unwrap();
        let mut trace = Vec::with_capacity(x.len());
        let mut buf = vec![vec![0.0f32; 1]];
        for &v in &x {
            buf[0][0] = v;
            s.process(&mut buf, 1);
            trace.push(s.reduction);
        }
        // 10 ms frames: input level, share of the power above 5 kHz, reduction.
        let frame = FS as usize / 100;
        let mut hf = x.clone();
        filter(&mut hf, butterworth_highpass(FS as f64, 5000.0, 8));
        let (mut sibilant, mut vowel) = (Vec::new(), Vec::new());
        for f in 1..x.len() / frame {
            let r = f * frame..(f + 1) * frame;
            let level = rms_db(&x[r.clone()]);
            let hf_share = rms_db(&hf[r.clone()]) - level;
            let peak = trace[r.clone()].iter().fold(0.0f64, |m, &v| m.max(v));
            if level > -40.0 && hf_share < -20.0 {
                let rise = trace[r.clone()].windows(2).fold(0.0f64, |m, w| m.max(w[1] - w[0]));
                assert!(
                    rise < 1e-9,
                    "vowel frame at {f}0 ms raised the reduction by {rise:.3} dB"
                );
                vowel.push(peak);
            } else if level > -45.0 && hf_share > -3.0 {
                sibilant.push((f, peak));
            }
        }
        // Consecutive sibilant frames form one "s"; each keeps its deepest reduction.
        let mut run_peaks: Vec<f64> = Vec::new();
        let mut previous_frame = None;
        for &(f, peak) in &sibilant {
            match run_peaks.last_mut() {
                Some(run_peak) if previous_frame.map(|p| p + 1) == Some(f) => *run_peak = run_peak.max(peak),
                _ => run_peaks.push(peak),
            }
            previous_frame = Some(f);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let peaks: Vec<f64> = sibilant.iter().map(|&(_, p)| p).collect();
        let weakest_run = run_peaks.iter().fold(f64::MAX, |m, &v| m.min(v));
        let m = s.metrics();
        eprintln!(
            "{m:?}; {} sibilant frames in {} runs: mean {:.2} dB, weakest run peaks at {weakest_run:.2} dB; \
             {} vowel frames: mean {:.2} dB (release)",
            sibilant.len(),
            run_peaks.len(),
            mean(&peaks),
            vowel.len(),
            mean(&vowel),
        );
        assert!(sibilant.len() >= 15 && run_peaks.len() >= 3 && vowel.len() >= 100);
        // The first 20-30 ms of an "s" are judged against the vowel before it, so the cut ramps
        // up over the onset; then each reaches (nearly) the full 10 dB.
        assert!(weakest_run >= 9.0, "an \"s\" got only {weakest_run:.2} dB");
        assert!(
            mean(&peaks) >= 7.0,
            "sibilant frames got {:.2} dB on average",
            mean(&peaks)
        );
        assert!(m[0].1 <= 10.0 + 1e-9, "{m:?}");
    }

    #[test]
    fn channels_are_linked() {
        let len = FS as usize;
        let voice = voiced(len, -20.0, FS);
        let left = mix(&voice, &hiss_burst(len, 10_000..30_000, -20.0, 5000.0, 10_000.0));
        let right: Vec<f32> = voice.iter().map(|v| v * 0.5).collect();
        let mut s = stage();
        let y = process(s.as_mut(), &[left, right.clone()]);
        // The right channel has no sibilance of its own but gets the left's gain: its high
        // band (where the voice has almost nothing) is the only part that could change, so
        // compare with the right channel processed alone, which must pass unchanged.
        let mut alone = stage();
        let y_alone = process(alone.as_mut(), std::slice::from_ref(&right));
        assert_eq!(alone.metrics()[0].1, 0.0);
        assert!(y_alone[0] == right, "the right channel alone is not passed bit for bit");
        assert!(y[1][..10_000] == right[..10_000], "changed before the linked burst");
        assert!(s.metrics()[0].1 > 6.0);
        let diff: Vec<f32> = y[1].iter().zip(&y_alone[0]).map(|(a, b)| a - b).collect();
        assert!(
            rms_db(&diff[10_000..30_000]) > -140.0,
            "right channel ignored the linked gain"
        );
        assert!(rms_db(&diff[..9_000]) < -140.0);
    }

    #[test]
    fn contract() {
        let len = 30_000;
        let voice = voiced(len, -20.0, FS);
        let left = mix(&voice, &hiss_burst(len, 8_000..20_000, -18.0, 5000.0, 10_000.0));
        let input = vec![left, voice];
        for fs in [48_000, 44_100, 22_050, 16_000, 11_025, 8_000] {
            assert_block_size_invariant(&stage, fs, &input);
            assert_survives_garbage(&stage, fs, 2);
        }
        assert_eq!(stage().latency(), 0);
    }

    /// 8 and 11.025 kHz have no 5 kHz band: passed through untouched. Below 27 kHz the band
    /// runs into Nyquist: the first bell moves down to 0.35·fs (5.6 kHz at 16 kHz) and a
    /// first-order shelf takes the second bell's place, so at 16 kHz the whole 5.6–8 kHz range
    /// is cut by at least 4 dB at the full 10 dB (the least between the bell and the shelf,
    /// around 6.5 kHz), 4 kHz by less than 2.5 dB, and a 6.5 kHz hiss loses more than 4 dB.
    #[test]
    fn low_sample_rates_bypass_or_clamp() {
        for fs in [8_000, 11_025] {
            let x = vec![white_noise(fs as usize, 4)];
            let mut s = prepared(fs);
            assert_eq!(run(&mut s, &x, 4096), x);
            assert_eq!(s.metrics()[3], ("bypassed", 1.0), "{fs}");
        }
        for fs in [16_000, 22_050, 24_000] {
            let s = prepared(fs);
            let grid: Vec<f64> = (0..=100)
                .map(|k| 20.0 * (fs as f64 / 40.0).powf(k as f64 / 100.0))
                .collect();
            let worst = grid.iter().map(|&f| cut_db(&s, fs, f, 10.0)).fold(f64::MIN, f64::max);
            assert!(worst <= 1e-9, "{fs}: boost of {worst:.2e} dB");
            let band: Vec<String> = [4000.0, 5000.0, 5600.0, 6500.0, 7500.0, 7900.0]
                .iter()
                .map(|&f| format!("{f:.0} Hz {:.1}", cut_db(&s, fs, f, 10.0)))
                .collect();
            eprintln!("{fs} Hz, cut at 10 dB: {}", band.join(", "));
            for f in [5600.0, 6500.0, 7500.0, 7900.0] {
                assert!(
                    cut_db(&s, fs, f, 10.0) < -4.0,
                    "{fs}: {f} Hz cut only {:.2} dB",
                    cut_db(&s, fs, f, 10.0)
                );
            }
            assert!(
                cut_db(&s, fs, 4000.0, 10.0) > -2.5,
                "{fs}: 4 kHz {:.2} dB",
                cut_db(&s, fs, 4000.0, 10.0)
            );
        }
        let fs = 16_000;
        let voice = voiced(fs as usize, -20.0, fs);
        let mut hiss = white_noise(fs as usize, 8);
        let mut c = Cascade::new(vec![Coeffs::bandpass(fs as f64, 6500.0, 3.0); 4]);
        c.prepare(1);
        c.process(0, &mut hiss);
        let gain = crate::dsp::db_to_amp(-20.0 - rms_db(&hiss)) as f32;
        hiss.iter_mut().for_each(|v| *v *= gain);
        let input = mix(&voice, &hiss);
        let mut s = prepared(fs);
        let y = run(&mut s, std::slice::from_ref(&input), 4096);
        let measure = 1600..16_000;
        let change = band_db(&y[0], fs, 6000.0, 7000.0, measure.clone()) - band_db(&input, fs, 6000.0, 7000.0, measure);
        assert_eq!(s.metrics()[3], ("bypassed", 0.0));
        assert!(change < -4.0, "6–7 kHz changed {change:.2} dB, {:?}", s.metrics());
    }

    #[test]
    fn settings_parse_and_validate() {
        let s: DeessSettings = toml::from_str("enabled = true\nthreshold_db = -9.0").unwrap();
        assert_eq!(s.threshold_db, -9.0);
        assert_eq!(s.frequency_hz, 5000.0);
        assert!(s.validate().is_ok());
        assert!(toml::from_str::<DeessSettings>("frequency = 6000.0").is_err());
        let bad = DeessSettings {
            frequency_hz: 20_000.0,
            ..DeessSettings::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "deess.frequency_hz must be between 2000 and 12000, got 20000"
        );
    }
}
