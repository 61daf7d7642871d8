package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/tuskq/tuskq/config"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run calls ConfigCommand and returns its exit code, stdout and stderr.
func run(args []string, environ []string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := ConfigCommand(args, environ, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestConfigPrint(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "tuskq.yaml", "redis: {addr: file:6379, password: hunter2}\nworker: {concurrency: 5}\n")
	code, out, errOut := run(
		[]string{"print", "--set", "worker.shutdown_timeout=30s", "--log-format", "text"},
		[]string{"TUSKQ_CONFIG=" + file, "TUSKQ_REDIS_SENTINEL_PASSWORD=s3cret", "TUSKQ_LOG_LEVEL=debug"},
	)
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "s3cret") {
		t.Errorf("secret printed:\n%s", out)
	}
	for _, want := range []string{"  addr: file:6379\n", "  password: '****'\n", "  sentinel_password: '****'\n",
		"  concurrency: 5\n", "  shutdown_timeout: 30s\n", "  level: debug\n", "  format: text\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// What print shows loads back to the same configuration.
	printed := writeFile(t, "printed.yaml", out)
	got, err := config.Load(config.LoadOptions{File: printed})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.Redis.Addr, want.Redis.Password, want.Redis.SentinelPassword = "file:6379", "****", "****"
	want.Worker.Concurrency, want.Worker.ShutdownTimeout = 5, 30_000_000_000
	want.Log.Level, want.Log.Format = "debug", "text"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed config loads as %+v\nwant %+v", got, want)
	}
}

func TestConfigPrintErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []struct {
		name    string
		args    []string
		environ []string
		code    int
		stderr  string
	}{
		{"no subcommand", nil, nil, ExitUsage, configUsage},
		{"unknown subcommand", []string{"show"}, nil, ExitUsage, "config: unknown subcommand \"show\"; expected print or validate\n" + configUsage},
		{"unknown flag", []string{"print", "--nope"}, nil, ExitUsage, "config print: unknown flag: --nope\n"},
		{"positional argument", []string{"print", "x.yaml"}, nil, ExitUsage, "config print: unexpected argument \"x.yaml\"; use --config FILE\n"},
		{"unknown env var", []string{"print"}, []string{"TUSKQ_WORKER_CONCURENCY=3"}, ExitUsage,
			"config: unknown environment variable TUSKQ_WORKER_CONCURENCY (did you mean TUSKQ_WORKER_CONCURRENCY?)\n"},
		{"invalid value", []string{"print", "--redis-mode", "replica"}, nil, ExitUsage,
			"config: --redis-mode: redis.mode: \"replica\" is not valid; expected standalone, sentinel or cluster\n"},
		{"missing file", []string{"print", "--config", missing}, nil, ExitFailure, "config: open " + missing + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(tt.args, tt.environ)
			if code != tt.code || out != "" || errOut != tt.stderr {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr:\n%s", code, out, errOut, tt.code, tt.stderr)
			}
		})
	}
}

func TestConfigHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"print", "--help"}} {
		code, out, errOut := run(args, nil)
		if code != ExitOK || !strings.HasPrefix(out, "usage:") || errOut != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.yaml", "worker: {concurrency: 5}\n")
	bad := writeFile(t, "bad.yaml", "redis: {mode: replica}\nworker: {concurrency: 0, queues: {low: 0}}\nlog: {format: xml}\n")
	unknown := writeFile(t, "unknown.yaml", "redis: {adr: x}\nworker: {shutdown_timeout: 5 minutes}\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	// The environment does not matter to validate: only the file is checked.
	environ := []string{"TUSKQ_NOPE=1", "TUSKQ_CONFIG=" + bad}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"ok", []string{"validate", good}, ExitOK, good + ": ok\n", ""},
		{"invalid values", []string{"validate", bad}, ExitUsage, "", `config: BAD: redis.mode: "replica" is not valid; expected standalone, sentinel or cluster
config: BAD: worker.concurrency: 0 is not valid; expected at least 1
config: BAD: worker.queues.low: 0 is not valid; expected a weight of at least 1
config: BAD: log.format: "xml" is not valid; expected json or text
`},
		{"unknown key and bad value", []string{"validate", unknown}, ExitUsage, "", `config: UNKNOWN: unknown key "redis.adr" (did you mean "redis.addr"?)
config: UNKNOWN: worker.shutdown_timeout: "5 minutes" is not valid; expected a duration such as 30s or 1m
`},
		{"missing file", []string{"validate", missing}, ExitFailure, "", "config: open " + missing + ": no such file or directory\n"},
		{"no file", []string{"validate"}, ExitUsage, "", "config validate: expected exactly one FILE argument, got []\n"},
		{"two files", []string{"validate", good, bad}, ExitUsage, "", "config validate: expected exactly one FILE argument, got [\"" + good + "\" \"" + bad + "\"]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(tt.args, environ)
			wantErr := strings.NewReplacer("BAD", bad, "UNKNOWN", unknown).Replace(tt.stderr)
			if code != tt.code || out != tt.stdout || errOut != wantErr {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stdout %q, stderr:\n%s", code, out, errOut, tt.code, tt.stdout, wantErr)
			}
		})
	}
}

func TestConfigPrintBinaryFlags(t *testing.T) {
	t.Parallel()
	addConcurrency := func(fs *pflag.FlagSet) error {
		fs.Int("concurrency", 0, "worker.concurrency")
		return config.BindFlag(fs, "concurrency", "worker.concurrency")
	}
	var stdout, stderr bytes.Buffer
	code := ConfigCommand([]string{"print", "--concurrency", "7"}, nil, &stdout, &stderr, addConcurrency)
	if code != ExitOK || !strings.Contains(stdout.String(), "concurrency: 7\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	code, _, errOut := run([]string{"print", "--concurrency", "7"}, nil)
	if code != ExitUsage || errOut != "config print: unknown flag: --concurrency\n" {
		t.Fatalf("without the binary's flags: exit %d, stderr %q", code, errOut)
	}
}
