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

start_radicale() {
  HOME="$S/r" radicale --config "$S/r/config" >"$S/r/log" 2>&1 &
  RPID=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null "$(cat "$S/root")/" && return 0
    kill -0 "$RPID" 2>/dev/null || { cat "$S/r/log" >&2; exit 1; }
    sleep 0.05
  done
}
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
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pass=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
  root="http://127.0.0.1:$port"; echo "$root" > "$S/root"
  printf 'bench:%s\n' "$pass" > "$S/r/users"; chmod 600 "$S/r/users"
  printf %s "$pass" > "$S/pass"; chmod 600 "$S/pass"
  cat > "$S/r/config" <<EOC
[server]
hosts = 127.0.0.1:$port
[auth]
type = htpasswd
htpasswd_filename = $S/r/users
htpasswd_encryption = plain
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = $S/r/collections
[web]
type = none
[logging]
level = warning
EOC
  start_radicale
  for b in vdirsyncer tandem; do
    curl -sS -u "bench:$pass" -o /dev/null -X MKCOL "$root/bench/$b/" --data-binary \
'<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>'
  done
  python3 "$GEN" "$N" "$S/v/a"
  cat > "$S/v/config" <<EOC
[general]
status_path = "$S/v/status/"
[pair p]
a = "sa"
b = "sb"
collections = null
conflict_resolution = "a wins"
[storage sa]
type = "filesystem"
path = "$S/v/a"
fileext = ".vcf"
[storage sb]
type = "carddav"
url = "$root/bench/vdirsyncer/"
username = "bench"
password = "$pass"
EOC
  chmod 600 "$S/v/config"
  { yes || true; } | VDIRSYNCER_CONFIG="$S/v/config" vdirsyncer discover >/dev/null 2>&1
  echo "preparing: vdirsyncer first sync of $N cards" >&2
  VDIRSYNCER_CONFIG="$S/v/config" vdirsyncer sync >/dev/null 2>&1
  python3 "$GEN" "$N" "$S/t/a"
  cat > "$S/t/pair.json" <<EOJ
{"name":"bench",
 "a":{"name":"A","kind":"vcarddir","settings":{"path":"$S/t/a"}},
 "b":{"name":"B","kind":"carddav","settings":{"url":"$root/bench/tandem/","username":"bench"}},
 "key":"uid",
 "fields":[{"name":"uid","a":"UID","b":"UID"},{"name":"name","a":"FN","b":"FN"},
           {"name":"n","a":"N","b":"N"},{"name":"email","a":"EMAIL","b":"EMAIL","transform":"email"},
           {"name":"phone","a":"TEL","b":"TEL"},{"name":"birthday","a":"BDAY","b":"BDAY"},
           {"name":"note","a":"NOTE","b":"NOTE"}],
 "conflict":"a-wins","deletes":"propagate","interval":"5m"}
EOJ
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
