package logging

import (
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// Keys of the attributes returned by [PayloadAttr].
const (
	KeyPayload      = "payload"
	KeyPayloadBytes = "payload_bytes"
)

// MaxPayloadLogBytes is the most payload bytes [PayloadAttr] logs.
const MaxPayloadLogBytes = 1024

// PayloadAttr returns the attribute every caller uses to log a task payload.
//
// When enabled is false (the default in configuration, since payloads often
// carry personal data or secrets) it returns payload_bytes=len(payload) and
// the payload itself is not logged.
//
// When enabled is true it returns payload=string(payload), with the
// secrets a JSON payload may carry masked as [Redacted]: the values of
// members named like credential headers (Authorization,
// Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key, X-Auth-Token, in any
// case) and of secret-looking query parameters (token, key, secret,
// password, sig, signature, and names containing token, secret, password,
// signature, credential, _key) in http and https URLs. A payload longer
// than [MaxPayloadLogBytes] is cut to at most that many bytes, at a UTF-8
// character boundary, followed by "…(N bytes)" giving the full length.
func PayloadAttr(payload []byte, enabled bool) slog.Attr {
	if !enabled {
		return slog.Int(KeyPayloadBytes, len(payload))
	}
	payload = redactPayload(payload)
	if len(payload) <= MaxPayloadLogBytes {
		return slog.String(KeyPayload, string(payload))
	}
	n := MaxPayloadLogBytes
	// payload[n] is the first byte left out; step back over a character
	// it would split (at most utf8.UTFMax-1 bytes).
	for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(payload[n]); i++ {
		n--
	}
	return slog.String(KeyPayload, fmt.Sprintf("%s…(%d bytes)", payload[:n], len(payload)))
}
