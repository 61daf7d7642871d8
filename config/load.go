package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// LoadOptions says where Load finds configuration besides the defaults.
// Load reads nothing else: not the process environment, not os.Args.
type LoadOptions struct {
	// File is the YAML file to read. When empty, the --config flag of
	// Flags is used, then TUSKQ_CONFIG from Environ; when none is set, no
	// file is read.
	File string
	// Environ is the environment as KEY=VALUE strings, usually
	// os.Environ(). Variables starting with TUSKQ_ set keys; other
	// variables are ignored.
	Environ []string
	// Flags is the parsed flag set holding the flags of AddFlags and
	// BindFlag. Only flags set on the command line override. May be nil.
	Flags *pflag.FlagSet
	// AllowReadableFile accepts a file holding secrets (passwords,
	// password hashes, tokens) that group or others may read; without it,
	// --allow-readable-config or TUSKQ_ALLOW_READABLE_CONFIG=true, Load
	// refuses such a file with an error wrapping ErrReadableSecrets.
	AllowReadableFile bool
}

// Load builds the configuration from, in increasing precedence, the
// defaults, the YAML file, the environment and the flags, then validates
// it. Every unknown key and every malformed value is reported at once; so
// is every problem found by Validate, as a *ValidationError whose problems
// name the file, variable or flag the value came from.
//
// Routes cannot be set from the environment; they come from the file or
// from --set routes.<pattern>.<field>=value.
//
// A file that holds secrets and that group or others may read is refused
// (see LoadOptions.AllowReadableFile).
//
// Empty lists and maps load as nil.
func Load(opts LoadOptions) (Config, error) {
	s := newSchema()
	var p problems
	layers := []*layer{defaultsLayer(s)}

	if path := configFile(opts); path != "" {
		data, err := file.Provider(path).ReadBytes()
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		raw, err := yaml.Parser().Unmarshal(data)
		if err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
		fl := s.fileLayer(path, raw, &p)
		allow, err := allowReadable(opts)
		if err != nil {
			return Config{}, err
		}
		if err := checkFileMode(path, s.secretKeys(fl), allow); err != nil {
			return Config{}, err
		}
		layers = append(layers, fl)
	}
	layers = append(layers, s.envLayer(opts.Environ, &p))
	if opts.Flags != nil {
		layers = append(layers, s.flagLayer(opts.Flags, &p))
	}
	if err := p.err(); err != nil {
		return Config{}, err
	}

	k := koanf.New(".")
	sources := map[string]string{}
	for _, l := range layers {
		err := k.Load(l, nil, koanf.WithMergeFunc(func(src, dest map[string]any) error {
			mergeTree(src, dest, "")
			return nil
		}))
		if err != nil {
			return Config{}, fmt.Errorf("config: merge: %w", err)
		}
		for key, src := range l.sources {
			sources[key] = src
		}
	}

	var c Config
	err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		TagName:     "koanf",
		ErrorUnused: true,
		Result:      &c,
	}})
	if err != nil {
		return Config{}, fmt.Errorf("config: decode: %w", err)
	}
	c = normalize(c)

	if err := c.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, fe := range ve.Problems {
				fe.Source = sourceOf(sources, fe.Key)
			}
		}
		return Config{}, err
	}
	return c, nil
}

// configFile picks the file: LoadOptions.File, --config, TUSKQ_CONFIG.
func configFile(opts LoadOptions) string {
	if opts.File != "" {
		return opts.File
	}
	if opts.Flags != nil {
		if f := opts.Flags.Lookup(flagConfig); f != nil && f.Changed {
			return f.Value.String()
		}
	}
	path := ""
	for _, kv := range opts.Environ {
		if name, value, ok := strings.Cut(kv, "="); ok && name == envConfigFile {
			path = value
		}
	}
	return path
}

// sourceOf finds where key, or the nearest key above it, was set.
func sourceOf(sources map[string]string, key string) string {
	for {
		if src, ok := sources[key]; ok {
			return src
		}
		// Step up one level: "api.tokens[0].name" → "api.tokens[0]" →
		// "api.tokens" (a list entry) → "api".
		i := strings.LastIndexByte(key, '.')
		if j := strings.LastIndexByte(key, '['); j > i && strings.HasSuffix(key, "]") {
			i = j
		}
		if i < 0 {
			return ""
		}
		key = key[:i]
	}
}

// normalize turns empty lists and maps into nil so that equal
// configurations compare equal however they were written.
func normalize(c Config) Config {
	if len(c.Redis.Addrs) == 0 {
		c.Redis.Addrs = nil
	}
	if len(c.Worker.Queues) == 0 {
		c.Worker.Queues = nil
	}
	if len(c.Worker.HTTPAllowHosts) == 0 {
		c.Worker.HTTPAllowHosts = nil
	}
	if len(c.Plugins.TrustedKeys) == 0 {
		c.Plugins.TrustedKeys = nil
	}
	if len(c.Plugins.AllowEnv) == 0 {
		c.Plugins.AllowEnv = nil
	}
	if len(c.Routes) == 0 {
		c.Routes = nil
	}
	if len(c.Schedules) == 0 {
		c.Schedules = nil
	}
	if len(c.Monitor.Auth.Users) == 0 {
		c.Monitor.Auth.Users = nil
	}
	if len(c.Monitor.Auth.Tokens) == 0 {
		c.Monitor.Auth.Tokens = nil
	}
	if len(c.Limits) == 0 {
		c.Limits = nil
	}
	c.API.Tokens = normalizeTokens(c.API.Tokens)
	return c
}

// layer is one source of configuration as a tree of canonical values. It
// is a koanf.Provider.
type layer struct {
	tree    map[string]any
	sources map[string]string // key path → file, variable or flag
}

func newLayer() *layer {
	return &layer{tree: map[string]any{}, sources: map[string]string{}}
}

// ReadBytes is not supported: a layer is already parsed.
func (l *layer) ReadBytes() ([]byte, error) {
	return nil, fmt.Errorf("config: layer provides no bytes")
}

// Read returns the tree.
func (l *layer) Read() (map[string]any, error) {
	return l.tree, nil
}

// set stores a value at parts, creating the maps above it. An empty
// source records nothing (defaults).
func (l *layer) set(parts []string, v any, source string) {
	m := l.node(parts[:len(parts)-1])
	m[parts[len(parts)-1]] = v
	if source != "" {
		l.sources[strings.Join(parts, ".")] = source
	}
}

// node returns the map at parts, creating it.
func (l *layer) node(parts []string) map[string]any {
	m := l.tree
	for _, part := range parts {
		next, ok := m[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[part] = next
		}
		m = next
	}
	return m
}

// mergeTree merges src into dest: sections, the routes map and each route
// are merged key by key; every other value, lists and queue maps included,
// replaces the one below it.
func mergeTree(src, dest map[string]any, prefix string) {
	for k, v := range src {
		sub, isMap := v.(map[string]any)
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if !isMap || prefix == schedulesKey {
			// A schedule is replaced whole by a later layer.
			dest[k] = v
			continue
		}
		d, ok := dest[k].(map[string]any)
		if !ok {
			d = map[string]any{}
			dest[k] = d
		}
		if prefix == routesKey {
			for fk, fv := range sub {
				d[fk] = fv
			}
			continue
		}
		mergeTree(sub, d, path)
	}
}
