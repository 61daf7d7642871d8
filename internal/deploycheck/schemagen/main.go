// Command schemagen writes the JSON schemas that kubeconform validates the
// Helm chart (deploy/helm/tuskq) against, so that the check needs no
// network: one file per kind the chart renders, named as kubeconform's
// -schema-location template {{ .ResourceKind }}{{ .KindSuffix }}.json
// expects (deployment-apps-v1.json, scaledobject-keda-v1alpha1.json).
//
// Kubernetes' own kinds come from the OpenAPI v2 document of the
// k8s.io/kubernetes module (api/openapi-spec/swagger.json); the custom
// resources from their CustomResourceDefinitions (KEDA's ScaledObject, the
// Prometheus Operator's ServiceMonitor). As kubeconform's own
// "standalone-strict" schemas do, every object with properties refuses
// other properties, int-or-string and quantities accept both forms, and
// descriptions are left out. 'make helm-schemas' runs it on the modules it
// downloads from the Go module proxy.
//
//	go run ./internal/deploycheck/schemagen -swagger FILE -crd FILE:VERSION... -out DIR KIND...
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	swagger := flag.String("swagger", "", "Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json of k8s.io/kubernetes)")
	out := flag.String("out", "", "directory to write the schemas into")
	var crds stringList
	flag.Var(&crds, "crd", "CustomResourceDefinition file and version, FILE:VERSION (repeatable)")
	flag.Parse()
	if *swagger == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: schemagen -swagger FILE -crd FILE:VERSION... -out DIR GROUP/VERSION/KIND...")
		os.Exit(2)
	}
	if err := run(*swagger, crds, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run(swaggerFile string, crds []string, out string, kinds []string) error {
	data, err := os.ReadFile(swaggerFile)
	if err != nil {
		return err
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", swaggerFile, err)
	}
	for _, gvk := range kinds {
		name, schema, err := coreSchema(doc.Definitions, gvk)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(out, name), schema); err != nil {
			return err
		}
	}
	for _, c := range crds {
		file, version, ok := strings.Cut(c, ":")
		if !ok {
			return fmt.Errorf("-crd %q: want FILE:VERSION", c)
		}
		name, schema, err := crdSchema(doc.Definitions, file, version)
		if err != nil {
			return err
		}
		if err := write(filepath.Join(out, name), schema); err != nil {
			return err
		}
	}
	return nil
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json.
func fileName(group, version, kind string) string {
	suffix := ""
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return strings.ToLower(kind) + suffix + "-" + strings.ToLower(version) + ".json"
}

// coreSchema returns the schema of the kind gvk ("apps/v1/Deployment",
// "v1/Service") with the definitions it references.
func coreSchema(defs map[string]map[string]any, gvk string) (string, map[string]any, error) {
	parts := strings.Split(gvk, "/")
	group, version, kind := "", parts[0], parts[len(parts)-1]
	if len(parts) == 3 {
		group, version = parts[0], parts[1]
	}
	var root string
	for name, d := range defs {
		list, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, x := range list {
			m, _ := x.(map[string]any)
			if m["group"] == group && m["version"] == version && m["kind"] == kind {
				root = name
			}
		}
	}
	if root == "" {
		return "", nil, fmt.Errorf("no definition of %s in the OpenAPI document", gvk)
	}
	used := map[string]any{}
	collect(defs, root, used)
	schema := clean(defs[root], false).(map[string]any)
	schema["definitions"] = used
	return fileName(group, version, kind), schema, nil
}

const refPrefix = "#/definitions/"

// collect adds name and every definition it references to used, cleaned.
func collect(defs map[string]map[string]any, name string, used map[string]any) {
	if _, ok := used[name]; ok {
		return
	}
	used[name] = nil
	used[name] = clean(special(name, defs[name]), false)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				collect(defs, strings.TrimPrefix(ref, refPrefix), used)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(defs[name])
}

// special returns the schema of the two scalar types that YAML writes in
// two forms.
func special(name string, def map[string]any) map[string]any {
	switch name {
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return intOrString()
	}
	return def
}

func intOrString() map[string]any {
	return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
}

// clean drops descriptions and extensions, makes int-or-string values
// accept both forms and, unless open, refuses properties an object does not
// name.
func clean(v any, open bool) any {
	switch v := v.(type) {
	case map[string]any:
		if v["format"] == "int-or-string" || v["x-kubernetes-int-or-string"] == true {
			return intOrString()
		}
		preserve := v["x-kubernetes-preserve-unknown-fields"] == true
		out := map[string]any{}
		for k, x := range v {
			switch {
			case k == "description" || strings.HasPrefix(k, "x-"):
				continue
			case k == "properties":
				props := map[string]any{}
				for name, p := range x.(map[string]any) {
					props[name] = clean(p, false)
				}
				out[k] = props
			case k == "default" || k == "example" || k == "enum":
				out[k] = x
			default:
				out[k] = clean(x, false)
			}
		}
		if ref, ok := out["$ref"].(string); ok && !strings.HasPrefix(ref, refPrefix) {
			out["$ref"] = refPrefix + strings.TrimPrefix(ref, "#/components/schemas/")
		}
		if _, ok := out["properties"]; ok && !open && !preserve {
			if _, set := out["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = clean(x, false)
		}
		return out
	}
	return v
}

// crdSchema returns the schema of the version of the custom resource
// defined in file, with Kubernetes' ObjectMeta for its metadata.
func crdSchema(defs map[string]map[string]any, file, version string) (string, map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	var crd struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Group string `yaml:"group"`
			Names struct {
				Kind string `yaml:"kind"`
			} `yaml:"names"`
			Versions []struct {
				Name   string `yaml:"name"`
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				} `yaml:"schema"`
			} `yaml:"versions"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return "", nil, fmt.Errorf("%s: %w", file, err)
	}
	if crd.Kind != "CustomResourceDefinition" {
		return "", nil, fmt.Errorf("%s: kind %q, want CustomResourceDefinition", file, crd.Kind)
	}
	i := slices.IndexFunc(crd.Spec.Versions, func(v struct {
		Name   string `yaml:"name"`
		Schema struct {
			OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
		} `yaml:"schema"`
	}) bool {
		return v.Name == version
	})
	if i < 0 || crd.Spec.Versions[i].Schema.OpenAPIV3Schema == nil {
		return "", nil, errors.New(file + ": no schema for version " + version)
	}
	schema := clean(crd.Spec.Versions[i].Schema.OpenAPIV3Schema, false).(map[string]any)
	used := map[string]any{}
	const meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
	collect(defs, meta, used)
	props := schema["properties"].(map[string]any)
	props["metadata"] = map[string]any{"$ref": refPrefix + meta}
	schema["definitions"] = used
	return fileName(crd.Spec.Group, version, crd.Spec.Names.Kind), schema, nil
}

func write(path string, schema map[string]any) error {
	data, err := json.MarshalIndent(schema, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
