package modelpkg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/autocv/autocv/protocol/imagerules"
)

// Manifest limits.
const (
	MinLabels     = 2
	MaxLabels     = imagerules.MaxLabels
	MaxInputSize  = 4096 // bound on input_size, resize and crop
	maxLabelLen   = 256  // bytes
	maxModelIDLen = 128
	maxProblems   = 20
)

// ParseManifest decodes manifest.json and validates it. Unknown fields are
// ignored (a newer writer may add some within a schema version); a schema
// version this code does not read is refused with ErrSchema before anything
// else is looked at; every other problem wraps ErrInvalid.
//
// Empty "golden" and "thresholds.per_label" decode as nil, so that a parsed
// manifest, encoded and parsed again, is deep-equal to itself.
func ParseManifest(data []byte) (*Manifest, error) {
	var head struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrInvalid, err)
	}
	var schema int
	if len(head.Schema) == 0 || json.Unmarshal(head.Schema, &schema) != nil {
		return nil, fmt.Errorf("%w: manifest.json schema is %s, supported: %s",
			ErrSchema, orMissing(head.Schema), supportedList())
	}
	if !supportedSchemas[schema] {
		return nil, schemaError(schema)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrInvalid, err)
	}
	if len(m.Golden) == 0 {
		m.Golden = nil
	}
	if len(m.Thresholds.PerLabel) == 0 {
		m.Thresholds.PerLabel = nil
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// EncodeManifest validates m and encodes it as manifest.json: indented with
// two spaces, fields in declaration order, map keys sorted, no HTML
// escaping, one trailing newline. The same manifest always gives the same
// bytes.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("%w: encode manifest.json: %v", ErrInvalid, err)
	}
	return buf.Bytes(), nil
}

func orMissing(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "missing"
	}
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

func supportedList() string {
	var vs []string
	for v := range supportedSchemas {
		vs = append(vs, fmt.Sprint(v))
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}

func schemaError(v int) error {
	return fmt.Errorf("%w: manifest.json schema is %d, supported: %s (a newer package needs a newer reader)",
		ErrSchema, v, supportedList())
}

// problems collects validation failures so one error lists them all.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	shown := p
	more := ""
	if len(shown) > maxProblems {
		more = fmt.Sprintf("; and %d more", len(shown)-maxProblems)
		shown = shown[:maxProblems]
	}
	return fmt.Errorf("%w: %s%s", ErrInvalid, strings.Join(shown, "; "), more)
}

// Validate checks everything a reader relies on: the schema version (an
// unknown one wraps ErrSchema), the model id and version, the labels,
// preprocessing, io names, members, golden samples, thresholds and metrics.
// Other problems wrap ErrInvalid; the message names each bad field and value.
func (m *Manifest) Validate() error {
	if !supportedSchemas[m.Schema] {
		return schemaError(m.Schema)
	}
	var p problems
	if !validModelID(m.ModelID) {
		p.add("model_id %q: want 1 to %d ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
			clip(m.ModelID), maxModelIDLen)
	}
	if m.Version < 1 {
		p.add("version %d: want >= 1", m.Version)
	}
	if m.CreatedAt != "" {
		if _, err := time.Parse(time.RFC3339, m.CreatedAt); err != nil {
			p.add("created_at %q: want RFC 3339", clip(m.CreatedAt))
		}
	}
	labels := m.validateLabels(&p)
	m.Preprocess.validate(&p)
	m.IO.validate(&p)
	m.Runtime.validate(&p)
	members := m.validateMembers(&p)
	m.validateGolden(&p, labels, members)
	m.validateThresholds(&p, labels)
	m.Metrics.validate(&p)
	return p.err()
}

func validModelID(id string) bool {
	if id == "" || len(id) > maxModelIDLen {
		return false
	}
	for i, c := range []byte(id) {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func (m *Manifest) validateLabels(p *problems) map[string]bool {
	if len(m.Labels) < MinLabels || len(m.Labels) > MaxLabels {
		p.add("labels: %d given, want %d to %d", len(m.Labels), MinLabels, MaxLabels)
	}
	seen := make(map[string]int, len(m.Labels))
	for i, l := range m.Labels {
		switch {
		case l == "":
			p.add("labels[%d] is empty", i)
		case len(l) > maxLabelLen:
			p.add("labels[%d] is %d bytes long, want at most %d", i, len(l), maxLabelLen)
		case !utf8.ValidString(l) || strings.IndexFunc(l, unicode.IsControl) >= 0:
			p.add("labels[%d] %q: invalid UTF-8 or control character", i, l)
		}
		if j, dup := seen[l]; dup {
			p.add("labels[%d] %q duplicates labels[%d]", i, l, j)
		} else {
			seen[l] = i
		}
	}
	set := make(map[string]bool, len(seen))
	for l := range seen {
		set[l] = true
	}
	return set
}

func (pp *Preprocess) validate(p *problems) {
	inRange := func(field string, v int) {
		if v < 1 || v > MaxInputSize {
			p.add("preprocess.%s %d: want 1 to %d", field, v, MaxInputSize)
		}
	}
	inRange("input_size", pp.InputSize)
	inRange("crop", pp.Crop)
	if pp.Crop != pp.InputSize {
		p.add("preprocess.crop %d: want equal to preprocess.input_size %d", pp.Crop, pp.InputSize)
	}
	switch pp.ResizeMode {
	case ResizeShorterCrop:
		inRange("resize", pp.Resize)
		if pp.Resize < pp.Crop {
			p.add("preprocess.resize %d: want >= preprocess.crop %d for resize_mode %q",
				pp.Resize, pp.Crop, pp.ResizeMode)
		}
	case ResizeStretch:
		if pp.Resize < 0 || pp.Resize > MaxInputSize {
			p.add("preprocess.resize %d: want 0 to %d", pp.Resize, MaxInputSize)
		}
	default:
		p.add("preprocess.resize_mode %q: want %q or %q", clip(pp.ResizeMode), ResizeShorterCrop, ResizeStretch)
	}
	for i, s := range pp.Std {
		if !(s > 0) {
			p.add("preprocess.std[%d] %v: want > 0", i, s)
		}
	}
	if pp.ChannelOrder != ChannelsRGB && pp.ChannelOrder != ChannelsBGR {
		p.add("preprocess.channel_order %q: want %q or %q", clip(pp.ChannelOrder), ChannelsRGB, ChannelsBGR)
	}
	if pp.Layout != LayoutNCHW && pp.Layout != LayoutNHWC {
		p.add("preprocess.layout %q: want %q or %q", clip(pp.Layout), LayoutNCHW, LayoutNHWC)
	}
}

func (x *IO) validate(p *problems) {
	if x.Input == "" {
		p.add("io.input is empty")
	}
	if x.Output == "" {
		p.add("io.output is empty")
	}
	if x.OutputKind != OutputProbabilities && x.OutputKind != OutputLogits {
		p.add("io.output_kind %q: want %q or %q", clip(x.OutputKind), OutputProbabilities, OutputLogits)
	}
	if x.FixedBatch < 0 {
		p.add("io.fixed_batch %d: want >= 0", x.FixedBatch)
	}
}

func (r *Runtime) validate(p *problems) {
	if r.Opset < 1 {
		p.add("runtime.opset %d: want >= 1", r.Opset)
	}
	for i, ep := range r.ExecutionProviders {
		if ep == "" {
			p.add("runtime.execution_providers[%d] is empty", i)
		}
	}
}
