#!/usr/bin/env bash
# Installs what Latus needs at run and test time when it is missing:
# fuse3 (fusermount3, /dev/fuse) and prosody (the XMPP server the tests and
# the demo start privately on loopback). As root it installs them with apt;
# otherwise it says what to install.
set -euo pipefail

need=()
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
command -v prosody >/dev/null 2>&1 || need+=(prosody)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v git >/dev/null 2>&1 || need+=(git)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing ${need[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${need[@]}" >/dev/null
		# Debian starts prosody as a system service on install; Latus runs
		# its own private instances, so the system one is not needed.
		if command -v service >/dev/null 2>&1; then service prosody stop >/dev/null 2>&1 || true; fi
	else
		echo "latus: missing ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
		exit 1
	fi
fi

if [ ! -e /dev/fuse ]; then
	echo "latus: /dev/fuse is missing: load the fuse module (sudo modprobe fuse) or, in a container, pass --device /dev/fuse" >&2
	exit 1
fi
