// Package benchtable collects the rows that benchmarks in several packages
// measure (Latus beside a baseline, in one run) and prints them as the one
// goal table at the end of `make bench`.
//
// A benchmark calls Record with a Row; when LATUS_BENCH_OUT names a file,
// the row is appended to it as one JSON line, so rows from every test
// binary of one `go test ./...` end up together. Summary reads them back
// and prints every goal of Goals (issue 11's table) whether or not a
// benchmark measured it, so a benchmark that failed or was skipped shows
// as "not measured" instead of dropping out of the table.
package benchtable

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Units of a Row's figures. Seconds are times (less is better); the rest
// say what they count.
const (
	Seconds      = "s"
	MiBPerSec    = "MiB/s"
	FilesPerSec  = "files/s"
	Bytes        = "B"
	BytesPerFile = "B/file"
)

// Row is one job measured on Latus and, in the same run, on a baseline.
type Row struct {
	// ID names the goal of Goals this row measures; empty for the other
	// rows, which carry their own Goal.
	ID string `json:"id,omitempty"`
	// Job says what was done, with the sizes used.
	Job  string `json:"job"`
	Unit string `json:"unit"`
	// Latus and Base are the two figures in Unit; Base is 0 when there is
	// no baseline, and BaseName then says why.
	Latus    float64 `json:"latus"`
	Base     float64 `json:"base"`
	BaseName string  `json:"base_name"`
	// Goal is "<= 3x" or ">= 0.5x" for the ratio Latus/Base, "<= 2s" or
	// "<= 500MiB" for Latus's figure alone, or "report" for none. Record
	// fills it from Goals when ID is set.
	Goal string `json:"goal"`
}

// Goal is one row of issue 11's table.
type Goal struct {
	ID, Job, Goal string
	// Where says which benchmark measures it.
	Where string
}

// Goals are the rows `make bench` must show (goals.tsv), in the issue's
// order, with the added rows after them.
var Goals = parseGoals(goalsTSV)

//go:embed goals.tsv
var goalsTSV string

// parseGoals reads goals.tsv; it panics on a malformed line, which
// TestGoals catches.
func parseGoals(text string) []Goal {
	var gs []Goal
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			panic(fmt.Sprintf("benchtable: goals.tsv: %q has %d fields, want 4", line, len(f)))
		}
		gs = append(gs, Goal{ID: f[0], Job: f[1], Goal: f[2], Where: f[3]})
	}
	return gs
}

func goalOf(id string) (Goal, bool) {
	for _, g := range Goals {
		if g.ID == id {
			return g, true
		}
	}
	return Goal{}, false
}

// Record logs r and appends it to the file LATUS_BENCH_OUT names, if
// any. A row whose ID is not in Goals fails the benchmark: the summary
// would not know it.
func Record(tb testing.TB, r Row) {
	tb.Helper()
	if r.ID != "" {
		g, ok := goalOf(r.ID)
		if !ok {
			tb.Fatalf("benchtable: row %q names no goal", r.ID)
		}
		if r.Goal == "" {
			r.Goal = g.Goal
		}
	}
	if r.Goal == "" {
		r.Goal = "report"
	}
	tb.Log(formatRow(r))
	path := os.Getenv("LATUS_BENCH_OUT")
	if path == "" {
		return
	}
	js, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		tb.Fatalf("benchtable: %v", err)
	}
	// One write of one line: appends from several test binaries do not
	// interleave.
	_, err = f.Write(append(js, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("benchtable: write %s: %v", path, err)
	}
}

// Read reads the rows Record appended to path.
func Read(r io.Reader) ([]Row, error) {
	var rows []Row
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		var row Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

const rowFormat = "%-84s %-16s %-30s %-8s %-9s %s"

// Summary writes the goal table: every goal of Goals with the rows that
// measured it (or "not measured" and the benchmark that would), then the
// other rows.
func Summary(w io.Writer, rows []Row) {
	fmt.Fprintf(w, rowFormat+"\n", "job", "latus", "baseline", "ratio", "goal", "met")
	fmt.Fprintln(w, strings.Repeat("-", 160))
	for _, g := range Goals {
		found := false
		for _, r := range rows {
			if r.ID == g.ID {
				fmt.Fprintln(w, formatRow(r))
				found = true
			}
		}
		if !found {
			fmt.Fprintf(w, rowFormat+"\n", g.Job, "not measured", "see "+g.Where, "-", g.Goal, "-")
		}
	}
	first := true
	for _, r := range rows {
		if r.ID != "" {
			continue
		}
		if first {
			fmt.Fprintln(w, "other measurements:")
			first = false
		}
		fmt.Fprintln(w, formatRow(r))
	}
}

func formatRow(r Row) string {
	base := r.BaseName
	if r.Base != 0 {
		base += " " + formatValue(r.Base, r.Unit)
	}
	ratio := "-"
	if q, ok := r.ratio(); ok {
		ratio = fmt.Sprintf("%.2fx", q)
	}
	return fmt.Sprintf(rowFormat, r.Job, formatValue(r.Latus, r.Unit), base, ratio, r.Goal, r.Met())
}

func (r Row) ratio() (float64, bool) {
	if r.Base == 0 {
		return 0, false
	}
	return r.Latus / r.Base, true
}

// Met says "met", "not met", or "-" when the row has no goal or lacks the
// baseline its goal needs.
func (r Row) Met() string {
	op, limit, suffix, ok := parseGoal(r.Goal)
	if !ok {
		return "-"
	}
	v := r.Latus
	switch suffix {
	case "x":
		q, ok := r.ratio()
		if !ok {
			return "-"
		}
		v = q
	case "MiB":
		limit *= 1 << 20
	}
	if (op == "<=" && v <= limit) || (op == ">=" && v >= limit) {
		return "met"
	}
	return "not met"
}

// parseGoal splits "<= 3x" into "<=", 3, "x". The suffix is "x" (a
// ratio), "s" (seconds) or "MiB" (bytes).
func parseGoal(goal string) (op string, limit float64, suffix string, ok bool) {
	f := strings.Fields(goal)
	if len(f) != 2 || (f[0] != "<=" && f[0] != ">=") {
		return "", 0, "", false
	}
	num := strings.TrimRight(f[1], "xsMiB")
	suffix = f[1][len(num):]
	if suffix != "x" && suffix != "s" && suffix != "MiB" {
		return "", 0, "", false
	}
	limit, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return "", 0, "", false
	}
	return f[0], limit, suffix, true
}

func formatValue(v float64, unit string) string {
	switch unit {
	case Seconds:
		d := time.Duration(v * float64(time.Second))
		if d < 100*time.Millisecond {
			return d.Round(10 * time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	case Bytes:
		if v >= 1<<20 {
			return fmt.Sprintf("%.1f MiB", v/(1<<20))
		}
		return fmt.Sprintf("%.0f B", v)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}
