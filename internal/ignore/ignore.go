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
// whether there is one.
type Source func(dir string) ([]byte, bool)

// Matcher answers whether a path is ignored. Parsed rules are cached by
// folder and text, so an edited .latusignore takes effect at the next
// question. Safe for concurrent use.
type Matcher struct {
	src      Source
	defaults []gitignore.Pattern

	mu    sync.Mutex // guards rules
	rules map[ruleKey][]gitignore.Pattern
}

type ruleKey struct{ dir, text string }

// New returns a matcher reading .latusignore files through src (nil: the
// defaults only).
func New(src Source) *Matcher {
	m := &Matcher{src: src, rules: map[ruleKey][]gitignore.Pattern{}}
	for _, l := range Defaults {
		m.defaults = append(m.defaults, gitignore.ParsePattern(l, nil))
	}
	return m
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
	b, ok := m.src(name)
	if !ok {
		return nil
	}
	k := ruleKey{name, string(b)}
	m.mu.Lock()
	defer m.mu.Unlock()
	ps, ok := m.rules[k]
	if !ok {
		if len(m.rules) > 4096 {
			clear(m.rules) // bounded: rules of edited files are dropped
		}
		for _, l := range strings.Split(k.text, "\n") {
			l = strings.TrimRight(l, "\r")
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
				continue
			}
			ps = append(ps, gitignore.ParsePattern(l, dir))
		}
		m.rules[k] = ps
	}
	return ps
}
