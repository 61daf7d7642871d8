package plugins

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultPath is the PATH of plugin processes unless the manifest passes
// the worker's own PATH through its env list.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// WorkerEnvPrefix starts the names of the worker's own variables: its
// configuration (config reads TUSKQ_*), which holds secrets such as
// TUSKQ_REDIS_PASSWORD and API tokens. A manifest's env may name one only
// when Options.AllowEnv lists it.
const WorkerEnvPrefix = "TUSKQ_"

// checkEnv refuses a manifest whose env names a worker variable that
// allow does not list.
func checkEnv(m *Manifest, allow []string) error {
	for _, name := range m.Env {
		if strings.HasPrefix(name, WorkerEnvPrefix) && !slices.Contains(allow, name) {
			return fmt.Errorf("plugins: %s: env: %w: %s is one of the worker's own variables, which hold its configuration and secrets; remove it from env, or let plugins receive it by listing it in the worker's plugins.allow_env",
				m.File, ErrWorkerEnv, name)
		}
	}
	return nil
}

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
