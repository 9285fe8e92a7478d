# Shared by vs-vdirsyncer.sh and nochg-rounds.sh (sourced): one Radicale
# user on loopback, an address book, and the same work described to both
# tools (a vCard folder A <-> the address book).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
new_password() { python3 -c 'import secrets; print(secrets.token_hex(12))'; }

# radicale_setup DIR PORT USER PASS: DIR/config and DIR/users (plain
# htpasswd), storage in DIR/collections.
radicale_setup() {
  local dir=$1 port=$2 user=$3 pass=$4
  mkdir -p "$dir"
  printf '%s:%s\n' "$user" "$pass" > "$dir/users"; chmod 600 "$dir/users"
  cat > "$dir/config" <<EOC
[server]
hosts = 127.0.0.1:$port
[auth]
type = htpasswd
htpasswd_filename = $dir/users
htpasswd_encryption = plain
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = $dir/collections
[web]
type = none
[logging]
level = warning
mask_passwords = True
EOC
}

# radicale_start DIR ROOT: starts Radicale in the background (its pid in
# RPID) and waits until ROOT answers.
radicale_start() {
  local dir=$1 root=$2
  HOME="$dir" radicale --config "$dir/config" >"$dir/log" 2>&1 &
  RPID=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null "$root/" && return 0
    kill -0 "$RPID" 2>/dev/null || { echo "radicale exited:" >&2; cat "$dir/log" >&2; exit 1; }
    sleep 0.05
  done
  echo "radicale did not answer on $root" >&2; exit 1
}

# mkbook URL USER PASS: creates an address book (fails unless 201).
mkbook() {
  local code
  code=$(curl -sS -u "$2:$3" -o /dev/null -w '%{http_code}' -X MKCOL -H 'Content-Type: application/xml; charset=utf-8' "$1" --data-binary \
'<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>bench</D:displayname>
</D:prop></D:set></D:mkcol>')
  [ "$code" = 201 ] || { echo "MKCOL $1: HTTP $code" >&2; exit 1; }
}

# vdirsyncer_config FILE DIR BOOK USER PASS: folder DIR/a <-> BOOK, status
# in DIR/status.
vdirsyncer_config() {
  cat > "$1" <<EOC
[general]
status_path = "$2/status/"
[pair p]
a = "sa"
b = "sb"
collections = null
conflict_resolution = "a wins"
[storage sa]
type = "filesystem"
path = "$2/a"
fileext = ".vcf"
[storage sb]
type = "carddav"
url = "$3"
username = "$4"
password = "$5"
EOC
  chmod 600 "$1"
}

# tandem_pair FILE FOLDER BOOK USER: the same work as a Tandem pair file.
tandem_pair() {
  cat > "$1" <<EOJ
{"name":"bench",
 "a":{"name":"A","kind":"vcarddir","settings":{"path":"$2"}},
 "b":{"name":"B","kind":"carddav","settings":{"url":"$3","username":"$4"}},
 "key":"uid",
 "fields":[{"name":"uid","a":"UID","b":"UID"},{"name":"name","a":"FN","b":"FN"},
           {"name":"n","a":"N","b":"N"},{"name":"email","a":"EMAIL","b":"EMAIL","transform":"email"},
           {"name":"phone","a":"TEL","b":"TEL"},{"name":"birthday","a":"BDAY","b":"BDAY"},
           {"name":"note","a":"NOTE","b":"NOTE"}],
 "conflict":"a-wins","deletes":"propagate","interval":"5m"}
EOJ
}
