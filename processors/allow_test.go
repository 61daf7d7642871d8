package processors

import (
	"errors"
	"net"
	"net/http"
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
		{"api.example.com:", p + `"api.example.com:" has an empty port; drop the colon to allow ports 80 and 443, or give a number from 1 to 65535`},
		{"10.0.0.0/33", p + `"10.0.0.0/33" is not a valid IP range; write a range in CIDR notation such as "10.0.0.0/8" or "fd00::/8"`},
		{"::ffff:10.0.0.0/104", p + `"::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 range; write the IPv4 range instead`},
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
	// The cause is wrapped, not flattened into text.
	_, err := parseAllowList([]string{"[::1"})
	var addrErr *net.AddrError
	if !errors.As(err, &addrErr) {
		t.Errorf("parseAllowList([::1) error %v does not wrap the *net.AddrError of its cause", err)
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	list, err := parseAllowList([]string{
		"API.example.com", "hooks.example.com:8443", "127.0.0.1:9000", "[::1]:9001", "::2", "[::3]", " spaced.example ",
		"10.20.0.0/16",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://api.example.com/x", true},
		{"http://Api.Example.Com/x", true},
		{"http://Api.Example.Com:443/x", true},
		{"http://Api.Example.Com:8080/x", false}, // no port in the entry: 80 and 443 only
		{"http://api.example.com:6379/", false},
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
		{"http://[::2]:1/", false},
		{"http://[::2]/", true},
		{"https://10.20.3.4/", true},
		{"http://10.20.3.4:6379/", false},
		{"https://10.21.3.4/", false},
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
	list, err := parseAllowList([]string{"metadata.example", "169.254.1.1", "10.20.0.0/16", "[fd00:ec2::254]:80", "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	const tail = " address; list it (or a range holding it) literally in worker.http_allow_hosts to allow it"
	refused := func(addr, class string) string { return "http:request: refusing to dial " + addr + ", " + class + tail }
	tests := []struct{ addr, want string }{
		{"93.184.216.34:443", ""},
		{"[2606:4700::1111]:443", ""},
		{"169.254.1.1:80", ""},        // listed literally
		{"10.20.3.4:8080", ""},        // in a listed range (ports are checked on URLs)
		{"[fd00:ec2::254]:80", ""},    // listed literally
		{"[::ffff:127.0.0.2]:80", ""}, // listed literally, IPv4-mapped
		{"127.0.0.1:80", refused("127.0.0.1", "a loopback")},
		{"127.0.0.1:6379", refused("127.0.0.1", "a loopback")},
		{"[::1]:80", refused("::1", "a loopback")},
		{"10.1.2.3:443", refused("10.1.2.3", "a private")},
		{"172.16.0.1:443", refused("172.16.0.1", "a private")},
		{"192.168.1.1:443", refused("192.168.1.1", "a private")},
		{"100.64.0.1:443", refused("100.64.0.1", "a shared (CGNAT, 100.64.0.0/10)")},
		{"[fd12::1]:443", refused("fd12::1", "a unique local (ULA, fc00::/7)")},
		{"169.254.169.254:80", refused("169.254.169.254", "a cloud metadata (AWS, GCP, Azure, OpenStack)")},
		{"[::ffff:169.254.169.254]:80", refused("169.254.169.254", "a cloud metadata (AWS, GCP, Azure, OpenStack)")},
		{"100.100.100.200:80", refused("100.100.100.200", "a cloud metadata (Alibaba Cloud)")},
		{"168.63.129.16:80", refused("168.63.129.16", "a cloud metadata (Azure wireserver)")},
		{"192.0.0.192:80", refused("192.0.0.192", "a cloud metadata (Oracle Cloud)")},
		{"[fe80::1]:80", refused("fe80::1", "a link-local")},
		{"169.254.9.9:80", refused("169.254.9.9", "a link-local")},
		{"0.0.0.0:80", refused("0.0.0.0", "an unspecified")},
		{"0.1.2.3:80", refused("0.1.2.3", "an unspecified")},
		{"[::]:80", refused("::", "an unspecified")},
		{"224.0.0.1:80", refused("224.0.0.1", "a multicast")},
		{"255.255.255.255:80", refused("255.255.255.255", "a multicast")},
		{"[ff02::1]:80", refused("ff02::1", "a multicast")},
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

// A redirect from an allowed host to the same host's Redis port is not
// followed when the entry names no port.
func TestRedirectToOtherPortOfListedHost(t *testing.T) {
	t.Parallel()
	list, err := parseAllowList([]string{"hooks.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	from, _ := http.NewRequest(http.MethodPost, "https://hooks.example.com/hook", nil)
	to, _ := http.NewRequest(http.MethodGet, "http://hooks.example.com:6379/", nil)
	err = list.checkRedirect(nil)(to, []*http.Request{from})
	const want = `http:request: redirect to host "hooks.example.com:6379": port 6379 of that host is not allowed (an entry without a port allows 80 and 443 only); add "hooks.example.com:6379" to worker.http_allow_hosts to allow it`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
