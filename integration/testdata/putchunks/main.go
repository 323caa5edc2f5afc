// Command putchunks stores files in a chunk store and commits nothing: the
// chunks a crash between PutStream and the meta commit leaves behind.
//
//	go run ./testdata/putchunks STATE/chunks FILE...
package main

import (
	"fmt"
	"os"

	"github.com/uberan/latus/chunks"
)

func main() {
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "putchunks:", err)
		os.Exit(1)
	}
}

func run(dir string, files []string) error {
	s, err := chunks.Open(chunks.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		_, _, _, err = s.PutStream(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
