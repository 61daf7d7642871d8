package config

import (
	"net/url"
	"strconv"
	"time"
)

func (c InsightConfig) validate(v *validator) {
	seen := map[string]bool{}
	for i, t := range c.Targets {
		key := "monitor.insight.targets[" + strconv.Itoa(i) + "]"
		switch {
		case t.Queue == "":
			v.add(key+".queue", t.Queue, "the name of a queue")
		case seen[t.Queue]:
			v.add(key+".queue", t.Queue, "a queue no other target names")
		}
		seen[t.Queue] = true
		if d, err := time.ParseDuration(t.Latency); err != nil || d <= 0 {
			v.add(key+".latency", t.Latency, "a positive duration such as 30s or 5m")
		}
	}
	if c.Webhook != "" {
		u, err := url.Parse(c.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("monitor.insight.webhook", c.Webhook, "an http:// or https:// URL, or empty")
		}
	}
	if c.WebhookCooldown <= 0 {
		v.add("monitor.insight.webhook_cooldown", c.WebhookCooldown.String(), "a positive duration such as 30m")
	}
}

// TargetLatencies returns the parsed per-queue target latencies. Validate
// has checked them; an unparsable one is left out.
func (c InsightConfig) TargetLatencies() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, t := range c.Targets {
		if d, err := time.ParseDuration(t.Latency); err == nil && d > 0 {
			out[t.Queue] = d
		}
	}
	return out
}
