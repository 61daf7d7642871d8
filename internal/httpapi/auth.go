package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpserve"
)

// MinTokenLength is the shortest bearer token New accepts.
const MinTokenLength = 16

// principal is who sent a request: the token's name and scope. The zero
// principal (no tokens configured) may do everything and has no name.
type principal struct {
	name   string
	queues []string // nil: every queue
	types  []string // nil: every type; exact types or prefixes ending in '*'
	// admin: the token has the admin scope (config.ScopeAdmin), or no
	// token is configured.
	admin bool
}

// requireAdmin returns a 403 problem unless p may use the admin operations
// (what names the operation): a token with the admin scope
// (api.tokens[].scopes: [admin]), or any request when no token is
// configured (the API then answers only on loopback).
func (p *principal) requireAdmin(what string) *Problem {
	if p.admin {
		return nil
	}
	return newProblem(ProblemForbidden, http.StatusForbidden, fmt.Sprintf(
		"token %q may not %s; it needs the scope %q (api.tokens[].scopes)", p.name, what, config.ScopeAdmin))
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

// authenticator checks bearer tokens, limits failed ones per client
// address and counts and logs them, never with the token.
type authenticator struct {
	// digests are the SHA-256 digests of the tokens, compared in constant
	// time whatever the length of the token presented.
	digests [][sha256.Size]byte
	owners  []principal

	limiter *httpserve.Limiter
	now     func() time.Time
	logger  *slog.Logger
	failed  *prometheus.CounterVec
	limited prometheus.Counter
}

// newAuthenticator checks the configured tokens: at least MinTokenLength
// characters each, and no two alike.
func newAuthenticator(tokens []config.APIToken, opts Options) (*authenticator, error) {
	a := &authenticator{
		limiter: httpserve.NewLimiter(opts.FailedTokenBurst, opts.FailedTokenRefill),
		now:     opts.Now,
		logger:  opts.Logger,
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_api_failed_tokens_total",
			Help: "Requests to the HTTP API refused with 401 because of a wrong or malformed bearer token, by reason (invalid_token or invalid_request).",
		}, []string{"reason"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tuskq_api_token_rate_limited_total",
			Help: "Requests to the HTTP API refused with 429 because their client address sent too many failed tokens.",
		}),
	}
	seen := map[[sha256.Size]byte]string{}
	for i, t := range tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		if len(t.Token) < MinTokenLength {
			return nil, fmt.Errorf("%w: %s.token (name %q) has %d characters; use at least %d random ones, such as the output of openssl rand -hex 24",
				ErrBadOptions, key, t.Name, len(t.Token), MinTokenLength)
		}
		d := sha256.Sum256([]byte(t.Token))
		if other, dup := seen[d]; dup {
			return nil, fmt.Errorf("%w: %s.token (name %q) is the same as the token named %q; give each token its own secret",
				ErrBadOptions, key, t.Name, other)
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
		p.admin = slices.Contains(t.Scopes, config.ScopeAdmin)
		a.owners = append(a.owners, p)
	}
	// Both label values exist from the start, so a dashboard sees 0.
	a.failed.WithLabelValues("invalid_token")
	a.failed.WithLabelValues("invalid_request")
	return a, nil
}

// collectors returns the authenticator's metrics.
func (a *authenticator) collectors() []prometheus.Collector {
	return []prometheus.Collector{a.failed, a.limited}
}

// enabled reports whether tokens are required.
func (a *authenticator) enabled() bool { return len(a.digests) > 0 }

// realm is the challenge of every 401 answer.
const realm = `Bearer realm="tuskq"`

// authenticate returns the principal of r, or a 401 or 429 problem to
// answer; it has then set the WWW-Authenticate or Retry-After header on w.
// A request without an Authorization header is not a failure; a wrong or
// malformed token is, counted, logged at warn and limited per client
// address.
func (a *authenticator) authenticate(w http.ResponseWriter, r *http.Request) (*principal, *Problem) {
	if !a.enabled() {
		return &principal{admin: true}, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		w.Header().Set("WWW-Authenticate", realm)
		return nil, newProblem(ProblemUnauthorized, http.StatusUnauthorized,
			"this API requires a bearer token; send the header Authorization: Bearer TOKEN")
	}
	client := httpserve.ClientAddr(r.RemoteAddr)
	now := a.now()
	if wait := a.limiter.Wait(client, now); wait > 0 {
		a.limited.Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return nil, newProblem(ProblemTooManyFailures, http.StatusTooManyRequests, fmt.Sprintf(
			"too many requests with a wrong token from %s; retry in %ds with a token of api.tokens", client, secs))
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		a.fail(r, client, now, "invalid_request")
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_request", error_description="expected Authorization: Bearer TOKEN"`)
		return nil, newProblem(ProblemUnauthorized, http.StatusUnauthorized,
			"the Authorization header is not a bearer token; send Authorization: Bearer TOKEN")
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
		a.fail(r, client, now, "invalid_token")
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="the token is not valid"`)
		return nil, newProblem(ProblemUnauthorized, http.StatusUnauthorized,
			"the bearer token is not valid; check the token configured in api.tokens")
	}
	return &a.owners[match], nil
}

// fail counts, logs and limits a failed token of client.
func (a *authenticator) fail(r *http.Request, client string, now time.Time, reason string) {
	a.failed.WithLabelValues(reason).Inc()
	a.logger.WarnContext(r.Context(), "api token refused",
		"client", client, "reason", reason,
		"method", r.Method, "path", r.URL.Path)
	if a.limiter.Fail(client, now) {
		a.logger.WarnContext(r.Context(), "api failed-token limit reached; answering 429 until the client regains attempts",
			"client", client, "refill", a.limiter.Refill().String())
	}
}
