#!/usr/bin/env bash
# De-esser bench: sibilance index and presence, output minus input, for podclean's chain.
#   bench/deess/run.sh                       # the fixtures in tests/fixtures/deess, at 48 kHz
#   bench/deess/run.sh --rate native DIR     # every recording under DIR, at its own rate
#   PODCLEAN=/path/to/podclean bench/deess/run.sh ...   # that binary (no cargo build)
# Other arguments go to sibilance.py (see --help).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$REPO"

if [ -z "${PODCLEAN:-}" ]; then
  PODCLEAN="$REPO/target/release/podclean"
  nice -n 10 cargo build --release
fi
VENV="$REPO/bench/work/deess/venv"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
"$PY" -c "import numpy, scipy, soundfile" 2>/dev/null || "$PY" -m pip install -q -r "$HERE/requirements.txt"
exec nice -n 10 "$PY" "$HERE/sibilance.py" --podclean "$PODCLEAN" "$@"
