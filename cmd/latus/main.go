// Command latus mounts a folder that Latus keeps versioned and, with an
// XMPP account configured, in sync across a person's devices.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// globalOptions are the flags every verb takes.
type globalOptions struct {
	State  string
	Config string
}

func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.State, "state", "", "state directory (default $XDG_DATA_HOME/latus)")
	fs.StringVar(&g.Config, "config", "", "config file (default $XDG_CONFIG_HOME/latus/config.toml)")
}

// stateDir resolves --state, $XDG_DATA_HOME/latus or ~/.local/share/latus
// to an absolute path.
func (g *globalOptions) stateDir() (string, error) {
	dir := g.State
	if dir == "" {
		base := os.Getenv("XDG_DATA_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("find the state directory: %w; pass --state DIR", err)
			}
			base = filepath.Join(home, ".local", "share")
		}
		dir = filepath.Join(base, "latus")
	}
	return filepath.Abs(dir)
}

func (g *globalOptions) configFile() (string, error) {
	if g.Config != "" {
		return filepath.Abs(g.Config)
	}
	return defaultConfigPath()
}

func (g *globalOptions) paths() (string, string, error) {
	cfg, err := g.configFile()
	if err != nil {
		return "", "", err
	}
	st, err := g.stateDir()
	return cfg, st, err
}

// usageError marks an error caused by how latus was called.
type usageError struct{ error }

func newRootCommand() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "latus",
		Short:         "A folder kept in sync across your devices, with every version kept",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newMountCommand(g),
		newUnmountCommand(g),
		newStatusCommand(g),
		newLogCommand(g),
		newRestoreCommand(g),
		newPruneCommand(g),
		newImportCommand(g),
		newPrefetchCommand(g),
		newPinCommand(g),
		newUnpinCommand(g),
		newInitCommand(g.paths),
		newServiceCommand(g),
		newDevicesCommand(g),
	)
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "latus: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(exitUsage)
		}
		os.Exit(exitError)
	}
	os.Exit(exitOK)
}
