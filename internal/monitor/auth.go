package monitor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/tuskq/tuskq/config"
	"github.com/tuskq/tuskq/internal/httpserve"
)

// realm names the monitor in the browser's login prompt.
const realm = "tuskq monitor"

// maxCachedLogins bounds the cache of verified Basic credentials.
const maxCachedLogins = 1024

// principal is who made a request. Without authentication configured it
// is an anonymous admin.
type principal struct {
	name   string // user or token name; "" when anonymous
	role   string // config.RoleViewer or config.RoleAdmin
	method string // "basic", "bearer", or "" when anonymous
}

type principalKey struct{}

// principalFrom returns the principal that authenticated r, or an
// anonymous admin.
func principalFrom(ctx context.Context) principal {
	if p, ok := ctx.Value(principalKey{}).(principal); ok {
		return p
	}
	return principal{role: config.RoleAdmin}
}

// user is a configured login.
type user struct {
	role string
	hash []byte
}

// token is a configured bearer token, kept as its SHA-256 so that every
// comparison has the same length.
type token struct {
	name, role string
	sum        [sha256.Size]byte
}

// authenticator checks the credentials of requests, limits failed logins
// per client address and logs them without their secrets.
type authenticator struct {
	users   map[string]user
	tokens  []token
	dummy   []byte // a bcrypt hash compared against for unknown users
	limiter *httpserve.Limiter
	logger  *slog.Logger
	now     func() time.Time

	failed  *prometheus.CounterVec
	limited prometheus.Counter

	// cacheKey keys the HMAC under which verified Basic credentials are
	// remembered, so that a browser sending them with every request costs
	// one bcrypt comparison, not one per request.
	cacheKey [32]byte
	mu       sync.Mutex
	cache    map[[sha256.Size]byte]string // HMAC(name, password) → name
}

// newAuthenticator checks cfg (it may not have come through config.Load)
// and builds the authenticator. Errors match ErrBadOptions.
func newAuthenticator(cfg config.MonitorAuthConfig, logger *slog.Logger, now func() time.Time) (*authenticator, error) {
	a := &authenticator{
		users:  map[string]user{},
		logger: logger,
		now:    now,
		cache:  map[[sha256.Size]byte]string{},
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tuskq_monitor_failed_logins_total",
			Help: "Failed logins to the monitor, by method (basic or bearer).",
		}, []string{"method"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tuskq_monitor_login_rate_limited_total",
			Help: "Requests refused with 429 because their client address made too many failed logins.",
		}),
	}
	refill := cfg.FailedLoginRefill
	if refill <= 0 {
		refill = config.Default().Monitor.Auth.FailedLoginRefill
	}
	a.limiter = httpserve.NewLimiter(cfg.FailedLoginBurst, refill)
	if _, err := rand.Read(a.cacheKey[:]); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	cost := bcrypt.DefaultCost
	for i, u := range cfg.Users {
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("%w: monitor.auth.users[%d].password_hash of %q is not a bcrypt hash (%w); make one with: monitor hash-password",
				ErrBadOptions, i, u.Name, err)
		}
		if err := checkRole(u.Role); err != nil {
			return nil, fmt.Errorf("%w: monitor.auth.users[%d].role of %q: %w", ErrBadOptions, i, u.Name, err)
		}
		if _, dup := a.users[u.Name]; dup || u.Name == "" {
			return nil, fmt.Errorf("%w: monitor.auth.users[%d].name %q is empty or taken", ErrBadOptions, i, u.Name)
		}
		a.users[u.Name] = user{role: u.Role, hash: []byte(u.PasswordHash)}
		cost = c
	}
	for i, t := range cfg.Tokens {
		if err := checkRole(t.Role); err != nil {
			return nil, fmt.Errorf("%w: monitor.auth.tokens[%d].role of %q: %w", ErrBadOptions, i, t.Name, err)
		}
		if len(t.Token) < config.MinTokenLength {
			return nil, fmt.Errorf("%w: monitor.auth.tokens[%d].token of %q is shorter than %d characters",
				ErrBadOptions, i, t.Name, config.MinTokenLength)
		}
		a.tokens = append(a.tokens, token{name: t.Name, role: t.Role, sum: sha256.Sum256([]byte(t.Token))})
	}
	if len(a.users) > 0 {
		// An unknown user costs the same bcrypt comparison as a known one,
		// so response times do not tell which names exist.
		var random [16]byte
		_, _ = rand.Read(random[:])
		dummy, err := bcrypt.GenerateFromPassword(random[:], cost)
		if err != nil {
			return nil, fmt.Errorf("monitor: %w", err)
		}
		a.dummy = dummy
	}
	return a, nil
}

func checkRole(role string) error {
	if role != config.RoleViewer && role != config.RoleAdmin {
		return fmt.Errorf("role %q is not viewer or admin", role)
	}
	return nil
}

// collectors returns the authenticator's metrics.
func (a *authenticator) collectors() []prometheus.Collector {
	return []prometheus.Collector{a.failed, a.limited}
}

// middleware lets through requests with valid credentials, with their
// principal in the context; refuses viewers every method but GET, HEAD and
// OPTIONS; answers the others 401, or 429 while their address is limited.
func (a *authenticator) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		if p.role != config.RoleAdmin && !safeMethod(r.Method) {
			httpserve.Plain(w, http.StatusForbidden, fmt.Sprintf(
				"monitor: %s %q has the role %s, which may not change tasks or queues (%s refused); ask for an admin account\n",
				kindOf(p), p.name, p.role, r.Method))
			return
		}
		if !safeMethod(r.Method) {
			a.logger.InfoContext(r.Context(), "monitor action",
				"user", p.name, "auth", p.method,
				"method", r.Method, "path", r.URL.Path,
				"client", httpserve.ClientAddr(r.RemoteAddr))
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func kindOf(p principal) string {
	if p.method == "bearer" {
		return "token"
	}
	return "user"
}

// safeMethod reports whether m only reads.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authenticate checks the Authorization header of r. On failure it has
// written the response.
func (a *authenticator) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	header := r.Header.Get("Authorization")
	if header == "" {
		a.challenge(w, "monitor: authentication required: log in as a user of monitor.auth.users, or send Authorization: Bearer TOKEN\n")
		return principal{}, false
	}
	client := httpserve.ClientAddr(r.RemoteAddr)
	now := a.now()
	if wait := a.limiter.Wait(client, now); wait > 0 {
		a.limited.Inc()
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		httpserve.Plain(w, http.StatusTooManyRequests, fmt.Sprintf("monitor: too many failed logins from %s; retry in %ds\n", client, secs))
		return principal{}, false
	}

	scheme, cred, _ := strings.Cut(header, " ")
	var (
		p      principal
		ok     bool
		method string
		name   string // the user name tried, when it is a configured one
		reason string
	)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		method = "basic"
		u, pw, valid := r.BasicAuth()
		switch {
		case !valid:
			reason = "malformed Basic credentials"
		default:
			p, ok, reason = a.checkPassword(u, pw)
			if _, known := a.users[u]; known {
				name = u
			}
		}
	case strings.EqualFold(scheme, "Bearer"):
		method = "bearer"
		p, ok = a.checkToken(strings.TrimSpace(cred))
		reason = "unknown token"
	default:
		method = "other"
		reason = "unsupported authorization scheme"
	}
	if ok {
		return p, true
	}

	a.failed.WithLabelValues(method).Inc()
	attrs := []any{
		"client", client, "auth", method,
		"reason", reason, "path", r.URL.Path,
	}
	if name != "" {
		attrs = append(attrs, "user", name)
	}
	a.logger.WarnContext(r.Context(), "monitor login failed", attrs...)
	if a.limiter.Fail(client, now) {
		a.logger.WarnContext(r.Context(), "monitor login rate limit reached; refusing the client until it regains attempts",
			"client", client,
			"refill", a.limiter.Refill().String())
	}
	a.challenge(w, "monitor: wrong credentials\n")
	return principal{}, false
}

// challenge answers 401 and asks for Basic (browsers) or Bearer (scripts).
func (a *authenticator) challenge(w http.ResponseWriter, msg string) {
	w.Header().Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
	w.Header().Add("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	httpserve.Plain(w, http.StatusUnauthorized, msg)
}

// checkPassword verifies a Basic login. Unknown users cost a bcrypt
// comparison too.
func (a *authenticator) checkPassword(name, password string) (principal, bool, string) {
	mac := hmac.New(sha256.New, a.cacheKey[:])
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var key [sha256.Size]byte
	copy(key[:], mac.Sum(nil))

	u, known := a.users[name]
	a.mu.Lock()
	cached, hit := a.cache[key]
	a.mu.Unlock()
	if hit && known && cached == name {
		return principal{name: name, role: u.role, method: "basic"}, true, ""
	}

	hash := u.hash
	if !known {
		hash = a.dummy
	}
	if hash == nil {
		// No users at all: only tokens are configured.
		return principal{}, false, "unknown user"
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	switch {
	case !known:
		return principal{}, false, "unknown user"
	case err != nil:
		return principal{}, false, "wrong password"
	}
	a.mu.Lock()
	if len(a.cache) >= maxCachedLogins {
		clear(a.cache)
	}
	a.cache[key] = name
	a.mu.Unlock()
	return principal{name: name, role: u.role, method: "basic"}, true, ""
}

// checkToken compares the SHA-256 of tok with every configured token in
// constant time, without stopping at a match.
func (a *authenticator) checkToken(tok string) (principal, bool) {
	sum := sha256.Sum256([]byte(tok))
	var p principal
	found := 0
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			p = principal{name: t.name, role: t.role, method: "bearer"}
			found = 1
		}
	}
	return p, found == 1 && tok != ""
}
