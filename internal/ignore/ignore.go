// Package ignore decides which paths of the Latus tree stay on this
// device: the .latusignore files (gitignore syntax) of every folder, plus
// defaults for editor and system litter.
package ignore

import (
	"path"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// FileName is the name of the ignore file a folder may hold.
const FileName = ".latusignore"

// Defaults are ignored in every folder: swap, backup, lock and temporary
// files of editors and office suites, and what desktops leave behind.
var Defaults = []string{"*.swp", "*~", ".#*", "~$*", "*.tmp", ".DS_Store", "Thumbs.db", "desktop.ini"}

// Source returns the content of dir's .latusignore ("" is the root) and
// whether there is one. An error means it could not be read now (its
// content is elsewhere and unreachable): the question is answered
// without its rules, and the next one asks again.
type Source func(dir string) ([]byte, bool, error)

// Matcher answers whether a path is ignored. Each folder's rules are read
// through the Source once and kept until Forget says its .latusignore
// changed, so a create asks no store for its ancestors' rules. Safe for
// concurrent use.
type Matcher struct {
	src      Source
	defaults []gitignore.Pattern

	mu    sync.Mutex                     // guards rules and forgets
	rules map[string][]gitignore.Pattern // folder → its parsed rules (nil: none)
	// forgets counts Forget calls: rules read while one ran may be the
	// old ones and are not kept.
	forgets uint64
}

// maxFolders bounds the folders whose rules a Matcher keeps; past it they
// are all read again as asked.
const maxFolders = 1 << 16

// New returns a matcher reading .latusignore files through src (nil: the
// defaults only).
func New(src Source) *Matcher {
	m := &Matcher{src: src, rules: map[string][]gitignore.Pattern{}}
	for _, l := range Defaults {
		m.defaults = append(m.defaults, gitignore.ParsePattern(l, nil))
	}
	return m
}

// Forget tells the matcher that the file at p was written, deleted or
// renamed (locally or by another device). When p is a .latusignore, its
// folder's rules are read again at the next question.
func (m *Matcher) Forget(p string) {
	if path.Base(p) != FileName {
		return
	}
	dir := path.Dir(p)
	if dir == "." {
		dir = ""
	}
	m.mu.Lock()
	delete(m.rules, dir)
	m.forgets++
	m.mu.Unlock()
}

// Ignored reports whether p (slash-separated, relative to the root) is
// ignored, as git would: the defaults apply everywhere, a folder's
// .latusignore to the paths under it, a later or deeper rule overriding
// (with "!") an earlier one; a path inside an ignored folder is ignored.
// The .latusignore files themselves never are.
func (m *Matcher) Ignored(p string, isDir bool) bool {
	if p == "" || path.Base(p) == FileName {
		return false
	}
	parts := strings.Split(p, "/")
	patterns := append([]gitignore.Pattern(nil), m.defaults...)
	for i := range parts {
		patterns = append(patterns, m.patterns(parts[:i])...)
		if gitignore.NewMatcher(patterns).Match(parts[:i+1], isDir || i < len(parts)-1) {
			return true
		}
	}
	return false
}

// patterns returns the rules of the folder dir (its path elements).
func (m *Matcher) patterns(dir []string) []gitignore.Pattern {
	if m.src == nil {
		return nil
	}
	name := strings.Join(dir, "/")
	m.mu.Lock()
	ps, ok := m.rules[name]
	forgets := m.forgets
	m.mu.Unlock()
	if ok {
		return ps
	}
	b, ok, err := m.src(name)
	if err != nil {
		return nil // not kept: asked again next time
	}
	if ok {
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimRight(l, "\r")
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
				continue
			}
			ps = append(ps, gitignore.ParsePattern(l, dir))
		}
	}
	m.mu.Lock()
	if m.forgets == forgets {
		if len(m.rules) >= maxFolders {
			clear(m.rules)
		}
		m.rules[name] = ps
	}
	m.mu.Unlock()
	return ps
}
