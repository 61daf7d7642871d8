package httpapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/tuskq/tuskq/config"
)

// A token of exactly MinTokenLength characters is accepted, one shorter is
// refused naming the field.
func TestTokenLengthBoundary(t *testing.T) {
	t.Parallel()
	if _, err := newAuthenticator([]config.APIToken{{Name: "ci", Token: strings.Repeat("a", MinTokenLength)}}, Options{}); err != nil {
		t.Errorf("token of %d characters: %v; want accepted", MinTokenLength, err)
	}
	_, err := newAuthenticator([]config.APIToken{{Name: "ci", Token: strings.Repeat("a", MinTokenLength-1)}}, Options{})
	if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "api.tokens[0].token") {
		t.Errorf("token of %d characters: %v; want ErrBadOptions naming api.tokens[0].token", MinTokenLength-1, err)
	}
}
