package fleet

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on field values. They keep every valid message well inside its
// payload limit, so whatever decodes and validates also re-encodes.
const (
	MaxIDLen      = 128  // Header.ID and Event.Ref, Reported.AppliedDesiredID
	MaxNameLen    = 64   // model, transfer, plugin ids, versions, stages
	MaxURLLen     = 2048 // target URLs
	MaxTextLen    = 4096 // bytes of Event.Message, Reported.LastError
	MaxWindow     = 64   // chunks per TransferRequest
	MaxNames      = 16   // entries of Reported.Plugins, Reported.ExecutionProviders
	MaxCPUs       = 1 << 16
	MaxChunkSize  = 512 << 10
	MaxPercent    = 100
	sha256HexSize = 2 * sha256.Size
)

// DefaultChunkSize is the chunk size the control plane sends.
const DefaultChunkSize = 256 << 10

// invalid builds a validation error naming the message type and field.
func invalid(msg, field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s %s", ErrInvalid, msg, field, fmt.Sprintf(format, args...))
}

// checkToken checks an identifier: 1..max characters from [A-Za-z0-9._-],
// the first a letter or digit. The error reads after the field name.
func checkToken(s string, max int) error { return checkChars(s, max, "._-") }

// checkVersion checks a version string such as "1.4.0", "v1.4.0-rc.1" or
// "1.4.0+linux.abc123": a token that may also hold '+'.
func checkVersion(s string) error { return checkChars(s, MaxNameLen, "._-+") }

func checkChars(s string, max int, extra string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > max {
		return fmt.Errorf("is %d characters long, at most %d allowed", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune(extra, rune(c))) {
			return fmt.Errorf("has %q at position %d; use letters, digits and %q, starting with a letter or digit", c, i, extra)
		}
	}
	return nil
}

func checkSHA256(s string) error {
	if len(s) != sha256HexSize {
		return fmt.Errorf("must be %d lowercase hex characters, got %d", sha256HexSize, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("must be lowercase hex, has %q at position %d", c, i)
		}
	}
	return nil
}

func checkURL(s string) error {
	if len(s) > MaxURLLen {
		return fmt.Errorf("is %d characters long, at most %d allowed", len(s), MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}

func checkText(s string) error {
	if len(s) > MaxTextLen {
		return fmt.Errorf("is %d bytes long, at most %d allowed", len(s), MaxTextLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	return nil
}

// checkTime accepts the zero time (not set) or one in years 1970..9999.
func checkTime(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1970 || y > 9999 {
		return fmt.Errorf("%s is outside years 1970..9999", t.Format(time.RFC3339))
	}
	return nil
}

func checkHeader(msg string, h *Header) error {
	if err := checkToken(h.ID, MaxIDLen); err != nil {
		return invalid(msg, "id", "%v", err)
	}
	return nil
}

// Validate implements Message.
func (d *Desired) Validate() error {
	if err := checkHeader("desired", &d.Header); err != nil {
		return err
	}
	if m := d.Model; m != nil {
		if err := checkToken(m.ID, MaxNameLen); err != nil {
			return invalid("desired", "model.id", "%v", err)
		}
		if m.Version < 1 {
			return invalid("desired", "model.version", "must be at least 1, got %d", m.Version)
		}
		if err := checkSource("model", m.SHA256, m.Size, m.TransferID, m.URL); err != nil {
			return err
		}
	}
	if a := d.Agent; a != nil {
		if err := checkVersion(a.Version); err != nil {
			return invalid("desired", "agent.version", "%v", err)
		}
		if err := checkSource("agent", a.SHA256, a.Size, a.TransferID, a.URL); err != nil {
			return err
		}
		if _, err := DecodeBinarySignature(a.Signature); err != nil {
			return invalid("desired", "agent.signature", "%v", err)
		}
	}
	return nil
}

// checkSource checks the download part shared by ModelTarget and AgentTarget.
func checkSource(part, sum string, size int64, transferID, rawURL string) error {
	if err := checkSHA256(sum); err != nil {
		return invalid("desired", part+".sha256", "%v", err)
	}
	if size < 1 {
		return invalid("desired", part+".size", "must be at least 1 byte, got %d", size)
	}
	if transferID == "" && rawURL == "" {
		return invalid("desired", part, "needs a transfer_id or a url to download from")
	}
	if transferID != "" {
		if err := checkToken(transferID, MaxNameLen); err != nil {
			return invalid("desired", part+".transfer_id", "%v", err)
		}
	}
	if rawURL != "" {
		if err := checkURL(rawURL); err != nil {
			return invalid("desired", part+".url", "%v", err)
		}
	}
	return nil
}

// Validate implements Message.
func (r *Reported) Validate() error {
	if err := checkHeader("reported", &r.Header); err != nil {
		return err
	}
	if r.Protocol < 1 {
		return invalid("reported", "protocol", "must be at least 1, got %d", r.Protocol)
	}
	if err := checkVersion(r.AgentVersion); err != nil {
		return invalid("reported", "agent_version", "%v", err)
	}
	for _, f := range []struct {
		name, value string
		optional    bool
	}{
		{"os", r.OS, false},
		{"arch", r.Arch, false},
		{"plugin", r.Plugin, true},
		{"execution_provider", r.ExecutionProvider, true},
	} {
		if f.optional && f.value == "" {
			continue
		}
		if err := checkToken(f.value, MaxNameLen); err != nil {
			return invalid("reported", f.name, "%v", err)
		}
	}
	for _, m := range []struct {
		name string
		ref  *ModelRef
	}{{"model", r.Model}, {"previous_model", r.PreviousModel}} {
		if m.ref == nil {
			continue
		}
		if err := checkToken(m.ref.ID, MaxNameLen); err != nil {
			return invalid("reported", m.name+".id", "%v", err)
		}
		if m.ref.Version < 1 {
			return invalid("reported", m.name+".version", "must be at least 1, got %d", m.ref.Version)
		}
		if err := checkSHA256(m.ref.SHA256); err != nil {
			return invalid("reported", m.name+".sha256", "%v", err)
		}
	}
	if !r.State.Valid() {
		return invalid("reported", "state", "unknown state %q", r.State)
	}
	if err := checkText(r.LastError); err != nil {
		return invalid("reported", "last_error", "%v", err)
	}
	if r.AppliedDesiredID != "" {
		if err := checkToken(r.AppliedDesiredID, MaxIDLen); err != nil {
			return invalid("reported", "applied_desired_id", "%v", err)
		}
	}
	if err := checkTime(r.Time); err != nil {
		return invalid("reported", "time", "%v", err)
	}
	if err := checkNames(r.Plugins); err != nil {
		return invalid("reported", "plugins", "%v", err)
	}
	if err := checkNames(r.ExecutionProviders); err != nil {
		return invalid("reported", "execution_providers", "%v", err)
	}
	if r.CPUs < 0 || r.CPUs > MaxCPUs {
		return invalid("reported", "cpus", "must be in [0, %d], got %d", MaxCPUs, r.CPUs)
	}
	return nil
}

// checkNames checks a short list of distinct tokens (plugin names,
// execution providers). The error reads after the field name.
func checkNames(names []string) error {
	if len(names) > MaxNames {
		return fmt.Errorf("has %d entries, at most %d allowed", len(names), MaxNames)
	}
	for i, n := range names {
		if err := checkToken(n, MaxNameLen); err != nil {
			return fmt.Errorf("entry %d %v", i, err)
		}
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("lists %q twice", n)
		}
	}
	return nil
}

// Validate implements Message.
func (e *Event) Validate() error {
	if err := checkHeader("event", &e.Header); err != nil {
		return err
	}
	if !e.Kind.Valid() {
		return invalid("event", "kind", "unknown event kind %q", e.Kind)
	}
	if e.Ref == "" && (e.Kind == EventAck || e.Kind == EventProgress || e.Kind == EventApplied) {
		return invalid("event", "ref", "is required when kind is %q", e.Kind)
	}
	if e.Ref != "" {
		if err := checkToken(e.Ref, MaxIDLen); err != nil {
			return invalid("event", "ref", "%v", err)
		}
	}
	if e.Stage != "" {
		if err := checkToken(e.Stage, MaxNameLen); err != nil {
			return invalid("event", "stage", "%v", err)
		}
	}
	if !(e.Percent >= 0 && e.Percent <= MaxPercent) {
		return invalid("event", "percent", "must be in [0, 100], got %v", e.Percent)
	}
	if err := checkText(e.Message); err != nil {
		return invalid("event", "message", "%v", err)
	}
	if err := checkTime(e.Time); err != nil {
		return invalid("event", "time", "%v", err)
	}
	return nil
}

// Validate implements Message.
func (t *Telemetry) Validate() error {
	if err := checkHeader("telemetry", &t.Header); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		value int64
	}{{"uptime_s", t.UptimeSeconds}, {"requests", t.Requests}, {"errors", t.Errors}, {"mem_bytes", t.MemBytes}} {
		if f.value < 0 {
			return invalid("telemetry", f.name, "must not be negative, got %d", f.value)
		}
	}
	for _, f := range []struct {
		name  string
		value float64
	}{{"latency_p50_ms", t.LatencyP50Ms}, {"latency_p99_ms", t.LatencyP99Ms}} {
		if !(f.value >= 0 && !math.IsInf(f.value, 1)) {
			return invalid("telemetry", f.name, "must be a finite number of milliseconds >= 0, got %v", f.value)
		}
	}
	if !(t.CPU >= 0 && t.CPU <= 1) {
		return invalid("telemetry", "cpu", "must be a fraction in [0, 1], got %v", t.CPU)
	}
	if err := checkTime(t.Time); err != nil {
		return invalid("telemetry", "time", "%v", err)
	}
	return nil
}
