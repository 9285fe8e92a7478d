#!/bin/sh
# Screenshots of every view of the real window, under Xvfb, on a fresh data
# folder (first start: the demo pair is created and synced).
#   ui/screenshot.sh [OUT_DIR]      (default tmp/screenshots)
# Needs Xvfb and ImageMagick's import.
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-tmp/screenshots}
mkdir -p "$OUT"
command -v Xvfb >/dev/null || { echo "screenshot: Xvfb is not installed" >&2; exit 1; }
command -v import >/dev/null || { echo "screenshot: ImageMagick is not installed" >&2; exit 1; }
BIN=$(mktemp -d)/tandem
go build -tags migrated_fynedo -o "$BIN" ./cmd/tandem
DATA=$(mktemp -d)
DISP=:${SCREENSHOT_DISPLAY:-97}
Xvfb "$DISP" -screen 0 1280x800x24 >/dev/null 2>&1 &
XPID=$!
trap 'kill $XPID 2>/dev/null; rm -rf "$DATA" "$(dirname "$BIN")"' EXIT
sleep 1
for view in mappings connections fields settings history; do
	DISPLAY=$DISP TANDEM_SCREENSHOT_VIEW=$view "$BIN" --data-dir "$DATA" >/dev/null 2>&1 &
	APID=$!
	sleep "${SCREENSHOT_WAIT:-5}"
	DISPLAY=$DISP import -window root "$OUT/$view.png"
	kill $APID 2>/dev/null || true
	wait $APID 2>/dev/null || true
	echo "$OUT/$view.png"
done
