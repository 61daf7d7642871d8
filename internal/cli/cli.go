// Package cli holds what the tuskq binaries share on the command line: exit
// codes and the "config" subcommand that prints the effective
// configuration or validates a file without running anything.
package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
)

// Exit codes of every tuskq binary.
const (
	// ExitOK means success.
	ExitOK = 0
	// ExitFailure means the command was well formed but failed: a file
	// could not be read, Redis could not be reached.
	ExitFailure = 1
	// ExitUsage means bad input: unknown flags or subcommands, or an
	// invalid configuration.
	ExitUsage = 2
)

const configUsage = `usage:
  config print [--config FILE] [--set key=value]... [flags]
      print the effective configuration (defaults, file, TUSKQ_* environment,
      flags) as YAML, secrets masked
  config validate FILE
      check FILE alone (defaults + FILE, no environment): print "FILE: ok",
      or every problem and exit with status 2
`

// ConfigCommand runs the "config" subcommand. args are the arguments after
// "config" (for example {"print", "--set", "worker.concurrency=5"});
// environ is the process environment, usually os.Environ(). It returns the
// exit code: ExitOK, ExitFailure when a file cannot be read, ExitUsage for
// bad arguments or an invalid configuration. flags, when given, adds the
// binary's own bound flags (such as the worker's --concurrency) so that
// "config print" accepts every flag the binary does.
func ConfigCommand(args []string, environ []string, stdout, stderr io.Writer, flags ...func(*pflag.FlagSet) error) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return ExitUsage
	}
	switch args[0] {
	case "print":
		return configPrint(args[1:], environ, stdout, stderr, flags)
	case "validate":
		return configValidate(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, configUsage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "config: unknown subcommand %q; expected print or validate\n%s", args[0], configUsage)
	return ExitUsage
}

func configPrint(args []string, environ []string, stdout, stderr io.Writer, flags []func(*pflag.FlagSet) error) int {
	fs := pflag.NewFlagSet("config print", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { // only called for --help
		fmt.Fprintf(stdout, "usage: config print [flags]\n%s", fs.FlagUsages())
	}
	config.AddFlags(fs)
	for _, add := range flags {
		if err := add(fs); err != nil {
			fmt.Fprintf(stderr, "config print: %v\n", err)
			return ExitFailure
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintf(stderr, "config print: %v\n", err)
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "config print: unexpected argument %q; use --config FILE\n", fs.Arg(0))
		return ExitUsage
	}
	c, err := config.Load(config.LoadOptions{Environ: environ, Flags: fs})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return LoadExitCode(err)
	}
	if err := config.Write(stdout, c); err != nil {
		fmt.Fprintln(stderr, err)
		return ExitFailure
	}
	return ExitOK
}

func configValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "config validate: expected exactly one FILE argument, got %q\n", args)
		return ExitUsage
	}
	file := args[0]
	if _, err := config.Load(config.LoadOptions{File: file}); err != nil {
		fmt.Fprintln(stderr, err)
		return LoadExitCode(err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return ExitOK
}

// LoadExitCode maps a config.Load error to an exit code: a file that cannot
// be read is ExitFailure; anything else is an invalid configuration,
// ExitUsage.
func LoadExitCode(err error) int {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return ExitFailure
	}
	return ExitUsage
}
