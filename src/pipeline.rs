//! One file end to end. Pass A decodes and cleans once, meters input and cleaned audio, and
//! spools the cleaned audio; pass B applies gain and the true-peak limiter, encodes, and
//! meters the written output — repeating from the spool with a corrected gain until the
//! output is within tolerance of the target and under the ceiling. The output appears under
//! its final name only if the input did not change meanwhile (it is fingerprinted from the
//! opened handle before decoding and checked again before the commit).

use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::check::acx::LevelMeter;
use crate::dsp::compressor::CompressorStage;
use crate::dsp::deess::DeessStage;
use crate::dsp::denoise::{DenoiseEngine, DenoiseStage};
use crate::dsp::highpass::HighpassStage;
use crate::dsp::leveler::Leveler;
use crate::dsp::limiter::Limiter;
use crate::dsp::twopass::{SpeechEstimate, TwoPassStage};
use crate::dsp::{db_to_amp, AlignedChain, Chain, PrepareError, SPEECH_HOP_S};
use crate::error::{Error, ErrorKind};
use crate::fsutil::{io_reason, EntryKind, Fingerprint, OutDir};
use crate::io::decode::{DecodeError, DecodeErrorKind, Decoder};
use crate::io::encode::riff::read_broadcast_chunks;
use crate::io::encode::tags::SourceTags;
use crate::io::encode::{Encoder, OutputFormat, OutputMetadata, OutputSpec};
use crate::io::spool::{Spool, SpoolWriter};
use crate::io::{SampleFormat, StreamInfo};
use crate::loudness::{speech_loudness, Measurement, Meter, MeterKind};
use crate::plan::Job;
use crate::preset::Preset;
use crate::report::plot::{Plot, Series, SeriesKind};
use crate::report::{FileReport, Status};
use crate::state::Manifest;

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
/// Sample peaks this far over the ceiling after the gain make the limiter take enough off to
/// move the integrated loudness past the tolerance (only decides whether to meter before
/// encoding; every output is verified either way).
const LIMITER_WORK_DB: f64 = 1.5;
/// Limiter headroom below the ceiling on the first pass: meters interpolate between samples
/// slightly differently, so aim a little under and verify on the written file. Lossy outputs
/// add what their encoder is expected to raise the peaks by.
const INITIAL_MARGIN_DB: f64 = 0.05;
/// A decoded MP3's true peak moves by a tenth of a dB or so between encodes at nearly the
/// same settings: a margin raised by only the overshoot often overshoots again.
const LOSSY_MARGIN_STEP_DB: f64 = 0.1;
/// Metering-only passes before a lossy encode aim this close to the target, so that the
/// encoder's own loudness shift (under 0.01 LU on speech, measured) still lands the decoded
/// file within [`TOLERANCE_LU`].
const PROBE_TOLERANCE_LU: f64 = 0.04;

/// What to do with each file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub preset: Preset,
    /// Output sample format; `None` keeps the source's (lossy sources become 24-bit). The
    /// output format and encoder settings are the preset's `[output]` table.
    pub bit_depth: Option<SampleFormat>,
}

/// Why a file could not be done.
#[derive(Debug)]
pub enum FileError {
    /// The kind and a reason a person can act on.
    Failed(Error),
    /// The batch was interrupted while this file was running.
    Cancelled,
}

impl From<Error> for FileError {
    fn from(error: Error) -> Self {
        FileError::Failed(error)
    }
}

impl From<PrepareError> for FileError {
    fn from(e: PrepareError) -> Self {
        FileError::Failed(Error::new(ErrorKind::Unsupported, e.to_string()))
    }
}

fn failed(kind: ErrorKind, message: impl Into<String>) -> FileError {
    FileError::Failed(Error::new(kind, message))
}

/// Where outputs go: the output root (held open) and its manifest.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    pub root: &'a OutDir,
    pub manifest: &'a Manifest,
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

/// The kind of a decoding failure, for the report.
fn decode_kind(e: &DecodeError) -> ErrorKind {
    match e.kind() {
        DecodeErrorKind::NotFound => ErrorKind::NotFound,
        DecodeErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        DecodeErrorKind::NotAFile => ErrorKind::NotARegularFile,
        DecodeErrorKind::Empty | DecodeErrorKind::NotAudio | DecodeErrorKind::NoAudioTrack => ErrorKind::NotAudio,
        DecodeErrorKind::UnsupportedCodec => ErrorKind::UnsupportedCodec,
        DecodeErrorKind::UnsupportedContainer
        | DecodeErrorKind::UnsupportedChannels
        | DecodeErrorKind::UnsupportedRate
        | DecodeErrorKind::FormatChanged => ErrorKind::Unsupported,
        DecodeErrorKind::Truncated => ErrorKind::Truncated,
        DecodeErrorKind::Corrupt => ErrorKind::Corrupt,
        _ => ErrorKind::Io,
    }
}

fn decode_error(e: DecodeError) -> FileError {
    failed(decode_kind(&e), e.to_string())
}

/// Opens the input read-only and checks it is still the file the plan saw (a link swapped in
/// for it, or a replaced file, is refused); returns it with its fingerprint.
fn open_input(job: &Job) -> Result<(File, Fingerprint), FileError> {
    let file = crate::fsutil::open_input(&job.input, job.follow).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::Other {
            if e.to_string().contains("symbolic link") {
                ErrorKind::Symlink
            } else {
                ErrorKind::NotARegularFile
            }
        } else {
            ErrorKind::of_input_io(&e)
        };
        failed(kind, format!("cannot open input: {}", io_reason(&e)))
    })?;
    let fingerprint = Fingerprint::of_file(&file).map_err(|e| failed(ErrorKind::Io, io_reason(&e)))?;
    if job.identity.is_some_and(|id| id != fingerprint.identity()) {
        return Err(failed(
            ErrorKind::InputChanged,
            "the input was replaced by another file after the run started; it will be done on the next run",
        ));
    }
    Ok((file, fingerprint))
}

/// Measures a file without writing anything (`podclean analyze` and `check`): loudness, the
/// unweighted levels a spec may judge, and the loudness-over-time plot, in one decode.
pub fn analyze_file(job: &Job, settings: &Settings, control: &Control) -> Result<FileReport, FileError> {
    let started = Instant::now();
    let mut report = FileReport::new(job.input_rel.to_string_lossy().into_owned());
    let (input, _) = open_input(job)?;
    let mut decoder = Decoder::open_file(input, &job.input).map_err(decode_error)?;
    let info = decoder.info().clone();
    describe_input(&mut report, &info);
    let mut meter = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::Full)
        .map_err(|e| failed(ErrorKind::Unsupported, e))?;
    meter.mark_overs_above(settings.preset.over_threshold_dbtp());
    let mut levels = LevelMeter::new(info.sample_rate, info.channels);
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut frames = 0u64;
    loop {
        control.check()?;
        let n = decoder.read(&mut block).map_err(decode_error)?;
        if n == 0 {
            break;
        }
        meter.add(&block, 0..n);
        levels.add(&block, 0..n);
        frames += n as u64;
        report_progress(control, frames, &info);
    }
    let measurement = levels.finish().add_to(meter.finish());
    let duration_s = frames as f64 / info.sample_rate as f64;
    let mut plot = Plot::new(duration_s);
    plot.set(Series::short_term(
        SeriesKind::Input,
        meter.block_track(),
        meter.over_blocks(),
    ));
    report.plot = Some(plot);
    report.duration_s = Some(duration_s);
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

/// Cleans and normalizes one file into `destination.root/job.output_rel`.
pub fn process_file(
    job: &Job,
    destination: Destination,
    settings: &Settings,
    control: &Control,
) -> Result<FileReport, FileError> {
    let started = Instant::now();
    let mut report = FileReport::new(job.input_rel.to_string_lossy().into_owned());
    let (input, before) = open_input(job)?;
    // Decode the very handle that was fingerprinted (reads are positional: sharing it is safe).
    let handle = input.try_clone().map_err(|e| failed(ErrorKind::Io, io_reason(&e)))?;
    let mut decoder = Decoder::open_file(handle, &job.input).map_err(decode_error)?;
    let info = decoder.info().clone();
    describe_input(&mut report, &info);
    let spec = OutputSpec::plan(
        job.format,
        &settings.preset.output,
        settings.bit_depth,
        &info,
        &job.input,
    )
    .map_err(|e| failed(ErrorKind::Unsupported, e))?;
    report.output_format = Some(spec.label());
    report.notes.extend(spec.notes.iter().cloned());
    // Read-only, before anything is written: what the output should carry.
    let source_tags = SourceTags::read(&job.input);
    let broadcast = read_broadcast_chunks(&job.input).unwrap_or_else(|e| {
        report
            .warnings
            .push(format!("bext/iXML chunks not carried: {}", io_reason(&e)));
        Default::default()
    });

    let (folder, name) = output_slot(job, destination)?;
    let key = job.key();
    // This run holds the output's claim: leftovers of a killed run for it can go.
    folder.sweep_temporaries(Some(&key));

    // Pass A: decode once, clean, meter, spool (a nameless file: nothing to leave behind).
    let spool_file = folder.anonymous_file(&key).map_err(|e| write_error(&e))?;
    let spool = SpoolWriter::from_file(spool_file, info.channels).map_err(|e| write_error(&e))?;
    let pass_a = run_pass_a(&mut decoder, &info, &settings.preset, spool, control)?;
    report.warnings.extend(decoder.warnings().iter().cloned());
    let duration_s = pass_a.frames as f64 / info.sample_rate as f64;
    report.duration_s = Some(duration_s);
    report.input_loudness = Some(pass_a.input.clone());
    let mut plot = Plot::new(duration_s);
    plot.set(pass_a.input_series.clone());
    report.cleaned_integrated_lufs = pass_a.cleaned_integrated;
    report.processing = pass_a.processing.clone();
    let mut spool = pass_a.spool;
    let duration_ms =
        u32::try_from(pass_a.frames.saturating_mul(1000) / u64::from(info.sample_rate.max(1))).unwrap_or(u32::MAX);
    let mut leveler = pass_a.leveler;
    if let Some(leveler) = &leveler {
        report.leveler_max_boost_db = Some(leveler.max_boost_db());
        report.leveler_max_cut_db = Some(leveler.max_cut_db());
        let curve: Vec<f32> = leveler.gain_db().map(|g| g as f32).collect();
        plot.set(Series::from_track(SeriesKind::Gain, &curve));
    }
    let partial = folder.create_temp(&key, "partial").map_err(|e| write_error(&e))?;

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
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let history = format!(
        "cleaned and normalized, preset {}, target {target} LUFS, ceiling {ceiling} dBTP",
        settings.preset.name
    );
    let metadata = OutputMetadata::prepare(&spec, &source_tags, &broadcast, duration_ms, now, &history);
    report.tags_carried = Some(metadata.carried.tags);
    report.chapters_carried = Some(metadata.carried.chapters);
    report.warnings.extend(metadata.carried.warnings.iter().cloned());
    report.notes.extend(metadata.carried.notes.iter().cloned());
    let output = Output {
        spec: &spec,
        metadata: &metadata,
        file: partial.file(),
        frames: pass_a.frames,
    };
    let gain_limit = gain_db + MAX_LIMITER_MAKEUP_DB;
    let mut margin = INITIAL_MARGIN_DB.max(spec.true_peak_rise_guess_db());
    // Secant memory, in the loudness of the samples fed to the encoder: (gain, loudness).
    let mut previous: Option<(f64, f64)> = None;
    let mut outcome;
    let mut passes = 0;
    // An encode (and an MP3's verifying decode) costs several limiter passes. When the
    // limiter will take loudness off the peaks, the first gain misses: find the gain with
    // passes that only meter (gain, limiter, meter: no encoder), then encode once; every
    // written file is verified as always. An MP3 decodes a little louder or softer than the
    // samples it was made from: the first written file measures that shift against the
    // metering pass at the same gain, and later passes aim off by it.
    // The cleaned peak was measured before the leveler's curve: its largest boost bounds what
    // that does to the peak.
    let leveler_boost_db = leveler.as_ref().map_or(0.0, |l| l.max_boost_db().max(0.0));
    let limiter_will_work = pass_a.cleaned_peak_dbfs + leveler_boost_db + gain_db > ceiling + LIMITER_WORK_DB;
    let meter_first = spec.format != OutputFormat::Wav && limiter_will_work;
    let mut probing = meter_first;
    // The samples' loudness found by the metering pass whose gain and margin are written next.
    let mut probed: Option<f64> = None;
    // Decoded minus samples' loudness of the last written MP3 (0 for lossless output).
    let mut encoder_shift = 0.0;
    loop {
        control.check()?;
        passes += 1;
        let write = if probing {
            Write::MeterOnly
        } else {
            Write::Encode(&output)
        };
        let leveling = leveler.as_mut().zip(pass_a.speech_blocks.as_deref());
        outcome = run_pass_b(&mut spool, &info, settings, write, leveling, gain_db, margin)?;
        let out = &outcome.measurement;
        let peak_ok = out.true_peak_dbtp.is_none_or(|tp| tp <= ceiling);
        let decoded = !probing && spec.format.is_lossy();
        let miss = match (aim, out.integrated_lufs) {
            (Aim::Target(target), Some(measured)) if probing => target - encoder_shift - measured,
            (Aim::Target(target), Some(measured)) => target - measured,
            _ => 0.0,
        };
        // Metering for a lossy file aims closer, leaving the encoder's shift room to land.
        let tolerance = if probing && spec.format.is_lossy() {
            PROBE_TOLERANCE_LU
        } else {
            TOLERANCE_LU
        };
        let hit = peak_ok && miss.abs() <= tolerance;
        if probing {
            if hit {
                probing = false;
                probed = out.integrated_lufs;
                continue;
            }
            probing = passes + 1 < MAX_PASSES;
        } else {
            if hit || passes >= MAX_PASSES {
                break;
            }
            if let (Some(samples), Some(measured), true) = (probed.take(), out.integrated_lufs, decoded) {
                encoder_shift = measured - samples;
            }
        }
        if let Some(tp) = out.true_peak_dbtp.filter(|_| !peak_ok) {
            margin += tp - ceiling + if decoded { LOSSY_MARGIN_STEP_DB } else { 0.02 };
        }
        if miss.abs() > tolerance {
            let measured = out.integrated_lufs.unwrap_or(f64::NAN) - if decoded { encoder_shift } else { 0.0 };
            // Secant step: the limiter makes output loudness grow slower than gain.
            let slope = match previous {
                Some((g0, m0)) if (gain_db - g0).abs() > 1e-6 => ((measured - m0) / (gain_db - g0)).clamp(0.1, 1.0),
                _ => outcome.limiter_slope_estimate,
            };
            previous = Some((gain_db, measured));
            let next = (gain_db + miss / slope).min(gain_limit);
            if (next - gain_db).abs() < 1e-9 && peak_ok {
                // At the make-up limit: more passes cannot help; write what the last one metered.
                if probing {
                    probing = false;
                    continue;
                }
                break;
            }
            gain_db = next;
        }
    }
    report.passes = passes;
    report.gain_db = Some(gain_db);
    report.bitrate_kbps = (pass_a.frames > 0)
        .then(|| outcome.audio_bytes as f64 * 8.0 / (pass_a.frames as f64 / f64::from(info.sample_rate)) / 1000.0);
    report.output_measured_on = Some(
        if spec.format.is_lossy() {
            "decoded output file"
        } else {
            "samples written"
        }
        .to_string(),
    );
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
        return Err(FileError::Failed(Error::internal(format!(
            "output true peak {tp:.2} dBTP stays above the {ceiling} dBTP ceiling after {passes} passes"
        ))));
    }
    report.output_loudness = Some(outcome.measurement);
    plot.set(outcome.series);
    report.plot = Some(plot);
    drop(spool);

    // Commit: only an output made from the input as it still is.
    check_unchanged(job, &input, &before)?;
    report.output = Some(job.output_rel.to_string_lossy().into_owned());
    report.seconds_taken = started.elapsed().as_secs_f64();
    let output_size = partial.file().metadata().map_err(|e| write_error(&e))?.len();
    destination
        .manifest
        .begin_commit(job, &before, output_size, &report)
        .map_err(|e| {
            failed(
                ErrorKind::WriteFailed,
                format!("cannot write the manifest: {}", io_reason(&e)),
            )
        })?;
    partial.commit(name).map_err(|e| {
        failed(
            ErrorKind::of_output_io(&e),
            format!("cannot move the finished output into place: {}", io_reason(&e)),
        )
    })?;
    if let Err(e) = destination.manifest.record(job, &before, output_size, &report) {
        report.warnings.push(format!(
            "could not record the output in the manifest ({}); it will be redone next run",
            io_reason(&e)
        ));
    }
    Ok(report)
}

/// The output's folder (created, never through a link) and file name, after checking that
/// nothing podclean did not write sits there.
fn output_slot<'a>(job: &'a Job, destination: Destination) -> Result<(OutDir, &'a OsStr), FileError> {
    let name = job
        .output_rel
        .file_name()
        .ok_or_else(|| FileError::Failed(Error::internal("output path without a file name")))?;
    let parent = job.output_rel.parent().unwrap_or(Path::new(""));
    let folder = destination.root.open_dir(parent, true).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::Other {
            ErrorKind::OutputUnsafe
        } else {
            ErrorKind::of_output_io(&e)
        };
        failed(kind, format!("cannot create the output folder: {}", io_reason(&e)))
    })?;
    let path = folder.path().join(name);
    match folder.stat(name) {
        Ok(None) => {}
        Ok(Some(stat)) if stat.kind == EntryKind::File && destination.manifest.owns(&job.output_rel) => {}
        Ok(Some(stat)) if stat.kind == EntryKind::Symlink => {
            return Err(failed(
                ErrorKind::OutputUnsafe,
                format!(
                    "{} is a symbolic link: podclean never writes through or replaces links it did not make; remove it",
                    path.display()
                ),
            ))
        }
        Ok(Some(_)) => {
            return Err(failed(
                ErrorKind::OutputExists,
                format!(
                    "{} already exists and was not written by podclean: podclean never replaces files it did not write; move it away",
                    path.display()
                ),
            ))
        }
        Err(e) => return Err(failed(ErrorKind::of_output_io(&e), io_reason(&e))),
    }
    Ok((folder, name))
}

/// Fails when the input changed (grew, was rewritten, or was replaced by a rename) since
/// `before` was taken: the output would not be made from what is there now.
fn check_unchanged(job: &Job, input: &File, before: &Fingerprint) -> Result<(), FileError> {
    let now_open = Fingerprint::of_file(input).map_err(|e| failed(ErrorKind::Io, io_reason(&e)))?;
    let now_named = if job.follow {
        std::fs::metadata(&job.input).map(|m| Fingerprint::of_metadata(&m))
    } else {
        Fingerprint::of_path(&job.input)
    };
    let change = match now_named {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("it was moved or deleted".to_string()),
        Err(e) => Some(format!("it can no longer be read ({})", io_reason(&e))),
        Ok(named) => now_open.change_since(before).or_else(|| named.change_since(before)),
    };
    match change {
        Some(what) => Err(failed(
            ErrorKind::InputChanged,
            format!(
                "the input changed while it was being processed ({what}), perhaps an upload still in progress; no output was written and it will be done on the next run"
            ),
        )),
        None => Ok(()),
    }
}

#[derive(Clone, Copy)]
enum Aim {
    /// Hit this integrated loudness (within tolerance) under the ceiling.
    Target(f64),
    /// Loudness cannot be targeted (silence, capped gain): only hold the ceiling.
    CeilingOnly,
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
    /// Short-term loudness of the input over time, for the report's plot.
    input_series: Series,
    /// Integrated loudness of the cleaned audio as pass B will write it before the gain:
    /// with the leveler's curve applied, when it runs.
    cleaned_integrated: Option<f64>,
    /// The cleaned audio's sample peak: with the gain, whether the limiter will have work.
    cleaned_peak_dbfs: f64,
    processing: std::collections::BTreeMap<String, crate::report::StageMetrics>,
    /// The leveler with its plan made, ready for pass B.
    leveler: Option<Leveler>,
    /// Which 100-ms meter blocks are speech (from the leveler's detector).
    speech_blocks: Option<Vec<bool>>,
}

/// The cleanup stages the preset switches on, in signal order.
///
/// The high-pass runs before RNNoise but after DeepFilterNet. RNNoise's hand-made features
/// read rumble as part of the voice: with the high-pass behind it, PESQ-WB on the quality
/// benchmark fell 0.01 on noisy speech and 0.23 on clean speech. DeepFilterNet learned from
/// full-band noisy speech and removes rumble itself; a high-pass in front changes what the
/// network sees and cost 0.07 PESQ on noisy speech (0.15 on rumble), whereas behind it the
/// high-pass only trims what is left below the voice.
pub fn build_chain(preset: &Preset) -> Chain {
    let mut chain = Chain::new();
    let denoise = preset.denoise.enabled;
    let highpass_first = !(denoise && preset.denoise.engine == DenoiseEngine::DeepFilter);
    if preset.highpass.enabled && highpass_first {
        chain.push(Box::new(HighpassStage::new(&preset.highpass)));
    }
    if denoise {
        chain.push(Box::new(DenoiseStage::new(&preset.denoise)));
    }
    if preset.highpass.enabled && !highpass_first {
        chain.push(Box::new(HighpassStage::new(&preset.highpass)));
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
    mut spool: SpoolWriter,
    control: &Control,
) -> Result<PassA, FileError> {
    let chain = build_chain(preset);
    let cleaning = !chain.is_empty();
    let mut aligned = AlignedChain::new(chain, info.sample_rate, info.channels, BLOCK_FRAMES)?;
    let meter =
        |kind| Meter::new(info.sample_rate, &info.channel_roles, kind).map_err(|e| failed(ErrorKind::Unsupported, e));
    let mut input_meter = meter(MeterKind::Full)?;
    let mut cleaned_meter = meter(MeterKind::IntegratedOnly)?;
    let mut cleaned_peak = 0.0f32;
    let mut leveler = match preset.leveler.enabled {
        true => {
            let mut leveler = Leveler::new(&preset.leveler);
            leveler.prepare(info.sample_rate, info.channels, BLOCK_FRAMES)?;
            Some(leveler)
        }
        false => None,
    };
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut frames = 0u64;
    loop {
        control.check()?;
        let n = decoder.read(&mut block).map_err(decode_error)?;
        if n == 0 {
            break;
        }
        frames += n as u64;
        input_meter.add(&block, 0..n);
        let range = if cleaning { aligned.process(&mut block, n) } else { 0..n };
        if cleaning {
            cleaned_meter.add(&block, range.clone());
        }
        cleaned_peak = cleaned_peak.max(sample_peak(&block, range.clone()));
        if let Some(leveler) = leveler.as_mut() {
            leveler.analyze(&block, range.clone());
        }
        spool.write(&block, range).map_err(|e| write_error(&e))?;
        report_progress(control, frames, info);
    }
    while let Some(range) = aligned.flush(&mut block) {
        cleaned_meter.add(&block, range.clone());
        cleaned_peak = cleaned_peak.max(sample_peak(&block, range.clone()));
        if let Some(leveler) = leveler.as_mut() {
            leveler.analyze(&block, range.clone());
        }
        spool.write(&block, range).map_err(|e| write_error(&e))?;
    }
    let spool = spool.finish().map_err(|e| write_error(&e))?;
    if spool.frames() != frames {
        return Err(FileError::Failed(Error::internal(format!(
            "cleanup produced {} frames for {frames} input frames",
            spool.frames()
        ))));
    }
    let mut input = input_meter.finish();
    let input_series = Series::short_term(SeriesKind::Input, input_meter.block_track(), &[]);
    let mut cleaned_integrated = if cleaning {
        cleaned_meter.integrated()
    } else {
        input.integrated_lufs
    };
    let mut processing: std::collections::BTreeMap<String, crate::report::StageMetrics> = aligned
        .stage()
        .stages()
        .iter()
        .map(|stage| {
            let metrics = stage.metrics().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            (stage.name().to_string(), metrics)
        })
        .collect();
    // Between the passes: the leveler's plan, from the denoiser's speech estimate if it made
    // one. The gain is then computed from the levelled loudness.
    let mut speech_blocks = None;
    if let Some(leveler) = leveler.as_mut() {
        let speech = aligned
            .stage()
            .speech_track()
            .map(|(probability, upstream)| SpeechEstimate {
                probability,
                hop_s: SPEECH_HOP_S,
                offset_s: upstream as f64 / info.sample_rate as f64,
            });
        leveler.plan(speech).map_err(|e| failed(ErrorKind::Internal, e))?;
        cleaned_integrated = cleaned_integrated.map(|l| l + leveler.loudness_change_db());
        let blocks = leveler.speech_blocks(input_meter.block_frames(), frames);
        input.set_speech(speech_loudness(input_meter.block_track(), &blocks));
        speech_blocks = Some(blocks);
        let metrics = leveler.metrics().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        processing.insert(leveler.name().to_string(), metrics);
    }
    Ok(PassA {
        spool,
        frames,
        input,
        input_series,
        cleaned_integrated,
        cleaned_peak_dbfs: 20.0 * f64::from(cleaned_peak).max(1e-10).log10(),
        processing,
        leveler,
        speech_blocks,
    })
}

/// The largest magnitude in a block's range (NaN ignored).
fn sample_peak(block: &[Vec<f32>], range: std::ops::Range<usize>) -> f32 {
    block
        .iter()
        .flat_map(|channel| channel[range.clone()].iter())
        .fold(0.0f32, |peak, &x| peak.max(x.abs()))
}

struct PassB {
    /// Loudness and the unweighted levels of the written samples.
    measurement: Measurement,
    /// Short-term loudness of the output over time, with its true-peak overs.
    series: Series,
    limiter_max_reduction_db: f64,
    limiter_slope_estimate: f64,
    /// Bytes of coded audio in the file (tags and headers excluded).
    audio_bytes: u64,
}

/// Where and how pass B writes.
struct Output<'a> {
    spec: &'a OutputSpec,
    metadata: &'a OutputMetadata,
    /// The partial output, rewritten by every pass.
    file: &'a File,
    /// The input's length: the written file must decode to exactly this.
    frames: u64,
}

/// Whether a pass B writes the output or only meters what it would write.
#[derive(Clone, Copy)]
enum Write<'a> {
    MeterOnly,
    Encode(&'a Output<'a>),
}

/// `leveling`: the leveler with its plan, and which meter blocks are speech.
fn run_pass_b(
    spool: &mut Spool,
    info: &StreamInfo,
    settings: &Settings,
    write: Write,
    mut leveling: Option<(&mut Leveler, &[bool])>,
    gain_db: f64,
    margin_db: f64,
) -> Result<PassB, FileError> {
    let loudness = &settings.preset.loudness;
    let limiter_settings = &settings.preset.limiter;
    let limiter = Limiter::new(
        loudness.true_peak_dbtp,
        limiter_settings.lookahead_ms,
        limiter_settings.release_ms,
    )
    .with_margin_db(margin_db);
    let mut limiter = AlignedChain::new(limiter, info.sample_rate, info.channels, BLOCK_FRAMES)?;
    let mut meter = match write {
        Write::MeterOnly => WrittenMeter::for_gain_search(info)?,
        Write::Encode(_) => WrittenMeter::new(info, settings.preset.over_threshold_dbtp())?,
    };
    let mut writer = match write {
        Write::MeterOnly => None,
        Write::Encode(output) => {
            let file = output.file.try_clone().map_err(|e| write_error(&e))?;
            Some(Encoder::into_file(file, output.spec, output.metadata).map_err(|e| write_error(&e))?)
        }
    };
    // Lossless output is metered from the samples written; lossy output from its decoding.
    let meter_written = writer.as_ref().is_none_or(|writer| !writer.is_lossy());
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut written = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let gain = db_to_amp(gain_db) as f32;
    let mut reader = spool
        .reader()
        .map_err(|e| failed(ErrorKind::Io, format!("cannot read the spool: {}", io_reason(&e))))?;
    if let Some((leveler, _)) = leveling.as_mut() {
        leveler.rewind();
    }
    let mut emit =
        |block: &[Vec<f32>], range: std::ops::Range<usize>, meter: &mut WrittenMeter| -> Result<(), FileError> {
            if range.is_empty() {
                return Ok(());
            }
            match writer.as_mut() {
                Some(writer) => {
                    writer
                        .write(block, range.clone(), &mut written)
                        .map_err(|e| write_error(&e))?;
                    if meter_written {
                        meter.add(&written, range);
                    }
                }
                None => meter.add(block, range),
            }
            Ok(())
        };
    loop {
        let n = reader
            .read(&mut block)
            .map_err(|e| failed(ErrorKind::Io, format!("cannot read the spool: {}", io_reason(&e))))?;
        if n == 0 {
            break;
        }
        if let Some((leveler, _)) = leveling.as_mut() {
            leveler.apply(&mut block, n);
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
    // The speech-gated figures are for the report, which only a written file's pass feeds.
    let speech_blocks = leveling
        .filter(|_| matches!(write, Write::Encode(_)))
        .map(|(_, blocks)| blocks);
    let ((measurement, series), audio_bytes) = match (writer, write) {
        (Some(writer), Write::Encode(output)) if !meter_written => {
            let bytes = writer.finalize(None).map_err(|e| write_error(&e))?;
            (
                meter_decoded(output, info, settings.preset.over_threshold_dbtp(), speech_blocks)?,
                bytes,
            )
        }
        (writer, _) => {
            let metered = meter.finish(speech_blocks);
            let bytes = match writer {
                Some(writer) => writer.finalize(Some(&metered.0)).map_err(|e| write_error(&e))?,
                None => 0,
            };
            (metered, bytes)
        }
    };
    Ok(PassB {
        measurement,
        series,
        limiter_max_reduction_db: limiter.stage().max_reduction_db(),
        limiter_slope_estimate: limiter.stage().loudness_slope_estimate(),
        audio_bytes,
    })
}

/// What pass B measures on the output: loudness and true peak, the unweighted levels the
/// delivery specs judge, and the short-term series (with its overs) for the report's plot.
/// A pass that only searches the gain measures loudness and true peak alone.
struct WrittenMeter {
    loudness: Meter,
    levels: Option<LevelMeter>,
}

impl WrittenMeter {
    fn new(info: &StreamInfo, over_threshold_dbtp: f64) -> Result<WrittenMeter, FileError> {
        let mut loudness = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::Full)
            .map_err(|e| failed(ErrorKind::Unsupported, e))?;
        loudness.mark_overs_above(over_threshold_dbtp);
        Ok(WrittenMeter {
            loudness,
            levels: Some(LevelMeter::new(info.sample_rate, info.channels)),
        })
    }

    fn for_gain_search(info: &StreamInfo) -> Result<WrittenMeter, FileError> {
        let loudness = Meter::new(info.sample_rate, &info.channel_roles, MeterKind::LoudnessAndPeak)
            .map_err(|e| failed(ErrorKind::Unsupported, e))?;
        Ok(WrittenMeter { loudness, levels: None })
    }

    fn add(&mut self, block: &[Vec<f32>], range: std::ops::Range<usize>) {
        self.loudness.add(block, range.clone());
        if let Some(levels) = self.levels.as_mut() {
            levels.add(block, range);
        }
    }

    /// With `speech_blocks` (the leveler's speech map), the speech-gated figures too.
    fn finish(self, speech_blocks: Option<&[bool]>) -> (Measurement, Series) {
        let series = Series::short_term(
            SeriesKind::Output,
            self.loudness.block_track(),
            self.loudness.over_blocks(),
        );
        let speech = speech_blocks.map(|blocks| speech_loudness(self.loudness.block_track(), blocks));
        let mut measurement = match self.levels {
            Some(levels) => levels.finish().add_to(self.loudness.finish()),
            None => self.loudness.finish(),
        };
        if let Some(speech) = speech {
            measurement.set_speech(speech);
        }
        (measurement, series)
    }
}

/// Decodes the written file and meters it: what a listener's decoder will play. It must
/// decode to the input's exact length (the encoder's delay and padding trimmed).
/// The speech-gated figures are measured over `speech_blocks` when the leveler ran.
fn meter_decoded(
    output: &Output,
    info: &StreamInfo,
    over_threshold_dbtp: f64,
    speech_blocks: Option<&[bool]>,
) -> Result<(Measurement, Series), FileError> {
    let what = output.spec.format.extension().to_uppercase();
    let broken =
        |e: DecodeError| FileError::Failed(Error::internal(format!("the written {what} does not decode: {e}")));
    // The handle pass B wrote through, not a name that could be swapped meanwhile; the name
    // given only hints the container.
    let handle = output.file.try_clone().map_err(|e| write_error(&e))?;
    let hint = Path::new("written").with_extension(output.spec.format.extension());
    let mut decoder = Decoder::open_file(handle, &hint).map_err(broken)?;
    let mut meter = WrittenMeter::new(info, over_threshold_dbtp)?;
    let mut block = vec![vec![0.0f32; BLOCK_FRAMES]; info.channels];
    let mut frames = 0u64;
    loop {
        let n = decoder.read(&mut block).map_err(broken)?;
        if n == 0 {
            break;
        }
        meter.add(&block, 0..n);
        frames += n as u64;
    }
    if frames != output.frames {
        return Err(FileError::Failed(Error::internal(format!(
            "the written {what} decodes to {frames} frames, the input has {}",
            output.frames
        ))));
    }
    Ok(meter.finish(speech_blocks))
}

fn write_error(e: &std::io::Error) -> FileError {
    failed(
        ErrorKind::of_output_io(e),
        format!("cannot write output: {}", io_reason(e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage_order(engine: DenoiseEngine) -> Vec<&'static str> {
        let mut preset = Preset::load("podcast").unwrap();
        preset.denoise.engine = engine;
        build_chain(&preset).stages().iter().map(|stage| stage.name()).collect()
    }

    #[test]
    fn the_high_pass_runs_before_rnnoise_and_after_deepfilternet() {
        assert_eq!(
            stage_order(DenoiseEngine::Rnnoise),
            ["highpass", "denoise", "deess", "compressor"]
        );
        assert_eq!(
            stage_order(DenoiseEngine::DeepFilter),
            ["denoise", "highpass", "deess", "compressor"]
        );
    }
}
