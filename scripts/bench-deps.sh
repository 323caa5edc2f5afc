#!/usr/bin/env bash
# Installs what `make bench` compares Latus with when it is missing:
# rclone (mount of an rclone serve webdav), syncthing, and git (the clone
# benchmark; scripts/deps.sh installs it too). As root it
# installs them with apt; otherwise it says so and the benchmark prints
# "not available" for them.
set -euo pipefail

need=()
command -v rclone >/dev/null 2>&1 || need+=(rclone)
command -v syncthing >/dev/null 2>&1 || need+=(syncthing)
command -v git >/dev/null 2>&1 || need+=(git)

if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "bench-deps: installing ${need[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${need[@]}" >/dev/null || echo "bench-deps: could not install ${need[*]}; the benchmark reports them as not available" >&2
	else
		echo "bench-deps: missing ${need[*]} (sudo apt-get install ${need[*]}); the benchmark reports them as not available" >&2
	fi
fi
