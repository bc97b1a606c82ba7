//! One file end to end. Pass A decodes and cleans once, meters input and cleaned audio, and
//! spools the cleaned audio; pass B applies gain and the true-peak limiter, encodes, and
//! meters the written output — repeating from the spool with a corrected gain until the
//! output is within tolerance of the target and under the ceiling.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::discover::{io_reason, Job, TEMP_PREFIX};
use crate::dsp::compressor::CompressorStage;
use crate::dsp::deess::DeessStage;
use crate::dsp::denoise::DenoiseStage;
use crate::dsp::highpass::HighpassStage;
use crate::dsp::limiter::Limiter;
use crate::dsp::{db_to_amp, AlignedChain, Chain};
use crate::io::decode::Decoder;
use crate::io::encode::WavWriter;
use crate::io::spool::{Spool, SpoolWriter};
use crate::io::{SampleFormat, StreamInfo};
use crate::loudness::{Measurement, Meter, MeterKind};
use crate::preset::Preset;
use crate::report::{FileReport, Status};

/// Frames per processing block. Memory per job is this × channels × a few buffers.
pub const BLOCK_FRAMES: usize = 4096;
/// Pass B is repeated while the output misses the target by more than this.
pub const TOLERANCE_LU: f64 = 0.05;
/// Upper bound on pass B runs for one file.
pub const MAX_PASSES: u32 = 6;
/// Integrated loudness needs at least one 400 ms gating block.
const MIN_MEASURABLE_S: f64 = 0.4;
/// How far pass B may raise the gain above the first estimate to make up for loudness the
/// limiter takes. Beyond this the target is not reachable under the ceiling without crushing
/// the peaks, and podclean says so instead.
pub const MAX_LIMITER_MAKEUP_DB: f64 = 12.0;
/// Limiter headroom below the ceiling on the first pass: meters interpolate between samples
/// slightly differently, so aim a little under and verify on the written file.
const INITIAL_MARGIN_DB: f64 = 0.05;

/// What to do with each file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub preset: Preset,
    /// Output sample format; `None` keeps the source's (lossy sources become 24-bit).
    pub bit_depth: Option<SampleFormat>,
}

/// Why a file could not be done.
#[derive(Debug)]
pub enum FileError {
    /// A reason a person can act on.
    Failed(String),
    /// The batch was interrupted while this file was running.
    Cancelled,
}

impl From<String> for FileError {
    fn from(reason: String) -> Self {
        FileError::Failed(reason)
    }
}

/// Observes one file's progress (fraction of pass A done, 0..1) and asks whether to stop.
pub struct Control<'a> {
    pub cancel: &'a AtomicBool,
    pub progress: &'a (dyn Fn(f64) + Sync),
}

impl Control<'_> {
    fn check(&self) -> Result<(), FileError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(FileError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Measures a file without writing anything (`podclean analyze`).
pub fn analyze_file(job: &Job, control: &Control) -> Result<FileReport, FileError> {
    let started = Instant::now();
    let mut report = FileReport::new(job.input_rel.to_string_lossy().into_owned());
    let mut decoder = open(job)?;
    let info = decoder.info().clone();
    describe_input(&mut report, &info);
    let mut meter = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::Full)?;
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut frames = 0u64;
    loop {
        control.check()?;
        let n = decoder.read(&mut block).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        meter.add(&block, 0..n);
        frames += n as u64;
        report_progress(control, frames, &info);
    }
    let measurement = meter.finish();
    report.duration_s = Some(frames as f64 / info.sample_rate as f64);
    report.warnings.extend(decoder.warnings().iter().cloned());
    report.status = if measurement.integrated_lufs.is_some() {
        Status::Ok
    } else {
        report.error = Some(silent_reason(frames, info.sample_rate));
        Status::Silent
    };
    report.input_loudness = Some(measurement);
    report.seconds_taken = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Cleans and normalizes one file into `output_root/job.output_rel`.
pub fn process_file(
    job: &Job,
    output_root: &Path,
    settings: &Settings,
    control: &Control,
) -> Result<FileReport, FileError> {
    let started = Instant::now();
    let mut report = FileReport::new(job.input_rel.to_string_lossy().into_owned());
    let mut decoder = open(job)?;
    let info = decoder.info().clone();
    describe_input(&mut report, &info);
    let format = settings
        .bit_depth
        .unwrap_or_else(|| SampleFormat::for_source(info.source));
    report.output_format = Some(format.label().to_string());

    let final_path = output_root.join(&job.output_rel);
    let folder = final_path.parent().unwrap_or(output_root).to_path_buf();
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create output folder {}: {}", folder.display(), io_reason(&e)))?;
    let temp = TempFiles::beside(&final_path);

    // Pass A: decode once, clean, meter, spool.
    let pass_a = run_pass_a(&mut decoder, &info, &settings.preset, &temp.spool, control)?;
    report.warnings.extend(decoder.warnings().iter().cloned());
    report.duration_s = Some(pass_a.frames as f64 / info.sample_rate as f64);
    report.input_loudness = Some(pass_a.input.clone());
    report.cleaned_integrated_lufs = pass_a.cleaned_integrated;
    report.processing = pass_a.processing.clone();
    let mut spool = pass_a.spool;

    // The gain: target − cleaned loudness, capped; unity for silence.
    let loudness = &settings.preset.loudness;
    let target = loudness.target_for(info.channels);
    report.target_lufs = Some(target);
    if info.channels == 1 && loudness.mono_target_lufs.is_some() {
        report.notes.push(format!(
            "mono file: measured as one channel (BS.1770); the preset targets {target} LUFS for mono, {} LUFS for stereo",
            loudness.target_lufs
        ));
    }
    let (mut gain_db, aim) = match pass_a.cleaned_integrated {
        None => {
            report.status = Status::Silent;
            report.error = Some(format!(
                "{} — written at unity gain (0 dB), true-peak limited",
                silent_reason(pass_a.frames, info.sample_rate)
            ));
            (0.0, Aim::CeilingOnly)
        }
        Some(cleaned) if target - cleaned > loudness.max_gain_db => {
            report.status = Status::Ok;
            report.warnings.push(format!(
                "target not reached: {:.1} dB of gain needed, capped at +{} dB (max_gain_db)",
                target - cleaned,
                loudness.max_gain_db
            ));
            (loudness.max_gain_db, Aim::CeilingOnly)
        }
        Some(cleaned) => {
            report.status = Status::Ok;
            (target - cleaned, Aim::Target(target))
        }
    };

    // Pass B, repeated with a corrected gain while the written output misses.
    let ceiling = loudness.true_peak_dbtp;
    let gain_limit = gain_db + MAX_LIMITER_MAKEUP_DB;
    let mut margin = INITIAL_MARGIN_DB;
    let mut previous: Option<(f64, f64)> = None;
    let mut outcome;
    let mut passes = 0;
    loop {
        control.check()?;
        passes += 1;
        outcome = run_pass_b(&mut spool, &info, settings, format, gain_db, margin, &temp.partial)?;
        let out = &outcome.measurement;
        let peak_ok = out.true_peak_dbtp.is_none_or(|tp| tp <= ceiling);
        let miss = match (aim, out.integrated_lufs) {
            (Aim::Target(target), Some(measured)) => target - measured,
            _ => 0.0,
        };
        if (peak_ok && miss.abs() <= TOLERANCE_LU) || passes >= MAX_PASSES {
            break;
        }
        if let Some(tp) = out.true_peak_dbtp.filter(|_| !peak_ok) {
            margin += tp - ceiling + 0.02;
        }
        if miss.abs() > TOLERANCE_LU {
            let measured = out.integrated_lufs.unwrap_or(f64::NAN);
            // Secant step: the limiter makes output loudness grow slower than gain.
            let slope = match previous {
                Some((g0, m0)) if (gain_db - g0).abs() > 1e-6 => ((measured - m0) / (gain_db - g0)).clamp(0.1, 1.0),
                _ => outcome.limiter_slope_estimate,
            };
            previous = Some((gain_db, measured));
            let next = (gain_db + miss / slope).min(gain_limit);
            if (next - gain_db).abs() < 1e-9 && peak_ok {
                break; // at the make-up limit: more passes cannot help
            }
            gain_db = next;
        }
    }
    report.passes = passes;
    report.gain_db = Some(gain_db);
    report.limiter_max_reduction_db = Some(outcome.limiter_max_reduction_db);
    if let (Aim::Target(target), Some(measured)) = (aim, outcome.measurement.integrated_lufs) {
        if (measured - target).abs() > TOLERANCE_LU {
            let why = if gain_db >= gain_limit - 1e-9 {
                format!(
                    "target not reachable under the {ceiling} dBTP ceiling: the peaks stand too far above the speech \
                     level, and more than {MAX_LIMITER_MAKEUP_DB} dB of limiter make-up would crush them \
                     (enable the compressor or lower the target)"
                )
            } else {
                format!(
                    "the limiter took up to {:.1} dB off the peaks",
                    outcome.limiter_max_reduction_db
                )
            };
            report.warnings.push(format!(
                "output measures {measured:.2} LUFS, {:+.2} LU from the target after {passes} passes: {why}",
                measured - target
            ));
        }
    }
    if let Some(tp) = outcome.measurement.true_peak_dbtp.filter(|tp| *tp > ceiling) {
        return Err(FileError::Failed(format!(
            "internal error: output true peak {tp:.2} dBTP stays above the {ceiling} dBTP ceiling after {passes} passes"
        )));
    }
    report.output_loudness = Some(outcome.measurement);
    drop(spool);
    temp.commit(&final_path)
        .map_err(|e| format!("cannot move the finished output into place: {}", io_reason(&e)))?;
    report.output = Some(job.output_rel.to_string_lossy().into_owned());
    report.seconds_taken = started.elapsed().as_secs_f64();
    Ok(report)
}

#[derive(Clone, Copy)]
enum Aim {
    /// Hit this integrated loudness (within tolerance) under the ceiling.
    Target(f64),
    /// Loudness cannot be targeted (silence, capped gain): only hold the ceiling.
    CeilingOnly,
}

fn open(job: &Job) -> Result<Decoder, FileError> {
    Decoder::open(&job.input).map_err(|e| FileError::Failed(e.to_string()))
}

fn describe_input(report: &mut FileReport, info: &StreamInfo) {
    report.sample_rate = Some(info.sample_rate);
    report.channels = Some(info.channels);
    report.codec = Some(info.codec.clone());
    report.duration_s = info.duration_s();
}

fn report_progress(control: &Control, frames: u64, info: &StreamInfo) {
    if let Some(total) = info.frames.filter(|t| *t > 0) {
        (control.progress)((frames as f64 / total as f64).min(1.0));
    }
}

fn silent_reason(frames: u64, sample_rate: u32) -> String {
    let seconds = frames as f64 / sample_rate as f64;
    if seconds < MIN_MEASURABLE_S {
        format!("too short to measure: {seconds:.3} s (integrated loudness needs at least 0.4 s)")
    } else {
        "silent: integrated loudness is undefined (nothing above the -70 LUFS gate)".to_string()
    }
}

struct PassA {
    spool: Spool,
    frames: u64,
    input: Measurement,
    cleaned_integrated: Option<f64>,
    processing: std::collections::BTreeMap<String, crate::report::StageMetrics>,
}

/// The cleanup stages the preset switches on, in signal order.
pub fn build_chain(preset: &Preset) -> Chain {
    let mut chain = Chain::new();
    if preset.highpass.enabled {
        chain.push(Box::new(HighpassStage::new(&preset.highpass)));
    }
    if preset.denoise.enabled {
        chain.push(Box::new(DenoiseStage::new(&preset.denoise)));
    }
    if preset.deess.enabled {
        chain.push(Box::new(DeessStage::new(&preset.deess)));
    }
    if preset.compressor.enabled {
        chain.push(Box::new(CompressorStage::new(&preset.compressor)));
    }
    chain
}

fn run_pass_a(
    decoder: &mut Decoder,
    info: &StreamInfo,
    preset: &Preset,
    spool_path: &Path,
    control: &Control,
) -> Result<PassA, FileError> {
    let chain = build_chain(preset);
    let cleaning = !chain.is_empty();
    let mut aligned = AlignedChain::new(chain, info.sample_rate, info.channels, BLOCK_FRAMES);
    let mut input_meter = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::Full)?;
    let mut cleaned_meter = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::IntegratedOnly)?;
    let mut spool = SpoolWriter::create(spool_path, info.channels).map_err(|e| write_error(&e))?;
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut frames = 0u64;
    loop {
        control.check()?;
        let n = decoder.read(&mut block).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        frames += n as u64;
        input_meter.add(&block, 0..n);
        let range = if cleaning { aligned.process(&mut block, n) } else { 0..n };
        if cleaning {
            cleaned_meter.add(&block, range.clone());
        }
        spool.write(&block, range).map_err(|e| write_error(&e))?;
        report_progress(control, frames, info);
    }
    while let Some(range) = aligned.flush(&mut block) {
        cleaned_meter.add(&block, range.clone());
        spool.write(&block, range).map_err(|e| write_error(&e))?;
    }
    let spool = spool.finish().map_err(|e| write_error(&e))?;
    if spool.frames() != frames {
        return Err(FileError::Failed(format!(
            "internal error: cleanup produced {} frames for {frames} input frames",
            spool.frames()
        )));
    }
    let input = input_meter.finish();
    let cleaned_integrated = if cleaning {
        cleaned_meter.integrated()
    } else {
        input.integrated_lufs
    };
    let processing = aligned
        .stage()
        .stages()
        .iter()
        .map(|stage| {
            let metrics = stage.metrics().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            (stage.name().to_string(), metrics)
        })
        .collect();
    Ok(PassA {
        spool,
        frames,
        input,
        cleaned_integrated,
        processing,
    })
}

struct PassB {
    measurement: Measurement,
    limiter_max_reduction_db: f64,
    limiter_slope_estimate: f64,
}

fn run_pass_b(
    spool: &mut Spool,
    info: &StreamInfo,
    settings: &Settings,
    format: SampleFormat,
    gain_db: f64,
    margin_db: f64,
    partial: &Path,
) -> Result<PassB, FileError> {
    let loudness = &settings.preset.loudness;
    let limiter_settings = &settings.preset.limiter;
    let limiter = Limiter::new(
        loudness.true_peak_dbtp,
        limiter_settings.lookahead_ms,
        limiter_settings.release_ms,
    )
    .with_margin_db(margin_db);
    let mut limiter = AlignedChain::new(limiter, info.sample_rate, info.channels, BLOCK_FRAMES);
    let mut meter = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::Full)?;
    let mut writer =
        WavWriter::create(partial, info.sample_rate, info.channels, format).map_err(|e| write_error(&e))?;
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut written = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let gain = db_to_amp(gain_db) as f32;
    let mut reader = spool
        .reader()
        .map_err(|e| FileError::Failed(format!("cannot read the spool: {}", io_reason(&e))))?;
    let mut emit = |block: &[Vec<f32>], range: std::ops::Range<usize>, meter: &mut Meter| -> Result<(), FileError> {
        if range.is_empty() {
            return Ok(());
        }
        writer
            .write(block, range.clone(), &mut written)
            .map_err(|e| write_error(&e))?;
        meter.add(&written, range);
        Ok(())
    };
    loop {
        let n = reader
            .read(&mut block)
            .map_err(|e| FileError::Failed(format!("cannot read the spool: {}", io_reason(&e))))?;
        if n == 0 {
            break;
        }
        for channel in block.iter_mut() {
            for sample in &mut channel[..n] {
                *sample *= gain;
            }
        }
        let range = limiter.process(&mut block, n);
        emit(&block, range, &mut meter)?;
    }
    while let Some(range) = limiter.flush(&mut block) {
        emit(&block, range, &mut meter)?;
    }
    writer.finalize().map_err(|e| write_error(&e))?;
    Ok(PassB {
        measurement: meter.finish(),
        limiter_max_reduction_db: limiter.stage().max_reduction_db(),
        limiter_slope_estimate: limiter.stage().loudness_slope_estimate(),
    })
}

fn write_error(e: &std::io::Error) -> FileError {
    FileError::Failed(format!("cannot write output: {}", io_reason(e)))
}

/// The spool and partial output of one file. Removed on drop (failure, panic, interruption)
/// unless committed; the partial output becomes the final file only through `commit`.
struct TempFiles {
    spool: PathBuf,
    partial: PathBuf,
}

impl TempFiles {
    fn beside(final_path: &Path) -> TempFiles {
        let name = final_path.file_name().unwrap_or_default().to_string_lossy();
        let folder = final_path.parent().unwrap_or(Path::new("."));
        TempFiles {
            spool: folder.join(format!("{TEMP_PREFIX}{name}.spool")),
            partial: folder.join(format!("{TEMP_PREFIX}{name}.partial")),
        }
    }

    /// Renames the finished partial output to its final name and makes the rename durable.
    fn commit(self, final_path: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.partial, final_path)?;
        if let Some(folder) = final_path.parent() {
            if let Ok(dir) = std::fs::File::open(folder) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.spool);
        let _ = std::fs::remove_file(&self.partial);
    }
}
