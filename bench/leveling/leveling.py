#!/usr/bin/env python3
"""Leveling bench: how far apart the voices of a conversation are after processing.

Builds multi-speaker conversations from clean speech clips (speakers recorded 8-16 LU apart,
alternating turns of 3-10 s, pauses of 0.3-1.2 s, pink room tone at -62 dBFS), runs podclean
and ffmpeg chains on them, and measures, where each voice is really active (known from the
clean clips, before room tone is added):

* speaker spread: loudest minus quietest speaker, BS.1770 gated loudness over each speaker's
  active speech, in LU;
* turn spread: p90 - p10 of the per-turn speech loudness, in LU;
* room tone: level of the pause interiors relative to the quietest voice, output minus input,
  in dB (positive: the noise floor became more audible against that voice).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

RATE = 16000
TARGET = -19.0
CEILING = -1.0


# ---------------------------------------------------------------- BS.1770
def k_weight(x, rate):
    """K-weighting (BS.1770-4): a high shelf then a high pass, designed for `rate`."""
    out = []
    for fc, q, gain, kind in ((1681.9744509555319, 0.7071752369554193, 3.999843853973347, "shelf"),
                              (38.13547087613982, 0.5003270373253953, 0.0, "hp")):
        a_ = 10 ** (gain / 40)
        w0 = 2 * np.pi * fc / rate
        alpha = np.sin(w0) / (2 * q)
        c = np.cos(w0)
        if kind == "shelf":
            b = [a_ * ((a_ + 1) + (a_ - 1) * c + 2 * np.sqrt(a_) * alpha),
                 -2 * a_ * ((a_ - 1) + (a_ + 1) * c),
                 a_ * ((a_ + 1) + (a_ - 1) * c - 2 * np.sqrt(a_) * alpha)]
            a = [(a_ + 1) - (a_ - 1) * c + 2 * np.sqrt(a_) * alpha,
                 2 * ((a_ - 1) - (a_ + 1) * c),
                 (a_ + 1) - (a_ - 1) * c - 2 * np.sqrt(a_) * alpha]
        else:
            b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
            a = [1 + alpha, -2 * c, 1 - alpha]
        out.append((np.array(b) / a[0], np.array(a) / a[0]))
    y = x
    for b, a in out:
        y = lfilter(b, a, y, axis=-1)
    return y


def gated_loudness(kw, rate):
    """BS.1770 gated loudness of K-weighted mono audio `kw` (400-ms blocks, 75 % overlap)."""
    block, step = int(0.4 * rate), int(0.1 * rate)
    if len(kw) < block:
        return float("-inf")
    sq = np.concatenate([[0.0], np.cumsum(kw.astype(np.float64) ** 2)])
    starts = np.arange(0, len(kw) - block + 1, step)
    z = (sq[starts + block] - sq[starts]) / block
    lk = -0.691 + 10 * np.log10(np.maximum(z, 1e-30))
    z = z[lk > -70]
    if len(z) == 0:
        return float("-inf")
    rel = -0.691 + 10 * np.log10(z.mean()) - 10
    z = z[-0.691 + 10 * np.log10(z) > rel]
    return float(-0.691 + 10 * np.log10(z.mean()))


def loudness_of(kw, ranges, rate):
    if not ranges:
        return float("-inf")
    return gated_loudness(np.concatenate([kw[a:b] for a, b in ranges]), rate)


def rms_db(x, ranges):
    joined = np.concatenate([x[a:b] for a, b in ranges])
    return float(10 * np.log10(max(np.mean(joined.astype(np.float64) ** 2), 1e-30)))


# ---------------------------------------------------------------- conversations
def pink(n, rms_dbfs, rng):
    white = rng.standard_normal(n)
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    p = lfilter(b, a, white)
    return p * (10 ** (rms_dbfs / 20) / np.sqrt(np.mean(p ** 2)))


def active_ranges(clip):
    """10-ms frames within 35 dB of the 95th-percentile frame, joined over gaps < 150 ms."""
    frame = RATE // 100
    n = len(clip) // frame
    e = np.mean(clip[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    threshold = np.sort(e)[int((n - 1) * 0.95)] * 10 ** (-3.5)
    ranges = []
    for i in np.nonzero(e > threshold)[0]:
        r = [i * frame, (i + 1) * frame]
        if ranges and r[0] - ranges[-1][1] < 15 * frame:
            ranges[-1][1] = r[1]
        else:
            ranges.append(r)
    return [tuple(r) for r in ranges]


def take(voice, cursor, seconds):
    """About `seconds` of `voice` from `cursor`, cut at the quietest 20 ms near each end."""
    frame = RATE // 50
    n = len(voice)
    at = lambda i0, i1: voice[np.arange(i0, i1) % n]
    energy = lambda end: float(np.sum(at(end - frame, end).astype(np.float64) ** 2))
    quietest = lambda lo, hi: min(range(lo, hi + 1, frame // 4), key=energy)
    start = quietest(cursor + frame, cursor + frame + int(0.3 * RATE))
    want = int(seconds * RATE)
    search = min(int(0.25 * RATE), want // 4)
    end = quietest(start + want - search, start + want + search)
    clip = at(start, end).astype(np.float64).copy()
    fade = int(0.005 * RATE)
    ramp = np.arange(fade) / fade
    clip[:fade] *= ramp
    clip[-fade:] *= ramp[::-1]
    return clip, end % n


def load_voices(folder):
    by_speaker = defaultdict(list)
    for path in sorted(Path(folder).glob("*.flac")):
        by_speaker[path.name.split("-")[0]].append(path)
    voices = {}
    for speaker, paths in by_speaker.items():
        parts = []
        for p in paths:
            x, rate = sf.read(p, dtype="float64")
            if x.ndim > 1:
                x = x.mean(axis=1)
            if rate != RATE:
                x = resample_poly(x, RATE, rate)
            parts.append(x)
        x = np.concatenate(parts)
        if len(x) > 10 * RATE:
            voices[speaker] = (x, gated_loudness(k_weight(x, RATE), RATE))
    return voices


def conversation(voices, levels, seconds, rng):
    cursors = [0] * len(voices)
    out, turns, speech, pauses = [], [], [], []
    pos = 0
    t = 0
    while pos < seconds * RATE:
        speaker = t % len(voices)
        x, lufs = voices[speaker]
        clip, cursors[speaker] = take(x, cursors[speaker], rng.uniform(3, 10))
        clip *= 10 ** ((levels[speaker] - lufs) / 20)
        turns.append((speaker, (pos, pos + len(clip))))
        speech.append([(pos + a, pos + b) for a, b in active_ranges(clip)])
        out.append(clip)
        pos += len(clip)
        gap = int(rng.uniform(0.3, 1.2) * RATE)
        out.append(np.zeros(gap))
        pauses.append((pos, pos + gap))
        pos += gap
        t += 1
    audio = np.concatenate(out)
    audio += pink(len(audio), -62.0, rng)
    trim = int(0.15 * RATE)
    interiors = [(a + trim, b - trim) for a, b in pauses if b - a > 2 * trim + int(0.2 * RATE)]
    return audio, turns, speech, interiors


def measure(x, conv, speakers):
    _, turns, speech, pauses = conv
    kw = k_weight(x, RATE)
    per_speaker = []
    for s in range(speakers):
        ranges = [r for (sp, _), rs in zip(turns, speech) if sp == s for r in rs]
        per_speaker.append(loudness_of(kw, ranges, RATE))
    per_turn = np.array([loudness_of(kw, rs, RATE) for rs in speech])
    per_turn = per_turn[np.isfinite(per_turn)]
    quiet = min(per_speaker)
    return {
        "speakers": per_speaker,
        "speaker_spread": max(per_speaker) - quiet,
        "turn_spread": float(np.percentile(per_turn, 90) - np.percentile(per_turn, 10)),
        "room_vs_quiet": rms_db(x, pauses) - quiet,
        "integrated": gated_loudness(kw, RATE),
    }


# ---------------------------------------------------------------- systems
def systems(podclean):
    loudnorm = f"loudnorm=I={TARGET}:TP={CEILING}:LRA=11"
    chains = {
        "podclean (podcast)": ("podclean", []),
        "podclean -p podcast-fast": ("podclean", ["-p", "podcast-fast"]),
        "podclean --no-denoise": ("podclean", ["--no-denoise"]),
        "podclean --no-level": ("podclean", ["--no-level"]),
        "ffmpeg loudnorm (dynamic)": ("ffmpeg", loudnorm),
        "ffmpeg dynaudnorm,loudnorm": ("ffmpeg", f"dynaudnorm,{loudnorm}"),
        "ffmpeg speechnorm,loudnorm": ("ffmpeg", f"speechnorm,{loudnorm}"),
    }
    if not shutil.which("ffmpeg"):
        print("ffmpeg not found: only podclean is measured", file=sys.stderr)
        chains = {k: v for k, v in chains.items() if v[0] == "podclean"}
    return chains


def run(kind, arg, src, work, podclean):
    if kind == "podclean":
        out = work / f"out-{abs(hash(tuple(arg)))}"
        subprocess.run([podclean, str(src), "-o", str(out), "-q", "--force", *arg], check=True)
        path = out / src.name
    else:
        path = work / f"ff-{abs(hash(arg))}-{src.name}"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-af", arg,
                        "-ar", str(RATE), "-c:a", "pcm_f32le", str(path)], check=True)
    x, rate = sf.read(path, dtype="float64")
    assert rate == RATE, (path, rate)
    return x if x.ndim == 1 else x.mean(axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", help="folder of clean speech clips named SPEAKER-*.flac")
    ap.add_argument("--podclean", default="target/release/podclean")
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--exclude", default="", help="comma-separated speakers to leave out")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args()

    voices = load_voices(args.corpus)
    for s in filter(None, args.exclude.split(",")):
        voices.pop(s, None)
    names = sorted(voices)
    if len(names) < 3:
        sys.exit(f"{args.corpus}: need clips of at least 3 speakers, found {len(names)}")
    rng = np.random.default_rng(args.seed)
    chains = systems(args.podclean)
    results = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(args.files):
            count = 2 if i % 3 else 3
            chosen = list(rng.choice(names, size=count, replace=False))
            gap = rng.uniform(8, 16)
            levels = [-20.0, -20.0 - gap] if count == 2 else [-20.0, -20.0 - gap / 2, -20.0 - gap]
            order = rng.permutation(count)
            levels = [levels[k] for k in order]
            conv = conversation([voices[s] for s in chosen], levels, args.seconds, rng)
            src = work / "in" / f"conv{i:02d}.wav"
            src.parent.mkdir(exist_ok=True)
            sf.write(src, conv[0], RATE, subtype="FLOAT")
            row = {"file": src.name, "speakers": chosen, "levels": levels,
                   "input": measure(conv[0], conv, count)}
            results["input"].append(row["input"])
            for name, (kind, arg) in chains.items():
                m = measure(run(kind, arg, src, work, args.podclean), conv, count)
                m["room_rise"] = m["room_vs_quiet"] - row["input"]["room_vs_quiet"]
                results[name].append(m)
                row[name] = m
            print(f"{src.name}: {count} speakers {', '.join(chosen)}, input spread "
                  f"{row['input']['speaker_spread']:.1f} LU; " +
                  "; ".join(f"{n} {row[n]['speaker_spread']:.1f}" for n in chains), file=sys.stderr)
    print(f"| system ({args.files} files, {args.seconds:.0f} s each) | speaker spread mean / worst (LU) "
          "| per-turn p90−p10 mean / worst (LU) | room tone vs quiet voice, change mean / worst (dB) "
          "| integrated mean (LUFS) |")
    print("|---|---|---|---|---|")
    for name, ms in results.items():
        sp = [m["speaker_spread"] for m in ms]
        tu = [m["turn_spread"] for m in ms]
        rise = [m.get("room_rise", 0.0) for m in ms]
        il = [m["integrated"] for m in ms]
        room = "—" if name == "input" else f"{np.mean(rise):+.1f} / {max(rise):+.1f}"
        print(f"| {name} | {np.mean(sp):.1f} / {max(sp):.1f} | {np.mean(tu):.1f} / {max(tu):.1f} "
              f"| {room} | {np.mean(il):.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
