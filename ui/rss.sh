#!/bin/sh
# Peak memory (VmHWM) of the real window showing a pair of ROWS mapping
# rows (default 1,000,000), under Xvfb.   ui/rss.sh [ROWS]
set -eu
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
TMP=$(mktemp -d)
go build -tags migrated_fynedo -o "$TMP/tandem" ./cmd/tandem
if [ -n "${RSS_SEEDED_DB:-}" ]; then # reuse an already seeded tandem.db
	mkdir -p "$TMP/data" && cp "$RSS_SEEDED_DB" "$TMP/data/tandem.db"
else
	go run ./ui/tools/seedbig -data-dir "$TMP/data" -rows "$ROWS"
fi
DISP=:${RSS_DISPLAY:-96}
Xvfb "$DISP" -screen 0 1280x800x24 >/dev/null 2>&1 &
XPID=$!
trap 'kill $XPID 2>/dev/null; rm -rf "$TMP"' EXIT
sleep 1
# "Big" sorts before "Demo", so the window opens on the big grid.
DISPLAY=$DISP "$TMP/tandem" --data-dir "$TMP/data" >/dev/null 2>&1 &
APID=$!
sleep "${RSS_WAIT:-12}"
# Scroll the grid a little (xdotool when installed) to load more pages.
if command -v xdotool >/dev/null; then
	DISPLAY=$DISP xdotool mousemove 600 400 click --repeat 40 5 >/dev/null 2>&1 || true
	sleep 2
fi
grep -E 'VmHWM|VmRSS' /proc/$APID/status
kill $APID; wait $APID 2>/dev/null || true
