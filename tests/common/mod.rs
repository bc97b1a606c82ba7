//! Helpers shared by the CLI and end-to-end tests: signal synthesis, WAV I/O through hound,
//! an ebur128 meter, and the podclean binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn podclean() -> assert_cmd::Command {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("podclean"))
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Planar audio with its rate.
#[derive(Clone, Debug)]
pub struct Audio {
    pub rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    pub fn frames(&self) -> usize {
        self.channels[0].len()
    }

    pub fn scaled(mut self, gain: f32) -> Audio {
        for ch in &mut self.channels {
            for s in ch.iter_mut() {
                *s *= gain;
            }
        }
        self
    }
}

/// Writes `audio` as WAV: bits 16/24 integer, or 32 for float.
pub fn write_wav(path: &Path, audio: &Audio, bits: u16) {
    let spec = hound::WavSpec {
        channels: audio.channels.len() as u16,
        sample_rate: audio.rate,
        bits_per_sample: bits,
        sample_format: if bits == 32 {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let scale = (1i64 << (bits - 1)) as f64;
    for i in 0..audio.frames() {
        for ch in &audio.channels {
            let x = ch[i] as f64;
            match bits {
                32 => writer.write_sample(x as f32).unwrap(),
                _ => writer
                    .write_sample((x * scale).round().clamp(-scale, scale - 1.0) as i32)
                    .unwrap(),
            }
        }
    }
    writer.finalize().unwrap();
}

pub fn read_wav(path: &Path) -> Audio {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let n = spec.channels as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(|s| s.unwrap()).collect(),
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().map(|s| s.unwrap() as f32 / scale).collect()
        }
    };
    let mut channels = vec![Vec::with_capacity(interleaved.len() / n); n];
    for frame in interleaved.chunks_exact(n) {
        for (c, s) in frame.iter().enumerate() {
            channels[c].push(*s);
        }
    }
    Audio {
        rate: spec.sample_rate,
        channels,
    }
}

/// Integrated loudness (LUFS) and true peak (dBTP) by the ebur128 crate.
pub fn measure(audio: &Audio) -> (f64, f64) {
    use ebur128::{EbuR128, Mode};
    let n = audio.channels.len() as u32;
    let mut meter = EbuR128::new(n, audio.rate, Mode::I | Mode::TRUE_PEAK).unwrap();
    let slices: Vec<&[f32]> = audio.channels.iter().map(|c| c.as_slice()).collect();
    meter.add_frames_planar_f32(&slices).unwrap();
    let tp = (0..n).map(|c| meter.true_peak(c).unwrap()).fold(0.0, f64::max);
    (meter.loudness_global().unwrap(), 20.0 * tp.log10())
}

/// Scales `audio` so it measures `lufs` integrated.
pub fn at_loudness(audio: Audio, lufs: f64) -> Audio {
    let (now, _) = measure(&audio);
    audio.scaled(10f64.powf((lufs - now) / 20.0) as f32)
}

pub fn sine(freq: f64, peak_dbfs: f64, phase: f64, rate: u32, seconds: f64) -> Vec<f32> {
    let amplitude = 10f64.powf(peak_dbfs / 20.0);
    let n = (rate as f64 * seconds).round() as usize;
    (0..n)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64 + phase).sin()) as f32)
        .collect()
}

/// Concatenated 1 kHz stereo sine segments of (peak dBFS, seconds), as in EBU Tech 3341/3342.
pub fn sine_sequence(segments: &[(f64, f64)], rate: u32) -> Audio {
    let mut ch = Vec::new();
    for &(level, seconds) in segments {
        ch.extend(sine(1000.0, level, 0.0, rate, seconds));
    }
    Audio {
        rate,
        channels: vec![ch.clone(), ch],
    }
}

/// A real speech recording (CMU ARCTIC, BSD-style licence; see tests/fixtures/README.md),
/// 16 kHz mono, repeated to at least `seconds`.
pub fn speech(seconds: f64) -> Audio {
    let clip = read_wav(&fixture("speech_aew_a0001.wav"));
    let want = (clip.rate as f64 * seconds) as usize;
    let mut ch = Vec::with_capacity(want);
    while ch.len() < want {
        ch.extend_from_slice(&clip.channels[0]);
    }
    ch.truncate(want);
    Audio {
        rate: clip.rate,
        channels: vec![ch],
    }
}

/// `audio` at another sample rate, through podclean's own resampler (its delay trimmed).
pub fn resampled(audio: &Audio, rate: u32) -> Audio {
    Audio {
        rate,
        channels: podclean::dsp::resample::convert(&audio.channels, audio.rate, rate).unwrap(),
    }
}

/// A speech-like synthetic voice: a glottal pulse train with moving pitch through three
/// formant resonators, in syllables with pauses. Deterministic.
pub fn synthetic_voice(rate: u32, seconds: f64, channels: usize) -> Audio {
    let n = (rate as f64 * seconds) as usize;
    let mut out = vec![0.0f32; n];
    let mut phase = 0.0f64;
    let formants = [(700.0, 80.0, 1.0), (1200.0, 90.0, 0.5), (2600.0, 120.0, 0.25)];
    let mut states = [[0.0f64; 2]; 3];
    for (i, sample) in out.iter_mut().enumerate() {
        let t = i as f64 / rate as f64;
        let pitch = 120.0 + 25.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
        phase += pitch / rate as f64;
        let pulse = if phase >= 1.0 {
            phase -= 1.0;
            1.0
        } else {
            0.0
        };
        let syllable = (t * 4.0).fract();
        let envelope = if (t * 0.5).fract() > 0.8 {
            0.0
        } else {
            (std::f64::consts::PI * syllable).sin().powi(2)
        };
        let mut y = 0.0;
        for (k, &(f, bw, gain)) in formants.iter().enumerate() {
            let r = (-std::f64::consts::PI * bw / rate as f64).exp();
            let theta = 2.0 * std::f64::consts::PI * f / rate as f64;
            let v = pulse + 2.0 * r * theta.cos() * states[k][0] - r * r * states[k][1];
            states[k][1] = states[k][0];
            states[k][0] = v;
            y += gain * v;
        }
        *sample = (0.05 * y * envelope) as f32;
    }
    Audio {
        rate,
        channels: vec![out; channels],
    }
}

/// Lag (frames) maximizing the cross-correlation of `b` against `a`, searched within ±max_lag.
pub fn best_lag(a: &[f32], b: &[f32], max_lag: isize) -> isize {
    let mut best = (0, f64::MIN);
    for lag in -max_lag..=max_lag {
        let mut acc = 0.0;
        for (i, &x) in a.iter().enumerate() {
            let j = i as isize + lag;
            if j >= 0 && (j as usize) < b.len() {
                acc += x as f64 * b[j as usize] as f64;
            }
        }
        if acc > best.1 {
            best = (lag, acc);
        }
    }
    best.0
}

/// SHA-free content fingerprint for "inputs unchanged" checks: the bytes themselves.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// Files below `dir` whose names mark them as podclean temporaries.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".podclean-"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

pub fn read_report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The report row for `input`.
pub fn row<'a>(report: &'a serde_json::Value, input: &str) -> &'a serde_json::Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["input"] == input)
        .unwrap_or_else(|| panic!("no row for {input} in {report:#}"))
}
