#!/usr/bin/env python3
"""Summarise a bench/vs-ffmpeg.sh run: medians per case and tool, ratios, and the targets.

Usage: bench/vs_ffmpeg_report.py bench/work/results/<stamp>   (prints Markdown)
"""
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

CASE_TEXT = {
    "clean_batch": "clean, batch of short files",
    "clean_3min": "clean, one 3-min 48 kHz stereo WAV",
    "clean_mid": "clean, one mid-length 44.1 kHz mono WAV",
    "clean_long": "clean, one long 48 kHz stereo WAV",
    "clean_long_j2": "clean, the long file with -j 2",
    "analyze_batch": "analyze, batch of short files",
    "analyze_mid": "analyze, mid-length 44.1 kHz mono",
    "analyze_long": "analyze, long 48 kHz stereo",
}
TOOLS = ["podclean", "ffmpeg", "loudgain", "bs1770gain"]


def load(results):
    rows, failed = defaultdict(list), defaultdict(int)
    with open(results / "runs.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r.get("status", "ok") == "ok":
                rows[(r["case"], r["tool"])].append(r)
            else:
                failed[(r["case"], r["tool"])] += 1
    return rows, failed


def med(runs, key):
    return statistics.median(float(r[key]) for r in runs)


def figures(runs):
    audio = float(runs[0]["audio_s"])
    wall = med(runs, "wall_s")
    cpu = statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in runs)
    rss = med(runs, "maxrss_kb") / 1024
    return {
        "n": len(runs),
        "jobs": runs[0]["jobs"],
        "files": runs[0]["files"],
        "audio": audio,
        "wall": wall,
        "cpu": cpu,
        "rss": rss,
        "xrt": audio / wall,
        "cpu_xrt": audio / cpu if cpu > 0 else float("inf"),
        "util": cpu / wall,
    }


def main():
    results = Path(sys.argv[1])
    rows, failed = load(results)
    cases = [c for c in CASE_TEXT if any((c, t) in rows or (c, t) in failed for t in TOOLS)]
    fig = {k: figures(v) for k, v in rows.items()}

    machine = (results / "machine.txt").read_text() if (results / "machine.txt").exists() else ""
    print("```\n" + machine.strip() + "\n```\n")
    print("Medians of the interleaved repetitions. ×RT = audio seconds / wall seconds; CPU ×RT = audio")
    print("seconds / (user + sys) seconds; CPU/wall = average busy cores; RSS = peak resident set of the")
    print("largest single process (for podclean -j N: the whole process). Ratios: other tool / podclean.\n")
    print("| case | tool | files | jobs | audio s | runs | wall s | CPU s | CPU/wall | peak RSS MB | ×RT | CPU ×RT | wall ratio | CPU ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        base = fig.get((case, "podclean"))
        for tool in TOOLS:
            f = fig.get((case, tool))
            if (case, tool) in failed:
                print(f"| {CASE_TEXT[case]} | {tool} | failed in {failed[(case, tool)]} run(s), excluded | "
                      + " | " * 11)
            if not f:
                continue
            if base and tool != "podclean":
                ratio = f"{f['wall'] / base['wall']:.2f}× | {f['cpu'] / base['cpu']:.2f}×"
            else:
                ratio = "– | –"
            print(
                f"| {CASE_TEXT[case]} | {tool} | {f['files']} | {f['jobs']} | {f['audio']:.0f} | {f['n']} | "
                f"{f['wall']:.2f} | {f['cpu']:.2f} | {f['util']:.2f} | {f['rss']:.1f} | {f['xrt']:.1f} | "
                f"{f['cpu_xrt']:.1f} | {ratio} |"
            )
    print()

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    print("### Targets\n")
    for case in [c for c in cases if c.startswith("clean_") and c != "clean_long_j2"]:
        p, f = fig.get((case, "podclean")), fig.get((case, "ffmpeg"))
        if p and f:
            r = f["wall"] / p["wall"]
            print(f"- clean ≥ 5× faster than the ffmpeg chain ({CASE_TEXT[case]}, {p['jobs']} job(s)): "
                  f"{r:.2f}× wall, {f['cpu'] / p['cpu']:.2f}× CPU — {verdict(r >= 5)}")
    for case in [c for c in cases if c.startswith("analyze_")]:
        p, f = fig.get((case, "podclean")), fig.get((case, "ffmpeg"))
        if p and f:
            r = f["cpu"] / p["cpu"]
            print(f"- analyze ≥ 2× faster per core than ffmpeg ebur128 ({CASE_TEXT[case]}): "
                  f"{r:.2f}× CPU time ({f['wall'] / p['wall']:.2f}× wall) — {verdict(r >= 2)}")
    short, long_ = fig.get(("clean_3min", "podclean")), fig.get(("clean_long", "podclean"))
    if short and long_:
        ok = short["rss"] <= 64 and long_["rss"] <= 64 and abs(long_["rss"] - short["rss"]) <= 0.1 * short["rss"] + 2
        print(f"- peak RSS ≤ 64 MB per job and independent of length: 3-min file {short['rss']:.1f} MB, "
              f"{long_['audio'] / 60:.0f}-min file {long_['rss']:.1f} MB — {verdict(ok)}")
    b = fig.get(("clean_batch", "podclean"))
    if b:
        print(f"- both cores busy on a batch (CPU/wall ≥ 1.8 with -j {b['jobs']} on {b['files']} files): "
              f"{b['util']:.2f} — {verdict(b['util'] >= 1.8)}")
    a = fig.get(("analyze_batch", "podclean"))
    if a:
        print(f"  (analyze batch with -j {a['jobs']}: CPU/wall {a['util']:.2f})")
    j2 = fig.get(("clean_long_j2", "podclean"))
    if j2:
        print(f"- single long file with -j 2: CPU/wall {j2['util']:.2f} "
              f"({'uses one core' if j2['util'] < 1.3 else 'uses more than one core'})")
    print()

    modes = results / "loudnorm-modes.tsv"
    if modes.exists():
        counts = defaultdict(int)
        for line in modes.read_text().splitlines():
            case, rep, n, mode = line.split("\t")[0], line.split("\t")[1], *line.split("\t")[2].split()
            counts[(case, mode.split(":")[-1])] += int(n)
        print("ffmpeg loudnorm pass 2 mode (all runs): " + ", ".join(
            f"{case} {mode} × {n}" for (case, mode), n in sorted(counts.items())))
    passes = results / "podclean-passes.tsv"
    if passes.exists():
        counts = defaultdict(int)
        for line in passes.read_text().splitlines():
            case, rep, name, n, status = line.split("\t")
            if rep == "1":
                counts[(case, n)] += 1
        print("\npodclean pass B runs per file (repetition 1): " + ", ".join(
            f"{case}: {n} pass(es) × {c}" for (case, n), c in sorted(counts.items())))


if __name__ == "__main__":
    main()
