package plugins

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tuskq/tuskq/tasks"
)

// ManifestFile is the name of the manifest in each plugin directory.
const ManifestFile = "plugin.yaml"

// MaxManifestSize bounds the size of a manifest file.
const MaxManifestSize = 1 << 20

// Manifest defaults applied when a manifest leaves the field out.
const (
	DefaultTimeout        = time.Minute
	DefaultMaxConcurrency = 4
	MaxConcurrencyLimit   = 1024
)

// Manifest is a parsed plugin.yaml. See docs/plugins.md for the format.
type Manifest struct {
	// File is the manifest's path, as given to ParseManifest.
	File string
	// Name identifies the plugin in the fleet state and the CLI:
	// lower-case letters, digits, '.', '_' and '-', at most 64 bytes.
	Name string
	// Version is any non-empty string without white space, such as 1.4.2.
	Version string
	// Description is one line for humans.
	Description string
	// Runtime names the runtime: process, exec or native.
	Runtime string
	// Entry is the entry file, relative to the plugin directory (slash
	// separated, inside the directory).
	Entry string
	// Args are extra arguments for the entry (process and exec runtimes).
	Args []string
	// TaskTypes are the task types the plugin handles, sorted by name.
	TaskTypes []TaskType
	// Config holds the configuration defaults; fleet-wide overrides are
	// laid over them key by key. Values are JSON-compatible.
	Config map[string]any
	// Limits bound what a plugin may use on one worker.
	Limits Limits
	// Env lists the worker environment variables passed to plugin
	// processes. Nothing else of the worker's environment is.
	Env []string
	// Sandbox lists what a wasm plugin may reach besides its own memory
	// (runtime wasm only; the zero value grants nothing).
	Sandbox Sandbox
}

// Sandbox is what the manifest grants a wasm plugin. Nothing is granted
// unless listed: no file system, clock, randomness or outbound HTTP.
type Sandbox struct {
	// Dirs are directories inside the plugin directory (clean relative
	// paths, "." for the whole directory), each mounted read-only at "/"
	// plus its path in the guest.
	Dirs []string
	// Clock grants the real wall and monotonic clocks (otherwise a fake
	// clock that starts at 2022-01-01 and ticks on each read).
	Clock bool
	// Random grants the worker's cryptographic random source (otherwise a
	// fixed, deterministic stream).
	Random bool
	// HTTP grants the http_request host function, bound by the worker's
	// worker.http_allow_hosts and dial guard, as http:request is.
	HTTP bool
}

// TaskType is one task type a plugin handles.
type TaskType struct {
	// Name is the task type, such as "image:resize".
	Name string
	// Queue is the default queue producers use (a route default).
	Queue string
	// MaxRetry is the default retry budget producers use (nil: not set).
	MaxRetry *int
	// Timeout bounds one attempt on the worker; 0 uses Limits.Timeout.
	Timeout time.Duration
	// Schema is the JSON Schema of the payload (nil: no check).
	Schema *Schema
}

// Limits bound what a plugin may use on one worker.
type Limits struct {
	// Timeout bounds one attempt of any of the plugin's task types that
	// sets no timeout of its own. Defaults to DefaultTimeout.
	Timeout time.Duration
	// MaxConcurrency is the number of tasks the plugin runs at once per
	// worker (the process pool size). Defaults to DefaultMaxConcurrency.
	MaxConcurrency int
	// Memory caps the linear memory of each instance of a wasm plugin, in
	// bytes (a multiple of 64 KiB). 0 uses the runtime's default.
	Memory int64
}

// MaxMemoryLimit bounds limits.memory: 4 GiB is all a 32-bit wasm module
// can address.
const MaxMemoryLimit = 4 << 30

// TypeTimeout returns the timeout of one attempt of tt.
func (m *Manifest) TypeTimeout(tt TaskType) time.Duration {
	if tt.Timeout > 0 {
		return tt.Timeout
	}
	return m.Limits.Timeout
}

// TypeNames returns the names of the manifest's task types, sorted.
func (m *Manifest) TypeNames() []string {
	names := make([]string, len(m.TaskTypes))
	for i, tt := range m.TaskTypes {
		names[i] = tt.Name
	}
	return names
}

// Routes returns the producer-side defaults of the manifest's task types
// (queue, max_retry, timeout) as routes for tasks.ClientOptions, for
// producers that share the plugin directory.
func (m *Manifest) Routes() []tasks.Route {
	var routes []tasks.Route
	for _, tt := range m.TaskTypes {
		if tt.Queue == "" && tt.MaxRetry == nil && tt.Timeout == 0 {
			continue
		}
		routes = append(routes, tasks.Route{Pattern: tt.Name, Queue: tt.Queue, MaxRetry: tt.MaxRetry, Timeout: tt.Timeout})
	}
	return routes
}

// ManifestError lists every problem found in a manifest.
type ManifestError struct {
	// File is the manifest's path.
	File string
	// Problems are in the order of the file.
	Problems []Problem
}

// Problem is one invalid field of a manifest.
type Problem struct {
	// Line is the line of the field in the file (0 when unknown).
	Line int
	// Field is the dotted path of the field ("task_types.img:resize.timeout").
	Field string
	// Message says what is wrong and what is expected.
	Message string
}

// String formats p as "FILE:LINE: FIELD: MESSAGE" without the file.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error returns one problem per line, each naming the file.
func (e *ManifestError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "plugins: " + e.File + ": " + p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrManifest.
func (e *ManifestError) Unwrap() error { return ErrManifest }

var (
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// reservedEnv are set by tuskq for every plugin process.
var reservedEnv = []string{"TUSKQ_PLUGIN_NAME", "TUSKQ_PLUGIN_VERSION", "TUSKQ_PLUGIN_DIR"}

// ParseManifest parses and validates a manifest. file names it in errors.
// It checks only the text: the Manager checks the entry file, the runtime
// and the task type claims. Errors are *ManifestError.
func ParseManifest(file string, data []byte) (*Manifest, error) {
	p := &parser{file: file}
	m := &Manifest{File: file, Limits: Limits{Timeout: DefaultTimeout, MaxConcurrency: DefaultMaxConcurrency}}
	if len(data) > MaxManifestSize {
		p.add(nil, "", "the file is %d bytes; the limit is %d", len(data), MaxManifestSize)
		return nil, p.err()
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.add(nil, "", "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, p.err()
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.add(nil, "", "the file is empty; see docs/plugins.md for the fields")
		return nil, p.err()
	}
	root := resolve(doc.Content[0])
	fields := p.mapping(root, "", []string{"name", "version", "description", "runtime", "entry", "args", "task_types", "config", "limits", "env", "sandbox"})
	if fields == nil {
		return nil, p.err()
	}
	m.Name = p.requiredString(fields, root, "name", "a name such as image-tools (lower-case letters, digits, '.', '_', '-')")
	if m.Name != "" && !nameRe.MatchString(m.Name) {
		p.add(fields["name"], "name", "%q is not a plugin name: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", m.Name)
	}
	m.Version = p.requiredString(fields, root, "version", "a version such as 1.0.0")
	if m.Version != "" && (len(m.Version) > 64 || strings.ContainsFunc(m.Version, badVersionRune)) {
		p.add(fields["version"], "version", "%q is not a version: use at most 64 printable characters without spaces, such as 1.0.0", m.Version)
	}
	m.Description = p.optionalString(fields, "description")
	m.Runtime = p.requiredString(fields, root, "runtime", "process, exec or native")
	m.Entry = p.requiredString(fields, root, "entry", "the path of the program or library inside the plugin directory, such as bin/plugin")
	if m.Entry != "" {
		clean := path.Clean(m.Entry)
		if path.IsAbs(m.Entry) || clean == ".." || strings.HasPrefix(clean, "../") || clean == "." || strings.ContainsRune(m.Entry, 0) {
			p.add(fields["entry"], "entry", "%q is not inside the plugin directory: give a relative path such as bin/plugin", m.Entry)
		}
		m.Entry = clean
	}
	m.Args = p.stringList(fields, "args")
	m.TaskTypes = p.taskTypes(fields["task_types"], root)
	m.Config = p.config(fields["config"])
	p.limits(fields["limits"], &m.Limits)
	m.Env = p.stringList(fields, "env")
	for _, name := range m.Env {
		switch {
		case !envNameRe.MatchString(name):
			p.add(fields["env"], "env", "%q is not an environment variable name: use letters, digits and '_'", name)
		case slices.Contains(reservedEnv, name):
			p.add(fields["env"], "env", "%s is set by tuskq for every plugin; remove it from the list", name)
		}
	}
	m.Sandbox = p.sandbox(fields["sandbox"])
	if fields["sandbox"] != nil && m.Runtime != "" && m.Runtime != RuntimeWasm {
		p.add(fields["sandbox"], "sandbox", "only the wasm runtime has a sandbox; remove it, or use runtime: wasm")
	}
	if fields["limits"] != nil && m.Limits.Memory > 0 && m.Runtime != "" && m.Runtime != RuntimeWasm {
		p.add(fields["limits"], "limits.memory", "only the wasm runtime caps memory; remove it, or use runtime: wasm")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return m, nil
}

func (p *parser) sandbox(n *yaml.Node) Sandbox {
	var sb Sandbox
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return sb
	}
	fs := p.mapping(n, "sandbox", []string{"dirs", "clock", "random", "http"})
	if fs == nil {
		return sb
	}
	sb.Dirs = p.stringList(fs, "dirs")
	for _, d := range sb.Dirs {
		if d == "" || strings.ContainsRune(d, 0) || path.IsAbs(d) || path.Clean(d) != d || d == ".." || strings.HasPrefix(d, "../") {
			p.add(fs["dirs"], "sandbox.dirs", "%q is not a directory inside the plugin directory: give a clean relative path such as data (mounted read-only at /data)", d)
		}
	}
	sb.Clock = p.boolean(fs["clock"], "sandbox.clock")
	sb.Random = p.boolean(fs["random"], "sandbox.random")
	sb.HTTP = p.boolean(fs["http"], "sandbox.http")
	return sb
}

func (p *parser) boolean(n *yaml.Node, field string) bool {
	if n == nil {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.add(n, field, "want true or false, got %s", describe(n))
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE" || n.Value == "yes" || n.Value == "on"
}

// parseMemory parses a size such as 64MiB, 512KiB, 1GiB or a number of
// bytes.
func parseMemory(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > MaxMemoryLimit/mult {
		return 0, false
	}
	return n * mult, true
}

func badVersionRune(r rune) bool { return r <= ' ' || r == 0x7f }

func (p *parser) taskTypes(n *yaml.Node, root *yaml.Node) []TaskType {
	if n == nil {
		p.add(root, "task_types", "missing: list the task types the plugin handles, such as\n  task_types:\n    image:resize: {}")
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, "task_types", "want a mapping from task type to its settings, got %s", describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, "task_types", "empty: the plugin must handle at least one task type")
		return nil
	}
	var out []TaskType
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		name := k.Value
		field := "task_types." + name
		if k.Kind != yaml.ScalarNode {
			p.add(k, "task_types", "a task type must be a string, got %s", describe(k))
			continue
		}
		if seen[name] {
			p.add(k, field, "declared twice; declare each task type once")
			continue
		}
		seen[name] = true
		if err := tasks.ValidateType(name); err != nil {
			p.add(k, field, "%s", strings.TrimPrefix(err.Error(), tasks.ErrInvalidType.Error()+": "))
			continue
		}
		tt := TaskType{Name: name}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			out = append(out, tt)
			continue
		}
		fs := p.mapping(v, field, []string{"queue", "max_retry", "timeout", "schema"})
		if fs == nil {
			continue
		}
		tt.Queue = p.optionalString(fs, field+".queue")
		if tt.Queue != "" && strings.ContainsFunc(tt.Queue, func(r rune) bool { return r <= ' ' || r == '{' || r == '}' }) {
			p.add(fs["queue"], field+".queue", "%q is not a queue name: no spaces, control characters or braces", tt.Queue)
		}
		if mr := fs["max_retry"]; mr != nil {
			n, err := strconv.Atoi(mr.Value)
			if mr.Kind != yaml.ScalarNode || err != nil || n < 0 {
				p.add(mr, field+".max_retry", "want an integer of 0 or more, got %s", describe(mr))
			} else {
				tt.MaxRetry = &n
			}
		}
		tt.Timeout = p.duration(fs["timeout"], field+".timeout")
		if s := fs["schema"]; s != nil {
			sch, err := compileSchema(name, s)
			if err != nil {
				p.add(s, field+".schema", "%s", err)
			}
			tt.Schema = sch
		}
		out = append(out, tt)
	}
	slices.SortFunc(out, func(a, b TaskType) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (p *parser) limits(n *yaml.Node, l *Limits) {
	if n == nil {
		return
	}
	fs := p.mapping(n, "limits", []string{"timeout", "max_concurrency", "memory"})
	if fs == nil {
		return
	}
	if d := p.duration(fs["timeout"], "limits.timeout"); d > 0 {
		l.Timeout = d
	}
	if mc := fs["max_concurrency"]; mc != nil {
		n, err := strconv.Atoi(mc.Value)
		if mc.Kind != yaml.ScalarNode || err != nil || n < 1 || n > MaxConcurrencyLimit {
			p.add(mc, "limits.max_concurrency", "want an integer from 1 to %d, got %s", MaxConcurrencyLimit, describe(mc))
		} else {
			l.MaxConcurrency = n
		}
	}
	if mem := fs["memory"]; mem != nil {
		n, ok := parseMemory(mem.Value)
		if mem.Kind != yaml.ScalarNode || !ok || n%(64<<10) != 0 {
			p.add(mem, "limits.memory", "want a size from 64KiB to 4GiB in whole 64KiB pages, such as 64MiB, got %s", describe(mem))
		} else {
			l.Memory = n
		}
	}
}

func (p *parser) config(n *yaml.Node) map[string]any {
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return map[string]any{}
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, "config", "want a mapping of configuration defaults, got %s", describe(n))
		return nil
	}
	v, err := jsonValue(n)
	if err != nil {
		p.add(n, "config", "%s", err)
		return nil
	}
	m, _ := v.(map[string]any)
	return m
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	if n == nil {
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		p.add(n, field, "want a duration greater than 0 such as 30s or 5m, got %s", describe(n))
		return 0
	}
	return d
}
