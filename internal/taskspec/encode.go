package taskspec

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
)

// JSONOrBase64 is how every door shows bytes of a task (a payload, a
// result): as JSON when they are valid JSON, else as standard base64; both
// empty when b is. The HTTP API's "result"/"result_base64" and the CLI's
// --wait output use it.
func JSONOrBase64(b []byte) (json.RawMessage, string) {
	switch {
	case len(b) == 0:
		return nil, ""
	case json.Valid(b):
		return json.RawMessage(b), ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
