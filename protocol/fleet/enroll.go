package fleet

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Enrolment: how a device gets its identity, over HTTP before it has any
// MQTT credentials. An operator creates a one-time enrolment token in the
// console or with the CLI and runs `autocv-agent enroll --server URL
// --token T` on the device. The agent posts an EnrollRequest (JSON) to
// EnrollPath on the control plane; the control plane checks and consumes
// the token, registers the device and answers 200 with an EnrollResponse:
//
//	POST /api/v1/devices/enroll
//	  {"token":"…","name":"line-3-pc","os":"windows","arch":"amd64","agent_version":"1.2.0"}
//	200 {"device_id":"dev-8f3a…","mqtt":{"url":"tcp://cp.example:1883","username":"dev-8f3a…","password":"…"},
//	     "signing_public_key":"-----BEGIN PUBLIC KEY-----\n…","server_url":"https://cp.example"}
//
// Errors are a non-2xx status with a JSON body {"error": "...", "code":
// "..."}: 400 a malformed request, 401 an unknown, used or expired token,
// 409 a device of that name already enrolled with that token. The agent
// stores the answer in its state directory (files readable by it alone),
// connects to MQTT with ClientID = DeviceID and the credentials, may touch
// only its own topics (Allowed), and trusts model packages signed by
// SigningPublicKey only.

// EnrollPath is the enrolment endpoint, relative to the control plane's
// base URL.
const EnrollPath = "/api/v1/devices/enroll"

// Enrolment limits.
const (
	MaxTokenLen      = 512  // EnrollRequest.Token
	MaxDeviceNameLen = 128  // bytes of EnrollRequest.Name
	MaxSecretLen     = 1024 // MQTTCredentials.Username and Password
	maxPEMLen        = 4096 // SigningPublicKey
)

// EnrollRequest is the body of POST EnrollPath.
type EnrollRequest struct {
	// Token is the one-time enrolment token from the operator.
	Token string `json:"token"`
	// Name is how the device shows in the console; the agent sends the
	// host name unless told otherwise.
	Name         string `json:"name"`
	OS           string `json:"os"`   // GOOS
	Arch         string `json:"arch"` // GOARCH
	AgentVersion string `json:"agent_version"`
}

// EnrollResponse is the 200 answer to POST EnrollPath.
type EnrollResponse struct {
	// DeviceID is the device's id in topics (ValidateDeviceID) and its MQTT
	// ClientID.
	DeviceID string          `json:"device_id"`
	MQTT     MQTTCredentials `json:"mqtt"`
	// SigningPublicKey is the control plane's ed25519 package signing key,
	// PEM "PUBLIC KEY" (PKIX), as protocol/modelpkg writes it.
	SigningPublicKey string `json:"signing_public_key"`
	// ServerURL is the control plane's base URL for HTTP downloads; it may
	// differ from the URL the agent enrolled with (e.g. behind a proxy).
	ServerURL string `json:"server_url"`
}

// MQTTCredentials say where and as whom a device connects to the broker.
type MQTTCredentials struct {
	// URL is the broker: tcp:// or mqtt:// (plain), ssl://, tls:// or
	// mqtts:// (TLS), ws:// or wss:// (WebSocket), with host and port.
	URL      string `json:"url"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Validate checks the request, naming the first bad field.
func (r *EnrollRequest) Validate() error {
	const msg = "enroll request"
	if err := checkSecret(r.Token, MaxTokenLen); err != nil {
		return invalid(msg, "token", "%v", err)
	}
	if err := checkDeviceName(r.Name); err != nil {
		return invalid(msg, "name", "%v", err)
	}
	if err := checkToken(r.OS, MaxNameLen); err != nil {
		return invalid(msg, "os", "%v", err)
	}
	if err := checkToken(r.Arch, MaxNameLen); err != nil {
		return invalid(msg, "arch", "%v", err)
	}
	if err := checkVersion(r.AgentVersion); err != nil {
		return invalid(msg, "agent_version", "%v", err)
	}
	return nil
}

// Validate checks the response, naming the first bad field. It checks that
// the key is one PEM "PUBLIC KEY" block; whether it is an ed25519 key is
// for modelpkg.ParsePublicKey.
func (r *EnrollResponse) Validate() error {
	const msg = "enroll response"
	if err := ValidateDeviceID(r.DeviceID); err != nil {
		return invalid(msg, "device_id", "%v", err)
	}
	if err := checkBrokerURL(r.MQTT.URL); err != nil {
		return invalid(msg, "mqtt.url", "%v", err)
	}
	if err := checkSecret(r.MQTT.Username, MaxSecretLen); err != nil {
		return invalid(msg, "mqtt.username", "%v", err)
	}
	if err := checkSecret(r.MQTT.Password, MaxSecretLen); err != nil {
		return invalid(msg, "mqtt.password", "%v", err)
	}
	if len(r.SigningPublicKey) > maxPEMLen {
		return invalid(msg, "signing_public_key", "is %d bytes long, at most %d allowed", len(r.SigningPublicKey), maxPEMLen)
	}
	if b, _ := pem.Decode([]byte(r.SigningPublicKey)); b == nil || b.Type != "PUBLIC KEY" {
		return invalid(msg, "signing_public_key", "is not a PEM \"PUBLIC KEY\" block")
	}
	if err := checkURL(r.ServerURL); err != nil {
		return invalid(msg, "server_url", "%v", err)
	}
	return nil
}

// checkSecret accepts 1..max printable ASCII characters without spaces.
func checkSecret(s string, max int) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > max {
		return fmt.Errorf("is %d characters long, at most %d allowed", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("has a space, control or non-ASCII character at position %d", i)
		}
	}
	return nil
}

// checkDeviceName accepts 1..MaxDeviceNameLen bytes of printable UTF-8
// (host names, "产线 3 工控机"), not starting or ending with a space.
func checkDeviceName(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	if len(s) > MaxDeviceNameLen {
		return fmt.Errorf("is %d bytes long, at most %d allowed", len(s), MaxDeviceNameLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.TrimSpace(s) != s {
		return errors.New("starts or ends with a space")
	}
	for i, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("has a control character at position %d", i)
		}
	}
	return nil
}

// brokerSchemes are the broker URL schemes the agent's MQTT client dials.
var brokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}

func checkBrokerURL(s string) error {
	if len(s) > MaxURLLen {
		return fmt.Errorf("is %d characters long, at most %d allowed", len(s), MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	ok := false
	for _, sc := range brokerSchemes {
		ok = ok || u.Scheme == sc
	}
	if !ok || u.Host == "" {
		return fmt.Errorf("%q is not a broker URL; want %s://HOST:PORT", s, strings.Join(brokerSchemes, "|"))
	}
	return nil
}
