package fleet

import (
	"fmt"
	"strings"
)

// Root is the prefix of every fleet topic. The "v1" changes only if the
// topic layout itself changes; message changes go through SchemaVersion
// and ProtocolVersion.
const Root = "autocv/v1/"

// devicesPrefix is the part of a device topic before the device id.
const devicesPrefix = Root + "devices/"

// Kind names a per-device topic, and the message type that travels on it.
type Kind string

// The per-device topics. Never rename one; only append.
const (
	KindDesired         Kind = "desired"          // control plane → agent, retained
	KindReported        Kind = "reported"         // agent → control plane, retained, last will
	KindEvents          Kind = "events"           // agent → control plane
	KindTelemetry       Kind = "telemetry"        // agent → control plane
	KindTransferRequest Kind = "transfer/request" // agent → control plane, shared subscription
	KindTransferChunks  Kind = "transfer/chunks"  // control plane → agent
)

// Kinds lists every Kind, in the order above.
func Kinds() []Kind {
	return []Kind{KindDesired, KindReported, KindEvents, KindTelemetry, KindTransferRequest, KindTransferChunks}
}

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindDesired, KindReported, KindEvents, KindTelemetry, KindTransferRequest, KindTransferChunks:
		return true
	}
	return false
}

// FromAgent reports whether agents publish on this kind of topic (and the
// control plane subscribes); otherwise the control plane publishes it and
// the agent subscribes.
func (k Kind) FromAgent() bool {
	switch k {
	case KindReported, KindEvents, KindTelemetry, KindTransferRequest:
		return true
	}
	return false
}

// Retained reports whether messages of this kind are published retained,
// so a (re)connecting subscriber gets the latest one at once.
func (k Kind) Retained() bool { return k == KindDesired || k == KindReported }

// MaxDeviceIDLen is the longest device id.
const MaxDeviceIDLen = 64

// ValidateDeviceID checks that id is usable as one topic level and as a
// file name on every platform: 1 to MaxDeviceIDLen characters from
// [A-Za-z0-9._-], starting with a letter or digit. That rules out the MQTT
// separators and wildcards ("/", "+", "#") and a leading "$".
func ValidateDeviceID(id string) error {
	if err := checkToken(id, MaxDeviceIDLen); err != nil {
		return fmt.Errorf("%w: device id %q %v", ErrTopic, id, err)
	}
	return nil
}

// Topic returns the topic of the given kind for one device, e.g.
// "autocv/v1/devices/dev-1/reported".
func Topic(deviceID string, kind Kind) (string, error) {
	if err := ValidateDeviceID(deviceID); err != nil {
		return "", err
	}
	if !kind.Valid() {
		return "", fmt.Errorf("%w: unknown topic kind %q", ErrTopic, kind)
	}
	return devicesPrefix + deviceID + "/" + string(kind), nil
}

// ParseTopic splits a device topic into its device id and kind. It accepts
// exactly the topics Topic builds and nothing else: no wildcards, no
// shared-subscription prefix, no trailing levels.
func ParseTopic(topic string) (deviceID string, kind Kind, err error) {
	rest, ok := strings.CutPrefix(topic, devicesPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: %q does not start with %q", ErrTopic, topic, devicesPrefix)
	}
	deviceID, k, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: %q has no kind after the device id", ErrTopic, topic)
	}
	if err := ValidateDeviceID(deviceID); err != nil {
		return "", "", err
	}
	kind = Kind(k)
	if !kind.Valid() {
		return "", "", fmt.Errorf("%w: %q: unknown topic kind %q", ErrTopic, topic, k)
	}
	return deviceID, kind, nil
}

// Subscription returns the filter matching one kind of topic of every
// device, e.g. "autocv/v1/devices/+/reported", for the control plane.
func Subscription(kind Kind) (string, error) {
	if !kind.Valid() {
		return "", fmt.Errorf("%w: unknown topic kind %q", ErrTopic, kind)
	}
	return devicesPrefix + "+/" + string(kind), nil
}

// SharedSubscription returns Subscription(kind) as an MQTT 5 shared
// subscription of the given group, e.g.
// "$share/controlplane/autocv/v1/devices/+/transfer/request": the broker
// hands each message to exactly one member of the group, so with several
// control-plane replicas exactly one answers each transfer request. The
// group follows the device id rules.
func SharedSubscription(group string, kind Kind) (string, error) {
	if err := checkToken(group, MaxDeviceIDLen); err != nil {
		return "", fmt.Errorf("%w: share group %q %v", ErrTopic, group, err)
	}
	sub, err := Subscription(kind)
	if err != nil {
		return "", err
	}
	return "$share/" + group + "/" + sub, nil
}

// SharedGroup is the shared-subscription group the control-plane replicas
// use for transfer requests.
const SharedGroup = "autocv-controlplane"

// DeviceFilter returns the filter matching every topic of one device,
// "autocv/v1/devices/<id>/#", e.g. for a broker ACL.
func DeviceFilter(deviceID string) (string, error) {
	if err := ValidateDeviceID(deviceID); err != nil {
		return "", err
	}
	return devicesPrefix + deviceID + "/#", nil
}

// Allowed reports whether the device deviceID may publish (publish true) or
// subscribe to (publish false) the topic or filter. A device touches only
// its own topics: it publishes the kinds that come from agents and
// subscribes to the others; wildcards are never allowed. This is the ACL
// the embedded broker's auth hook enforces.
func Allowed(deviceID, topic string, publish bool) bool {
	id, kind, err := ParseTopic(topic)
	if err != nil || id != deviceID {
		return false
	}
	return kind.FromAgent() == publish
}
