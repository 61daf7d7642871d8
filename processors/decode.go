package processors

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// decodeStrict decodes the JSON object payload into v, which must be a
// pointer to a struct with json tags. Unknown fields, values of the wrong
// type, trailing data and anything but an object are errors that name the
// field and wrap ErrBadPayload and asynq.SkipRetry. known lists the field
// names for the unknown-field message.
func decodeStrict(taskType string, payload []byte, v any, known string) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		return badPayload(taskType, "the payload is empty; send a JSON object with the fields %s", known)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badPayload(taskType, "%s", describeJSONError(err, known))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badPayload(taskType, "unexpected data after the JSON object at byte offset %d; send exactly one object", dec.InputOffset())
	}
	return nil
}

// describeJSONError turns an encoding/json error into a message that names
// the field at fault and what is expected.
func describeJSONError(err error, known string) string {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntaxErr):
		return "not valid JSON at byte offset " + strconv.FormatInt(syntaxErr.Offset, 10) + ": " + syntaxErr.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON: the payload ends in the middle of a value"
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return "the payload is a JSON " + jsonKind(typeErr.Value) + "; send a JSON object with the fields " + known
		}
		return "field \"" + typeErr.Field + "\": got a JSON " + jsonKind(typeErr.Value) + ", want " + goKind(typeErr.Type.Kind().String())
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + name + "; the fields are " + known
	}
	return err.Error()
}

// jsonKind shortens encoding/json's description of a value ("number 2.5")
// to its kind, so messages never echo payload contents.
func jsonKind(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	return kind
}

// goKind names a Go kind the way a JSON user thinks of it.
func goKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a " + kind
}
