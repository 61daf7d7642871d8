package limits

import "github.com/tuskq/tuskq/internal/limitspec"

// The definitions of a limit live in package limitspec (pure, used by the
// configuration); these aliases keep them at hand for the limiter's users.
type (
	// Limit is limitspec.Limit.
	Limit = limitspec.Limit
	// Raw is limitspec.Raw.
	Raw = limitspec.Raw
	// Rate is limitspec.Rate.
	Rate = limitspec.Rate
)

// ErrBadLimit is limitspec.ErrBadLimit.
var ErrBadLimit = limitspec.ErrBadLimit

// Key values that are not the task's own (limitspec's).
const (
	NoKey    = limitspec.NoKey
	OtherKey = limitspec.OtherKey
)

// Parse is limitspec.Parse.
func Parse(r Raw) (Limit, error) { return limitspec.Parse(r) }

// ParseRate is limitspec.ParseRate.
func ParseRate(s string) (Rate, error) { return limitspec.ParseRate(s) }
