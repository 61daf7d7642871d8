package config

import "strings"

// Route returns the route of a task type: the route whose pattern is the
// type itself, else the route of the longest matching prefix pattern
// ("email:*" matches "email:send"; "*" matches every type). ok is false
// when no route matches.
func (c Config) Route(taskType string) (RouteConfig, bool) {
	if r, ok := c.Routes[taskType]; ok {
		return r, true
	}
	best, found := "", false
	for pattern := range c.Routes {
		prefix, ok := strings.CutSuffix(pattern, "*")
		if !ok || !strings.HasPrefix(taskType, prefix) {
			continue
		}
		if !found || len(prefix) > len(best) {
			best, found = prefix, true
		}
	}
	if !found {
		return RouteConfig{}, false
	}
	return c.Routes[best+"*"], true
}
