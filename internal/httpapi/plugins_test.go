package httpapi_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpapi"
	"github.com/tuskq/tuskq/plugins/fleetstate"
)

func bundleBody(t *testing.T, name, version, runtime string, module []byte, sign ed25519.PrivateKey, sha string) string {
	t.Helper()
	manifest := fmt.Sprintf("name: %s\nversion: %s\nruntime: %s\nentry: plugin.wasm\ntask_types:\n  %s:run: {}\n", name, version, runtime, name)
	req := httpapi.BundleRequest{Manifest: manifest, ModuleBase64: base64.StdEncoding.EncodeToString(module), SHA256: sha}
	if sign != nil {
		d := fleetstate.Digest([]byte(manifest), module)
		req.SignatureBase64 = base64.StdEncoding.EncodeToString(ed25519.Sign(sign, d[:]))
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func published(t *testing.T, e *apiEnv, name string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr()})
	defer rdb.Close()
	m, err := fleetstate.NewStore(rdb).Published(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m[name]
}

// TestPublishPluginOverHTTP: an admin token publishes and rolls back a
// wasm bundle with the checks of worker plugins publish; other tokens get
// 403 and bad bundles are refused, naming the field, and store nothing.
func TestPublishPluginOverHTTP(t *testing.T) {
	t.Parallel()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	e := newEnv(t, envOptions{configure: func(c *config.Config) {
		withTokens(c)
		c.API.Tokens = append(c.API.Tokens, config.APIToken{Name: "release", Token: tokenAdmin, Scopes: []string{config.ScopeAdmin}})
		c.Plugins.TrustedKeys = []string{base64.StdEncoding.EncodeToString(pub)}
	}})
	admin := []string{"Authorization", "Bearer " + tokenAdmin}
	ops := []string{"Authorization", "Bearer " + tokenAll}
	module := []byte("\x00asm\x01\x00\x00\x00 version one")

	// Not an admin token.
	if r := e.do(t, "PUT", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "1.0.0", "wasm", module, key, ""), ops...); r.status != 403 || !strings.Contains(r.body, `needs the scope \"admin\"`) {
		t.Fatalf("PUT with a token without admin = %d %s; want 403 naming the admin scope", r.status, r.body)
	}
	if r := e.do(t, "POST", "/v1/plugins/hello/rollback", "", ops...); r.status != 403 {
		t.Fatalf("rollback with a token without admin = %d %s; want 403", r.status, r.body)
	}

	refused := []struct {
		what, path, body, field string
	}{
		{"unsigned", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "1.0.0", "wasm", module, nil, ""), "signature_base64"},
		{"signed by another key", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "1.0.0", "wasm", module, otherKey, ""), "signature_base64"},
		{"wrong digest", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "1.0.0", "wasm", module, key, strings.Repeat("ab", 32)), "sha256"},
		{"not wasm", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "1.0.0", "process", module, key, ""), "manifest"},
		{"another name", "/v1/plugins/other/bundle", bundleBody(t, "hello", "1.0.0", "wasm", module, key, ""), "manifest"},
		{"no module", "/v1/plugins/hello/bundle", `{"manifest":"name: hello"}`, "module_base64"},
	}
	for _, c := range refused {
		r := e.do(t, "PUT", c.path, c.body, admin...)
		if r.status != 400 || !strings.Contains(r.body, `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %.300s; want 400 naming field %s", c.what, r.status, r.body, c.field)
		}
	}
	// A body past the base64 of the bundle limit is refused before it is
	// read (its Content-Length says so).
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/plugins/hello/bundle HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", tokenAdmin, 64<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 64 MiB body: %d; want 413", resp.StatusCode)
	}
	if v := published(t, e, "hello"); v != "" {
		t.Fatalf("a refused bundle was published: version %q", v)
	}

	// Published, with the digest the CLI computes (the same function).
	want, err := fleetstate.PrepareUpload(fleetstate.Upload{Manifest: []byte("name: hello\nversion: 1.0.0\nruntime: wasm\nentry: plugin.wasm\ntask_types:\n  hello:run: {}\n"), Module: module, SignKey: key})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "PUT", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "1.0.0", "wasm", module, key, want.SHA256), admin...)
	var view httpapi.BundleView
	if r.status != 200 {
		t.Fatalf("publish 1.0.0 = %d %s", r.status, r.body)
	}
	decodeStrict(t, r.body, &view)
	if view != (httpapi.BundleView{Name: "hello", Version: "1.0.0", SHA256: want.SHA256, Signed: true, Bytes: len(want.Manifest) + len(want.Module)}) {
		t.Fatalf("publish answered %+v; want the digest %s", view, want.SHA256)
	}
	module2 := append(bytes.Clone(module), " two"...)
	if r := e.do(t, "PUT", "/v1/plugins/hello/bundle", bundleBody(t, "hello", "2.0.0", "wasm", module2, key, ""), admin...); r.status != 200 {
		t.Fatalf("publish 2.0.0 = %d %s", r.status, r.body)
	}
	if v := published(t, e, "hello"); v != "2.0.0" {
		t.Fatalf("published version %q after publishing 2.0.0", v)
	}

	// Rolled back to 1.0.0; an unknown plugin has nothing to roll back to.
	r = e.do(t, "POST", "/v1/plugins/hello/rollback", "", admin...)
	if r.status != 200 {
		t.Fatalf("rollback = %d %s", r.status, r.body)
	}
	decodeStrict(t, r.body, &view)
	if view.Version != "1.0.0" || view.SHA256 != want.SHA256 || published(t, e, "hello") != "1.0.0" {
		t.Fatalf("rollback answered %+v, published %q; want 1.0.0 with digest %s", view, published(t, e, "hello"), want.SHA256)
	}
	if r := e.do(t, "POST", "/v1/plugins/nothing/rollback", "", admin...); r.status != 404 {
		t.Fatalf("rollback of an unknown plugin = %d %s; want 404", r.status, r.body)
	}
}
