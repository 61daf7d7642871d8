package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tuskq/tuskq/internal/limitspec"
)

// Raw returns lc in internal/limitspec's form.
func (lc LimitConfig) Raw() limitspec.Raw {
	return limitspec.Raw{
		Name: lc.Name, Type: lc.Type, Queue: lc.Queue, Concurrency: lc.Concurrency,
		Rate: lc.Rate, Burst: lc.Burst, Key: lc.Key, MaxKeys: lc.MaxKeys,
	}
}

// ParsedLimits returns the configured limits, parsed. Validate has
// checked them; an error here means the Config was not validated.
func (c Config) ParsedLimits() ([]limitspec.Limit, error) {
	out := make([]limitspec.Limit, 0, len(c.Limits))
	for _, lc := range c.Limits {
		l, err := limitspec.Parse(lc.Raw())
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// validateLimits checks every limit and that names are unique.
func (c Config) validateLimits(v *validator) {
	seen := map[string]bool{}
	for i, lc := range c.Limits {
		key := fmt.Sprintf("limits[%d]", i)
		if _, err := limitspec.Parse(lc.Raw()); err != nil {
			msg := strings.TrimPrefix(err.Error(), limitspec.ErrBadLimit.Error()+": ")
			if !errors.Is(err, limitspec.ErrBadLimit) {
				msg = err.Error()
			}
			v.add(key, lc.Name, msg)
		}
		if seen[lc.Name] {
			v.add(key+".name", lc.Name, "a name no other limit has")
		}
		seen[lc.Name] = true
	}
}
