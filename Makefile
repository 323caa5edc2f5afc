# Latus — see README.md. Every target works on a fresh Debian machine:
# scripts/deps.sh installs fuse3 and prosody when they are missing.

GO      ?= go
BIN     := bin/latus
TESTTIMEOUT ?= 14m

.PHONY: all build deps test bench demo fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/latus

deps:
	bash scripts/deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -race -timeout $(TESTTIMEOUT) ./...

# Benchmarks print the ratios they measured against the native filesystem
# (and other tools) in the same run; absolute times here are noisy.
bench: deps build
	bash scripts/bench-deps.sh
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

# Short fuzz runs of the decoders that take input from the network.
fuzz:
	bash scripts/fuzz.sh

demo: deps build
	bash scripts/demo.sh

clean:
	rm -rf bin
