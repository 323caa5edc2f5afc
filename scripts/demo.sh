#!/usr/bin/env bash
# Placeholder until the mount lands: builds and runs the unit tests of the
# storage core so `make demo` shows something real.
set -euo pipefail
go test -count=1 -v -run 'Test' ./chunks ./meta 2>&1 | grep -E '^(=== RUN|--- |ok|FAIL)' | head -40
