#!/usr/bin/env bash
# podclean vs ffmpeg, side by side on the same inputs and the same number of parallel jobs.
#
#   bench/vs-ffmpeg.sh                 # everything: ~1 h on 2 cores (the 60-min file dominates)
#   bench/vs-ffmpeg.sh -r 5 -j 2       # 5 repetitions, 2 parallel jobs
#   bench/vs-ffmpeg.sh -c batch        # only some cases (comma list, see CASES below)
#   LONG_MIN=3 MID_MIN=1 bench/vs-ffmpeg.sh -r 1    # quick smoke run (separate inputs)
#
# Runs are interleaved (podclean, ffmpeg, podclean, ffmpeg, ...) and every figure is the median
# of the repetitions. Each run is measured with /usr/bin/time -v: wall time, user+sys CPU time
# of the process and all its children, and peak RSS (for xargs batches: of the largest single
# process). Inputs are built once from real speech in $CORPUS into bench/work/ (gitignored).
#
# Clean mode: podclean (default podcast preset: -16 LUFS stereo / -19 LUFS mono, -1 dBTP,
# highpass + denoise + de-ess + compressor) against
#   ffmpeg -af highpass=f=80,arnndn=m=$RNNN,deesser,acompressor,loudnorm=...:print_format=json  (pass 1, measure)
#   ffmpeg -af highpass=f=80,arnndn=m=$RNNN,deesser,acompressor,loudnorm=...:measured_*=...:linear=true
#          -ar <input rate> -c:a pcm_s24le out.wav                                              (pass 2, apply)
# Analyze: `podclean analyze` against `ffmpeg -af ebur128=peak=true -f null -`, loudgain and
# bs1770gain (when installed).
#
# Env: PODCLEAN (binary, default target/release/podclean — build it first), RNNN (RNNoise model
# for arnndn), CORPUS (speech folder), LONG_MIN / MID_MIN (long-file lengths, default 60 / 10).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/bench/work
PODCLEAN=${PODCLEAN:-$ROOT/target/release/podclean}
RNNN=${RNNN:-$ROOT/../shared/peers/sh.rnnn}
CORPUS=${CORPUS:-$ROOT/../shared/corpus/speech}
LONG_MIN=${LONG_MIN:-60}
MID_MIN=${MID_MIN:-10}
REPS=3
JOBS=2
CASES=clean_batch,clean_3min,clean_mid,clean_long,analyze_batch,analyze_mid,analyze_long,clean_long_j2

while getopts "r:j:c:h" opt; do
  case $opt in
    r) REPS=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    c) CASES=$OPTARG ;;
    *) sed -n '2,24p' "$0"; exit 2 ;;
  esac
done

for tool in ffmpeg ffprobe /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "vs-ffmpeg: $tool is missing (apt-get install ffmpeg time python3)" >&2; exit 2; }
done
[ -x "$PODCLEAN" ] || { echo "vs-ffmpeg: $PODCLEAN not built: cargo build --release" >&2; exit 2; }
[ -f "$RNNN" ] || { echo "vs-ffmpeg: RNNoise model $RNNN not found (set RNNN)" >&2; exit 2; }
HAVE_LOUDGAIN=$(command -v loudgain >/dev/null && echo 1 || echo 0)
HAVE_BS1770=$(command -v bs1770gain >/dev/null && echo 1 || echo 0)

# ---------------------------------------------------------------------------------------------
# Inputs

IN=$WORK/in-${LONG_MIN}m-${MID_MIN}m
SRC=$WORK/src
mkdir -p "$SRC" "$IN/batch" "$IN/mid" "$IN/long"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }

# All real speech of the corpus, one after the other, as 48 kHz mono (≈ 8 min).
MASTER=$SRC/speech-master-48k.wav
if [ ! -f "$MASTER" ]; then
  echo "building $MASTER from $CORPUS ..." >&2
  raw=$SRC/master.f32
  : >"$raw"
  find "$CORPUS" -type f \( -name '*.wav' -o -name '*.flac' -o -name '*.mp3' -o -name '*.ogg' \) \
    ! -name 'Noise.wav' | LC_ALL=C sort | while read -r f; do
    ffmpeg -nostdin -hide_banner -loglevel error -i "$f" -ac 1 -ar 48000 -f f32le - >>"$raw"
  done
  ff -f f32le -ar 48000 -ac 1 -i "$raw" -c:a pcm_s24le "$MASTER"
  rm -f "$raw"
fi

# mkinput OUT SECONDS RATE CHANNELS OFFSET [codec args...]: speech looped from OFFSET s into the
# master; stereo is two speakers (the master at two offsets) panned 80/25 %. (aloop rather than
# -stream_loop: with -ss, -stream_loop's timestamps drift and -t overshoots.)
MASTER_SAMPLES=$(ffprobe -v error -select_streams a:0 -show_entries stream=duration_ts -of csv=p=0 "$MASTER")
mkinput() {
  local out=$1 dur=$2 rate=$3 ch=$4 off=$5
  shift 5
  [ -f "$out" ] && return
  echo "building $out ..." >&2
  local loop="aloop=loop=-1:size=$MASTER_SAMPLES"
  if [ "$ch" = 2 ]; then
    ff -i "$MASTER" -filter_complex "[0]$loop,asplit[a][b];[a]atrim=start=$off,asetpts=N/SR/TB[l];[b]atrim=start=$((off + 97)),asetpts=N/SR/TB[r];[l][r]amerge=inputs=2,pan=stereo|c0=0.8*c0+0.25*c1|c1=0.25*c0+0.8*c1,atrim=duration=$dur" \
      -ar "$rate" "$@" "$out"
  else
    ff -i "$MASTER" -af "$loop,atrim=start=$off,asetpts=N/SR/TB,atrim=duration=$dur" -ac 1 -ar "$rate" "$@" "$out"
  fi
}
# A batch of short episodes, mixed formats as they arrive in practice (13 min in all).
mkinput "$IN/batch/b1-48k-stereo-3min.wav" 180 48000 2 0 -c:a pcm_s24le
mkinput "$IN/batch/b2-44k1-mono-2min.wav" 120 44100 1 30 -c:a pcm_s16le
mkinput "$IN/batch/b3-16k-mono-2min.flac" 120 16000 1 60 -c:a flac
mkinput "$IN/batch/b4-44k1-stereo-3min.flac" 180 44100 2 90 -c:a flac -sample_fmt s32
mkinput "$IN/batch/b5-48k-mono-1min.wav" 60 48000 1 120 -c:a pcm_s24le
mkinput "$IN/batch/b6-44k1-stereo-2min.mp3" 120 44100 2 150 -c:a libmp3lame -b:a 192k
mkinput "$IN/mid/m-44k1-mono-${MID_MIN}min.wav" $((MID_MIN * 60)) 44100 1 200 -c:a pcm_s16le
mkinput "$IN/long/l-48k-stereo-${LONG_MIN}min.wav" $((LONG_MIN * 60)) 48000 2 250 -c:a pcm_s24le

# Per file: path, loudness target of the podcast preset for its channel count, rate, seconds.
describe() {
  local f=$1 ch rate dur
  IFS=, read -r rate ch < <(ffprobe -v error -select_streams a:0 -show_entries stream=sample_rate,channels -of csv=p=0 "$f")
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
  echo "$f $([ "$ch" = 1 ] && echo -19 || echo -16) $rate $dur"
}
LISTS=$WORK/lists-${LONG_MIN}m-${MID_MIN}m
mkdir -p "$LISTS"
for set in batch mid long; do
  [ -s "$LISTS/$set" ] || for f in "$IN/$set"/*; do describe "$f"; done >"$LISTS/$set"
done
grep b1-48k "$LISTS/batch" >"$LISTS/3min"
seconds() { awk '{s += $4} END {printf "%.3f", s}' "$LISTS/$1"; }

# ---------------------------------------------------------------------------------------------
# The ffmpeg side (exported for xargs)

LRA_TARGET=50 # loudnorm's maximum: no LRA target, like podclean
# ffclean IN TARGET RATE SECONDS: two-pass loudnorm after the cleanup chain, into $OUTDIR.
ffclean() {
  local in=$1 target=$2 rate=$3 chain stats out get
  chain="highpass=f=80,arnndn=m=$RNNN,deesser,acompressor"
  out=$OUTDIR/$(basename "${in%.*}").wav
  stats=$(ffmpeg -nostdin -hide_banner -nostats -i "$in" \
    -af "$chain,loudnorm=I=$target:TP=-1:LRA=$LRA_TARGET:print_format=json" -f null - 2>&1 | sed -n '/^{/,/^}/p')
  get() { sed -n "s/.*\"$1\" : \"\(.*\)\".*/\1/p" <<<"$stats"; }
  ffmpeg -nostdin -hide_banner -nostats -y -i "$in" \
    -af "$chain,loudnorm=I=$target:TP=-1:LRA=$LRA_TARGET:measured_I=$(get input_i):measured_TP=$(get input_tp):measured_LRA=$(get input_lra):measured_thresh=$(get input_thresh):offset=$(get target_offset):linear=true:print_format=json" \
    -ar "$rate" -c:a pcm_s24le "$out" 2>"$out.log"
}
ffebur() { ffmpeg -nostdin -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>/dev/null; }
lgain() { loudgain -q -O "$1" >/dev/null 2>&1; }
# bs1770gain 0.8.6 exits 0 even when its true-peak upsampler fails (it does on 16-bit PCM WAV
# with Debian's ffmpeg 5.1: "Input changed"): treat an "Error:" in its output as a failure.
bsgain() { ! bs1770gain -i -r -m -s -p -t "$1" 2>&1 | tr '\r' '\n' | grep -aq '^Error:'; }
export -f ffclean ffebur lgain bsgain
export RNNN LRA_TARGET

# ---------------------------------------------------------------------------------------------
# Measurement

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$WORK/results/$STAMP
mkdir -p "$RESULTS"
RUNS=$RESULTS/runs.tsv
printf 'case\ttool\trep\tjobs\tfiles\taudio_s\twall_s\tuser_s\tsys_s\tmaxrss_kb\tstatus\n' >"$RUNS"
OUT=$WORK/out
TIMEV=$RESULTS/time.txt

# run CASE TOOL REP JOBS LIST CMD...: one measured run (outputs cleared first, not timed). A failed
# run is recorded as failed and the benchmark goes on.
run() {
  local case=$1 tool=$2 rep=$3 jobs=$4 list=$5 status=ok
  shift 5
  rm -rf "$OUT"
  mkdir -p "$OUT"
  sync
  # The command is one of the shell functions below, exported: run it through bash.
  /usr/bin/time -v -o "$TIMEV" bash -c '"$@"' _ "$@" || {
    status=failed
    echo "FAILED: $case $tool: $*" >&2
  }
  local wall user sys rss files
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$TIMEV")
  user=$(awk -F': ' '/User time/ {print $2}' "$TIMEV")
  sys=$(awk -F': ' '/System time/ {print $2}' "$TIMEV")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TIMEV")
  files=$(wc -l <"$LISTS/$list")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$tool" "$rep" "$jobs" "$files" "$(seconds "$list")" \
    "$wall" "$user" "$sys" "$rss" "$status" >>"$RUNS"
  printf '  %-14s %-10s rep %s: wall %7.2f s  cpu %7.2f s  rss %6d KB  %s\n' "$case" "$tool" "$rep" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" "$rss" "$status" >&2
  if [ "$tool" = ffmpeg ] && [[ $case == clean_* ]]; then
    # Which loudnorm mode pass 2 really used (linear needs the gained peaks under the ceiling).
    grep -h normalization_type "$OUT"/*.log 2>/dev/null | sed 's/[ \t",]//g' | sort | uniq -c |
      awk -v c="$case" -v r="$rep" '{print c "\t" r "\t" $0}' >>"$RESULTS/loudnorm-modes.tsv" || true
  fi
  if [ "$tool" = podclean ] && [[ $case == clean_* ]] && [ -f "$OUT/podclean-report.json" ]; then
    python3 -c 'import json,sys; [print(sys.argv[2], sys.argv[3], f["input"], f["passes"], f["status"], sep="\t") for f in json.load(open(sys.argv[1]))["files"]]' \
      "$OUT/podclean-report.json" "$case" "$rep" >>"$RESULTS/podclean-passes.tsv"
  fi
}

podclean_clean() { # JOBS LIST
  local list=$1 jobs=$2
  if [ "$list" = batch ]; then set -- "$IN/batch"; else set -- $(awk '{print $1}' "$LISTS/$list"); fi
  "$PODCLEAN" "$@" -o "$OUT" -j "$jobs" --quiet --force
}
podclean_analyze() {
  local list=$1 jobs=$2
  if [ "$list" = batch ]; then set -- "$IN/batch"; else set -- $(awk '{print $1}' "$LISTS/$list"); fi
  "$PODCLEAN" analyze "$@" -o "$OUT" -j "$jobs" --quiet
}
ffmpeg_clean() { awk '{print $1, $2, $3}' "$LISTS/$1" | OUTDIR=$OUT xargs -P "$2" -n 3 bash -c 'ffclean "$@"' _; }
# tool_each FUNCTION LIST JOBS: FUNCTION on every file of LIST, JOBS at a time.
tool_each() { awk '{print $1}' "$LISTS/$2" | xargs -P "$3" -n 1 bash -c "$1"' "$1"' _; }
export -f podclean_clean podclean_analyze ffmpeg_clean tool_each
export OUT IN LISTS PODCLEAN

has_case() { [[ ",$CASES," == *",$1,"* ]]; }

{
  echo "date: $(date -Iseconds)"
  echo "host: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
  echo "podclean: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src || echo ' (+ uncommitted src changes)') $PODCLEAN"
  echo "ffmpeg: $(ffmpeg -hide_banner -version | head -1)"
  echo "reps: $REPS, jobs: $JOBS, cases: $CASES"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULTS/machine.txt" >&2

# Warm the page cache so the first run is not the only one that reads from disk.
cat "$IN"/*/* >/dev/null

for rep in $(seq 1 "$REPS"); do
  echo "== repetition $rep of $REPS" >&2
  if has_case clean_batch; then
    run clean_batch podclean "$rep" "$JOBS" batch podclean_clean batch "$JOBS"
    run clean_batch ffmpeg "$rep" "$JOBS" batch ffmpeg_clean batch "$JOBS"
  fi
  if has_case analyze_batch; then
    run analyze_batch podclean "$rep" "$JOBS" batch podclean_analyze batch "$JOBS"
    run analyze_batch ffmpeg "$rep" "$JOBS" batch tool_each ffebur batch "$JOBS"
    [ "$HAVE_LOUDGAIN" = 1 ] && run analyze_batch loudgain "$rep" "$JOBS" batch tool_each lgain batch "$JOBS"
    [ "$HAVE_BS1770" = 1 ] && run analyze_batch bs1770gain "$rep" "$JOBS" batch tool_each bsgain batch "$JOBS"
  fi
  for size in 3min mid long; do
    if has_case "clean_$size"; then
      run "clean_$size" podclean "$rep" 1 "$size" podclean_clean "$size" 1
      run "clean_$size" ffmpeg "$rep" 1 "$size" ffmpeg_clean "$size" 1
    fi
    if [ "$size" != 3min ] && has_case "analyze_$size"; then
      run "analyze_$size" podclean "$rep" 1 "$size" podclean_analyze "$size" 1
      run "analyze_$size" ffmpeg "$rep" 1 "$size" tool_each ffebur "$size" 1
      [ "$HAVE_LOUDGAIN" = 1 ] && run "analyze_$size" loudgain "$rep" 1 "$size" tool_each lgain "$size" 1
      [ "$HAVE_BS1770" = 1 ] && run "analyze_$size" bs1770gain "$rep" 1 "$size" tool_each bsgain "$size" 1
    fi
  done
  # One long file with two workers: does podclean use the second core? (once is enough)
  if [ "$rep" = 1 ] && has_case clean_long_j2; then
    run clean_long_j2 podclean "$rep" 2 long podclean_clean long 2
  fi
done
rm -rf "$OUT"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS/machine.txt" >&2

python3 "$ROOT/bench/vs_ffmpeg_report.py" "$RESULTS" | tee "$RESULTS/summary.md"
ln -sfn "$STAMP" "$WORK/results/latest"
