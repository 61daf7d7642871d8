package config

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// MinTokenLength is the shortest monitor token accepted.
const MinTokenLength = 16

// bcryptHash matches a bcrypt hash in the modular crypt format: $2a$, $2b$
// or $2y$, a two-digit cost, then 53 characters of salt and hash.
var bcryptHash = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)

// Enabled reports whether authentication is configured: at least one user
// or token.
func (a MonitorAuthConfig) Enabled() bool {
	return len(a.Users) > 0 || len(a.Tokens) > 0
}

func (a MonitorAuthConfig) validate(v *validator) {
	const roles = "viewer or admin"
	users := map[string]bool{}
	for i, u := range a.Users {
		key := "monitor.auth.users[" + strconv.Itoa(i) + "]"
		switch {
		case !validUserName(u.Name):
			v.add(key+".name", u.Name, "a login name that is not empty and has no ':', spaces or control characters")
		case users[u.Name]:
			v.add(key+".name", u.Name, "a name no other user has")
		}
		users[u.Name] = true
		if u.Role != RoleViewer && u.Role != RoleAdmin {
			v.add(key+".role", u.Role, roles)
		}
		if !bcryptHash.MatchString(u.PasswordHash) {
			v.add(key+".password_hash", masked(u.PasswordHash),
				"a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters) such as the output of: monitor hash-password")
		}
	}
	names := map[string]bool{}
	secrets := map[string]bool{}
	for i, t := range a.Tokens {
		key := "monitor.auth.tokens[" + strconv.Itoa(i) + "]"
		switch {
		case !validName(t.Name):
			v.add(key+".name", t.Name, "a name that is not empty and has no spaces, control characters or braces")
		case names[t.Name]:
			v.add(key+".name", t.Name, "a name no other token has")
		}
		names[t.Name] = true
		if t.Role != RoleViewer && t.Role != RoleAdmin {
			v.add(key+".role", t.Role, roles)
		}
		switch {
		case len(t.Token) < MinTokenLength || strings.ContainsFunc(t.Token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			v.add(key+".token", masked(t.Token),
				"at least "+strconv.Itoa(MinTokenLength)+" characters without spaces, such as the output of: openssl rand -hex 24")
		case secrets[t.Token]:
			v.add(key+".token", masked(t.Token), "a token no other token has")
		}
		secrets[t.Token] = true
	}
	if a.FailedLoginBurst < 1 {
		v.add("monitor.auth.failed_login_burst", a.FailedLoginBurst, "at least 1")
	}
	positive(v, "monitor.auth.failed_login_refill", a.FailedLoginRefill)
}

// validUserName accepts an HTTP Basic user-id: not empty, no ':' (RFC 7617),
// no white space or control characters.
func validUserName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	})
}

// masked is what a problem shows of a secret: "" stays visible, anything
// else is maskValue.
func masked(secret string) any {
	if secret == "" {
		return ""
	}
	return maskValue
}
