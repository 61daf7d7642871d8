package processors

import (
	"errors"
	"net/url"
	"testing"

	"github.com/hibiken/asynq"
)

func TestParseAllowListErrors(t *testing.T) {
	t.Parallel()
	const p = "processors: worker.http_allow_hosts[1]: "
	const ex = `; give a host or host:port such as "api.example.com" or "127.0.0.1:9000"`
	tests := []struct{ entry, want string }{
		{"", p + `"" is empty; remove it or name a host such as "api.example.com"`},
		{"https://api.example.com", p + `"https://api.example.com" is a URL or path, not a host` + ex},
		{"*.example.com", p + `"*.example.com" is not a host name (wildcards, user info and spaces are not supported)` + ex},
		{"api.example.com:", p + `"api.example.com:" has an empty port; drop the colon to allow every port, or give a number from 1 to 65535`},
		{"api.example.com:http", p + `"api.example.com:http" has port "http"; want a number from 1 to 65535`},
		{"api.example.com:0", p + `"api.example.com:0" has port "0"; want a number from 1 to 65535`},
		{"[::1", p + `"[::1" is not host:port (address [::1: missing ']' in address)` + ex},
		{"fe80::1::2", p + `"fe80::1::2" is not a valid IPv6 address; write an IPv6 address with a port as [addr]:port`},
		{":8080", p + `":8080" has no host` + ex},
		{"api,example.com", p + `"api,example.com" is not a host name (letters, digits, '-', '_' and '.')` + ex},
	}
	for _, tt := range tests {
		_, err := parseAllowList([]string{"ok.example", tt.entry})
		if err == nil || err.Error() != tt.want {
			t.Errorf("parseAllowList(%q) error =\n  %v\nwant\n  %s", tt.entry, err, tt.want)
		}
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	list, err := parseAllowList([]string{
		"API.example.com", "hooks.example.com:8443", "127.0.0.1:9000", "[::1]:9001", "::2", "[::3]", " spaced.example ",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://api.example.com/x", true},
		{"http://Api.Example.Com:8080/x", true},
		{"https://api.example.com./x", true},
		{"https://evil-api.example.com/x", false},
		{"https://hooks.example.com:8443/", true},
		{"https://hooks.example.com/", false},
		{"http://127.0.0.1:9000/", true},
		{"http://127.0.0.1:9001/", false},
		{"http://[::ffff:127.0.0.1]:9000/", true},
		{"http://[::1]:9001/", true},
		{"http://[0:0::1]:9001/", true},
		{"http://[::1]:9000/", false},
		{"http://[::2]:1/", true},
		{"http://[::3]/", true},
		{"http://spaced.example/", true},
		{"http://localhost:9000/", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		err = list.check(u, "host")
		if got := err == nil; got != tt.want {
			t.Errorf("check(%s) = %v, want allowed %v", tt.url, err, tt.want)
		}
	}
}

func TestAllowListRefusalText(t *testing.T) {
	t.Parallel()
	for _, entries := range [][]string{nil, {"other.example"}} {
		list, err := parseAllowList(entries)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse("https://Internal.Example:8443/admin?token=secret")
		err = list.check(u, "host")
		const want = `http:request: host "internal.example:8443" is not in worker.http_allow_hosts; add it to the config to allow it`
		if err == nil || err.Error() != want {
			t.Errorf("entries %q: err = %v, want %s", entries, err, want)
		}
		if !errors.Is(err, ErrHostNotAllowed) || !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("err %v does not wrap ErrHostNotAllowed and asynq.SkipRetry", err)
		}
	}
}

func TestDialGuard(t *testing.T) {
	t.Parallel()
	list, err := parseAllowList([]string{"metadata.example", "169.254.1.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ addr, want string }{
		{"127.0.0.1:80", ""},
		{"10.1.2.3:443", ""},
		{"[::1]:80", ""},
		{"93.184.216.34:443", ""},
		{"169.254.1.1:80", ""},
		{"169.254.169.254:80", "http:request: refusing to dial 169.254.169.254, a link-local address; list it literally in worker.http_allow_hosts to allow it"},
		{"[::ffff:169.254.169.254]:80", "http:request: refusing to dial 169.254.169.254, a link-local address; list it literally in worker.http_allow_hosts to allow it"},
		{"[fe80::1]:80", "http:request: refusing to dial fe80::1, a link-local address; list it literally in worker.http_allow_hosts to allow it"},
		{"0.0.0.0:80", "http:request: refusing to dial 0.0.0.0, an unspecified address; list it literally in worker.http_allow_hosts to allow it"},
		{"224.0.0.1:80", "http:request: refusing to dial 224.0.0.1, a multicast address; list it literally in worker.http_allow_hosts to allow it"},
	}
	for _, tt := range tests {
		err := list.dialGuard("tcp", tt.addr, nil)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrHostNotAllowed) || !errors.Is(err, asynq.SkipRetry) {
				t.Errorf("dialGuard(%s) = %v: does not wrap ErrHostNotAllowed and asynq.SkipRetry", tt.addr, err)
			}
		}
		if got != tt.want {
			t.Errorf("dialGuard(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
