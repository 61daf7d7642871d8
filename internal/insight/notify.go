package insight

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tuskq/tuskq/processors"
)

// ErrBadWebhook is matched by NewNotifier's errors about the URL.
var ErrBadWebhook = errors.New("insight: invalid webhook")

// privateRanges are added to the webhook's allow-list with
// NotifierOptions.AllowPrivate.
var privateRanges = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// NotifierOptions configures NewNotifier.
type NotifierOptions struct {
	// URL is the webhook (monitor.insight.webhook).
	URL string
	// Cooldown is the least time between two posts about the same anomaly
	// (monitor.insight.webhook_cooldown).
	Cooldown time.Duration
	// AllowPrivate lets the webhook reach loopback and private addresses
	// (monitor.insight.webhook_allow_private).
	AllowPrivate bool
	// Timeout bounds one post (default 10s).
	Timeout time.Duration
	// Logger receives a line per post that failed or was refused.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Notifier posts anomalies to a webhook. It goes through the http:request
// processor's guard (processors.HTTPGuard): only the webhook's own host
// and port are allowed, redirects are checked against it, and loopback,
// private, link-local and cloud metadata addresses are refused at dial
// time unless the URL names the address literally or AllowPrivate is set.
type Notifier struct {
	opts  NotifierOptions
	guard *processors.HTTPGuard
	queue chan payload

	mu   sync.Mutex
	last map[string]time.Time
}

// payload is the JSON body of a post.
type payload struct {
	// Event is "anomaly.raised" or "anomaly.resolved".
	Event   string  `json:"event"`
	Anomaly Anomaly `json:"anomaly"`
}

// NewNotifier checks the URL and builds the guard.
func NewNotifier(opts NotifierOptions) (*Notifier, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: monitor.insight.webhook %q: expected an http:// or https:// URL", ErrBadWebhook, opts.URL)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	allow := []string{net.JoinHostPort(u.Hostname(), port)}
	if opts.AllowPrivate {
		allow = append(allow, privateRanges...)
	}
	guard, err := processors.NewHTTPGuard(allow)
	if err != nil {
		return nil, fmt.Errorf("%w: monitor.insight.webhook %q: %w", ErrBadWebhook, opts.URL, err)
	}
	if opts.Cooldown <= 0 {
		opts.Cooldown = 30 * time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Notifier{opts: opts, guard: guard, queue: make(chan payload, 64), last: map[string]time.Time{}}, nil
}

// Observe queues a post about a, unless one about the same anomaly (and
// the same event) was queued within the cooldown. It never blocks: with
// 64 posts waiting, a is dropped and logged. It is an Observer.
func (n *Notifier) Observe(ctx context.Context, a Anomaly, resolved bool) {
	ev := "anomaly.raised"
	if resolved {
		ev = "anomaly.resolved"
	}
	k := ev + "|" + a.Key
	now := n.opts.Now()
	n.mu.Lock()
	if t, ok := n.last[k]; ok && now.Sub(t) < n.opts.Cooldown {
		n.mu.Unlock()
		return
	}
	n.last[k] = now
	for key, t := range n.last {
		if now.Sub(t) >= n.opts.Cooldown {
			delete(n.last, key)
		}
	}
	n.mu.Unlock()
	select {
	case n.queue <- payload{Event: ev, Anomaly: a}:
	default:
		n.opts.Logger.WarnContext(ctx, "insight webhook queue full; post dropped", "anomaly", a.Key)
	}
}

// Run posts the queued anomalies until ctx is done.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.queue:
			if err := n.post(ctx, p); err != nil && ctx.Err() == nil {
				n.opts.Logger.WarnContext(ctx, "insight webhook post failed", "anomaly", p.Anomaly.Key, "error", err)
			}
		}
	}
}

// post sends one payload.
func (n *Notifier) post(ctx context.Context, p payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("insight: encoding the webhook body: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.opts.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("insight: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tuskq-monitor")
	resp, err := n.guard.Do(req)
	if err != nil {
		return fmt.Errorf("insight: webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("insight: webhook answered %s", resp.Status)
	}
	return nil
}
