package meta

import (
	"fmt"
	"path"
	"strings"
)

const (
	// MaxPath is the longest path accepted, in bytes.
	MaxPath = 4096
	// MaxName is the longest path element accepted, in bytes.
	MaxName = 255
	// StateDir is the reserved first path element: never part of the tree.
	StateDir = ".latus"
)

// ValidatePath reports whether p may name an entry of the tree: relative,
// slash-separated, clean (path.Clean(p) == p), no ".." element, no NUL,
// not "" or ".", first element not ".latus", at most MaxPath bytes and each
// element at most MaxName bytes. Errors wrap ErrInvalidPath.
func ValidatePath(p string) error {
	switch {
	case p == "" || p == ".":
		return fmt.Errorf("%w: empty path", ErrInvalidPath)
	case len(p) > MaxPath:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidPath, len(p), MaxPath)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("%w: %q contains NUL", ErrInvalidPath, p)
	case p[0] == '/':
		return fmt.Errorf("%w: %q is absolute", ErrInvalidPath, p)
	case path.Clean(p) != p:
		return fmt.Errorf("%w: %q is not clean", ErrInvalidPath, p)
	}
	first := true
	for elem := range strings.SplitSeq(p, "/") {
		switch {
		case elem == "..":
			return fmt.Errorf("%w: %q contains ..", ErrInvalidPath, p)
		case len(elem) > MaxName:
			return fmt.Errorf("%w: %q has an element longer than %d bytes", ErrInvalidPath, p, MaxName)
		case first && elem == StateDir:
			return fmt.Errorf("%w: %q is inside %s", ErrInvalidPath, p, StateDir)
		}
		first = false
	}
	return nil
}

// validDir is ValidatePath that also accepts "" (the root).
func validDir(dir string) error {
	if dir == "" {
		return nil
	}
	return ValidatePath(dir)
}

// parent returns the directory holding p ("" for top-level entries).
func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// base returns the last element of p.
func base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// join joins a directory ("" = root) and a name.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// ancestors returns the proper ancestors of p, outermost first ("a", "a/b"
// for "a/b/c"); the root is not included.
func ancestors(p string) []string {
	var out []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
