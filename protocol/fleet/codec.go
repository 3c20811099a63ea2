package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// SchemaVersion is the message layout this code writes in every message's
// "schema" field. Readers accept the versions in supportedSchemas and
// refuse the rest with ErrSchema. Adding a field does not change it
// (readers ignore fields they do not know); changing what an existing
// field means does.
//
// History:
//
//	1: 2026-11-25 first version.
const SchemaVersion = 1

var supportedSchemas = []int{1}

// Payload limits. Decode refuses larger payloads before parsing them and
// Encode refuses to produce them.
const (
	MaxPayload      = 64 << 10 // every kind but transfer chunks
	MaxChunkPayload = 1 << 20  // transfer chunks: MaxChunkSize of data in base64, plus the rest
)

// Sentinel errors, wrapped by the errors this package returns; test them
// with errors.Is.
var (
	// ErrSchema: the message has no schema, or one this code does not know.
	ErrSchema = errors.New("fleet: unsupported message schema")
	// ErrInvalid: the payload is not the JSON of a valid message.
	ErrInvalid = errors.New("fleet: invalid message")
	// ErrTooLarge: the payload is over the kind's limit.
	ErrTooLarge = errors.New("fleet: message too large")
	// ErrTopic: a topic, device id or kind is malformed or unknown.
	ErrTopic = errors.New("fleet: bad topic")
)

// PayloadLimit returns the largest payload accepted for a kind.
func PayloadLimit(kind Kind) int {
	if kind == KindTransferChunks {
		return MaxChunkPayload
	}
	return MaxPayload
}

// New returns a new zero message of the kind's type, or nil for an unknown
// kind.
func New(kind Kind) Message {
	switch kind {
	case KindDesired:
		return new(Desired)
	case KindReported:
		return new(Reported)
	case KindEvents:
		return new(Event)
	case KindTelemetry:
		return new(Telemetry)
	case KindTransferRequest:
		return new(TransferRequest)
	case KindTransferChunks:
		return new(TransferChunk)
	}
	return nil
}

// Encode sets m's Schema to SchemaVersion, validates m and returns its
// JSON. It refuses a message that Decode would refuse.
func Encode(m Message) ([]byte, error) {
	m.header().Schema = SchemaVersion
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("%w: encode %s: %v", ErrInvalid, m.MessageKind(), err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if limit := PayloadLimit(m.MessageKind()); len(b) > limit {
		return nil, fmt.Errorf("%w: %s message is %d bytes, at most %d allowed", ErrTooLarge, m.MessageKind(), len(b), limit)
	}
	return b, nil
}

// Decode parses and validates a payload received on a topic of the given
// kind. Times come back in UTC. Unknown fields are ignored; a missing or unknown schema is refused
// with ErrSchema, anything else wrong with ErrInvalid or ErrTooLarge.
func Decode(kind Kind, payload []byte) (Message, error) {
	m := New(kind)
	if m == nil {
		return nil, fmt.Errorf("%w: unknown topic kind %q", ErrTopic, kind)
	}
	if err := decodeInto(m, payload); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeInto(m Message, payload []byte) error {
	kind := m.MessageKind()
	if limit := PayloadLimit(kind); len(payload) > limit {
		return fmt.Errorf("%w: %s message is %d bytes, at most %d allowed", ErrTooLarge, kind, len(payload), limit)
	}
	var probe struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return fmt.Errorf("%w: %s: not a JSON object: %v", ErrInvalid, kind, err)
	}
	if err := checkSchema(kind, probe.Schema); err != nil {
		return err
	}
	if err := json.Unmarshal(payload, m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, kind, err)
	}
	if t := timeOf(m); t != nil {
		*t = t.UTC()
	}
	if r, ok := m.(*Reported); ok {
		// "plugins": [] and an absent list mean the same; keep one form so
		// a decoded message re-encodes to an equal one
		if len(r.Plugins) == 0 {
			r.Plugins = nil
		}
		if len(r.ExecutionProviders) == 0 {
			r.ExecutionProviders = nil
		}
	}
	return m.Validate()
}

func checkSchema(kind Kind, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("%w: %s message has no schema field (supported: %v)", ErrSchema, kind, supportedSchemas)
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return fmt.Errorf("%w: %s message has schema %.32s, not an integer (supported: %v)", ErrSchema, kind, raw, supportedSchemas)
	}
	if !slices.Contains(supportedSchemas, v) {
		return fmt.Errorf("%w: %s message has schema %d (supported: %v); upgrade this side", ErrSchema, kind, v, supportedSchemas)
	}
	return nil
}

// timeOf returns the message's time field, if it has one.
func timeOf(m Message) *time.Time {
	switch m := m.(type) {
	case *Reported:
		return &m.Time
	case *Event:
		return &m.Time
	case *Telemetry:
		return &m.Time
	}
	return nil
}

// decodeAs decodes a payload into a new *T.
func decodeAs[T any, PT interface {
	*T
	Message
}](payload []byte) (PT, error) {
	m := PT(new(T))
	if err := decodeInto(m, payload); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeDesired is Decode for KindDesired.
func DecodeDesired(payload []byte) (*Desired, error) { return decodeAs[Desired](payload) }

// DecodeReported is Decode for KindReported.
func DecodeReported(payload []byte) (*Reported, error) { return decodeAs[Reported](payload) }

// DecodeEvent is Decode for KindEvents.
func DecodeEvent(payload []byte) (*Event, error) { return decodeAs[Event](payload) }

// DecodeTelemetry is Decode for KindTelemetry.
func DecodeTelemetry(payload []byte) (*Telemetry, error) { return decodeAs[Telemetry](payload) }

// DecodeTransferRequest is Decode for KindTransferRequest.
func DecodeTransferRequest(payload []byte) (*TransferRequest, error) {
	return decodeAs[TransferRequest](payload)
}

// DecodeTransferChunk is Decode for KindTransferChunks.
func DecodeTransferChunk(payload []byte) (*TransferChunk, error) {
	return decodeAs[TransferChunk](payload)
}
