package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a compiled JSON Schema (draft 2020-12 unless its $schema says
// otherwise) of one task type's payload.
type Schema struct {
	compiled *jsonschema.Schema
	source   []byte // the schema as JSON
}

// JSON returns the schema as JSON.
func (s *Schema) JSON() []byte { return s.source }

// noLoader refuses every $ref outside the schema itself: a manifest's
// schema must be self-contained (no files, no network).
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref %q points outside the schema; schemas must be self-contained (use $defs)", url)
}

// compileSchema compiles the schema node of task type name.
func compileSchema(name string, n *yaml.Node) (*Schema, error) {
	v, err := jsonValue(n)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		if _, ok := v.(bool); !ok {
			return nil, fmt.Errorf("want a JSON Schema object such as {type: object}, got %s", describe(n))
		}
	}
	src, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot be written as JSON: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("cannot be read as JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	url := "tuskq:///task_types/" + strings.NewReplacer("/", "_", "#", "_", "%", "_", "?", "_", " ", "_").Replace(name) + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("not a valid JSON Schema: %w", err)
	}
	compiled, err := compile(c, url)
	if err != nil {
		return nil, fmt.Errorf("not a valid JSON Schema: %s", schemaErrorText(err))
	}
	return &Schema{compiled: compiled, source: src}, nil
}

// compile calls c.Compile, turning a panic of the compiler on odd input
// into an error.
func compile(c *jsonschema.Compiler, url string) (s *jsonschema.Schema, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("the schema compiler failed: %v", v)
		}
	}()
	return c.Compile(url)
}

// schemaErrorText flattens a compiler error onto one line.
func schemaErrorText(err error) string {
	var sve *jsonschema.SchemaValidationError
	if errors.As(err, &sve) {
		err = sve.Err // not exposed through Unwrap
	}
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return validationText(ve)
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	fields := strings.Fields(strings.ReplaceAll(s, "\n", " "))
	return strings.Join(fields, " ")
}

// Validate checks payload against the schema. It returns an error naming
// the failing locations (without echoing the payload's values).
func (s *Schema) Validate(payload []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("the payload is not valid JSON: %w", err)
	}
	if err := s.compiled.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(validationText(ve))
		}
		return err
	}
	return nil
}

// validationText lists the leaf causes of a validation error as
// "at /path: message; at /other: message".
func validationText(ve *jsonschema.ValidationError) string {
	p := message.NewPrinter(language.English)
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := "/" + strings.Join(e.InstanceLocation, "/")
			parts = append(parts, "at "+loc+": "+oneLine(e.ErrorKind.LocalizedString(p)))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Strings(parts) // the validator's order follows map iteration
	if len(parts) > 5 {
		parts = append(parts[:5], fmt.Sprintf("and %d more", len(parts)-5))
	}
	return strings.Join(parts, "; ")
}
