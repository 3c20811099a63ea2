// Package state is the agent's state directory: who the device is (its
// enrolled identity and MQTT credentials), the package signing key it
// trusts, and which model packages it has deployed.
//
// Layout of the directory (created 0700, every file 0600, written to a
// temp name, synced and renamed so a power cut leaves the old file or the
// new one, never a part):
//
//	device.json      Identity, written by `autocv-agent enroll`
//	signing.pub      the control plane's ed25519 public key (PEM)
//	deployment.json  Deployment: current and previous model, last desired handled
//	packages/        the content-addressed package store (agent/store)
//
// The files hold credentials: only the agent's user may read them.
package state

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// File names inside the state directory.
const (
	IdentityFile   = "device.json"
	TrustKeyFile   = "signing.pub"
	DeploymentFile = "deployment.json"
	PackagesDir    = "packages"
)

// ErrNotEnrolled means the state directory holds no identity yet.
var ErrNotEnrolled = errors.New("this device is not enrolled")

// Identity is what enrolment gave the device.
type Identity struct {
	DeviceID   string                `json:"device_id"`
	ServerURL  string                `json:"server_url"`
	MQTT       fleet.MQTTCredentials `json:"mqtt"`
	EnrolledAt time.Time             `json:"enrolled_at"`
}

// Dir is a state directory.
type Dir struct{ Path string }

// DefaultDir is where the agent keeps its state unless told otherwise:
// %ProgramData%\AutoCV\agent on Windows, /var/lib/autocv-agent elsewhere.
func DefaultDir() string {
	if runtime.GOOS == "windows" {
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "AutoCV", "agent")
	}
	return "/var/lib/autocv-agent"
}

// Open returns the state directory at path, creating it (0700) if needed.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("state directory: no path given")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w (choose another one with --state-dir DIR)", err)
	}
	return &Dir{Path: path}, nil
}

// Packages is the folder of the package store.
func (d *Dir) Packages() string { return filepath.Join(d.Path, PackagesDir) }

func (d *Dir) file(name string) string { return filepath.Join(d.Path, name) }

// Enrolled reports whether an identity is stored.
func (d *Dir) Enrolled() bool {
	_, err := os.Stat(d.file(IdentityFile))
	return err == nil
}

// SaveEnrollment stores the enrolment answer: the identity and the trusted
// key. The key is written first, so a stored identity always has its key.
func (d *Dir) SaveEnrollment(resp *fleet.EnrollResponse, now time.Time) error {
	if err := resp.Validate(); err != nil {
		return err
	}
	if _, err := modelpkg.ParsePublicKey([]byte(resp.SigningPublicKey)); err != nil {
		return fmt.Errorf("the control plane's signing key: %w", err)
	}
	if err := writeFileAtomic(d.file(TrustKeyFile), []byte(resp.SigningPublicKey)); err != nil {
		return err
	}
	id := Identity{DeviceID: resp.DeviceID, ServerURL: resp.ServerURL, MQTT: resp.MQTT, EnrolledAt: now.UTC()}
	return d.writeJSON(IdentityFile, id)
}

// Identity reads the stored identity; ErrNotEnrolled when there is none.
func (d *Dir) Identity() (Identity, error) {
	var id Identity
	b, err := os.ReadFile(d.file(IdentityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return id, fmt.Errorf("%w: %s has no %s; run `autocv-agent enroll --server URL --token TOKEN --state-dir %s` first",
			ErrNotEnrolled, d.Path, IdentityFile, d.Path)
	}
	if err != nil {
		return id, fmt.Errorf("device identity: %w", err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("device identity %s: %w (enrol again with autocv-agent enroll --force)", d.file(IdentityFile), err)
	}
	if err := fleet.ValidateDeviceID(id.DeviceID); err != nil {
		return id, fmt.Errorf("device identity %s: %w", d.file(IdentityFile), err)
	}
	return id, nil
}

// TrustKey reads the trusted signing key: the parsed key and its PEM.
func (d *Dir) TrustKey() (ed25519.PublicKey, []byte, error) {
	b, err := os.ReadFile(d.file(TrustKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("trusted signing key: %w (enrol with autocv-agent enroll)", err)
	}
	pub, err := modelpkg.ParsePublicKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("trusted signing key %s: %w", d.file(TrustKeyFile), err)
	}
	return pub, b, nil
}

// Deployment is what the agent has deployed, kept across restarts.
type Deployment struct {
	// Current is the model served; nil before the first deployment.
	Current *fleet.ModelRef `json:"current,omitempty"`
	// Previous is kept on disk for rollback.
	Previous *fleet.ModelRef `json:"previous,omitempty"`
	// AppliedDesiredID is the last Desired fully applied.
	AppliedDesiredID string `json:"applied_desired_id,omitempty"`
	// HandledDesiredID is the last Desired acted on, applied or refused; a
	// Desired with this id is not acted on again (the control plane sends a
	// new id to retry).
	HandledDesiredID string `json:"handled_desired_id,omitempty"`
	// LastError says why HandledDesiredID was refused, "" if it was not.
	LastError string `json:"last_error,omitempty"`
}

// Deployment reads the deployment record; a zero one when there is none.
func (d *Dir) Deployment() (Deployment, error) {
	var dep Deployment
	b, err := os.ReadFile(d.file(DeploymentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return dep, nil
	}
	if err != nil {
		return dep, fmt.Errorf("deployment record: %w", err)
	}
	if err := json.Unmarshal(b, &dep); err != nil {
		return Deployment{}, fmt.Errorf("deployment record %s: %w", d.file(DeploymentFile), err)
	}
	return dep, nil
}

// SaveDeployment replaces the deployment record.
func (d *Dir) SaveDeployment(dep Deployment) error { return d.writeJSON(DeploymentFile, dep) }

func (d *Dir) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(d.file(name), append(b, '\n'))
}
