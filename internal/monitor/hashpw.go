package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/crypto/bcrypt"

	"github.com/tuskq/tuskq/internal/cli"
)

// maxPasswordInput bounds what hash-password reads from standard input.
const maxPasswordInput = 4096

// hashPassword implements "monitor hash-password": it reads one password
// from stdin (a trailing newline is not part of it) and prints its bcrypt
// hash for monitor.auth.users[].password_hash.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("hash-password", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt `cost`, 4 to 31; each step doubles the work of a login")
	usage := "Usage:\n  printf '%s' \"$PASSWORD\" | monitor hash-password [--cost N]\n\n" +
		"Reads one password from standard input and prints its bcrypt hash for\n" +
		"monitor.auth.users[].password_hash.\n\nFlags:\n"
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage+fs.FlagUsages())
			return cli.ExitOK
		}
		fmt.Fprintf(stderr, "monitor hash-password: %v\nRun 'monitor hash-password --help' for usage.\n", err)
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "monitor hash-password: unexpected argument %q; the password is read from standard input, never from the command line\n", fs.Arg(0))
		return cli.ExitUsage
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "monitor hash-password: --cost %d is not valid; expected %d to %d (default %d)\n", *cost, bcrypt.MinCost, bcrypt.MaxCost, bcrypt.DefaultCost)
		return cli.ExitUsage
	}
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	in, err := io.ReadAll(io.LimitReader(stdin, maxPasswordInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "monitor hash-password: reading standard input: %v\n", err)
		return cli.ExitFailure
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(in), "\n"), "\r")
	switch {
	case pw == "":
		fmt.Fprintf(stderr, "monitor hash-password: no password on standard input; pipe it in: printf '%%s' \"$PASSWORD\" | monitor hash-password\n")
		return cli.ExitUsage
	case strings.ContainsAny(pw, "\r\n"):
		fmt.Fprintln(stderr, "monitor hash-password: the password spans several lines; give one line")
		return cli.ExitUsage
	case len(pw) > 72:
		fmt.Fprintf(stderr, "monitor hash-password: the password has %d bytes; bcrypt uses at most 72\n", len(pw))
		return cli.ExitUsage
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
	if err != nil {
		fmt.Fprintf(stderr, "monitor hash-password: %v\n", err)
		return cli.ExitFailure
	}
	fmt.Fprintf(stdout, "%s\n", hash)
	return cli.ExitOK
}
