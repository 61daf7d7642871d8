package tasks

import (
	"fmt"
	"strings"

	"github.com/tuskq/tuskq/internal/taskspec"
)

// routeTable resolves a task type to its Route: exact match first, then the
// longest matching prefix pattern.
type routeTable struct {
	exact    map[string]Route
	prefixes []Route // sorted longest prefix first
}

func newRouteTable(routes []Route) (routeTable, error) {
	rt := routeTable{exact: make(map[string]Route)}
	for _, r := range routes {
		p := r.Pattern
		// The checks of the config's routes and of every enqueue.
		if probs := taskspec.CheckRoute(r.Queue, r.MaxRetry, r.Timeout, r.UniqueTTL); len(probs) > 0 {
			msgs := make([]string, len(probs))
			for i, pr := range probs {
				msgs[i] = taskspec.GoName(pr.Field) + ": " + pr.Detail
			}
			return routeTable{}, fmt.Errorf("tasks: route %q: %w: %s", p, ErrBadOptions, strings.Join(msgs, "; "))
		}
		if r.UniqueUntilEnd && r.UniqueTTL != 0 {
			return routeTable{}, fmt.Errorf("tasks: route %q: %w: UniqueTTL and UniqueUntilEnd cannot be used together; pick one", p, ErrBadOptions)
		}
		if strings.HasSuffix(p, "*") {
			prefix := strings.TrimSuffix(p, "*")
			if strings.Contains(prefix, "*") {
				return routeTable{}, fmt.Errorf("tasks: route %q: %w: '*' is allowed only once, at the end", p, ErrBadOptions)
			}
			r.Pattern = prefix
			rt.prefixes = append(rt.prefixes, r)
			continue
		}
		if err := ValidateType(p); err != nil {
			return routeTable{}, fmt.Errorf("tasks: route %q: %w", p, err)
		}
		rt.exact[p] = r
	}
	// Longest prefix first, so the first match is the most specific.
	for i := 1; i < len(rt.prefixes); i++ {
		for j := i; j > 0 && len(rt.prefixes[j].Pattern) > len(rt.prefixes[j-1].Pattern); j-- {
			rt.prefixes[j], rt.prefixes[j-1] = rt.prefixes[j-1], rt.prefixes[j]
		}
	}
	return rt, nil
}

func (rt routeTable) lookup(taskType string) Route {
	if r, ok := rt.exact[taskType]; ok {
		return r
	}
	for _, r := range rt.prefixes {
		if strings.HasPrefix(taskType, r.Pattern) {
			return r
		}
	}
	return Route{}
}

// Queue returns the queue a task of taskType goes to when its enqueue
// names none: its route's queue, else "default".
func (c *Client) Queue(taskType string) string {
	if q := c.routes.lookup(taskType).Queue; q != "" {
		return q
	}
	return "default"
}
