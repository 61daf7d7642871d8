package deploycheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tuskq/tuskq/config"
)

// The Helm chart is checked without a cluster: helm lint, helm template
// and kubeconform (strict, offline, with the schemas committed in
// deploy/helm/schemas). The tools are built into ./bin by 'make
// helm-tools'; 'make test' and 'make helm-check' set
// TUSKQTEST_REQUIRE_HELM so that their absence fails instead of skipping.

const (
	chartDir   = "../../deploy/helm/tuskq"
	schemaDir  = "../../deploy/helm/schemas"
	namespace  = "tuskq"
	kubeVer    = "1.37.0"
	secretName = "tuskq-secrets"
)

// tool returns the path of bin/NAME, skipping the test when it is missing
// (failing when TUSKQTEST_REQUIRE_HELM is set).
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(root, "bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("TUSKQTEST_REQUIRE_HELM") != "" {
			t.Fatalf("%s is missing: run 'make helm-tools' (%v)", path, err)
		}
		t.Skipf("%s is missing: run 'make helm-tools' to check the Helm chart", path)
	}
	return path
}

// helmCmd runs helm with its cache and configuration in a temporary
// directory and returns its standard output and error.
func helmCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	helm := tool(t, "helm")
	home := t.TempDir()
	cmd := exec.Command(helm, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// template renders the chart with existingSecret set and the given
// --set and -f arguments.
func template(t *testing.T, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"template", "tq", chartDir, "--namespace", namespace, "--kube-version", kubeVer,
		"--set", "existingSecret=" + secretName}, args...)
	out, stderr, err := helmCmd(t, all...)
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s", strings.Join(all, " "), err, stderr)
	}
	return out, nil
}

func mustTemplate(t *testing.T, args ...string) string {
	t.Helper()
	out, err := template(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// valueSets are the values the chart is checked with: the defaults and
// every optional feature at least once.
var valueSets = map[string][]string{
	"defaults": nil,
	"keda, image plugins, servicemonitor, ingress": {"-f", "testdata/helm/keda-image.yaml"},
	"hpa, init container plugins":                  {"-f", "testdata/helm/hpa-init.yaml"},
	"volume plugins, no api":                       {"-f", "testdata/helm/volume.yaml"},
}

// object is one rendered manifest.
type object map[string]any

func (o object) kind() string { s, _ := o["kind"].(string); return s }

func (o object) name() string { return str(dig(o, "metadata", "name")) }

// dig follows keys (strings) and indexes (ints) through maps and slices.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m := asMap(v)
			if m == nil {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// asMap returns v as a map: yaml.v3 decodes the maps inside an object as
// objects.
func asMap(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case object:
		return m
	}
	return nil
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func list(v any) []any { s, _ := v.([]any); return s }

func parse(t *testing.T, manifests string) []object {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(manifests))
	var out []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("rendered manifests: %v", err)
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("no %s %s among the rendered objects", kind, name)
	return nil
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	for name, args := range valueSets {
		all := append([]string{"lint", "--strict", chartDir, "--namespace", namespace, "--kube-version", kubeVer,
			"--set", "existingSecret=" + secretName}, args...)
		out, stderr, err := helmCmd(t, all...)
		if err != nil || !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("%s: helm lint: %v\n%s%s", name, err, out, stderr)
		}
	}
}

// kubeconform validates manifests strictly against the committed schemas
// and returns its summary line.
func kubeconform(t *testing.T, manifests string) (string, error) {
	t.Helper()
	bin := tool(t, "kubeconform")
	schemas, err := filepath.Abs(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-strict", "-summary", "-output", "text",
		"-schema-location", schemas+"/{{ .ResourceKind }}{{ .KindSuffix }}.json", "-")
	// No HOME, no proxy: a schema it would download fails the check.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(manifests)
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestHelmTemplateKubeconform(t *testing.T) {
	t.Parallel()
	for name, args := range valueSets {
		manifests := mustTemplate(t, args...)
		n := len(parse(t, manifests))
		out, err := kubeconform(t, manifests)
		want := fmt.Sprintf("Summary: %d resources found parsing stdin - Valid: %d, Invalid: 0, Errors: 0, Skipped: 0", n, n)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("%s: kubeconform: %v\n%s\nwant %q", name, err, out, want)
		}
	}
}

// TestHelmKubeconformRefuses makes sure the check checks: an unknown field,
// a wrong type and a kind without a committed schema fail it.
func TestHelmKubeconformRefuses(t *testing.T) {
	t.Parallel()
	manifests := mustTemplate(t)
	for name, c := range map[string]struct{ old, new, want string }{
		"unknown field": {"terminationGracePeriodSeconds:", "terminationGraceSeconds:", "additional properties 'terminationGraceSeconds' not allowed"},
		"wrong type":    {"maxUnavailable: 1", "maxUnavailable: [1]", "maxUnavailable"},
		"no schema":     {"kind: PodDisruptionBudget", "kind: PodDisruptionBudgt", "could not find schema for PodDisruptionBudgt"},
	} {
		if !strings.Contains(manifests, c.old) {
			t.Fatalf("%s: the rendered chart has no %q", name, c.old)
		}
		out, err := kubeconform(t, strings.Replace(manifests, c.old, c.new, 1))
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: kubeconform accepted it or said something else (%v):\n%s\nwant %q", name, err, out, c.want)
		}
	}
	// A CRD kind is checked too.
	keda := mustTemplate(t, "-f", "testdata/helm/keda-image.yaml")
	out, err := kubeconform(t, strings.Replace(keda, "pollingInterval:", "pollingIntervl:", 1))
	if err == nil || !strings.Contains(out, "pollingIntervl") {
		t.Errorf("kubeconform accepted a ScaledObject with an unknown field (%v):\n%s", err, out)
	}
}

// TestHelmRefusesBadValues: secrets in clear and impossible combinations
// fail the install with a message naming the value and the fix, and the
// secret itself appears nowhere in it.
func TestHelmRefusesBadValues(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-in-clear-0123456789"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--set", "existingSecret="}, `existingSecret is required: create a Secret`},
		{[]string{"--set", "config.redis.password=" + secret}, "config.redis.password holds a secret in clear in the chart's values: remove it and put it in the Secret named by existingSecret, under the key named by secretKeys.redisPassword"},
		{[]string{"--set", "config.worker.metrics_token=" + secret}, "config.worker.metrics_token holds a secret in clear in the chart's values: remove it and put it in the Secret named by existingSecret, under the key named by secretKeys.metricsToken"},
		{[]string{"--set", "config.redis.sentinel_password=" + secret}, "config.redis.sentinel_password holds a secret in clear"},
		{[]string{"--set-json", `config.api.tokens=[{"name":"p","token":"` + secret + `"}]`}, "config.api.tokens holds a secret in clear in the chart's values: remove it and put it in the Secret named by existingSecret, under the key named by secretKeys.apiTokens"},
		{[]string{"--set-json", `config.monitor.auth.users=[{"name":"a","role":"admin","password_hash":"` + secret + `"}]`}, "config.monitor.auth.users holds a secret in clear"},
		{[]string{"--set-json", `config.monitor.auth.tokens=[{"name":"a","role":"viewer","token":"` + secret + `"}]`}, "config.monitor.auth.tokens holds a secret in clear"},
		{[]string{"--set-json", `worker.extraEnv=[{"name":"TUSKQ_REDIS_PASSWORD","value":"` + secret + `"}]`}, "worker.extraEnv sets TUSKQ_REDIS_PASSWORD with a value in clear: put it in the Secret named by existingSecret (secretKeys) instead"},
		{[]string{"--set-json", `api.extraEnv=[{"name":"TUSKQ_API_TOKENS","value":"` + secret + `"}]`}, "api.extraEnv sets TUSKQ_API_TOKENS with a value in clear"},
		{[]string{"--set-json", `monitor.extraEnv=[{"name":"REDIS_URL","value":"x"}]`}, "monitor.extraEnv sets REDIS_URL: only TUSKQ_* variables configure tuskq"},
		{[]string{"--set-json", `worker.extraEnv=[{"name":"TUSKQ_WORKER_SHUTDOWN_TIMEOUT","value":"5s"}]`}, "set config.worker.shutdown_timeout instead"},
		{[]string{"--set", "secretKeys.metricsToken="}, "secretKeys.metricsToken is required"},
		{[]string{"--set", "config.worker.shutdown_timeout=soon"}, `config.worker.shutdown_timeout is "soon": want a duration such as 25s or 1m`},
		{[]string{"--set", "autoscaling.keda.enabled=true"}, "autoscaling.keda.serverAddress is required with autoscaling.keda.enabled"},
		{[]string{"--set", "autoscaling.keda.enabled=true", "--set", "autoscaling.keda.serverAddress=http://p:9090", "--set", "autoscaling.hpa.enabled=true"}, "enable one of them"},
		{[]string{"--set", "autoscaling.hpa.enabled=true", "--set", "autoscaling.hpa.minReplicas=0"}, "autoscaling.hpa.minReplicas is 0"},
		{[]string{"--set", "plugins.source=git"}, "at '/plugins/source': value must be one of '', 'volume', 'image', 'initContainer'"},
		{[]string{"--set", "plugins.source=image"}, "plugins.source is image but plugins.image.repository is empty"},
		{[]string{"--set", "plugins.source=volume"}, "plugins.source is volume but plugins.volume is empty"},
		// values.schema.json: a misspelt key, a wrong type.
		{[]string{"--set", "existingSecrets=x"}, "additional properties 'existingSecrets' not allowed"},
		{[]string{"--set", "worker.port=http"}, "worker/port"},
	} {
		out, err := template(t, c.args...)
		if err == nil {
			t.Errorf("%v: rendered, want the error %q", c.args, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error\n%v\nwant it to contain %q", c.args, err, c.want)
		}
		msg, _, _ := strings.Cut(err.Error(), "\n")
		if strings.Contains(err.Error()[len(msg):], secret) || strings.Contains(out, secret) {
			t.Errorf("%v: the error or the output shows the secret", c.args)
		}
	}
}

// TestHelmWorkerGrace: Kubernetes' SIGKILL comes after the worker's
// shutdown timeout plus the margin, whatever form the duration has.
func TestHelmWorkerGrace(t *testing.T) {
	t.Parallel()
	for timeout, want := range map[string]int{"": 18, "25s": 35, "1m30s": 100, "500ms": 11, "1h": 3610, "2.5s": 13, "0": 10} {
		args := []string{"--set", "config.worker.shutdown_timeout=" + timeout}
		if timeout == "" {
			args = []string{"--set", "config.worker.shutdown_timeout=null"}
		}
		objs := parse(t, mustTemplate(t, args...))
		d := find(t, objs, "Deployment", "tq-tuskq-worker")
		got := dig(d, "spec", "template", "spec", "terminationGracePeriodSeconds")
		if str(got) != strconv.Itoa(want) {
			t.Errorf("shutdown_timeout %q: terminationGracePeriodSeconds %v, want %d", timeout, got, want)
		}
	}
}

// containers returns every container and init container of the
// Deployments, by "deployment/container".
func containers(objs []object) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, o := range objs {
		if o.kind() != "Deployment" {
			continue
		}
		spec := dig(o, "spec", "template", "spec")
		for _, key := range []string{"initContainers", "containers"} {
			for _, c := range list(dig(spec, key)) {
				m := asMap(c)
				out[o.name()+"/"+str(m["name"])] = m
			}
		}
	}
	return out
}

// TestHelmPodSecurity: every pod runs as the image's user (the
// Dockerfile's uid), with a read-only root, no privilege escalation, no
// capabilities; what the worker writes is in emptyDirs.
func TestHelmPodSecurity(t *testing.T) {
	t.Parallel()
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`useradd --system --uid (\d+) --home-dir (\S+)`).FindSubmatch(dockerfile)
	if m == nil {
		t.Fatal("the Dockerfile creates no user with useradd --system --uid N --home-dir DIR")
	}
	uid, home := string(m[1]), string(m[2])
	var values struct {
		Plugins struct {
			MountPath string `yaml:"mountPath"`
		} `yaml:"plugins"`
	}
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if mp := values.Plugins.MountPath; mp != home+"/plugins" || !strings.Contains(string(dockerfile), "mkdir -p "+mp) {
		t.Errorf("plugins.mountPath %q: want %s/plugins, which the Dockerfile creates for its user", mp, home)
	}
	for name, args := range valueSets {
		objs := parse(t, mustTemplate(t, args...))
		for _, o := range objs {
			if o.kind() != "Deployment" {
				continue
			}
			pod := dig(o, "spec", "template", "spec")
			if str(dig(pod, "securityContext", "runAsNonRoot")) != "true" || str(dig(pod, "securityContext", "runAsUser")) != uid {
				t.Errorf("%s: %s: pod securityContext %v, want runAsNonRoot and runAsUser %s (the Dockerfile's user)", name, o.name(), dig(pod, "securityContext"), uid)
			}
			if dig(pod, "securityContext", "fsGroup") != nil {
				t.Errorf("%s: %s sets fsGroup: writable volumes would become group-writable", name, o.name())
			}
		}
		for cname, c := range containers(objs) {
			sc := dig(c, "securityContext")
			if str(dig(sc, "readOnlyRootFilesystem")) != "true" || str(dig(sc, "allowPrivilegeEscalation")) != "false" ||
				!slices.Equal(list(dig(sc, "capabilities", "drop")), []any{"ALL"}) {
				t.Errorf("%s: %s: securityContext %v", name, cname, sc)
			}
			var mounts []string
			for _, v := range list(c["volumeMounts"]) {
				mounts = append(mounts, str(dig(v, "mountPath")))
			}
			if !strings.HasSuffix(cname, "/plugins") && (!slices.Contains(mounts, "/tmp") || !slices.Contains(mounts, "/etc/tuskq")) {
				t.Errorf("%s: %s mounts %v, want /tmp (emptyDir) and /etc/tuskq (the ConfigMap)", name, cname, mounts)
			}
			for _, mnt := range mounts {
				if strings.HasPrefix(mnt, home) && mnt != home+"/plugins" {
					t.Errorf("%s: %s mounts %s under the image's home %s", name, cname, mnt, home)
				}
			}
		}
	}
}

// TestHelmProbesAndPorts: every server listens on the port its probes,
// container port and Service use, and the probes ask /healthz and /readyz,
// which need no credentials.
func TestHelmProbesAndPorts(t *testing.T) {
	t.Parallel()
	objs := parse(t, mustTemplate(t, "--set", "worker.port=9999", "--set", "monitor.port=8181"))
	for cname, c := range containers(objs) {
		if strings.HasSuffix(cname, "/plugins") {
			continue
		}
		args := list(c["args"])
		i := slices.Index(args, any("--listen"))
		if i < 0 || i+1 >= len(args) {
			t.Errorf("%s: args %v have no --listen", cname, args)
			continue
		}
		_, port, _ := strings.Cut(str(args[i+1]), ":")
		if got := str(dig(c, "ports", 0, "containerPort")); got != port {
			t.Errorf("%s listens on %s but its containerPort is %s", cname, port, got)
		}
		if str(dig(c, "livenessProbe", "httpGet", "path")) != "/healthz" || str(dig(c, "readinessProbe", "httpGet", "path")) != "/readyz" {
			t.Errorf("%s: probes %v / %v, want /healthz and /readyz", cname, dig(c, "livenessProbe"), dig(c, "readinessProbe"))
		}
		for _, p := range []string{"livenessProbe", "readinessProbe"} {
			if str(dig(c, p, "httpGet", "port")) != str(dig(c, "ports", 0, "name")) {
				t.Errorf("%s: %s on port %v, not the container's port", cname, p, dig(c, p, "httpGet", "port"))
			}
		}
	}
	if got := str(dig(find(t, objs, "Deployment", "tq-tuskq-worker"), "spec", "template", "spec", "containers", 0, "args", 2)); got != ":9999" {
		t.Errorf("worker --listen %q, want :9999", got)
	}
}

// TestHelmBinariesAcceptConfig: each container's command exists and
// accepts its flags (--help appended), its environment names only
// configuration keys, and the ConfigMap's file with that environment (the
// secrets replaced by placeholders) loads and validates.
func TestHelmBinariesAcceptConfig(t *testing.T) {
	t.Parallel()
	objs := parse(t, mustTemplate(t, "-f", "testdata/helm/keda-image.yaml"))
	cm := find(t, objs, "ConfigMap", "tq-tuskq")
	file := filepath.Join(t.TempDir(), "tuskq.yaml")
	if err := os.WriteFile(file, []byte(str(dig(cm, "data", "tuskq.yaml"))), 0o444); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"TUSKQ_CONFIG": true}
	for _, k := range config.Keys() {
		known[k.Env] = true
	}
	placeholder := map[string]string{
		"TUSKQ_REDIS_PASSWORD":          "placeholder",
		"TUSKQ_REDIS_SENTINEL_PASSWORD": "placeholder",
		"TUSKQ_WORKER_METRICS_TOKEN":    "0123456789abcdef0123",
		"TUSKQ_MONITOR_AUTH_USERS":      "",
		"TUSKQ_MONITOR_AUTH_TOKENS":     `[{name: prometheus, role: viewer, token: "0123456789abcdef0123"}]`,
		"TUSKQ_API_TOKENS":              `[{name: producer, token: "0123456789abcdef0123"}]`,
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/worker", "./cmd/monitor", "./cmd/enqueue")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for cname, c := range containers(objs) {
		if strings.HasSuffix(cname, "/plugins") {
			continue
		}
		var environ []string
		for _, e := range list(c["env"]) {
			name := str(dig(e, "name"))
			if !known[name] {
				t.Errorf("%s sets %s, which config does not read", cname, name)
			}
			if ref := dig(e, "valueFrom", "secretKeyRef"); ref != nil {
				if str(dig(ref, "name")) != secretName {
					t.Errorf("%s: %s from Secret %v, want existingSecret %s", cname, name, dig(ref, "name"), secretName)
				}
				if _, ok := placeholder[name]; !ok {
					t.Errorf("%s: %s comes from the Secret but is not a secret key of config", cname, name)
				}
				environ = append(environ, name+"="+placeholder[name])
				continue
			}
			if name == "TUSKQ_CONFIG" && str(dig(e, "value")) != "/etc/tuskq/tuskq.yaml" {
				t.Errorf("%s: TUSKQ_CONFIG=%v, want the ConfigMap's mount /etc/tuskq/tuskq.yaml", cname, dig(e, "value"))
			}
			if name != "TUSKQ_CONFIG" {
				environ = append(environ, name+"="+str(dig(e, "value")))
			}
		}
		if _, err := config.Load(config.LoadOptions{File: file, Environ: environ}); err != nil {
			t.Errorf("%s: the ConfigMap's file with its environment does not load:\n%v", cname, err)
		}
		args := list(c["args"])
		if len(args) == 0 || !strings.Contains(string(dockerfile), "./cmd/"+str(args[0])) {
			t.Errorf("%s runs %v, which the Dockerfile does not build", cname, args)
			continue
		}
		cmdArgs := []string{}
		for _, a := range args[1:] {
			cmdArgs = append(cmdArgs, str(a))
		}
		cmd := exec.Command(filepath.Join(dir, str(args[0])), append(cmdArgs, "--help")...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage") {
			t.Errorf("%s: %v --help: %v\n%s", cname, args, err, out)
		}
	}
}
