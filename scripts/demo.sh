#!/usr/bin/env bash
# Shows Latus doing its job on this machine: mounts a versioned folder,
# writes and edits a file, lists and restores its history, shows status and
# the file's state, then unmounts and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
latus=$PWD/bin/latus
work=$(mktemp -d -t latus-demo-XXXXXX)
state=$work/state
mnt=$work/Latus
L() { "$latus" --state "$state" --config "$work/config.toml" "$@"; }
prosody_pid=
cleanup() {
	for m in "$mnt" "$work/A" "$work/B"; do
		if grep -qs " $m " /proc/self/mounts; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
		fi
	done
	[ -n "$prosody_pid" ] && kill "$prosody_pid" 2>/dev/null && wait "$prosody_pid" 2>/dev/null
	sleep 0.3
	rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step latus mount "$mnt"
L mount "$mnt"
step "echo 'first draft' > $mnt/notes.txt"
echo 'first draft' > "$mnt/notes.txt"
step "echo 'second draft' > $mnt/notes.txt; echo 'a third line' >> $mnt/notes.txt"
echo 'second draft' > "$mnt/notes.txt"
echo 'a third line' >> "$mnt/notes.txt"
step "mkdir -p $mnt/photos/2026 && cp /etc/os-release $mnt/photos/2026/"
mkdir -p "$mnt/photos/2026" && cp /etc/os-release "$mnt/photos/2026/"
step ls -lR "$mnt"
ls -lR "$mnt"
step cat "$mnt/notes.txt"
cat "$mnt/notes.txt"
step latus log notes.txt
L log notes.txt
step latus restore notes.txt --version 2
L restore notes.txt --version 2
step cat "$mnt/notes.txt"
cat "$mnt/notes.txt"
step latus status
L status
step "getfattr -n user.latus.state $mnt/notes.txt"
if command -v getfattr >/dev/null; then
	getfattr -n user.latus.state "$mnt/notes.txt"
else
	python3 -c 'import os,sys; print("user.latus.state =", os.getxattr(sys.argv[1], "user.latus.state").decode())' "$mnt/notes.txt" 2>/dev/null ||
		echo "(getfattr not installed: skipping the xattr)"
fi
step fusermount -u "$mnt"
L unmount "$mnt"
step "latus log notes.txt   # the history is still there with nothing mounted"
L log notes.txt
printf '\nPart 1 done: every write became a version you can list and restore.\n'

# Part 2: two devices of one account meet through a private Prosody on
# loopback and share the folder; bytes move only when read.
printf '\n\033[1m== Two devices, one XMPP account (a private Prosody on 127.0.0.1) ==\033[0m\n'
xmpp=$work/prosody
mkdir -p "$xmpp/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || shuf -i 20000-60000 -n 1)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-keyout "$xmpp/localhost.key" -out "$xmpp/localhost.crt" 2>/dev/null
root=false; [ "$(id -u)" -eq 0 ] && root=true
cat > "$xmpp/prosody.cfg.lua" <<CFG
run_as_root = $root
daemonize = false
pidfile = "$xmpp/prosody.pid"
data_path = "$xmpp/data"
certificates = "$xmpp"
interfaces = { "127.0.0.1" }
c2s_ports = { $port }
c2s_stanza_size_limit = 1024*1024
network_settings = { nagle = false; read_size = 65536; min_wait = 0.00001 }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "posix" }
modules_disabled = { "s2s", "limits", "offline", "c2s_limits" }
authentication = "internal_hashed"
log = { info = "$xmpp/prosody.log"; error = "$xmpp/prosody.err" }
VirtualHost "localhost"
	ssl = { certificate = "$xmpp/localhost.crt"; key = "$xmpp/localhost.key" }
CFG
step prosody -F --config prosody.cfg.lua "  # listening on 127.0.0.1:$port"
prosody -F --config "$xmpp/prosody.cfg.lua" >"$xmpp/prosody.out" 2>&1 &
prosody_pid=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
step prosodyctl register alice localhost '********'
prosodyctl --config "$xmpp/prosody.cfg.lua" register alice localhost demo-password
for dev in A B; do
	cat > "$work/$dev.toml" <<CFG
[xmpp]
jid = "alice@localhost"
server = "127.0.0.1:$port"
password = "demo-password"
insecure_tls = true
CFG
done
D() { local dev=$1; shift; "$latus" --state "$work/state-$dev" --config "$work/$dev.toml" "$@"; }
step "latus mount $work/A   (device A)   and   latus mount $work/B   (device B)"
D A mount "$work/A"
D B mount "$work/B"
step "head -c 8M /dev/urandom > $work/A/video.bin   # written on A"
head -c 8M /dev/urandom > "$work/A/video.bin"
for _ in $(seq 1 100); do [ -e "$work/B/video.bin" ] && break; sleep 0.05; done
step ls -l "$work/B   # listed on B at once; its bytes follow"
ls -l "$work/B"
attr() { python3 -c 'import os,sys; print(sys.argv[1], sys.argv[2], "=", os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$1" "$2" 2>/dev/null || true; }
copies() { python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.latus.copies").decode())' "$1" 2>/dev/null; }
for _ in $(seq 1 200); do [ "$(copies "$work/A/video.bin")" = 2 ] && break; sleep 0.05; done
step "getfattr -n user.latus.copies $work/A/video.bin   # B keeps a second copy (replicas = 2): losing A loses nothing"
attr "$work/A/video.bin" user.latus.copies
attr "$work/B/video.bin" user.latus.state
step "cmp $work/A/video.bin $work/B/video.bin"
cmp "$work/A/video.bin" "$work/B/video.bin" && echo identical
step "echo 'written on B' > $work/B/hello.txt; cat $work/A/hello.txt"
echo 'written on B' > "$work/B/hello.txt"
for _ in $(seq 1 100); do [ -s "$work/A/hello.txt" ] && break; sleep 0.05; done
cat "$work/A/hello.txt"
step latus status "  # device B"
D B status
step fusermount -u "$work/A" "$work/B"
D A unmount "$work/A"
D B unmount "$work/B"
printf '\nDemo done: every write is a version; devices of one account share one folder, and every file is kept by two devices.\n'
