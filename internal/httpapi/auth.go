package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/tuskq/tuskq/config"
)

// MinTokenLength is the shortest bearer token New accepts.
const MinTokenLength = 16

// principal is who sent a request: the token's name and scope. The zero
// principal (no tokens configured) may do everything and has no name.
type principal struct {
	name   string
	queues []string // nil: every queue
	types  []string // nil: every type; exact types or prefixes ending in '*'
}

// allowQueue reports whether p may use queue.
func (p *principal) allowQueue(queue string) bool {
	if p.queues == nil {
		return true
	}
	for _, q := range p.queues {
		if q == queue {
			return true
		}
	}
	return false
}

// allowType reports whether p may use taskType.
func (p *principal) allowType(taskType string) bool {
	if p.types == nil {
		return true
	}
	for _, pattern := range p.types {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			if strings.HasPrefix(taskType, prefix) {
				return true
			}
		} else if pattern == taskType {
			return true
		}
	}
	return false
}

// scope checks queue and taskType against p's scope and returns a 403
// problem naming the one that is out of it, or nil. field prefixes the
// field names ("" or "tasks[3].").
func (p *principal) scope(prefix, queue, taskType string) *Problem {
	if !p.allowQueue(queue) {
		return newProblem(ProblemForbidden, http.StatusForbidden,
			fmt.Sprintf("token %q may not use queue %q; it is limited to queues %s", p.name, queue, strings.Join(p.queues, ", ")),
			FieldError{Field: prefix + "queue", Detail: fmt.Sprintf("queue %q is outside the token's scope (queues %s)", queue, strings.Join(p.queues, ", "))})
	}
	if taskType != "" && !p.allowType(taskType) {
		return newProblem(ProblemForbidden, http.StatusForbidden,
			fmt.Sprintf("token %q may not use task type %q; it is limited to task types %s", p.name, taskType, strings.Join(p.types, ", ")),
			FieldError{Field: prefix + "type", Detail: fmt.Sprintf("task type %q is outside the token's scope (task types %s)", taskType, strings.Join(p.types, ", "))})
	}
	return nil
}

// authenticator checks bearer tokens.
type authenticator struct {
	// digests are the SHA-256 digests of the tokens, compared in constant
	// time whatever the length of the token presented.
	digests [][sha256.Size]byte
	owners  []principal
}

// newAuthenticator checks the configured tokens: at least MinTokenLength
// characters each, and no two alike.
func newAuthenticator(tokens []config.APIToken) (*authenticator, error) {
	a := &authenticator{}
	seen := map[[sha256.Size]byte]string{}
	for i, t := range tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		if len(t.Token) < MinTokenLength {
			return nil, fmt.Errorf("%w: %s.token (name %q) has %d characters; use at least %d random ones, such as the output of openssl rand -hex 24",
				ErrInvalidOptions, key, t.Name, len(t.Token), MinTokenLength)
		}
		d := sha256.Sum256([]byte(t.Token))
		if other, dup := seen[d]; dup {
			return nil, fmt.Errorf("%w: %s.token (name %q) is the same as the token named %q; give each token its own secret",
				ErrInvalidOptions, key, t.Name, other)
		}
		seen[d] = t.Name
		a.digests = append(a.digests, d)
		p := principal{name: t.Name}
		if len(t.Queues) > 0 {
			p.queues = append([]string{}, t.Queues...)
		}
		if len(t.TaskTypes) > 0 {
			p.types = append([]string{}, t.TaskTypes...)
		}
		a.owners = append(a.owners, p)
	}
	return a, nil
}

// enabled reports whether tokens are required.
func (a *authenticator) enabled() bool { return len(a.digests) > 0 }

// authenticate returns the principal of r, or a 401 problem and the
// WWW-Authenticate challenge to send with it.
func (a *authenticator) authenticate(r *http.Request) (*principal, *Problem, string) {
	if !a.enabled() {
		return &principal{}, nil, ""
	}
	const realm = `Bearer realm="tuskq"`
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, newProblem(ProblemUnauthorized, http.StatusUnauthorized,
			"this API requires a bearer token; send the header Authorization: Bearer TOKEN"), realm
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, newProblem(ProblemUnauthorized, http.StatusUnauthorized,
				"the Authorization header is not a bearer token; send Authorization: Bearer TOKEN"),
			realm + `, error="invalid_request", error_description="expected Authorization: Bearer TOKEN"`
	}
	d := sha256.Sum256([]byte(token))
	match := -1
	for i := range a.digests {
		// Every digest is compared, so the time taken does not say which
		// token, or how much of one, matched.
		if subtle.ConstantTimeCompare(d[:], a.digests[i][:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil, newProblem(ProblemUnauthorized, http.StatusUnauthorized,
				"the bearer token is not valid; check the token configured in api.tokens"),
			realm + `, error="invalid_token", error_description="the token is not valid"`
	}
	return &a.owners[match], nil, ""
}
