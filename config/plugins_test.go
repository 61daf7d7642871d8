package config_test

import (
	"slices"
	"testing"

	"github.com/tuskq/tuskq/config"
)

// TestLoadPluginsAllowEnv: plugins.allow_env comes from the file or the
// environment (comma-separated) and every name must be a variable name.
func TestLoadPluginsAllowEnv(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.LoadOptions{Environ: []string{
		"TUSKQ_PLUGINS_DIR=/srv/plugins",
		"TUSKQ_PLUGINS_ALLOW_ENV=TUSKQ_REDIS_ADDR,TUSKQ_LOG_LEVEL",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"TUSKQ_REDIS_ADDR", "TUSKQ_LOG_LEVEL"}; !slices.Equal(c.Plugins.AllowEnv, want) {
		t.Errorf("AllowEnv = %q; want %q", c.Plugins.AllowEnv, want)
	}
	if c, err := config.Load(config.LoadOptions{}); err != nil || c.Plugins.AllowEnv != nil {
		t.Errorf("default AllowEnv = %q, %v; want nil", c.Plugins.AllowEnv, err)
	}
	_, err = config.Load(config.LoadOptions{Environ: []string{
		"TUSKQ_PLUGINS_DIR=/srv/plugins",
		"TUSKQ_PLUGINS_ALLOW_ENV=TUSKQ_OK,1BAD,NO-DASH",
	}})
	want := `config: TUSKQ_PLUGINS_ALLOW_ENV: plugins.allow_env: "1BAD" is not valid; expected an environment variable name (letters, digits and '_', not starting with a digit) such as TUSKQ_REDIS_ADDR` + "\n" +
		`config: TUSKQ_PLUGINS_ALLOW_ENV: plugins.allow_env: "NO-DASH" is not valid; expected an environment variable name (letters, digits and '_', not starting with a digit) such as TUSKQ_REDIS_ADDR`
	if err == nil || err.Error() != want {
		t.Errorf("Load: %v\nwant %s", err, want)
	}
}
