package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

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
