package deploycheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tuskq/tuskq/config"
)

const root = "../.."

// compose is the part of a compose file these tests read.
type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image           string            `yaml:"image"`
	Build           any               `yaml:"build"`
	Command         []string          `yaml:"command"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Healthcheck     *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Deploy struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

func readCompose(t *testing.T) (compose, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Compose has keys these tests ignore: decode leniently.
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c, string(data)
}

// binaries lists the commands under cmd/.
func binaries(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestComposeNamesOnlyRealConfigKeys(t *testing.T) {
	t.Parallel()
	c, text := readCompose(t)
	known := map[string]bool{"TUSKQ_CONFIG": true}
	for _, k := range config.Keys() {
		known[k.Env] = true
	}
	// Every TUSKQ_ word anywhere in the file, comments and interpolations
	// included, must be a variable that config reads.
	for _, name := range regexp.MustCompile(`TUSKQ_[A-Z0-9_]+`).FindAllString(text, -1) {
		if !known[name] {
			t.Errorf("docker-compose.yml names %s, which config does not read (see config.Keys and docs/configuration.md)", name)
		}
	}
	for name, svc := range c.Services {
		if name == "redis" {
			continue // Redis's own variables (see TestComposeSecrets)
		}
		for v := range svc.Environment {
			if !strings.HasPrefix(v, "TUSKQ_") {
				t.Errorf("service %s sets %s: only TUSKQ_* variables configure tuskq", name, v)
			}
		}
		if len(svc.Environment) == 0 {
			continue
		}
		// The values that are written out must load and validate; those
		// interpolated from .env are the operator's.
		var environ []string
		for k, v := range svc.Environment {
			if !strings.Contains(v, "${") {
				environ = append(environ, k+"="+v)
			}
		}
		if _, err := config.Load(config.LoadOptions{Environ: environ}); err != nil {
			t.Errorf("service %s: its environment does not load:\n%v", name, err)
		}
	}
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	c, _ := readCompose(t)
	for _, name := range []string{"redis", "worker", "monitor", "api"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no service %s", name)
		}
	}
	redis := c.Services["redis"]
	cmd := strings.Join(redis.Command, " ")
	if !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync everysec") || !strings.Contains(cmd, "--maxmemory-policy noeviction") {
		t.Errorf("redis command %q: want AOF (everysec) and noeviction", cmd)
	}
	if redis.Healthcheck == nil || !slices.Contains(redis.Healthcheck.Test, "redis-cli") {
		t.Errorf("redis has no redis-cli health check")
	}
	worker := c.Services["worker"]
	if worker.Deploy.Replicas != 3 {
		t.Errorf("worker replicas %d, want 3", worker.Deploy.Replicas)
	}
	if !slices.ContainsFunc(worker.Volumes, func(v string) bool { return strings.HasPrefix(v, "plugins:") }) {
		t.Errorf("worker volumes %v: no plugins volume", worker.Volumes)
	}
	// The worker hands tasks back before Docker's SIGKILL.
	grace, err := time.ParseDuration(worker.StopGracePeriod)
	if err != nil {
		t.Fatalf("worker stop_grace_period %q: %v", worker.StopGracePeriod, err)
	}
	shutdown, err := time.ParseDuration(worker.Environment["TUSKQ_WORKER_SHUTDOWN_TIMEOUT"])
	if err != nil || shutdown >= grace {
		t.Errorf("worker: shutdown timeout %v must be below stop_grace_period %v", shutdown, grace)
	}
	for name, svc := range c.Services {
		if name == "redis" {
			continue
		}
		if svc.DependsOn["redis"].Condition != "service_healthy" {
			t.Errorf("service %s does not wait for a healthy Redis", name)
		}
		if svc.Build == nil || svc.Image != "tuskq:latest" {
			t.Errorf("service %s: build %v image %q, want the image of ./Dockerfile", name, svc.Build, svc.Image)
		}
	}
	// Listening beyond loopback requires credentials.
	if m := c.Services["monitor"].Environment; m["TUSKQ_MONITOR_AUTH_USERS"] == "" && m["TUSKQ_MONITOR_AUTH_TOKENS"] == "" {
		t.Error("the monitor listens on 0.0.0.0 without users or tokens")
	}
	if c.Services["api"].Environment["TUSKQ_API_TOKENS"] == "" {
		t.Error("the API listens on 0.0.0.0 without tokens")
	}
	for _, v := range []string{"redis-data", "plugins"} {
		if _, ok := c.Volumes[v]; !ok {
			t.Errorf("volume %s is not declared", v)
		}
	}
}

// TestComposeCommandsExist builds the binaries and runs every service's
// command with --help appended: an unknown subcommand or flag fails it.
func TestComposeCommandsExist(t *testing.T) {
	t.Parallel()
	c, _ := readCompose(t)
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	bins := binaries(t)
	need := map[string]bool{}
	for name, svc := range c.Services {
		if name == "redis" {
			continue
		}
		if len(svc.Command) == 0 || !slices.Contains(bins, svc.Command[0]) {
			t.Fatalf("service %s runs %q, which is not a binary under cmd/ (%v)", name, svc.Command, bins)
		}
		need[svc.Command[0]] = true
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for b := range need {
		if !strings.Contains(string(dockerfile), "./cmd/"+b) {
			t.Errorf("the Dockerfile does not build ./cmd/%s, which service commands run", b)
		}
		args = append(args, "./cmd/"+b)
	}
	build := exec.Command("go", args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for name, svc := range c.Services {
		if name == "redis" {
			continue
		}
		cmd := exec.Command(filepath.Join(dir, svc.Command[0]), append(append([]string{}, svc.Command[1:]...), "--help")...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage") {
			t.Errorf("service %s: %q --help: %v\n%s", name, svc.Command, err, out)
		}
	}
}

// TestComposeSecrets: Redis requires the password of .env (given to it on
// standard input, not in its arguments) and every tuskq service has it;
// published ports are on loopback only; a worker whose /metrics listens
// beyond loopback has the scrape token of .env.
func TestComposeSecrets(t *testing.T) {
	t.Parallel()
	c, _ := readCompose(t)
	const password = "${REDIS_PASSWORD:?"
	redis := c.Services["redis"]
	script := strings.Join(redis.Command, " ")
	if !strings.Contains(script, `printf 'requirepass %s\n' "$$REDIS_PASSWORD" | exec docker-entrypoint.sh redis-server - `) {
		t.Errorf("redis command %q: want requirepass from $REDIS_PASSWORD on standard input, through the image's entrypoint", script)
	}
	for _, v := range []string{"REDIS_PASSWORD", "REDISCLI_AUTH"} {
		if !strings.HasPrefix(redis.Environment[v], password) {
			t.Errorf("redis %s = %q, want the REDIS_PASSWORD of .env (required)", v, redis.Environment[v])
		}
	}
	for name, svc := range c.Services {
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond the host's loopback", name, p)
			}
		}
		if name == "redis" {
			continue
		}
		if !strings.HasPrefix(svc.Environment["TUSKQ_REDIS_PASSWORD"], password) {
			t.Errorf("service %s: TUSKQ_REDIS_PASSWORD = %q, want the REDIS_PASSWORD of .env", name, svc.Environment["TUSKQ_REDIS_PASSWORD"])
		}
	}
	worker := c.Services["worker"]
	i := slices.Index(worker.Command, "--listen")
	if i < 0 || i+1 >= len(worker.Command) {
		t.Fatalf("worker command %q has no --listen", worker.Command)
	}
	host, _, _ := strings.Cut(worker.Command[i+1], ":")
	if host != "127.0.0.1" && !strings.HasPrefix(worker.Environment["TUSKQ_WORKER_METRICS_TOKEN"], "${METRICS_TOKEN:?") {
		t.Errorf("worker listens on %s without the METRICS_TOKEN of .env as TUSKQ_WORKER_METRICS_TOKEN", worker.Command[i+1])
	}
	// The top comment documents every variable of .env the file needs.
	_, text := readCompose(t)
	head, _, _ := strings.Cut(text, "services:")
	for _, v := range regexp.MustCompile(`\$\{([A-Z_]+):\?`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(head, "#   "+v[1]+"=") {
			t.Errorf("the .env variable %s is not documented at the top of docker-compose.yml", v[1])
		}
	}
}
