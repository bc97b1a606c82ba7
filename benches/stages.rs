#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Per-stage throughput of podclean, as × real time, plus the stage-sum limit of the whole
//! clean-mode pipeline next to the measured end-to-end speed of the `podclean` binary.
//!
//! ```text
//! cargo bench --bench stages                 # everything (~4 min on 2 cores)
//! cargo bench --bench stages -- denoise      # one stage (criterion filter): both engines
//! cargo bench --bench stages -- deepfilter   # DeepFilterNet3 only
//! cargo bench --no-run                       # what CI does: compile only
//! ```
//!
//! Material: real speech (`/work/shared/corpus/speech/jfk/jfk.flac`, 44.1 kHz stereo, 11 s,
//! or the file named by `PODCLEAN_BENCH_SPEECH`), looped to `SECONDS` and converted to
//! 48 kHz with podclean's own resampler; a synthetic speech-like signal if the file is
//! missing. Mono is the mean of the two channels. Everything is generated into a temp dir.
//!
//! Every bench times one pass over the whole material with `iter_custom` (set-up such as
//! building and preparing a stage is not timed) and records the per-iteration time; after
//! criterion is done, `main` prints a × real time table, the stage-sum limit and the
//! end-to-end comparison (skipped with `PODCLEAN_BENCH_NO_E2E=1` or when stages are missing).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};

use podclean::dsp::compressor::{CompressorSettings, CompressorStage};
use podclean::dsp::deess::{DeessSettings, DeessStage};
use podclean::dsp::denoise::{DenoiseEngine, DenoiseSettings, DenoiseStage};
use podclean::dsp::highpass::{HighpassSettings, HighpassStage};
use podclean::dsp::limiter::Limiter;
use podclean::dsp::resample::StreamResampler;
use podclean::dsp::{db_to_amp, Stage};
use podclean::io::decode::Decoder;
use podclean::io::encode::flac::FlacWriter;
use podclean::io::encode::mp3::{Mp3Mode, Mp3Writer};
use podclean::io::encode::WavWriter;
use podclean::io::spool::SpoolWriter;
use podclean::io::{ChannelRole, SampleFormat};
use podclean::loudness::{Meter, MeterKind};
use podclean::pipeline::BLOCK_FRAMES;
use podclean::preset::Preset;

/// Length of the material every stage bench processes per iteration.
const SECONDS: usize = 30;
/// Length of the file the end-to-end run processes (same material, looped).
const E2E_SECONDS: usize = 120;
/// End-to-end runs of the binary per layout (median reported).
const E2E_RUNS: usize = 5;
const RATE: u32 = 48_000;
const RATE_44K1: u32 = 44_100;
const DEFAULT_SPEECH: &str = "/work/shared/corpus/speech/jfk/jfk.flac";

/// Per-iteration seconds of every sample, by bench id ("denoise/stereo").
static TIMES: Mutex<BTreeMap<String, Vec<f64>>> = Mutex::new(BTreeMap::new());

type Planar = Vec<Vec<f32>>;

/// One layout of the test material.
struct Material {
    label: &'static str,
    /// 48 kHz planar audio, `SECONDS` long.
    audio: Planar,
    /// The same speech at 44.1 kHz (for the resampler and the 44.1 kHz denoise path).
    audio_44k1: Planar,
    /// 24-bit WAV / FLAC / MP3 of `audio`, and the longer WAV for the end-to-end run.
    wav: PathBuf,
    flac: Option<PathBuf>,
    mp3: Option<PathBuf>,
    e2e_wav: PathBuf,
    /// Gain that brings `audio` to the podcast preset's target (what pass B applies).
    gain_to_target: f32,
}

impl Material {
    fn channels(&self) -> usize {
        self.audio.len()
    }
    fn frames(&self) -> usize {
        self.audio[0].len()
    }
    fn roles(&self) -> Vec<ChannelRole> {
        roles(self.channels())
    }
}

fn roles(channels: usize) -> Vec<ChannelRole> {
    match channels {
        1 => vec![ChannelRole::Center],
        _ => vec![ChannelRole::Left, ChannelRole::Right],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not (criterion then runs each
    // bench once as a smoke test and there is nothing worth summarising).
    let measuring = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list");
    // Per-stage figures are for one core: the denoiser would otherwise run the channels of
    // the stereo material on rayon's global pool.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("one-thread global pool");

    let dir = tempfile::Builder::new()
        .prefix("podclean-bench-")
        .tempdir()
        .expect("temp dir");
    let materials = make_materials(dir.path());

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for m in &materials {
        bench_decode(&mut c, m);
    }
    for m in &materials {
        bench_resample(&mut c, m);
    }
    for m in &materials {
        bench_cleanup_stages(&mut c, m);
    }
    for m in &materials {
        bench_meters(&mut c, m);
    }
    for m in &materials {
        bench_pass_b(&mut c, m, dir.path());
    }
    for m in &materials {
        bench_spool(&mut c, m, dir.path());
    }
    c.final_summary();

    if measuring {
        summary(&materials, dir.path());
    }
}

// ---------------------------------------------------------------------------------------
// Test material

fn make_materials(dir: &Path) -> Vec<Material> {
    let (speech_44k1, origin) = load_speech();
    eprintln!("bench material: {origin}, looped to {SECONDS} s (end-to-end file: {E2E_SECONDS} s)");
    let stereo_44k1 = loop_to(&speech_44k1, SECONDS * RATE_44K1 as usize);
    let stereo_48k_long = resample(
        &loop_to(&speech_44k1, E2E_SECONDS * RATE_44K1 as usize),
        RATE_44K1,
        RATE,
    );
    let mono = |x: &Planar| vec![x[0].iter().zip(&x[1]).map(|(l, r)| 0.5 * (l + r)).collect::<Vec<f32>>()];
    let layouts = [
        ("mono", mono(&stereo_48k_long), mono(&stereo_44k1)),
        ("stereo", stereo_48k_long, stereo_44k1),
    ];
    layouts
        .into_iter()
        .map(|(label, long, audio_44k1)| {
            let audio: Planar = long.iter().map(|c| c[..SECONDS * RATE as usize].to_vec()).collect();
            let wav = dir.join(format!("speech-{label}.wav"));
            write_wav(&wav, &audio);
            let e2e_dir = dir.join(format!("e2e-{label}"));
            std::fs::create_dir_all(&e2e_dir).expect("e2e dir");
            let e2e_wav = e2e_dir.join(format!("speech-{label}-{E2E_SECONDS}s.wav"));
            write_wav(&e2e_wav, &long);
            let flac = ffmpeg_convert(&wav, "flac", &["-c:a", "flac"]);
            let mp3 = ffmpeg_convert(&wav, "mp3", &["-c:a", "libmp3lame", "-b:a", "160k"]);
            let preset = Preset::load("podcast").expect("built-in preset");
            let target = preset.loudness.target_for(audio.len());
            let mut meter = Meter::new(RATE, &roles(audio.len()), MeterKind::IntegratedOnly).expect("meter");
            meter.add(&audio, 0..audio[0].len());
            let measured = meter.integrated().unwrap_or(target);
            Material {
                label,
                audio,
                audio_44k1,
                wav,
                flac,
                mp3,
                e2e_wav,
                gain_to_target: db_to_amp(target - measured) as f32,
            }
        })
        .collect()
}

/// Real speech as 44.1 kHz stereo planar audio, and where it came from.
fn load_speech() -> (Planar, String) {
    let path = std::env::var_os("PODCLEAN_BENCH_SPEECH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SPEECH));
    match decode_all(&path) {
        Some((rate, mut audio)) => {
            if audio.len() == 1 {
                audio.push(audio[0].clone());
            }
            audio.truncate(2);
            let audio = if rate == RATE_44K1 {
                audio
            } else {
                resample(&audio, rate, RATE_44K1)
            };
            (audio, format!("{} ({rate} Hz)", path.display()))
        }
        None => (
            synthetic_speech(11 * RATE_44K1 as usize, RATE_44K1),
            format!("synthetic speech-like signal ({} not readable)", path.display()),
        ),
    }
}

fn decode_all(path: &Path) -> Option<(u32, Planar)> {
    let mut decoder = Decoder::open(path).ok()?;
    let info = decoder.info().clone();
    let mut out = vec![Vec::new(); info.channels];
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    loop {
        let n = decoder.read(&mut block).ok()?;
        if n == 0 {
            break;
        }
        for (o, b) in out.iter_mut().zip(&block) {
            o.extend_from_slice(&b[..n]);
        }
    }
    (!out.is_empty() && !out[0].is_empty()).then_some((info.sample_rate, out))
}

/// Voiced syllables (a 110–140 Hz pulse train through two formant-ish resonances, 4 Hz
/// syllable envelope), sibilant noise bursts, pauses and a faint noise floor, in stereo.
fn synthetic_speech(frames: usize, rate: u32) -> Planar {
    let fs = rate as f64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut phase = 0.0f64;
    let (mut r1, mut r2) = ([0.0f64; 2], [0.0f64; 2]);
    let reson = |state: &mut [f64; 2], x: f64, f: f64, bw: f64| {
        let r = (-std::f64::consts::PI * bw / fs).exp();
        let y = x + 2.0 * r * (2.0 * std::f64::consts::PI * f / fs).cos() * state[0] - r * r * state[1];
        state[1] = state[0];
        state[0] = y;
        y * (1.0 - r)
    };
    let mut hp = 0.0f64;
    let mono: Vec<f32> = (0..frames)
        .map(|i| {
            let t = i as f64 / fs;
            let syllable = (t * 4.0).fract();
            let word = (t / 2.5).fract();
            let env = if word > 0.85 {
                0.0
            } else {
                (std::f64::consts::PI * syllable).sin().powi(2)
            };
            let f0 = 110.0 + 30.0 * (t * 0.7).sin();
            phase += f0 / fs;
            let pulse = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            };
            let voiced = reson(&mut r1, pulse, 700.0, 120.0) + 0.5 * reson(&mut r2, pulse, 1800.0, 200.0);
            let n = noise();
            let hiss = n - hp;
            hp = n;
            let sibilant = if syllable > 0.8 && word < 0.85 {
                0.08 * hiss
            } else {
                0.0
            };
            (2.0 * env * voiced + sibilant + 0.001 * noise()) as f32
        })
        .collect();
    vec![mono.clone(), mono]
}

fn loop_to(audio: &Planar, frames: usize) -> Planar {
    audio
        .iter()
        .map(|c| c.iter().copied().cycle().take(frames).collect())
        .collect()
}

/// Whole-signal conversion with podclean's streaming resampler (delay trimmed, tail flushed).
fn resample(audio: &Planar, from: u32, to: u32) -> Planar {
    podclean::dsp::resample::convert(audio, from, to).expect("resampler")
}

fn write_wav(path: &Path, audio: &Planar) {
    let mut writer = WavWriter::create(path, RATE, audio.len(), SampleFormat::Int24).expect("create wav");
    let mut written = vec![vec![0.0f32; BLOCK_FRAMES]; audio.len()];
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; audio.len()];
    for start in (0..audio[0].len()).step_by(BLOCK_FRAMES) {
        let n = fill_block(&mut block, audio, start);
        writer.write(&block, 0..n, &mut written).expect("write wav");
    }
    writer.finalize().expect("finalize wav");
}

/// `wav` converted by ffmpeg (FLAC and MP3 encoders are not part of podclean); `None` with
/// a note if ffmpeg is not there.
fn ffmpeg_convert(wav: &Path, ext: &str, codec: &[&str]) -> Option<PathBuf> {
    let out = wav.with_extension(ext);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(wav)
        .args(codec)
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        _ => {
            eprintln!("ffmpeg could not make {ext} test material: decode_{ext} benches skipped");
            None
        }
    }
}

/// Copies up to one block from `audio[start..]` into `block`; returns the frames copied.
#[inline]
fn fill_block(block: &mut [Vec<f32>], audio: &[Vec<f32>], start: usize) -> usize {
    let n = (audio[0].len() - start).min(BLOCK_FRAMES);
    for (b, a) in block.iter_mut().zip(audio) {
        b[..n].copy_from_slice(&a[start..start + n]);
    }
    n
}

// ---------------------------------------------------------------------------------------
// Benches

fn group<'a>(c: &'a mut Criterion, name: &str, frames: usize) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    // One iteration is a whole pass over the material (tens to hundreds of ms): flat
    // sampling keeps a bench to a few seconds.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(frames as u64));
    g
}

/// Times `run(setup())` per iteration (set-up excluded) and records the per-iteration time.
fn timed<S>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    key: String,
    mut setup: impl FnMut() -> S,
    mut run: impl FnMut(&mut S),
) {
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut state = setup();
                let t = Instant::now();
                run(&mut state);
                total += t.elapsed();
                black_box(&mut state);
            }
            TIMES
                .lock()
                .unwrap()
                .entry(key.clone())
                .or_default()
                .push(total.as_secs_f64() / iters as f64);
            total
        })
    });
}

fn bench_decode(c: &mut Criterion, m: &Material) {
    let channels = m.channels();
    for (name, path) in [
        ("wav", Some(&m.wav)),
        ("flac", m.flac.as_ref()),
        ("mp3", m.mp3.as_ref()),
    ] {
        let Some(path) = path else { continue };
        let group_name = format!("decode_{name}");
        let mut g = group(c, &group_name, m.frames());
        timed(
            &mut g,
            m.label,
            format!("{group_name}/{}", m.label),
            || vec![vec![0.0f32; BLOCK_FRAMES]; channels],
            |block| {
                let mut decoder = Decoder::open(path).expect("open");
                while decoder.read(block).expect("decode") > 0 {}
            },
        );
        g.finish();
    }
}

fn bench_resample(c: &mut Criterion, m: &Material) {
    let channels = m.channels();
    for (name, from, to, audio) in [
        ("resample_44k1_to_48k", RATE_44K1, RATE, &m.audio_44k1),
        ("resample_48k_to_44k1", RATE, RATE_44K1, &m.audio),
    ] {
        let frames = audio[0].len();
        let mut g = group(c, name, frames);
        timed(
            &mut g,
            m.label,
            format!("{name}/{}", m.label),
            || {
                let probe = StreamResampler::new(from, to, channels, 0).expect("resampler");
                let cap = probe.max_output_for(BLOCK_FRAMES) + probe.chunk_out();
                let rs = StreamResampler::new(from, to, channels, cap).expect("resampler");
                (rs, vec![vec![0.0f32; cap]; channels])
            },
            |(rs, out)| {
                // Block-wise push and pop, as the denoiser's 44.1 kHz path drives it.
                for start in (0..frames).step_by(BLOCK_FRAMES) {
                    let n = (frames - start).min(BLOCK_FRAMES);
                    let mut done = 0;
                    while done < n {
                        done += rs.push(audio, start + done..start + n);
                        let cap = out[0].len();
                        while rs.pop(out, 0..cap) > 0 {}
                    }
                }
            },
        );
        g.finish();
    }
}

/// Times a prepared stage over the whole material, block by block as the pipeline feeds it.
fn bench_stage(c: &mut Criterion, name: &str, m: &Material, rate: u32, make: &dyn Fn() -> Box<dyn Stage>) {
    let audio = if rate == RATE { &m.audio } else { &m.audio_44k1 };
    let frames = audio[0].len();
    let channels = audio.len();
    let mut g = group(c, name, frames);
    timed(
        &mut g,
        m.label,
        format!("{name}/{}", m.label),
        || {
            let mut stage = make();
            stage.prepare(rate, channels, BLOCK_FRAMES).expect("prepare");
            (stage, vec![vec![0.0f32; BLOCK_FRAMES]; channels])
        },
        |(stage, block)| {
            for start in (0..frames).step_by(BLOCK_FRAMES) {
                let n = fill_block(block, audio, start);
                stage.process(block, n);
            }
        },
    );
    g.finish();
}

fn bench_cleanup_stages(c: &mut Criterion, m: &Material) {
    bench_stage(c, "highpass", m, RATE, &|| {
        Box::new(HighpassStage::new(&HighpassSettings::default()))
    });
    for engine in [DenoiseEngine::Rnnoise, DenoiseEngine::DeepFilter] {
        let settings = DenoiseSettings {
            engine,
            ..DenoiseSettings::default()
        };
        let make = || -> Box<dyn Stage> { Box::new(DenoiseStage::new(&settings)) };
        bench_stage(c, denoise_bench(engine), m, RATE, &make);
        bench_stage(c, &format!("{}_44k1", denoise_bench(engine)), m, RATE_44K1, &make);
    }
    bench_stage(c, "deess", m, RATE, &|| {
        Box::new(DeessStage::new(&DeessSettings::default()))
    });
    bench_stage(c, "compressor", m, RATE, &|| {
        Box::new(CompressorStage::new(&CompressorSettings::default()))
    });
}

fn bench_meters(c: &mut Criterion, m: &Material) {
    let roles = m.roles();
    for (name, kind) in [
        ("meter_full", MeterKind::Full),
        ("meter_integrated", MeterKind::IntegratedOnly),
    ] {
        let mut g = group(c, name, m.frames());
        timed(
            &mut g,
            m.label,
            format!("{name}/{}", m.label),
            || Meter::new(RATE, &roles, kind).expect("meter"),
            |meter| {
                for start in (0..m.frames()).step_by(BLOCK_FRAMES) {
                    let n = (m.frames() - start).min(BLOCK_FRAMES);
                    meter.add(&m.audio, start..start + n);
                }
                black_box(meter.finish());
            },
        );
        g.finish();
    }
}

/// Pass B's own work: gain, limiter, WAV encode (24-bit, with the final fsync).
fn bench_pass_b(c: &mut Criterion, m: &Material, dir: &Path) {
    let channels = m.channels();
    let frames = m.frames();
    let gain = m.gain_to_target;

    let mut g = group(c, "gain", frames);
    timed(
        &mut g,
        m.label,
        format!("gain/{}", m.label),
        || vec![vec![0.0f32; BLOCK_FRAMES]; channels],
        |block| {
            // The loop of pipeline::run_pass_b.
            for start in (0..frames).step_by(BLOCK_FRAMES) {
                let n = fill_block(block, &m.audio, start);
                for channel in block.iter_mut() {
                    for sample in &mut channel[..n] {
                        *sample *= gain;
                    }
                }
                black_box(&mut *block);
            }
        },
    );
    g.finish();

    // The limiter sees the material at the target loudness, as in pass B.
    let loud: Planar = m.audio.iter().map(|c| c.iter().map(|s| s * gain).collect()).collect();
    let mut g = group(c, "limiter", frames);
    timed(
        &mut g,
        m.label,
        format!("limiter/{}", m.label),
        || {
            let mut limiter = Limiter::new(-1.0, 5.0, 100.0).with_margin_db(0.05);
            limiter.prepare(RATE, channels, BLOCK_FRAMES).expect("prepare");
            (limiter, vec![vec![0.0f32; BLOCK_FRAMES]; channels])
        },
        |(limiter, block)| {
            for start in (0..frames).step_by(BLOCK_FRAMES) {
                let n = fill_block(block, &loud, start);
                limiter.process(block, n);
            }
        },
    );
    g.finish();

    let out = dir.join(format!("encode-{}.wav", m.label));
    let mut g = group(c, "encode_wav24", frames);
    timed(
        &mut g,
        m.label,
        format!("encode_wav24/{}", m.label),
        || {
            let planes = || vec![vec![0.0f32; BLOCK_FRAMES]; channels];
            (planes(), planes())
        },
        |(block, written)| {
            let mut writer = WavWriter::create(&out, RATE, channels, SampleFormat::Int24).expect("create");
            for start in (0..frames).step_by(BLOCK_FRAMES) {
                let n = fill_block(block, &loud, start);
                writer.write(block, 0..n, written).expect("write");
            }
            writer.finalize().expect("finalize");
        },
    );
    g.finish();

    // The other encoders pass B can use (tags excluded: written once, not per sample).
    let out = dir.join(format!("encode-{}.flac", m.label));
    let mut g = group(c, "encode_flac5", frames);
    timed(
        &mut g,
        m.label,
        format!("encode_flac5/{}", m.label),
        || {
            let planes = || vec![vec![0.0f32; BLOCK_FRAMES]; channels];
            (planes(), planes())
        },
        |(block, written)| {
            let mut writer = FlacWriter::create(&out, RATE, channels, 16, 5, &[]).expect("create");
            for start in (0..frames).step_by(BLOCK_FRAMES) {
                let n = fill_block(block, &loud, start);
                writer.write(block, 0..n, written).expect("write");
            }
            writer.finalize().expect("finalize");
        },
    );
    g.finish();
    for (name, mode) in [
        ("encode_mp3_cbr128", Mp3Mode::Cbr(128)),
        ("encode_mp3_vbr2", Mp3Mode::Vbr(2)),
    ] {
        let out = dir.join(format!("{name}-{}.mp3", m.label));
        let mut g = group(c, name, frames);
        timed(
            &mut g,
            m.label,
            format!("{name}/{}", m.label),
            || {
                let planes = || vec![vec![0.0f32; BLOCK_FRAMES]; channels];
                (planes(), planes())
            },
            |(block, written)| {
                let mut writer = Mp3Writer::create(&out, RATE, channels, mode, &[]).expect("create");
                for start in (0..frames).step_by(BLOCK_FRAMES) {
                    let n = fill_block(block, &loud, start);
                    writer.write(block, 0..n, written).expect("write");
                }
                writer.finalize().expect("finalize");
            },
        );
        g.finish();
    }
}

/// The f32 spool between the passes: written once in pass A, read once per pass B.
fn bench_spool(c: &mut Criterion, m: &Material, dir: &Path) {
    let channels = m.channels();
    let frames = m.frames();
    let path = dir.join(format!("bench-{}.spool", m.label));

    let mut g = group(c, "spool_write", frames);
    timed(
        &mut g,
        m.label,
        format!("spool_write/{}", m.label),
        || (),
        |_| {
            let mut writer = SpoolWriter::create(&path, channels).expect("spool");
            for start in (0..frames).step_by(BLOCK_FRAMES) {
                let n = (frames - start).min(BLOCK_FRAMES);
                writer.write(&m.audio, start..start + n).expect("spool write");
            }
            black_box(writer.finish().expect("spool finish"));
        },
    );
    g.finish();

    let mut writer = SpoolWriter::create(&path, channels).expect("spool");
    writer.write(&m.audio, 0..frames).expect("spool write");
    let mut spool = writer.finish().expect("spool finish");
    let mut g = group(c, "spool_read", frames);
    timed(
        &mut g,
        m.label,
        format!("spool_read/{}", m.label),
        || vec![vec![0.0f32; BLOCK_FRAMES]; channels],
        |block| {
            let mut reader = spool.reader().expect("spool reader");
            while reader.read(block).expect("spool read") > 0 {}
        },
    );
    g.finish();
}

// ---------------------------------------------------------------------------------------
// Summary: × real time, stage-sum limit, end to end

/// Median per-iteration seconds of the samples (the last 10 records; warm-up comes first).
fn median_time(key: &str) -> Option<f64> {
    let times = TIMES.lock().unwrap();
    let all = times.get(key)?;
    let mut last: Vec<f64> = all[all.len().saturating_sub(10)..].to_vec();
    last.sort_by(f64::total_cmp);
    Some(last[last.len() / 2])
}

/// × real time of a bench: audio seconds processed per second.
fn xrt(name: &str, label: &str) -> Option<f64> {
    // Every bench processes `SECONDS` of audio at its input rate.
    median_time(&format!("{name}/{label}")).map(|t| SECONDS as f64 / t)
}

const TABLE: &[(&str, &str)] = &[
    ("decode_wav", "decode 24-bit WAV"),
    ("decode_flac", "decode FLAC"),
    ("decode_mp3", "decode MP3 160k"),
    ("resample_44k1_to_48k", "resample 44.1→48 kHz"),
    ("resample_48k_to_44k1", "resample 48→44.1 kHz"),
    ("highpass", "high-pass (80 Hz, order 4)"),
    ("denoise", "denoise (RNNoise, 48 kHz)"),
    ("denoise_44k1", "denoise (RNNoise) at 44.1 kHz (incl. resampling)"),
    ("denoise_deepfilter", "denoise (DeepFilterNet3, 48 kHz)"),
    (
        "denoise_deepfilter_44k1",
        "denoise (DeepFilterNet3) at 44.1 kHz (incl. resampling)",
    ),
    ("deess", "de-esser"),
    ("compressor", "compressor"),
    ("meter_full", "meter Full (I, LRA, M, S, sample + true peak)"),
    ("meter_integrated", "meter IntegratedOnly"),
    ("spool_write", "spool write (f32)"),
    ("spool_read", "spool read (f32)"),
    ("gain", "gain"),
    ("limiter", "true-peak limiter"),
    ("encode_wav24", "WAV encode 24-bit (+fsync)"),
    ("encode_flac5", "FLAC encode 16-bit, level 5 (+fsync)"),
    ("encode_mp3_cbr128", "MP3 encode CBR 128k, LAME -q 3 (+fsync)"),
    ("encode_mp3_vbr2", "MP3 encode VBR V2, LAME -q 3 (+fsync)"),
];

/// Stages of pass A and of one pass B for a clean-mode file (48 kHz WAV in, 24-bit WAV out).
/// Bench id of a denoise engine ("denoise" is RNNoise, as in earlier runs of this bench).
fn denoise_bench(engine: DenoiseEngine) -> &'static str {
    match engine {
        DenoiseEngine::Rnnoise => "denoise",
        DenoiseEngine::DeepFilter => "denoise_deepfilter",
    }
}

/// Pass A with the denoise engine of the default preset (what the end-to-end run uses).
fn pass_a() -> Vec<&'static str> {
    let engine = Preset::load(podclean::preset::DEFAULT_PRESET).map_or(DenoiseEngine::Rnnoise, |p| p.denoise.engine);
    vec![
        "decode_wav",
        "highpass",
        denoise_bench(engine),
        "deess",
        "compressor",
        "meter_full",
        "meter_integrated",
        "spool_write",
    ]
}
const PASS_B: &[&str] = &["spool_read", "gain", "limiter", "encode_wav24", "meter_full"];

fn summary(materials: &[Material], dir: &Path) {
    let labels: Vec<&str> = materials.iter().map(|m| m.label).collect();
    println!();
    println!("## Stage throughput (× real time, 48 kHz, {SECONDS} s of speech per iteration, median of 10)");
    println!();
    println!(
        "| stage | {} |",
        labels
            .iter()
            .map(|l| format!("{l} ×RT"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---:|".repeat(labels.len()));
    for (name, what) in TABLE {
        let cells: Vec<String> = labels
            .iter()
            .map(|l| xrt(name, l).map_or("–".into(), |x| format!("{x:.0}")))
            .collect();
        if cells.iter().all(|c| c == "–") {
            continue;
        }
        println!("| {what} | {} |", cells.join(" | "));
    }

    if std::env::var_os("PODCLEAN_BENCH_NO_E2E").is_some() {
        return;
    }
    let pass_a = pass_a();
    let needed = pass_a.iter().chain(PASS_B);
    let missing: Vec<&&str> = needed
        .clone()
        .filter(|n| labels.iter().any(|l| xrt(n, l).is_none()))
        .collect();
    if !missing.is_empty() {
        println!("\n(stage-sum limit and end-to-end run skipped: not measured in this run: {missing:?})");
        return;
    }

    println!();
    println!("## Stage-sum limit vs measured end to end (clean mode, podcast preset, `-j 1`)");
    println!();
    println!("limit(P) = 1 / (Σ_passA 1/×RT + P · Σ_passB 1/×RT)");
    println!("pass A = {}", pass_a.join(" + "));
    println!("pass B = {} (once per pass; P = passes)", PASS_B.join(" + "));
    println!();
    println!(
        "| layout | Σ pass A s/s | Σ pass B s/s | limit P=1 ×RT | limit P=2 ×RT | limit P=3 ×RT | passes run | limit at those passes ×RT | measured ×RT (median of {E2E_RUNS}) | CPU ×RT | efficiency (wall) | efficiency (CPU) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in materials {
        let cost = |names: &[&str]| names.iter().map(|n| 1.0 / xrt(n, m.label).unwrap()).sum::<f64>();
        let (a, b) = (cost(&pass_a), cost(PASS_B));
        let limit = |p: f64| 1.0 / (a + p * b);
        match run_e2e(m, dir) {
            Ok(e2e) => {
                let lim = limit(e2e.passes as f64);
                println!(
                    "| {} | {a:.5} | {b:.5} | {:.1} | {:.1} | {:.1} | {} | {lim:.1} | {:.1} | {:.1} | {:.0} % | {:.0} % |",
                    m.label,
                    limit(1.0),
                    limit(2.0),
                    limit(3.0),
                    e2e.passes,
                    e2e.xrt,
                    e2e.cpu_xrt,
                    100.0 * e2e.xrt / lim,
                    100.0 * e2e.cpu_xrt / lim
                );
            }
            Err(e) => println!(
                "| {} | {a:.5} | {b:.5} | {:.1} | {:.1} | {:.1} | – | – | end-to-end run failed: {e} | – | – | – |",
                m.label,
                limit(1.0),
                limit(2.0),
                limit(3.0)
            ),
        }
    }
    println!();
    println!("efficiency = measured ×RT / limit at the passes the file really took (target ≥ 80 %); the CPU");
    println!("figure uses user + sys time of the process instead of wall time (robust on a busy machine).");
}

struct E2e {
    xrt: f64,
    cpu_xrt: f64,
    passes: u32,
}

/// Runs the `podclean` binary (built with the bench profile) on the material's long WAV.
fn run_e2e(m: &Material, dir: &Path) -> Result<E2e, String> {
    let exe = env!("CARGO_BIN_EXE_podclean");
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut passes = 0;
    for run in 0..E2E_RUNS {
        let out = dir.join(format!("e2e-out-{}-{run}", m.label));
        let cpu_before = children_cpu_s();
        let t = Instant::now();
        let status = Command::new(exe)
            .arg(&m.e2e_wav)
            .arg("-o")
            .arg(&out)
            .args(["-j", "1", "--quiet", "--force"])
            .status()
            .map_err(|e| format!("cannot run {exe}: {e}"))?;
        let wall = t.elapsed().as_secs_f64();
        let cpu = children_cpu_s() - cpu_before;
        if !status.success() {
            return Err(format!("podclean exited with {status}"));
        }
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("podclean-report.json")).map_err(|e| format!("no report: {e}"))?,
        )
        .map_err(|e| format!("bad report: {e}"))?;
        passes = report["files"][0]["passes"].as_u64().unwrap_or(0) as u32;
        let _ = std::fs::remove_dir_all(&out);
        walls.push(wall);
        cpus.push(cpu);
    }
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    let audio_s = E2E_SECONDS as f64;
    Ok(E2e {
        xrt: audio_s / walls[walls.len() / 2],
        cpu_xrt: audio_s / cpus[cpus.len() / 2],
        passes,
    })
}

/// User + system CPU seconds of all waited-for children so far.
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage only writes into the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
