#!/usr/bin/env bash
# Side-by-side on a CardDAV server: vdirsyncer (Debian package) and tandem
# doing the same work against the same Radicale, in one run.
# Work: a vCard folder holding N contacts (A) and an empty address book (B).
#   first  = first sync (the address book gets N cards)
#   nochg  = a second sync with nothing changed
# Each tool has its own address book on the one server; after the run each
# book must hold exactly N cards (PROPFIND Depth 1), else the script fails.
# usage: vs-vdirsyncer.sh PATH/TO/tandem [N]
#   needs: apt-get install radicale vdirsyncer gnome-keyring dbus-x11 curl
#   SHARED_BENCH: folder holding gen-vcards.py (default: ../shared/bench
#   next to the repository's top level)
set -euo pipefail
TANDEM=$(readlink -f "$1"); N=${2:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(git -C "$HERE" rev-parse --show-toplevel)/../shared/bench}
GEN="$SHARED_BENCH/gen-vcards.py"
[ -f "$GEN" ] || { echo "gen-vcards.py not found in $SHARED_BENCH (set SHARED_BENCH)" >&2; exit 1; }
for c in radicale vdirsyncer curl dbus-run-session gnome-keyring-daemon python3; do
  command -v "$c" >/dev/null || { echo "$c is not installed" >&2; exit 1; }
done

W=$(mktemp -d)
RPID=
cleanup() { [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
now() { date +%s.%N; }
# srvcpu: Radicale's CPU seconds so far (user + system).
srvcpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$RPID/stat"; }
secs() { python3 -c "print(f'{$2-$1:.3f}')"; }

. "$HERE/lib.sh"

# Radicale on a free loopback port, one user (plain htpasswd), storage in $W.
USER_=bench; PASS=$(new_password); PORT=$(free_port)
ROOT="http://127.0.0.1:$PORT"
radicale_setup "$W/r" "$PORT" "$USER_" "$PASS"
radicale_start "$W/r" "$ROOT"

dav() { curl -sS -u "$USER_:$PASS" "$@"; }
# count NAME URL: the number of cards (.vcf members) in an address book.
count() {
  dav -X PROPFIND -H 'Depth: 1' -H 'Content-Type: application/xml; charset=utf-8' "$1" --data-binary \
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>' |
  python3 -c '
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.stdin)
print(sum(1 for h in t.iter("{DAV:}href") if h.text and h.text.endswith(".vcf")))'
}
check() { # check TOOL URL
  local got; got=$(count "$2")
  [ "$got" -eq "$N" ] || { echo "FAIL: $1's address book holds $got cards, want $N" >&2; exit 1; }
}
VBOOK="$ROOT/$USER_/vdirsyncer/"; TBOOK="$ROOT/$USER_/tandem/"
mkbook "$VBOOK" "$USER_" "$PASS"; mkbook "$TBOOK" "$USER_" "$PASS"
[ "$(count "$VBOOK")" -eq 0 ] && [ "$(count "$TBOOK")" -eq 0 ] || { echo "address books not empty at start" >&2; exit 1; }

# vdirsyncer: filesystem (N cards) <-> carddav (its own address book)
python3 "$GEN" "$N" "$W/v/a"
vdirsyncer_config "$W/v/config" "$W/v" "$VBOOK" "$USER_" "$PASS"
export VDIRSYNCER_CONFIG="$W/v/config"
{ yes || true; } | vdirsyncer discover >"$W/v/discover.log" 2>&1 || { cat "$W/v/discover.log"; exit 1; }
c0=$(srvcpu); t0=$(now); vdirsyncer sync >"$W/v/sync1.log" 2>&1 || { cat "$W/v/sync1.log"; exit 1; }; t1=$(now); vd_first=$(secs $t0 $t1)
vd_srv=$(secs "$c0" "$(srvcpu)")
t0=$(now); vdirsyncer sync >"$W/v/sync2.log" 2>&1 || { cat "$W/v/sync2.log"; exit 1; }; t1=$(now); vd_nochg=$(secs $t0 $t1)
check vdirsyncer "$VBOOK"

# tandem: vcarddir (N cards) <-> carddav (its own address book); the
# password goes into a Secret Service on a private session bus.
python3 "$GEN" "$N" "$W/t/a"
tandem_pair "$W/t/pair.json" "$W/t/a" "$TBOOK" "$USER_"
printf %s "$PASS" > "$W/t/pass"; chmod 600 "$W/t/pass"
export TANDEM_DATA_DIR="$W/t/data"
# shellcheck disable=SC2016
dbus-run-session -- sh -c '
  set -e
  echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  "$0" pair import "$1/t/pair.json" >/dev/null
  "$0" secret set B < "$1/t/pass" >/dev/null
  rpid=$2
  now() { date +%s.%N; }
  srvcpu() { awk -v hz="$(getconf CLK_TCK)" "{print (\$14+\$15)/hz}" "/proc/$rpid/stat"; }
  c0=$(srvcpu); t0=$(now); "$0" sync --once >"$1/t/sync1.log" 2>&1 || { cat "$1/t/sync1.log"; exit 1; }; t1=$(now); c1=$(srvcpu)
  t2=$(now); "$0" sync --once >"$1/t/sync2.log" 2>&1 || { cat "$1/t/sync2.log"; exit 1; }; t3=$(now)
  echo "$t0 $t1 $t2 $t3 $c0 $c1" > "$1/t/times"
' "$TANDEM" "$W" "$RPID"
read -r t0 t1 t2 t3 c0 c1 < "$W/t/times"
td_first=$(secs $t0 $t1); td_nochg=$(secs $t2 $t3); td_srv=$(secs "$c0" "$c1")
check tandem "$TBOOK"

printf '%-6s %10s %10s %8s\n' step vdirsyncer tandem ratio
for s in first nochg; do
  v=vd_$s; t=td_$s
  printf '%-6s %9ss %9ss %7sx\n' $s "${!v}" "${!t}" "$(python3 -c "print(f'{${!v}/max(${!t},1e-6):.1f}')")"
done
# The server's own share: a first sync is one PUT per card, and Radicale
# serialises PUTs and checks each against the whole collection.
echo "radicale CPU during first: vdirsyncer ${vd_srv}s, tandem ${td_srv}s"
