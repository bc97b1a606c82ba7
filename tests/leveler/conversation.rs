//! Conversations built from real speech for the leveler tests: voices at chosen loudness
//! taking turns, pauses of room tone, interjections and synthesised coughs and door slams,
//! with every region remembered so the output can be measured where it matters.
#![allow(dead_code)]

use std::ops::Range;
use std::path::Path;

use crate::common::{fixture, Audio};

/// One speaker's recordings (16 kHz mono LibriSpeech clips, CC BY 4.0; see
/// tests/fixtures/README.md), concatenated.
pub struct Voice {
    pub samples: Vec<f32>,
    /// BS.1770 integrated loudness of `samples`.
    pub lufs: f64,
}

pub const RATE: u32 = 16_000;

/// The voices in tests/fixtures/speech: 1688 (M), 1998 (F), 2033 (M), 3331 (F).
pub fn voice(speaker: &str) -> Voice {
    let dir = fixture("speech");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "flac")
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{speaker}-"))
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no clips of speaker {speaker} in {}", dir.display());
    let mut samples = Vec::new();
    for path in &names {
        samples.extend(decode_mono(path));
    }
    let lufs = loudness(&[samples.as_slice()], RATE).expect("speech has a loudness");
    Voice { samples, lufs }
}

fn decode_mono(path: &Path) -> Vec<f32> {
    let mut decoder = podclean::io::decode::Decoder::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(decoder.info().sample_rate, RATE);
    assert_eq!(decoder.info().channels, 1);
    let mut block = vec![vec![0.0f32; 4096]];
    let mut out = Vec::new();
    loop {
        let n = decoder.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&block[0][..n]);
    }
    out
}

/// BS.1770 integrated loudness of planar channels (ebur128; `None` if undefined).
pub fn loudness(channels: &[&[f32]], rate: u32) -> Option<f64> {
    use ebur128::{EbuR128, Mode};
    let mut meter = EbuR128::new(channels.len() as u32, rate, Mode::I).unwrap();
    meter.add_frames_planar_f32(channels).unwrap();
    meter.loudness_global().ok().filter(|l| l.is_finite())
}

/// Loudness (BS.1770, gated) of the concatenation of `ranges` of `audio`.
pub fn loudness_of(audio: &Audio, ranges: &[Range<usize>]) -> f64 {
    let joined: Vec<Vec<f32>> = audio
        .channels
        .iter()
        .map(|ch| ranges.iter().flat_map(|r| ch[r.clone()].iter().copied()).collect())
        .collect();
    let slices: Vec<&[f32]> = joined.iter().map(|c| c.as_slice()).collect();
    loudness(&slices, audio.rate).unwrap_or(f64::NEG_INFINITY)
}

/// Mean-square level in dB of the concatenation of `ranges` (all channels).
pub fn rms_db_of(audio: &Audio, ranges: &[Range<usize>]) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for ch in &audio.channels {
        for r in ranges {
            for &s in &ch[r.clone()] {
                sum += (s as f64).powi(2);
                n += 1;
            }
        }
    }
    10.0 * (sum / n.max(1) as f64).max(1e-30).log10()
}

/// Deterministic xorshift random numbers.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in [0, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
    /// Approximately normal (mean 0, σ 1).
    pub fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.next()).sum::<f64>() - 6.0
    }
}

/// Pink noise (Paul Kellet's filter) at `rms_dbfs`.
pub fn pink_noise(len: usize, rms_dbfs: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut b = [0.0f64; 7];
    let mut out: Vec<f64> = (0..len)
        .map(|_| {
            let white = rng.next() * 2.0 - 1.0;
            b[0] = 0.99886 * b[0] + white * 0.0555179;
            b[1] = 0.99332 * b[1] + white * 0.0750759;
            b[2] = 0.96900 * b[2] + white * 0.1538520;
            b[3] = 0.86650 * b[3] + white * 0.3104856;
            b[4] = 0.55000 * b[4] + white * 0.5329522;
            b[5] = -0.7616 * b[5] - white * 0.0168980;
            let pink = b.iter().sum::<f64>() + white * 0.5362;
            b[6] = white * 0.115926;
            pink
        })
        .collect();
    let rms = (out.iter().map(|x| x * x).sum::<f64>() / len.max(1) as f64).sqrt();
    let scale = 10f64.powf(rms_dbfs / 20.0) / rms.max(1e-30);
    out.iter_mut().for_each(|x| *x *= scale);
    out.into_iter().map(|x| x as f32).collect()
}

/// A synthesised cough: two noise bursts (fast attack, 60 ms decay) through a broad
/// 400 Hz–3 kHz band, peaking at `peak_dbfs`.
pub fn cough(peak_dbfs: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let len = (0.45 * RATE as f64) as usize;
    let (mut lp, mut hp_in, mut hp) = (0.0f64, 0.0f64, 0.0f64);
    let a_lp = (-2.0 * std::f64::consts::PI * 3000.0 / RATE as f64).exp();
    let a_hp = (-2.0 * std::f64::consts::PI * 400.0 / RATE as f64).exp();
    let mut out: Vec<f64> = (0..len)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let env = |start: f64, gain: f64| {
                if t < start {
                    0.0
                } else {
                    gain * (1.0 - (-(t - start) / 0.004).exp()) * (-(t - start) / 0.06).exp()
                }
            };
            let x = (rng.next() * 2.0 - 1.0) * (env(0.0, 1.0) + env(0.2, 0.7));
            lp = (1.0 - a_lp) * x + a_lp * lp;
            hp = a_hp * (hp + lp - hp_in);
            hp_in = lp;
            hp
        })
        .collect();
    scale_to_peak(&mut out, peak_dbfs)
}

/// A synthesised door slam: a thump (a 70 Hz and a 140 Hz resonance decaying in 80 ms), a
/// broadband crack, and a rattle of noise dying away over 300 ms, peaking at `peak_dbfs`.
pub fn door_slam(peak_dbfs: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let len = (0.8 * RATE as f64) as usize;
    let mut out: Vec<f64> = (0..len)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let tau = std::f64::consts::TAU;
            let thump = (-(t / 0.08)).exp() * ((tau * 70.0 * t).sin() + 0.5 * (tau * 140.0 * t).sin());
            let crack = if t < 0.01 {
                (rng.next() * 2.0 - 1.0) * (1.0 - t / 0.01)
            } else {
                0.0
            };
            let rattle = (rng.next() * 2.0 - 1.0) * 0.25 * (-(t / 0.1)).exp();
            thump + crack + rattle
        })
        .collect();
    scale_to_peak(&mut out, peak_dbfs)
}

fn scale_to_peak(x: &mut [f64], peak_dbfs: f64) -> Vec<f32> {
    let peak = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = 10f64.powf(peak_dbfs / 20.0) / peak.max(1e-30);
    x.iter().map(|v| (v * scale) as f32).collect()
}

/// What happens in a conversation, in order.
pub enum Part {
    /// `speaker` talks for about this many seconds (cut at a quiet moment), at `offset_db`
    /// from their level.
    Turn {
        speaker: usize,
        seconds: f64,
        offset_db: f64,
    },
    /// Like `Turn`, but the turn itself (not the voice on average) is set to the level.
    ExactTurn {
        speaker: usize,
        seconds: f64,
        offset_db: f64,
    },
    /// Room tone only.
    Pause(f64),
    /// A sound that is not speech, at its own level, with room tone around it.
    Event(Vec<f32>),
}

/// A built conversation: the audio and where everything is.
pub struct Conversation {
    pub audio: Audio,
    /// (speaker, frames) of every turn.
    pub turns: Vec<(usize, Range<usize>)>,
    /// Where each turn's voice is active (from the clean recording, before room tone): one
    /// list per turn, in order.
    pub speech: Vec<Vec<Range<usize>>>,
    pub pauses: Vec<Range<usize>>,
    pub events: Vec<Range<usize>>,
}

impl Conversation {
    /// Builds `parts` with voices set to `levels` (LUFS, one per voice), over pink room tone
    /// at `room_tone_dbfs` (RMS). Turns are cut from each voice's recordings in order.
    pub fn build(voices: &[&Voice], levels: &[f64], parts: &[Part], room_tone_dbfs: f64, seed: u64) -> Conversation {
        let mut cursor = vec![0usize; voices.len()];
        let mut out: Vec<f32> = Vec::new();
        let (mut turns, mut pauses, mut events, mut speech) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for part in parts {
            let start = out.len();
            match part {
                Part::Turn {
                    speaker,
                    seconds,
                    offset_db,
                }
                | Part::ExactTurn {
                    speaker,
                    seconds,
                    offset_db,
                } => {
                    let voice = voices[*speaker];
                    let clip = take(voice, &mut cursor[*speaker], *seconds);
                    let active = active_ranges(&clip, 0);
                    let own = match part {
                        Part::ExactTurn { .. } => {
                            let joined: Vec<f32> =
                                active.iter().flat_map(|r| clip[r.clone()].iter().copied()).collect();
                            loudness(&[joined.as_slice()], RATE).unwrap_or(voice.lufs)
                        }
                        _ => voice.lufs,
                    };
                    let gain = 10f64.powf((levels[*speaker] + offset_db - own) / 20.0) as f32;
                    out.extend(clip.iter().map(|s| s * gain));
                    turns.push((*speaker, start..out.len()));
                    speech.push(active.iter().map(|r| r.start + start..r.end + start).collect());
                }
                Part::Pause(seconds) => {
                    out.extend(std::iter::repeat_n(0.0, (seconds * RATE as f64) as usize));
                    pauses.push(start..out.len());
                }
                Part::Event(samples) => {
                    out.extend_from_slice(samples);
                    events.push(start..out.len());
                }
            }
        }
        let tone = pink_noise(out.len(), room_tone_dbfs, seed);
        for (s, t) in out.iter_mut().zip(tone) {
            *s += t;
        }
        Conversation {
            audio: Audio {
                rate: RATE,
                channels: vec![out],
            },
            turns,
            speech,
            pauses,
            events,
        }
    }

    /// Where `speaker`'s voice is active, over all their turns.
    pub fn speech_of(&self, speaker: usize) -> Vec<Range<usize>> {
        self.turns
            .iter()
            .zip(&self.speech)
            .filter(|((s, _), _)| *s == speaker)
            .flat_map(|(_, ranges)| ranges.iter().cloned())
            .collect()
    }

    /// Speech-gated loudness of every turn (BS.1770 over the turn's active voice).
    pub fn turn_loudness(&self, audio: &Audio) -> Vec<f64> {
        self.speech.iter().map(|ranges| loudness_of(audio, ranges)).collect()
    }

    /// Speech-gated loudness of `speaker` (BS.1770 over all their active voice).
    pub fn speaker_loudness(&self, audio: &Audio, speaker: usize) -> f64 {
        loudness_of(audio, &self.speech_of(speaker))
    }

    /// Frames of every turn of `speaker`.
    pub fn turns_of(&self, speaker: usize) -> Vec<Range<usize>> {
        self.turns
            .iter()
            .filter(|(s, _)| *s == speaker)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// The pauses without their first and last 150 ms (where a voice's tail or a gain ramp
    /// may still be), those at least 0.2 s long after trimming.
    pub fn pause_interiors(&self) -> Vec<Range<usize>> {
        let trim = (0.15 * RATE as f64) as usize;
        self.pauses
            .iter()
            .filter(|p| p.len() > 2 * trim + (0.2 * RATE as f64) as usize)
            .map(|p| p.start + trim..p.end - trim)
            .collect()
    }
}

/// About `seconds` of `voice` from `cursor` on (wrapping around), starting and ending at
/// the quietest 20 ms near the wanted points (so a turn is whole words), with 5-ms fades.
fn take(voice: &Voice, cursor: &mut usize, seconds: f64) -> Vec<f32> {
    let len = voice.samples.len();
    let at = |i: usize| voice.samples[i % len];
    let frame = (0.02 * RATE as f64) as usize;
    let energy = |end: usize| (end - frame..end).map(|i| (at(i) as f64).powi(2)).sum::<f64>();
    let quietest = |lo: usize, hi: usize| {
        (lo..=hi)
            .step_by(frame / 4)
            .min_by(|&a, &b| energy(a).total_cmp(&energy(b)))
            .unwrap_or(lo)
    };
    let start = quietest(*cursor + frame, *cursor + frame + (0.3 * RATE as f64) as usize);
    let want = (seconds * RATE as f64) as usize;
    let search = ((0.25 * RATE as f64) as usize).min(want / 4);
    let end = quietest(start + want - search, start + want + search);
    let fade = (0.005 * RATE as f64) as usize;
    let mut clip: Vec<f32> = (start..end).map(at).collect();
    let n = clip.len();
    for i in 0..fade.min(n / 2) {
        let g = i as f32 / fade as f32;
        clip[i] *= g;
        clip[n - 1 - i] *= g;
    }
    *cursor = end % len;
    clip
}

/// Where a clean clip's voice is active: 10-ms frames within 35 dB of its loudest frames
/// (the 95th percentile), joined across gaps under 150 ms, offset by `offset` frames.
/// Ground truth for speech-gated measures, independent of podclean's detector.
fn active_ranges(clip: &[f32], offset: usize) -> Vec<Range<usize>> {
    let frame = (0.01 * RATE as f64) as usize;
    let energy: Vec<f64> = clip
        .chunks(frame)
        .map(|c| c.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / c.len() as f64)
        .collect();
    let mut sorted = energy.clone();
    sorted.sort_by(f64::total_cmp);
    let loud = sorted[(sorted.len() - 1) * 95 / 100];
    let threshold = loud * 10f64.powf(-35.0 / 10.0);
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for (i, &e) in energy.iter().enumerate() {
        if e <= threshold {
            continue;
        }
        let r = offset + i * frame..offset + ((i + 1) * frame).min(clip.len());
        match ranges.last_mut() {
            Some(last) if r.start - last.end < 15 * frame => last.end = r.end,
            _ => ranges.push(r),
        }
    }
    ranges
}

/// p90 − p10 of `values`.
pub fn spread(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    at(0.9) - at(0.1)
}
