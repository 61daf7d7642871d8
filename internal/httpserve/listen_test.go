package httpserve

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

var errInvalid = errors.New("test: invalid options")

func testRule(auth bool) ListenRule {
	return ListenRule{
		Server: "test", Key: "test.listen", Example: "127.0.0.1:1", Auth: auth,
		Risk: "anyone could", Fix: "add test.tokens", Invalid: errInvalid,
	}
}

func TestCheckListen(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"127.0.0.1:8080", "127.1.2.3:1", "[::1]:8080", "localhost:0", "LocalHost:80", "[::ffff:127.0.0.1]:80"} {
		if err := CheckListen(ok, testRule(false)); err != nil {
			t.Errorf("CheckListen(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:8080", ":8080", "[::]:80", "10.0.0.1:80", "localhost.example.com:80", "[fe80::1%eth0]:80"} {
		if err := CheckListen(bad, testRule(false)); !errors.Is(err, ErrInsecureListen) {
			t.Errorf("CheckListen(%q) = %v, want ErrInsecureListen", bad, err)
		}
		if err := CheckListen(bad, testRule(true)); err != nil {
			t.Errorf("CheckListen(%q) with authentication = %v, want nil", bad, err)
		}
	}
	err := CheckListen("0.0.0.0:9", testRule(false))
	want := "test: refusing to listen on 0.0.0.0:9 without authentication: anyone could; add test.tokens, or listen on loopback (--listen 127.0.0.1:9)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	for addr, want := range map[string]string{
		"":         "test: invalid options: test.listen is empty; set a loopback address such as --listen 127.0.0.1:1",
		"nonsense": `test: invalid options: test.listen "nonsense" is not valid; expected host:port such as 127.0.0.1:1`,
	} {
		err := CheckListen(addr, testRule(true))
		if !errors.Is(err, errInvalid) || err.Error() != want {
			t.Errorf("CheckListen(%q) = %v, want %s", addr, err, want)
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "::ffff:127.0.0.1": true, "LocalHost": true,
		"0.0.0.0": false, "": false, "::": false, "10.0.0.1": false, "example.com": false, "localhost.example.com": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v; want %v", host, got, want)
		}
	}
	for host, want := range map[string]bool{
		"127.0.0.1:80": true, "[::1]:80": true, "localhost": true, "[::1]": true,
		"evil.example:80": false, "10.0.0.1": false,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		if got := LoopbackHost(r); got != want {
			t.Errorf("LoopbackHost(Host %q) = %v; want %v", host, got, want)
		}
	}
}
