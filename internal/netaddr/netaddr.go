// Package netaddr holds the listen-address checks shared by the servers
// that may run without authentication only on loopback (the monitor and the
// HTTP API).
package netaddr

import (
	"net/netip"
	"strings"
)

// IsLoopbackHost reports whether host (without port or brackets) is
// "localhost" or a loopback IP address (127.0.0.0/8, ::1, or an IPv4
// loopback address mapped into IPv6).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
