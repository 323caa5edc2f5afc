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
cleanup() {
	if grep -qs " $mnt " /proc/self/mounts; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || true
		sleep 0.3
	fi
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
python3 -c 'import os,sys; print("user.latus.state =", os.getxattr(sys.argv[1], "user.latus.state").decode())' "$mnt/notes.txt" 2>/dev/null ||
	echo "(python3 not found: skipping the xattr)"
step fusermount -u "$mnt"
L unmount "$mnt"
step "latus log notes.txt   # the history is still there with nothing mounted"
L log notes.txt
printf '\nDemo done: every write became a version you can list and restore.\n'
