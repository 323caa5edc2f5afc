# Latus — see README.md. Every target works on a fresh Debian machine:
# scripts/deps.sh installs fuse3 and prosody when they are missing.

GO      ?= go
BIN     := bin/latus
TESTTIMEOUT ?= 14m

.PHONY: all build deps test bench demo fuzz clean sim sim-selftest

all: build

build:
	$(GO) build -o $(BIN) ./cmd/latus

deps:
	bash scripts/deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -race -timeout $(TESTTIMEOUT) ./...
	# The file exerciser's fixed seed for 20,000 operations against a real
	# mount (-race above runs it for 1,200: under -race it does ~20 ops/s).
	$(GO) test -count=1 -timeout 10m -run 'TestFSX$$' ./fusefs -latus.fsx.ops 20000

# The deterministic simulation (internal/sim; make test runs a fixed set of
# seeds): SEEDS seeds from SEED on, DEVICES at the start (0: 2–5 by seed).
SEEDS   ?= 1000
SEED    ?= 1
DEVICES ?= 0
sim:
	bash -o pipefail -c "$(GO) test -v -count=1 -timeout 0 -run 'TestSim$$' ./internal/sim -sim.seed=$(SEED) -sim.seeds=$(SEEDS) -sim.steps=200 -sim.devices=$(DEVICES) | grep -vE '^(=== RUN|--- PASS|PASS$$)'"

# Plants each known bug (build tag simbugs) and shows the simulator
# catches it within 1,000 seeds.
SIMBUGS := trust-keep merge-ignores-vectors prune-current
sim-selftest:
	@for b in $(SIMBUGS); do \
		echo "sim-selftest: $$b"; \
		LATUS_SIMBUG=$$b $(GO) test -count=1 -tags simbugs -run 'TestSelftest$$' ./internal/sim -v -sim.seeds=1000 -sim.steps=200 || exit 1; \
	done

# Benchmarks measure Latus beside the native filesystem (and rclone mount,
# Syncthing, cp -r, git) in the same run, as ratios: absolute times here are
# noisy. Each records its rows in BENCHOUT (package internal/benchtable);
# the last step prints them as one table beside issue 11's goals, with
# "not measured" for a goal no benchmark measured, and then fails if a
# benchmark did. Sizes: LATUS_BENCH_* variables (see the benchmarks' doc
# comments); the table's jobs name the sizes used.
BENCHOUT ?= $(CURDIR)/bench.out
bench: deps build
	bash scripts/bench-deps.sh
	rm -f $(BENCHOUT)
	start=$$(date +%s); \
	LATUS_BENCH_OUT=$(BENCHOUT) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 120m ./...; status=$$?; \
	echo; echo "make bench: $$(( ($$(date +%s) - start) / 60 )) min; goal table (rows in $(BENCHOUT)):"; \
	$(GO) run ./internal/benchtable/cmd/benchsummary $(BENCHOUT) || status=1; \
	exit $$status

# Short fuzz runs of the decoders that take input from the network.
fuzz:
	bash scripts/fuzz.sh

demo: deps build
	bash scripts/demo.sh

clean:
	rm -rf bin
