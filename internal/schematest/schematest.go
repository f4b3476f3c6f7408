// Package schematest validates documents against the JSON Schemas in the
// repository's schema/ folder. Only tests import it: lab itself writes and
// reads results through internal/results and experiments through
// internal/experiment, and the schemas are what those promise.
//
// It uses github.com/santhosh-tekuri/jsonschema/v6: it implements draft
// 2020-12 fully (unevaluatedProperties included), passes the official
// JSON-Schema-Test-Suite, is pure Go with no dependency beyond x/text,
// and names the failing keyword and instance location in its errors.
package schematest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// Result and Experiment are the schema files, relative to the repository.
const (
	Result     = "schema/result.schema.json"
	Experiment = "schema/experiment.schema.json"
)

var (
	mu       sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Root is the repository root: the nearest folder above the working
// directory (a package's, under go test) with go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func schema(name string) (*jsonschema.Schema, error) {
	mu.Lock()
	defer mu.Unlock()
	if s := compiled[name]; s != nil {
		return s, nil
	}
	root, err := Root()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(path, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	compiled[name] = s
	return s, nil
}

// ValidateJSON checks a JSON document (a result.json's bytes) against the
// schema file name.
func ValidateJSON(name string, data []byte) error {
	s, err := schema(name)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// ValidateYAML checks a YAML document (an experiment file) against the
// schema file name, through its JSON form.
func ValidateYAML(name string, data []byte) error {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("not representable as JSON: %w", err)
	}
	return ValidateJSON(name, b)
}
