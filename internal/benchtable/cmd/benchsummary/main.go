// Command benchsummary prints the goal table from the rows the benchmarks
// of one `make bench` run recorded (see package benchtable).
//
//	go run ./internal/benchtable/cmd/benchsummary bench.out
package main

import (
	"fmt"
	"os"

	"github.com/uberan/latus/internal/benchtable"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchsummary FILE (the file LATUS_BENCH_OUT named for the benchmarks)")
		os.Exit(2)
	}
	var rows []benchtable.Row
	f, err := os.Open(os.Args[1])
	switch {
	case os.IsNotExist(err): // no benchmark recorded a row: every goal shows as not measured
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchsummary:", err)
		os.Exit(1)
	default:
		rows, err = benchtable.Read(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchsummary: %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
	}
	benchtable.Summary(os.Stdout, rows)
}
