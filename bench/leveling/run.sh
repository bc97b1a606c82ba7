#!/usr/bin/env bash
# Leveling bench: speaker loudness spread of multi-speaker conversations, before and after
# podclean and the ffmpeg chains (dynaudnorm, speechnorm, loudnorm dynamic mode).
#   bench/leveling/run.sh DIR                          # DIR: clean speech clips SPEAKER-*.flac
#   bench/leveling/run.sh tests/fixtures/speech --files 6
#   PODCLEAN=/path/to/podclean bench/leveling/run.sh DIR   # that binary (no cargo build)
# Other arguments go to leveling.py (see --help).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CORPUS="$(cd "${1:?usage: bench/leveling/run.sh DIR [options]}" && pwd)"
shift
cd "$REPO"

if [ -z "${PODCLEAN:-}" ]; then
  PODCLEAN="$REPO/target/release/podclean"
  nice -n 10 cargo build --release
fi
VENV="$REPO/bench/work/leveling/venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
"$PY" -c "import numpy, scipy, soundfile" 2>/dev/null || "$PY" -m pip install -q -r "$HERE/requirements.txt"
exec nice -n 10 "$PY" "$HERE/leveling.py" --podclean "$PODCLEAN" "$CORPUS" "$@"
