#!/usr/bin/env python3
"""De-esser bench: how much podclean lowers sibilance, and whether it dulls the voice.

Sibilance index = energy 5-10 kHz / energy 0.1-4 kHz over a whole file, in dB (from one FFT
of the file). Presence = energy 2-5 kHz relative to 0.1-4 kHz and to the full band, in dB.
Both are ratios, so podclean's loudness normalisation cancels out; the bench reports the
change output minus input.

Each clean recording is resampled to 48 kHz (or kept at its own rate with `--rate native`) and
set to -26 dBFS RMS (as bench/quality does),
classified by its own index, and run through podclean in four ways:

  chain          the default chain (`podclean DIR -o OUT -q`)
  chain-no-deess the default chain without the de-esser (`--no-deess`)
  deess          high-pass + de-esser + loudness (`--no-denoise --no-compress`)
  none           high-pass + loudness (`--no-denoise --no-compress --no-deess`)

"de-esser alone" is `deess` minus `none`; "whole chain" is `chain` minus the input, and
`chain` minus `chain-no-deess` shows what the other stages add or take away.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly, stft

RATE = 48_000
LEVEL_DBFS = -26.0
EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")
VARIANTS = {
    "chain": [],
    "chain-no-deess": ["--no-deess"],
    "deess": ["--no-denoise", "--no-compress"],
    "none": ["--no-denoise", "--no-compress", "--no-deess"],
    # Not run unless named in --variants: which other stage moves the index.
    "chain-no-denoise": ["--no-denoise"],
    "chain-no-compress": ["--no-compress"],
}
DEFAULT_VARIANTS = "chain,chain-no-deess,deess,none"


def band_energy(x, fs):
    """Returns e(lo, hi): the file's energy between lo and hi Hz (one FFT of the whole file)."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / fs)

    def energy(lo, hi):
        return power[(freqs >= lo) & (freqs < hi)].sum() + 1e-30

    return energy


def measures(x, fs):
    e = band_energy(x, fs)
    db = lambda a, b: 10.0 * np.log10(a / b)  # noqa: E731
    return {
        "sibilance": db(e(5000, 10000), e(100, 4000)),
        "presence_lf": db(e(2000, 5000), e(100, 4000)),
        "presence_full": db(e(2000, 5000), e(20, fs / 2)),
    }


def sibilant_frames_percent(x, fs):
    """Share of 20 ms frames whose 5-10 kHz energy exceeds their 0.1-4 kHz energy."""
    f, _, z = stft(x, fs, nperseg=int(0.02 * fs), noverlap=int(0.01 * fs))
    p = np.abs(z) ** 2
    hf = p[(f >= 5000) & (f < 10000)].sum(0)
    lf = p[(f >= 100) & (f < 4000)].sum(0)
    return 100.0 * float(np.mean(hf > lf))


def load_mono(path):
    x, fs = sf.read(path, always_2d=True, dtype="float64")
    return x.mean(axis=1), fs


def prepare(x, fs, rate):
    """Resamples to `rate` (None: keep the recording's own) and sets -26 dBFS RMS."""
    if rate and fs != rate:
        g = gcd(rate, fs)
        x = resample_poly(x, rate // g, fs // g)
    rms = np.sqrt(np.mean(x**2))
    return x * (10 ** (LEVEL_DBFS / 20) / rms), rate or fs


def classify(paths, count):
    """Sorts recordings into sibilant-heavy and non-sibilant ones. Files named `sibilant_*` or
    `plain_*` (the test fixtures) are taken as named. Otherwise the index of every recording
    at its own rate decides: the `count` highest are sibilant-heavy, the `count` lowest
    non-sibilant; recordings whose high band is mostly steady noise (fewer than 3 % sibilant
    frames yet a high index) never count as sibilant-heavy."""
    rows = []
    for p in paths:
        x, fs = load_mono(p)
        if fs < 16_000:
            continue
        rows.append((measures(x, fs)["sibilance"], sibilant_frames_percent(x, fs), p))
    named = [r for r in rows if Path(r[2]).name.startswith(("sibilant_", "plain_"))]
    if named:
        high = [r for r in named if Path(r[2]).name.startswith("sibilant_")]
        low = [r for r in named if Path(r[2]).name.startswith("plain_")]
        return sorted(high, reverse=True), sorted(low)
    rows.sort()
    low = rows[:count]
    high = [r for r in rows[::-1] if r[1] >= 3.0][:count]
    return high, low


def run_podclean(binary, src, dst, args, preset):
    if dst.exists():
        shutil.rmtree(dst)
    cmd = [binary, str(src), "-o", str(dst), "-q"] + args
    if preset:
        cmd += ["-p", preset]
    subprocess.run(cmd, check=True)


def main():
    here = Path(__file__).resolve().parent
    repo = here.parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="recordings or folders (default: tests/fixtures/deess)")
    ap.add_argument("--podclean", default=str(repo / "target/release/podclean"))
    ap.add_argument("--preset", default=None, help="preset name or .toml for every variant")
    ap.add_argument("--count", type=int, default=6, help="recordings per class (default 6)")
    ap.add_argument("--work", default=str(repo / "bench/work/deess"))
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--json", default=None, help="write every number to this file")
    ap.add_argument(
        "--rate",
        default=str(RATE),
        help="sample rate given to podclean, or 'native' for each recording's own (default 48000)",
    )
    a = ap.parse_args()

    inputs = a.inputs or [str(repo / "tests/fixtures/deess")]
    paths = []
    for i in inputs:
        p = Path(i)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.suffix.lower() in EXTENSIONS and "noisy" not in q.parts)
        else:
            paths.append(p)
    high, low = classify(paths, a.count)

    work = Path(a.work)
    src = work / "in"
    if src.exists():
        shutil.rmtree(src)
    classes = {"sibilant": high, "plain": low}
    inputs_given = {}
    for cls, rows in classes.items():
        (src / cls).mkdir(parents=True)
        for _, _, p in rows:
            x, fs = load_mono(p)
            y, rate = prepare(x, fs, None if a.rate == "native" else int(a.rate))
            name = f"{Path(p).stem}.wav"
            sf.write(src / cls / name, y, rate, subtype="PCM_24")
            inputs_given[(cls, name)] = measures(y, rate)

    variants = [v for v in a.variants.split(",") if v]
    results = {}
    for v in variants:
        out = work / f"out-{v}"
        run_podclean(a.podclean, src, out, VARIANTS[v], a.preset)
        for (cls, name), m_in in inputs_given.items():
            y, fs = load_mono(out / cls / name)
            results[(v, cls, name)] = measures(y, fs)

    def delta(v, cls, name, key, base=None):
        ref = inputs_given[(cls, name)][key] if base is None else results[(base, cls, name)][key]
        return results[(v, cls, name)][key] - ref

    table = []
    print(f"podclean: {a.podclean}" + (f", preset {a.preset}" if a.preset else ""))
    for cls, rows in classes.items():
        print(f"\n== {cls}: {len(rows)} recordings (index as given to podclean, then changes in dB)")
        head = f"{'recording':28s} {'index':>7s}"
        cols = []
        if "deess" in variants and "none" in variants:
            cols.append(("alone", "deess", "none"))
        if "chain" in variants:
            cols.append(("chain", "chain", None))
        if "chain" in variants and "chain-no-deess" in variants:
            cols.append(("ch-vs-nodeess", "chain", "chain-no-deess"))
        for v in ("chain-no-deess", "chain-no-denoise", "chain-no-compress"):
            if v in variants:
                cols.append((v, v, None))
        for c, _, _ in cols:
            head += f" | {c + ' sib':>18s} {'pres/lf':>8s} {'pres/full':>9s}"
        print(head)
        sums = {c: np.zeros(3) for c, _, _ in cols}
        for _, _, p in rows:
            name = f"{Path(p).stem}.wav"
            line = f"{name[:28]:28s} {inputs_given[(cls, name)]['sibilance']:7.2f}"
            row = {"class": cls, "recording": name, "index": inputs_given[(cls, name)]["sibilance"]}
            for c, v, base in cols:
                d = [delta(v, cls, name, k, base) for k in ("sibilance", "presence_lf", "presence_full")]
                sums[c] += d
                row[c] = dict(zip(("sibilance", "presence_lf", "presence_full"), d))
                line += f" | {d[0]:18.2f} {d[1]:8.2f} {d[2]:9.2f}"
            table.append(row)
            print(line)
        line = f"{'mean':28s} {'':7s}"
        for c, _, _ in cols:
            m = sums[c] / max(len(rows), 1)
            line += f" | {m[0]:18.2f} {m[1]:8.2f} {m[2]:9.2f}"
        print(line)
    if a.json:
        Path(a.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
