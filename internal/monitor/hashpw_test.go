package monitor

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func runHash(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), Env{
		Args: append([]string{"hash-password"}, args...), Stdin: strings.NewReader(stdin),
		Stdout: &out, Stderr: &errOut,
	})
	return code, out.String(), errOut.String()
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"s3cret pass", "s3cret pass\n", "s3cret pass\r\n"} {
		code, out, errOut := runHash(in, "--cost", "4")
		hash := strings.TrimSuffix(out, "\n")
		if code != 0 || errOut != "" || !strings.HasPrefix(hash, "$2a$04$") || len(hash) != 60 {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q", in, code, out, errOut)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret pass")); err != nil {
			t.Errorf("%q: the hash does not match the password: %v", in, err)
		}
	}
	code, out, _ := runHash("x", "--help")
	if code != 0 || !strings.Contains(out, "printf '%s' \"$PASSWORD\" | monitor hash-password [--cost N]") || !strings.Contains(out, "--cost cost") {
		t.Errorf("--help: %d\n%s", code, out)
	}

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", nil, "monitor hash-password: no password on standard input; pipe it in: printf '%s' \"$PASSWORD\" | monitor hash-password\n"},
		{"\n", nil, "monitor hash-password: no password on standard input; pipe it in: printf '%s' \"$PASSWORD\" | monitor hash-password\n"},
		{"a\nb\n", nil, "monitor hash-password: the password spans several lines; give one line\n"},
		{strings.Repeat("x", 73), nil, "monitor hash-password: the password has 73 bytes; bcrypt uses at most 72\n"},
		{"pw", []string{"--cost", "3"}, "monitor hash-password: --cost 3 is not valid; expected 4 to 31 (default 10)\n"},
		{"pw", []string{"hunter2"}, "monitor hash-password: unexpected argument \"hunter2\"; the password is read from standard input, never from the command line\n"},
		{"pw", []string{"--salt"}, "monitor hash-password: unknown flag: --salt\nRun 'monitor hash-password --help' for usage.\n"},
	} {
		code, out, errOut := runHash(tc.stdin, tc.args...)
		if code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%q %v: exit %d, stdout %q, stderr %q\nwant 2 and %q", tc.stdin, tc.args, code, out, errOut, tc.want)
		}
	}
}
