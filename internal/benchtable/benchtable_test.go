package benchtable

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMet(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  Row
		want string
	}{
		{"time ratio under the goal", Row{Latus: 2, Base: 1, Goal: "<= 3x"}, "met"},
		{"time ratio over the goal", Row{Latus: 177, Base: 1, Goal: "<= 3x"}, "not met"},
		{"speed ratio under the goal", Row{Latus: 25, Base: 100, Goal: ">= 0.5x"}, "not met"},
		{"speed ratio on the goal", Row{Latus: 50, Base: 100, Goal: ">= 0.5x"}, "met"},
		{"ratio goal without a baseline", Row{Latus: 1, Goal: "<= 3x"}, "-"},
		{"seconds", Row{Latus: 7, Base: 30, Goal: "<= 2s"}, "not met"},
		{"seconds met without a baseline", Row{Latus: 1.5, Goal: "<= 2s"}, "met"},
		{"MiB", Row{Latus: 222 << 20, Goal: "<= 500MiB"}, "met"},
		{"MiB over", Row{Latus: 501 << 20, Goal: "<= 500MiB"}, "not met"},
		{"report", Row{Latus: 1, Base: 2, Goal: "report"}, "-"},
		{"unparsable goal", Row{Latus: 1, Base: 2, Goal: "<= fast"}, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.row.Met(); got != tc.want {
				t.Fatalf("Met() of %+v = %q, want %q", tc.row, got, tc.want)
			}
		})
	}
}

// TestGoals: goals.tsv reads into goals with distinct IDs whose goal
// Met understands.
func TestGoals(t *testing.T) {
	if len(Goals) < 10 {
		t.Fatalf("%d goals read from goals.tsv", len(Goals))
	}
	seen := map[string]bool{}
	for _, g := range Goals {
		if seen[g.ID] {
			t.Errorf("goal %q twice", g.ID)
		}
		seen[g.ID] = true
		if _, _, _, ok := parseGoal(g.Goal); !ok && g.Goal != "report" {
			t.Errorf("goal %q: %q is no goal", g.ID, g.Goal)
		}
	}
}

// TestRecordAndSummary: rows recorded to the file come back in the
// summary beside their goal, and a goal nothing measured shows as not
// measured with where it would be measured.
func TestRecordAndSummary(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.out")
	t.Setenv("LATUS_BENCH_OUT", out)
	Record(t, Row{ID: "tar", Job: "tar x of 15000 files", Unit: Seconds, Latus: 6, Base: 1, BaseName: "native"})
	Record(t, Row{Job: "first byte", Unit: Seconds, Latus: 0.004, Goal: "<= 0.02s"})
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Goal != "<= 3x" {
		t.Fatalf("read back %+v", rows)
	}
	var buf bytes.Buffer
	Summary(&buf, rows)
	lines := strings.Split(buf.String(), "\n")
	for _, want := range []string{"tar x of 15000 files", "native 1s", "6.00x", "<= 3x", "not met"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("tar row %q lacks %q", lines[2], want)
		}
	}
	if !strings.Contains(buf.String(), "ls -lR warm vs native") || !strings.Contains(buf.String(), "not measured") {
		t.Errorf("summary does not list the unmeasured goals:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "other measurements:\nfirst byte") || !strings.Contains(buf.String(), "4ms") {
		t.Errorf("summary lacks the other row:\n%s", buf.String())
	}
	if got := strings.Count(buf.String(), "\n"); got != 2+len(Goals)+2 {
		t.Errorf("summary has %d lines, want %d:\n%s", got, 2+len(Goals)+2, buf.String())
	}
}
