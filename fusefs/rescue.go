package fusefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/uberan/latus/internal/atomicfile"
	"github.com/uberan/latus/meta"
)

// Content whose last commit failed (the chunk store full, a meta error) is
// kept in <staging>/failed as two files: <id>, the bytes, and <id>.json,
// where they belong. While the file is open, its staging file stays dirty
// and every flush, fsync and release retries; once the last release has
// failed too, the kept copy is committed again at the next start and at
// FS.Flush (unmount, signal), and removed only once committed: a write
// that close(2) or release could not store is never dropped.
const failedDir = "failed"

// rescueInfo is the .json beside kept content.
type rescueInfo struct {
	Path  string    `json:"path"`
	Mode  uint32    `json:"mode"`
	Saved time.Time `json:"saved"`
}

// rescue copies st's content into the failed directory. st.mu is held.
func (f *FS) rescue(st *stagedFile, cause error) error {
	p := st.ino.Path(st.ino.Root())
	dir := filepath.Join(f.staging, failedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keep content of %s: %w", p, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("keep content of %s: %w", p, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	_, err = io.Copy(tmp, io.NewSectionReader(st.f, 0, 1<<62))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keep content of %s: %w", p, err)
	}
	data := filepath.Join(dir, strings.TrimPrefix(filepath.Base(tmp.Name()), ".tmp-"))
	info, _ := json.Marshal(rescueInfo{Path: p, Mode: st.base.Mode, Saved: time.Now()})
	if err := atomicfile.Write(data+".json", info, 0o600); err != nil {
		return fmt.Errorf("keep content of %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), data); err != nil {
		os.Remove(data + ".json")
		return fmt.Errorf("keep content of %s: %w", p, err)
	}
	f.rescued.Add(1)
	f.log.Error("commit failed; content kept and retried at the next start", "path", p, "kept", data, "err", cause)
	return nil
}

// Rescued lists the paths whose kept content still waits to be committed.
func (f *FS) Rescued() []string {
	var out []string
	for _, r := range f.listRescued() {
		out = append(out, r.info.Path)
	}
	return out
}

type rescued struct {
	data string
	info rescueInfo
}

func (f *FS) listRescued() []rescued {
	dir := filepath.Join(f.staging, failedDir)
	names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []rescued
	for _, js := range names {
		data := strings.TrimSuffix(js, ".json")
		b, err := os.ReadFile(js)
		if err != nil {
			f.log.Error("kept content unreadable", "file", js, "err", err)
			continue
		}
		var info rescueInfo
		if err := json.Unmarshal(b, &info); err != nil {
			f.log.Error("kept content unreadable", "file", js, "err", err)
			continue
		}
		if _, err := os.Stat(data); errors.Is(err, os.ErrNotExist) {
			os.Remove(js) // the content was never renamed into place: nothing kept
			continue
		}
		out = append(out, rescued{data: data, info: info})
	}
	return out
}

// retryRescued commits kept content again, oldest first, and returns the
// versions it made. Content that fails again stays kept.
func (f *FS) retryRescued() ([]meta.FileVersion, error) {
	if f.rescued.Load() == 0 {
		return nil, nil
	}
	var done []meta.FileVersion
	var errs []error
	for _, r := range f.listRescued() {
		v, err := f.recommit(r)
		if err != nil {
			f.log.Error("kept content still not committed", "path", r.info.Path, "kept", r.data, "err", err)
			errs = append(errs, err)
			continue
		}
		os.Remove(r.data)
		os.Remove(r.data + ".json")
		f.rescued.Add(-1)
		f.log.Info("kept content committed", "path", r.info.Path, "kept", r.data)
		done = append(done, v)
	}
	return done, errors.Join(errs...)
}

// recommit commits kept content at its path: as a new version of the file
// there, or as a new file where there is none.
func (f *FS) recommit(r rescued) (meta.FileVersion, error) {
	fh, err := os.Open(r.data)
	if err != nil {
		return meta.FileVersion{}, err
	}
	defer fh.Close()
	release := f.store.Hold() // chunks stay uncollected until committed (chunks/sweep.go)
	defer release()
	nv, err := f.putContent(fh, r.info.Mode)
	if err != nil {
		return meta.FileVersion{}, fmt.Errorf("commit kept %s: %w", r.info.Path, err)
	}
	kind := meta.Modified
	if _, err := f.meta.Lookup(r.info.Path); errors.Is(err, meta.ErrNotFound) {
		kind = meta.Created
	}
	vs, err := f.commit(meta.Change{Kind: kind, Path: r.info.Path, File: nv})
	if err != nil {
		return meta.FileVersion{}, fmt.Errorf("commit kept %s: %w", r.info.Path, err)
	}
	return vs[len(vs)-1], nil
}
