#!/bin/sh
# Renders the HTML report of samples/ in headless Chromium to a PNG, every plot opened
# (the page's own #all anchor), to see the report as a browser shows it.
#
#   bench/html/screenshot.sh [OUT.png]        default: docs/report-samples.png
#
# Needs Chromium (apt-get install -y chromium); without it, says so and exits 0.
set -eu
cd "$(dirname "$0")/../.."
png=$(realpath -m "${1:-docs/report-samples.png}")
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "skipped: $chromium not found (apt-get install -y chromium)"
    exit 0
fi
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Exit code 1 (a file failed) still writes the report; anything else is a real error.
target/release/podclean -q -o "$work/out" samples || [ $? -eq 1 ]
mkdir "$work/profile"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" --window-size=1100,2680 \
    --screenshot="$png" "file://$work/out/podclean-report.html#all" 2>"$work/chromium.log" || {
    cat "$work/chromium.log" >&2
    exit 1
}
echo "$png: $(wc -c <"$png") bytes; report $(wc -c <"$work/out/podclean-report.html") bytes"
