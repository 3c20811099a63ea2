package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxConfigFile bounds the config file; it is a handful of keys.
const maxConfigFile = 1 << 20

// loadFile applies the YAML config file at path to c. Keys are the
// settings' config keys; each value is a scalar. Unknown keys, nested
// values and bad values are errors naming the key and the file.
func loadFile(c *Serve, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if len(data) > maxConfigFile {
		return fmt.Errorf("%w: config file %s is over %d bytes", ErrInvalid, path, maxConfigFile)
	}
	return applyYAML(c, path, data)
}

func applyYAML(c *Serve, path string, data []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return fmt.Errorf("%w: config file %s: %v", ErrInvalid, path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: config file %s: holds more than one YAML document", ErrInvalid, path)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: config file %s: want a mapping of key: value at the top, line %d", ErrInvalid, path, root.Line)
	}
	bySetting := map[string]setting{}
	for _, s := range settings {
		bySetting[s.key] = s
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s, ok := bySetting[k.Value]
		if !ok {
			return fmt.Errorf("%w: config file %s line %d: unknown key %q (known keys: %s)",
				ErrInvalid, path, k.Line, k.Value, strings.Join(knownKeys(), ", "))
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%w: config file %s line %d: %s must be a single value", ErrInvalid, path, v.Line, k.Value)
		}
		if err := s.set(c, v.Value); err != nil {
			return fmt.Errorf("%w: config file %s line %d: %s: %q: %v", ErrInvalid, path, v.Line, k.Value, v.Value, err)
		}
	}
	return nil
}

func knownKeys() []string {
	keys := make([]string, len(settings))
	for i, s := range settings {
		keys[i] = s.key
	}
	sort.Strings(keys)
	return keys
}
