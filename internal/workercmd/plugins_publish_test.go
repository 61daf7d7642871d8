package workercmd

import (
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/internal/redistest"
	"github.com/tuskq/tuskq/plugins"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

func writePublishDir(t *testing.T, runtime, version string) string {
	t.Helper()
	dir := t.TempDir()
	manifest := "name: hello\nversion: " + version + "\nruntime: " + runtime + "\nentry: hello.wasm\ntask_types:\n  hello:x: {}\n"
	if err := os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPluginsPublishAndRollback: publish stores the bundle (signed with
// --sign-key), a second version makes the first previous, rollback goes
// back, and only wasm plugins are published.
func TestPluginsPublishAndRollback(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t).Addr()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "sign.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runPlugins(t, addr, "publish", writePublishDir(t, "wasm", "1.0.0"), "--sign-key", keyFile)
	if code != 0 || !strings.HasPrefix(out, "published hello 1.0.0 (") || !strings.Contains(out, ", signed); workers install it") {
		t.Fatalf("publish 1.0.0: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runPlugins(t, addr, "publish", writePublishDir(t, "wasm", "2.0.0"))
	if code != 0 || !strings.Contains(out, "unsigned") {
		t.Fatalf("publish 2.0.0: exit %d\n%s%s", code, out, errOut)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	store := fleetstate.NewStore(rdb)
	pub, err := store.Published(t.Context())
	if err != nil || pub["hello"] != "2.0.0" {
		t.Fatalf("published = %v, %v; want hello 2.0.0", pub, err)
	}
	b, err := store.Bundle(t.Context(), "hello", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify([]ed25519.PublicKey{priv.Public().(ed25519.PublicKey)}); err != nil {
		t.Fatalf("the stored 1.0.0 does not verify with the signing key: %v", err)
	}
	code, out, errOut = runPlugins(t, addr, "rollback", "hello")
	if code != 0 || out != "plugin hello rolled back to 1.0.0\n" {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	if pub, _ := store.Published(t.Context()); pub["hello"] != "1.0.0" {
		t.Fatalf("published after rollback = %v; want hello 1.0.0", pub)
	}
	// list and show name the published version and digest, which workers
	// run it, and a worker's refusal.
	openWorker(t, addr, "w-new", plugins.LoadedPlugin{Name: "hello", Version: "1.0.0", Runtime: "wasm", Status: plugins.StatusLoaded})
	openWorker(t, addr, "w-old", plugins.LoadedPlugin{Name: "hello", Version: "0.9.0", Runtime: "wasm", Status: plugins.StatusLoaded})
	if err := store.ReportRefusal(t.Context(), "hello", "w-old", "1.0.0", fleetstate.ErrDigest); err != nil {
		t.Fatal(err)
	}
	short := b.SHA256[:12]
	code, out, errOut = runPlugins(t, addr, "list")
	want := "published hello 1.0.0 (sha256 " + short + ", signed; previous 2.0.0), run by 1 of 2 workers; refused by w-old: 1.0.0: bundle digest mismatch\n"
	if code != 0 || !strings.HasSuffix(out, want) {
		t.Fatalf("list: exit %d\n%s%s\nwant it to end with %s", code, out, errOut, want)
	}
	code, out, errOut = runPlugins(t, addr, "show", "hello")
	if code != 0 || !strings.Contains(out, "published  hello 1.0.0 (sha256 "+short) {
		t.Fatalf("show: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runPlugins(t, addr, "list", "--json")
	if code != 0 || !strings.Contains(out, `"sha256": "`+b.SHA256+`"`) || !strings.Contains(out, `"w-old": "0.9.0"`) {
		t.Fatalf("list --json: exit %d\n%s%s", code, out, errOut)
	}

	code, _, errOut = runPlugins(t, addr, "publish", writePublishDir(t, "exec", "3.0.0"))
	if code != 2 || !strings.Contains(errOut, "only wasm plugins can be published") {
		t.Fatalf("publish an exec plugin: exit %d, %s; want 2 and the refusal", code, errOut)
	}
	code, _, errOut = runPlugins(t, addr, "rollback", "nothing")
	if code != 2 || !strings.Contains(errOut, "no previous version to roll back to") {
		t.Fatalf("rollback of an unpublished plugin: exit %d, %s", code, errOut)
	}
}
