package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// Config is one simulation run.
type Config struct {
	Seed     uint64
	Steps    int   // steps drawn from the seed; 0 = 200
	Devices  int   // devices at the start, 2–6; 0 = 3
	Replicas int   // engine replicas; 0 = 2
	Capacity int64 // every store's cap in stored bytes; 0 = drawn from the seed (often tiny)
	// Keep, when not nil, runs only these step indexes (ascending): a
	// shrunk run.
	Keep []int
	// Dir is where state dirs go; "" = a new directory under /dev/shm when
	// it exists (tmpfs: fsync costs nothing), else os.TempDir().
	Dir    string
	Logger *slog.Logger // nil: discard
	// Watch, when not "", is the start of a chunk id in hex: every trace
	// line then shows what each device's store says of it.
	Watch string
}

// Failure is a broken invariant (or an unexpected error), with what it
// takes to replay it.
type Failure struct {
	Seed uint64
	Step int    // index of the step after which it was found; -1 = at the end
	Op   string // the step
	Msg  string
}

// Class names the invariant a failure broke, so shrinking keeps to it.
func (f *Failure) Class() string {
	msg, _, _ := strings.Cut(f.Msg, ";") // what follows describes the stores
	for _, c := range []string{"believed", "superseded nowhere", "in the history", "differ", "replaced by nothing", "not in its history", "no step wrote", "never written", "reads", "quiescence", "kept by", "panic"} {
		if strings.Contains(msg, c) {
			return c
		}
	}
	return "error"
}

func (f *Failure) Error() string {
	return fmt.Sprintf("seed %d step %d (%s): %s", f.Seed, f.Step, f.Op, f.Msg)
}

// Result is what a run did.
type Result struct {
	Steps     int      // steps run
	Ops       int      // device operations: steps plus messages delivered
	Failure   *Failure // nil: every invariant held
	Trace     []string // one line per step run
	Exempt    int      // chunks lost with a lost or restored device that were never replicated (allowed)
	Conflicts int
}

// Sim is one run in progress.
type Sim struct {
	cfg  Config
	log  *slog.Logger
	base string

	devs    []*device
	nextDev int
	group   map[string]int     // partition side of each device
	conn    map[[2]string]bool // pairs announced connected
	clock   time.Time
	rng     *rand.Rand // the current step's stream
	faults  bool       // network faults on (off while settling)
	pages   []page
	ops     int
	ctx     context.Context
	stepIdx int
	stepOp  string

	content map[chunks.ID][]byte          // every content ever written, by hash
	commits []meta.FileVersion            // every version a local commit made
	lost    map[string]bool               // "origin/seq" of commits lost with a device
	exempt  map[chunks.ID]bool            // chunks lost with a device before anyone else kept them
	atRisk  map[chunks.ID]map[string]bool // devices counting a restored device as a holder, until their next round
	trace   []string
}

func (s *Sim) now() time.Time { return s.clock }

// Run runs one simulation and reports what broke, if anything. A panic in
// the engine is a failure too.
func Run(ctx context.Context, cfg Config) (res Result) {
	if cfg.Steps <= 0 {
		cfg.Steps = 200
	}
	if cfg.Devices <= 0 {
		cfg.Devices = 3
	}
	cfg.Devices = min(max(cfg.Devices, 2), maxDevices)
	if cfg.Replicas <= 0 {
		cfg.Replicas = 2
	}
	top := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	if cfg.Capacity == 0 {
		// Half the runs have tiny caches: pressure, eviction, hand-off.
		if top.IntN(2) == 0 {
			cfg.Capacity = int64(1+top.IntN(4)) << 20
		} else {
			cfg.Capacity = -1
		}
	}
	if cfg.Capacity < 0 {
		cfg.Capacity = 0
	}
	steps := drawSteps(top, cfg.Steps)
	s := &Sim{
		cfg: cfg, log: cfg.Logger, group: map[string]int{}, conn: map[[2]string]bool{},
		clock:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 1)),
		content: map[chunks.ID][]byte{}, lost: map[string]bool{}, exempt: map[chunks.ID]bool{}, atRisk: map[chunks.ID]map[string]bool{},
		ctx: ctx,
	}
	if s.log == nil {
		s.log = discardLogger
	}
	fail := func(step int, op string, err error) {
		var f *Failure
		if errors.As(err, &f) {
			res.Failure = f
			return
		}
		res.Failure = &Failure{Seed: cfg.Seed, Step: step, Op: op, Msg: err.Error()}
	}
	defer func() {
		if r := recover(); r != nil {
			fail(s.stepIdx, s.stepOp, fmt.Errorf("panic: %v", r))
		}
		for _, d := range s.devs {
			d.close()
		}
		if s.base != "" {
			os.RemoveAll(s.base)
		}
		res.Ops, res.Trace, res.Exempt = s.ops, s.trace, len(s.exempt)
	}()
	dir := cfg.Dir
	if dir == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			dir = "/dev/shm"
		}
	}
	base, err := os.MkdirTemp(dir, "latus-sim-")
	if err != nil {
		fail(-1, "setup", err)
		return res
	}
	s.base = base
	for range cfg.Devices {
		if _, err := s.newDevice(); err != nil {
			fail(-1, "setup", err)
			return res
		}
	}
	run := steps
	if cfg.Keep != nil {
		run = run[:0:0]
		for _, i := range cfg.Keep {
			if i >= 0 && i < len(steps) {
				run = append(run, steps[i])
			}
		}
	}
	for _, st := range run {
		if ctx.Err() != nil {
			fail(st.idx, "cancelled", ctx.Err())
			return res
		}
		s.stepIdx = st.idx
		s.rng = rand.New(rand.NewPCG(cfg.Seed, uint64(st.idx)+2))
		s.faults = true
		// Time passes between steps, as between a user's actions (a
		// clock that stood still made every conflict copy of a device
		// collide on one name; see DESIGN.md).
		s.clock = s.clock.Add(time.Duration(s.rng.IntN(90)) * time.Second)
		s.ops++
		res.Steps++
		desc, err := s.apply(st.kind)
		s.stepOp = desc
		s.trace = append(s.trace, fmt.Sprintf("%d: %s%s", st.idx, desc, s.watch()))
		if err == nil {
			err = s.checkStep()
		}
		if err != nil {
			fail(st.idx, desc, err)
			return res
		}
	}
	s.stepIdx, s.stepOp = -1, "final settle"
	if err := s.settle(); err != nil {
		fail(-1, "final settle", err)
	}
	return res
}

// watch describes Config.Watch's chunk on every device.
func (s *Sim) watch() string {
	if s.cfg.Watch == "" {
		return ""
	}
	var b strings.Builder
	for _, d := range s.devs {
		cs, _ := d.store.Custodied(func(in chunks.Info) bool { return strings.HasPrefix(in.ID.String(), s.cfg.Watch) })
		for _, in := range cs {
			fmt.Fprintf(&b, " [%s: custody holders=%v]", d.name, in.Holders)
		}
	}
	return b.String()
}

// failf makes a Failure at the current step.
func (s *Sim) failf(format string, args ...any) error {
	return &Failure{Seed: s.cfg.Seed, Step: s.stepIdx, Op: s.stepOp, Msg: fmt.Sprintf(format, args...)}
}

// TraceString joins a trace for a failure message.
func TraceString(tr []string) string { return strings.Join(tr, "\n") }
