package plugins

import (
	"maps"
	"slices"
	"strings"
)

// DefaultPath is the PATH of plugin processes unless the manifest passes
// the worker's own PATH through its env list.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// pluginEnv builds the minimal environment of a plugin's processes: PATH,
// the TUSKQ_PLUGIN_* variables, and the worker variables the manifest
// names (a name missing from environ is left out).
func pluginEnv(m *Manifest, dir string, environ []string) []string {
	vars := map[string]string{"PATH": DefaultPath}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && slices.Contains(m.Env, k) {
			vars[k] = v
		}
	}
	vars["TUSKQ_PLUGIN_NAME"] = m.Name
	vars["TUSKQ_PLUGIN_VERSION"] = m.Version
	vars["TUSKQ_PLUGIN_DIR"] = dir
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// mergeConfig overlays overrides on defaults, key by key. It returns
// defaults itself when there are no overrides.
func mergeConfig(defaults, overrides map[string]any) map[string]any {
	if len(overrides) == 0 {
		return defaults
	}
	out := make(map[string]any, len(defaults)+len(overrides))
	maps.Copy(out, defaults)
	maps.Copy(out, overrides)
	return out
}
