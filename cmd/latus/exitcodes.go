package main

// Exit codes of the latus command.
const (
	// exitOK: the command did what it was asked.
	exitOK = 0
	// exitError: the command failed (the message on stderr says why).
	exitError = 1
	// exitUsage: latus was called wrongly (unknown flag, bad size, missing
	// --version).
	exitUsage = 2
)
