#!/usr/bin/env bash
# No-change sync, several rounds on one prepared server: vdirsyncer and
# tandem each do their first sync of N cards once (the slow part: Radicale's
# PUTs), the whole state (server storage, vdirsyncer status, tandem's data
# folder and keyring) is saved, and each round restores it and times one
# no-change sync of each tool, then a second one of tandem. Prints each
# round and the medians.
#   nochg1 = tandem's first no-change sync after its first sync (the
#            benchmark's "nochg" of vs-vdirsyncer.sh)
#   nochg2 = the one after it
# usage: nochg-rounds.sh PATH/TO/tandem [N] [ROUNDS]
#   needs what vs-vdirsyncer.sh needs; SHARED_BENCH as there.
#   TR=1 leaves the last round's TANDEM_TRACE output in $KEEP/trace1, trace2
#   KEEP=DIR keeps the prepared state there (reused when it exists).
set -euo pipefail
TANDEM=$(readlink -f "$1"); N=${2:-2000}; ROUNDS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(git -C "$HERE" rev-parse --show-toplevel)/../shared/bench}
GEN="$SHARED_BENCH/gen-vcards.py"
[ -f "$GEN" ] || { echo "gen-vcards.py not found in $SHARED_BENCH (set SHARED_BENCH)" >&2; exit 1; }
KEEP=${KEEP:-}
W=${KEEP:-$(mktemp -d)}
RPID=
cleanup() {
  [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
  [ -n "$KEEP" ] || rm -rf "$W"
  return 0
}
trap cleanup EXIT
S=$W/state # live state; $W/saved is the copy each round starts from
now() { date +%s.%N; }

. "$HERE/lib.sh"
start_radicale() { radicale_start "$S/r" "$(cat "$S/root")"; }
stop_radicale() { kill "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=; }
# tandem_sh SCRIPT ARGS...: runs SCRIPT under a private session bus with an
# unlocked keyring; $0 is tandem, $1 the state folder.
tandem_sh() {
  local script=$1; shift
  TANDEM_DATA_DIR="$S/t/data" HOME="$S/home" dbus-run-session -- sh -c \
    "echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; $script" \
    "$TANDEM" "$S" "$@" 2>/dev/null
}

prepare() {
  rm -rf "$S"; mkdir -p "$S/r" "$S/home"
  local port pass root
  port=$(free_port); pass=$(new_password)
  root="http://127.0.0.1:$port"; echo "$root" > "$S/root"
  printf %s "$pass" > "$S/pass"; chmod 600 "$S/pass"
  radicale_setup "$S/r" "$port" bench "$pass"
  start_radicale
  for b in vdirsyncer tandem; do mkbook "$root/bench/$b/" bench "$pass"; done
  python3 "$GEN" "$N" "$S/v/a"
  vdirsyncer_config "$S/v/config" "$S/v" "$root/bench/vdirsyncer/" bench "$pass"
  { yes || true; } | VDIRSYNCER_CONFIG="$S/v/config" vdirsyncer discover >/dev/null 2>&1
  echo "preparing: vdirsyncer first sync of $N cards" >&2
  VDIRSYNCER_CONFIG="$S/v/config" vdirsyncer sync >/dev/null 2>&1
  python3 "$GEN" "$N" "$S/t/a"
  tandem_pair "$S/t/pair.json" "$S/t/a" "$root/bench/tandem/" bench
  echo "preparing: tandem first sync of $N cards" >&2
  tandem_sh '"$0" pair import "$1/t/pair.json" >/dev/null && "$0" secret set B < "$1/pass" >/dev/null && "$0" sync --once >/dev/null'
  stop_radicale
  rm -rf "$W/saved"; cp -a "$S" "$W/saved"
}

[ -d "$W/saved" ] || prepare
results=$W/results; : > "$results"
for k in $(seq "$ROUNDS"); do
  rm -rf "$S"; cp -a "$W/saved" "$S"
  start_radicale
  t0=$(now); VDIRSYNCER_CONFIG="$S/v/config" vdirsyncer sync >/dev/null 2>&1; t1=$(now)
  read -r a b c d < <(tandem_sh '
    t0=$(date +%s.%N); TANDEM_TRACE=${TR:-} "$0" sync --once >/dev/null 2>"$1/trace1" || exit 1; t1=$(date +%s.%N)
    TANDEM_TRACE=${TR:-} "$0" sync --once >/dev/null 2>"$1/trace2" || exit 1; t2=$(date +%s.%N)
    echo "$t0 $t1 $t1 $t2"')
  stop_radicale
  [ -n "${TR:-}" ] && cp "$S/trace1" "$S/trace2" "$W/" 2>/dev/null
  python3 -c "print(f'{$t1-$t0:.3f} {$b-$a:.3f} {$d-$c:.3f}')" | tee -a "$results" |
    awk -v k="$k" '{printf "round %d: vdirsyncer %ss  tandem nochg1 %ss  nochg2 %ss\n", k, $1, $2, $3}'
done
python3 - "$results" <<'EOP'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
v, t1, t2 = (statistics.median(c) for c in zip(*rows))
print(f"median of {len(rows)}: vdirsyncer {v:.3f}s  tandem nochg1 {t1:.3f}s ({v/t1:.1f}x)  nochg2 {t2:.3f}s ({v/t2:.1f}x)")
EOP
