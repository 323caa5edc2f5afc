package main

import (
	"io"
	"log"
	"log/slog"
	"os"

	"gopkg.in/natefinch/lumberjack.v2"
)

// The daemon's log: <state>/latus.log, rotated at logMaxMB, logBackups
// older files kept (compressed). A daemon run by hand or by systemd with
// --foreground logs to stderr instead (the journal keeps it).
const (
	logName    = "latus.log"
	stderrName = "latus.stderr" // what escapes the logger: a panic, the Go runtime
	logMaxMB   = 10
	logBackups = 3
)

// rotatingLog returns the writer of a rotated log at path.
func rotatingLog(path string, maxMB int) *lumberjack.Logger {
	return &lumberjack.Logger{Filename: path, MaxSize: maxMB, MaxBackups: logBackups, Compress: true}
}

// daemonLogger returns the daemon's logger: to file (rotated) when set,
// else to stderr. The standard log package (go-fuse's --debug output)
// goes to the same place. close flushes and closes the file.
func daemonLogger(file string) (l *slog.Logger, close func() error) {
	var w io.Writer = os.Stderr
	close = func() error { return nil }
	if file != "" {
		lj := rotatingLog(file, logMaxMB)
		w, close = lj, lj.Close
	}
	log.SetOutput(w)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})), close
}
