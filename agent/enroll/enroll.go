// Package enroll is the agent's side of enrolment (protocol/fleet's
// EnrollPath contract): it trades a one-time token for the device's
// identity, MQTT credentials and the control plane's signing key, and
// stores them in the state directory.
package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/protocol/fleet"
)

// ErrAlreadyEnrolled means the state directory holds an identity and
// Options.Force was not set.
var ErrAlreadyEnrolled = errors.New("this device is already enrolled")

// ErrRefused means the control plane answered with an error status.
var ErrRefused = errors.New("the control plane refused the enrolment")

// maxAnswer bounds the control plane's answer.
const maxAnswer = 64 << 10

// Options are what enrolment needs.
type Options struct {
	Server       string // control plane base URL, e.g. https://cp.example
	Token        string // one-time enrolment token
	Name         string // device name; "" = host name
	AgentVersion string
	State        *state.Dir
	Force        bool         // replace an existing identity
	Client       *http.Client // nil = a client with a 30s timeout
}

// Enroll posts the enrolment request, checks the answer and stores it.
func Enroll(ctx context.Context, o Options) (*fleet.EnrollResponse, error) {
	if o.State.Enrolled() && !o.Force {
		return nil, fmt.Errorf("%w (state directory %s); to enrol it again, e.g. to another control plane, add --force",
			ErrAlreadyEnrolled, o.State.Path)
	}
	base, err := url.Parse(strings.TrimRight(o.Server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q: want the control plane's address, e.g. https://cp.example or http://127.0.0.1:8080", o.Server)
	}
	name := o.Name
	if name == "" {
		if name, err = os.Hostname(); err != nil || name == "" {
			name = "device"
		}
	}
	req := fleet.EnrollRequest{Token: o.Token, Name: name, OS: runtime.GOOS, Arch: runtime.GOARCH, AgentVersion: o.AgentVersion}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	resp, err := post(ctx, o.client(), base.String()+fleet.EnrollPath, &req)
	if err != nil {
		return nil, err
	}
	if err := o.State.SaveEnrollment(resp, time.Now()); err != nil {
		return nil, fmt.Errorf("store the enrolment in %s: %w", o.State.Path, err)
	}
	return resp, nil
}

func (o Options) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// post sends req and decodes a valid EnrollResponse, or says what the
// control plane answered instead.
func post(ctx context.Context, c *http.Client, endpoint string, req *fleet.EnrollRequest) (*fleet.EnrollResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hresp, err := c.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("enrol at %s: %w (is the control plane running and reachable from this device?)", endpoint, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("enrol at %s: reading the answer: %w", endpoint, err)
	}
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("enrol at %s: the answer is over %d bytes; is this an AutoCV control plane?", endpoint, maxAnswer)
	}
	if hresp.StatusCode != http.StatusOK {
		return nil, refused(endpoint, hresp.StatusCode, data)
	}
	var resp fleet.EnrollResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("enrol at %s: the answer is not an enrolment: %w", endpoint, err)
	}
	if err := resp.Validate(); err != nil {
		return nil, fmt.Errorf("enrol at %s: %w", endpoint, err)
	}
	return &resp, nil
}

// refused explains an error status, with the control plane's message.
func refused(endpoint string, status int, body []byte) error {
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg = e.Error
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	hint := ""
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = "; the token is unknown, already used or expired: create a new one in the console"
	case http.StatusNotFound:
		hint = "; is --server the control plane's address?"
	}
	return fmt.Errorf("%w: %s answered %d %s: %s%s", ErrRefused, endpoint, status, http.StatusText(status), msg, hint)
}
