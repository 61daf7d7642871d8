package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// syntaxProblem describes JSON that json.Valid rejected.
func syntaxProblem(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && se.Error() == "unexpected end of JSON input":
		return "invalid JSON: the body ends before the JSON value is complete"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the body ends before the JSON value is complete"
	case err != nil:
		return fmt.Sprintf("invalid JSON: %v", err)
	}
	return "invalid JSON"
}
