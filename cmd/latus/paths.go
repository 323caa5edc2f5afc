package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/uberan/latus/chunks"
	"github.com/uberan/latus/meta"
)

// storePath turns what the user typed into a path in the store: a path
// inside the mount point (absolute or relative to the working directory),
// or, when it is not one, a path relative to the Latus root.
func storePath(arg, mountpoint string) (string, error) {
	if mountpoint != "" {
		abs, err := filepath.Abs(arg)
		if err == nil && (abs == mountpoint || strings.HasPrefix(abs, mountpoint+"/")) {
			return strings.TrimPrefix(strings.TrimPrefix(abs, mountpoint), "/"), nil
		}
	}
	if filepath.IsAbs(arg) {
		if mountpoint == "" {
			return "", fmt.Errorf("%s: no mounted Latus folder is known; give the path relative to the Latus folder", arg)
		}
		return "", fmt.Errorf("%s is not inside the Latus folder %s", arg, mountpoint)
	}
	p := path.Clean(filepath.ToSlash(arg))
	if p == "." {
		return "", nil
	}
	if err := meta.ValidatePath(p); err != nil {
		return "", err
	}
	return p, nil
}

// collectChunks lists the chunks of every live file at or under p.
func collectChunks(db *meta.DB, p string) ([]chunks.ID, error) {
	var ids []chunks.ID
	var walk func(dir string) error
	walk = func(dir string) error {
		vs, err := db.List(dir)
		if err != nil {
			return err
		}
		for _, v := range vs {
			switch v.Kind {
			case meta.KindDir:
				if err := walk(v.Path); err != nil {
					return err
				}
			case meta.KindFile:
				for _, r := range v.Chunks {
					ids = append(ids, r.ID)
				}
			}
		}
		return nil
	}
	if p != "" {
		v, err := db.Lookup(p)
		if err != nil {
			return nil, err
		}
		if v.Kind != meta.KindDir {
			for _, r := range v.Chunks {
				ids = append(ids, r.ID)
			}
			return ids, nil
		}
	}
	return ids, walk(p)
}
