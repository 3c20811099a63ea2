package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel errors; every error Parse, Encode and Validate return wraps one.
var (
	// ErrSchema: the report's schema version is not one this code reads.
	ErrSchema = errors.New("unsupported evaluation report schema")
	// ErrInvalid: the report is not valid JSON or disagrees with itself.
	ErrInvalid = errors.New("invalid evaluation report")
)

// Parse decodes report.json and validates it. Unknown fields are ignored;
// a schema version this code does not read is refused with ErrSchema before
// anything else is looked at. Missing or null lists decode as empty ones,
// so a parsed report encodes with [] and {} wherever the shape has a list
// or an object.
func Parse(data []byte) (*Report, error) {
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: report.json: %v", ErrInvalid, err)
	}
	if head.Schema == nil {
		return nil, fmt.Errorf("%w: report.json has no schema version, want %d", ErrSchema, SchemaVersion)
	}
	if *head.Schema != SchemaVersion {
		return nil, schemaError(*head.Schema)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: report.json: %v", ErrInvalid, err)
	}
	r.normalize()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Encode validates r and encodes it as report.json: indented with two
// spaces, fields in declaration order, map keys sorted, no HTML escaping,
// one trailing newline, and empty lists and objects written as [] and {}
// rather than null. r itself is not modified.
func Encode(r *Report) ([]byte, error) {
	c := *r
	c.normalize()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("%w: encode report.json: %v", ErrInvalid, err)
	}
	return buf.Bytes(), nil
}

func schemaError(v int) error {
	return fmt.Errorf("%w: report.json schema is %d, this reader knows %d (a newer report needs a newer reader)",
		ErrSchema, v, SchemaVersion)
}

// normalize replaces nil lists and maps with empty ones (shallowly: the
// report's own slices are replaced, never written through).
func (r *Report) normalize() {
	orEmpty(&r.Metrics.TopK)
	orEmpty(&r.PerLabel)
	orEmpty(&r.Confusion.Labels)
	orEmpty(&r.Confusion.Matrix)
	orEmpty(&r.Misclassified)
	orEmptyMap(&r.Thresholds.PerLabel)
	orEmpty(&r.DataChecks.Duplicates)
	orEmpty(&r.DataChecks.NearDuplicates)
	orEmpty(&r.DataChecks.CrossLabel)
	orEmpty(&r.DataChecks.SuspectedMislabels)
	orEmpty(&r.TrainingSet)
	orEmpty(&r.Skipped)
	orEmpty(&r.Candidates)
	orEmptyMap(&r.Timings)
	copied := false
	for i, c := range r.Candidates {
		if c.Params != nil && c.Scores != nil {
			continue
		}
		if !copied {
			r.Candidates = append([]Candidate{}, r.Candidates...)
			copied = true
		}
		orEmptyMap(&r.Candidates[i].Params)
		orEmptyMap(&r.Candidates[i].Scores)
	}
}

func orEmpty[T any](s *[]T) {
	if *s == nil {
		*s = []T{}
	}
}

func orEmptyMap[K comparable, V any](m *map[K]V) {
	if *m == nil {
		*m = map[K]V{}
	}
}
