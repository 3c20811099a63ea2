// Package fleet is the control plane's side of the edge fleet: enrolment
// tokens and enrolment, device logins to the broker, each device's desired
// state (stored, published retained over MQTT, republished at start), the
// package URLs and MQTT chunk transfers that carry a desired package, and
// the reported state devices send back. Groups and rollouts belong here.
// It knows nothing of HTTP: the server's handlers bind an api type, call
// it and answer an api type; its refusals wrap the errors below.
package fleet

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/bus"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/internal/secret"
	"github.com/autocv/autocv/protocol/api"
	pfleet "github.com/autocv/autocv/protocol/fleet"
)

// Refusals; the error's text says what is wrong.
var (
	ErrInvalid    = errors.New("invalid")                                     // a field breaks its rule
	ErrBadToken   = errors.New("enrolment token unknown, used up or expired") // enrolment refused
	ErrNoMQTT     = errors.New("this control plane runs without MQTT; devices cannot enrol")
	ErrNotTrained = errors.New("version not trained")        // only a succeeded version can be deployed
	ErrPublish    = errors.New("stored but not published")   // the broker refused; it is republished at the next start
	ErrNotDesired = errors.New("package not desired for it") // a device asked for a package it was not told to install
)

// Config is what Fleet is built on.
type Config struct {
	Store store.Store
	Log   *zap.Logger
	// PublicURL is how devices reach the server (enrolment answers,
	// package URLs); MQTTURL the broker handed to enrolling devices.
	PublicURL, MQTTURL string
	// SigningPublicKey is the package-signing key (PEM) devices trust.
	SigningPublicKey []byte
	// URLKey signs device package URLs (an HMAC only this fleet's
	// servers can make; replicas share it).
	URLKey []byte
	// NoDeviceHTTP leaves the package URL out of desired states: devices
	// fetch over MQTT chunks only.
	NoDeviceHTTP bool
	// PackageFile is a local path of a package blob; PackageSize its size.
	PackageFile func(ctx context.Context, sha string) (string, error)
	PackageSize func(ctx context.Context, sha string) (int64, error)
	// PasswordFile, when set, is an external Mosquitto's password_file
	// this fleet keeps (see SyncPasswords), with BrokerUser/BrokerPassword
	// the control plane's own line and PIDFile to signal Mosquitto.
	PasswordFile, PIDFile    string
	BrokerUser, BrokerPasswd string
}

// Fleet is the fleet side of one control plane replica.
type Fleet struct {
	cfg Config
	ctx context.Context // ends with the server

	busMu sync.RWMutex
	bus   *bus.Bus

	pwMu   sync.Mutex
	pwLine string // the control plane's own password file line

	wake chan struct{} // makes Drive step now (kick)
}

// New returns a Fleet; ctx bounds its background calls (MQTT callbacks).
func New(ctx context.Context, cfg Config) *Fleet {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Fleet{cfg: cfg, ctx: ctx, wake: make(chan struct{}, 1)}
}

// SetBus attaches the MQTT side once it is connected (the bus calls back
// into the fleet for logins and transfers, so it comes up second).
func (f *Fleet) SetBus(b *bus.Bus) {
	f.busMu.Lock()
	f.bus = b
	f.busMu.Unlock()
}

func (f *Fleet) getBus() *bus.Bus {
	f.busMu.RLock()
	defer f.busMu.RUnlock()
	return f.bus
}

// NewEnrollmentToken records a token for req (defaults: group "default",
// one use, one day) and returns it with its secret, shown once.
func (f *Fleet) NewEnrollmentToken(ctx context.Context, req api.EnrollmentTokenRequest, createdBy string) (*store.EnrollmentToken, string, error) {
	if req.Group == "" {
		req.Group = "default"
	}
	if req.Uses == 0 {
		req.Uses = 1
	}
	if req.ExpiresIn == 0 {
		req.ExpiresIn = 24 * 3600
	}
	switch {
	case !api.ValidName(req.Group, 64):
		return nil, "", fmt.Errorf("%w: group must be 1–64 letters, digits, Chinese characters, '_', '-' or '.'", ErrInvalid)
	case req.Uses < 1 || req.Uses > 100_000:
		return nil, "", fmt.Errorf("%w: uses must be 1–100000", ErrInvalid)
	case req.ExpiresIn < 60 || req.ExpiresIn > 365*24*3600:
		return nil, "", fmt.Errorf("%w: expires_in must be 60 seconds to 365 days", ErrInvalid)
	}
	s := secret.New("acve_")
	t := &store.EnrollmentToken{Hash: secret.Hash(s), Group: req.Group, UsesLeft: req.Uses,
		ExpiresAt: time.Now().Add(time.Duration(req.ExpiresIn) * time.Second), CreatedBy: createdBy}
	if err := f.cfg.Store.CreateEnrollmentToken(ctx, t); err != nil {
		return nil, "", err
	}
	return t, s, nil
}

// EnrollCommand is what an operator runs on a device to enrol it.
func (f *Fleet) EnrollCommand(token string) string {
	return "autocv-agent enroll --server " + f.cfg.PublicURL + " --token " + token
}

// Enroll consumes a token and registers a device. The answer carries the
// device's MQTT password, which is stored only as a hash.
func (f *Fleet) Enroll(ctx context.Context, req api.EnrollRequest) (*pfleet.EnrollResponse, error) {
	if req.Name == "" {
		req.Name = req.Hostname
	}
	if req.AgentVersion == "" {
		req.AgentVersion = "unknown"
	}
	if err := req.EnrollRequest.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if f.cfg.MQTTURL == "" {
		return nil, ErrNoMQTT
	}
	password := secret.New("")
	d := &store.Device{Name: req.Name, OS: req.OS, Arch: req.Arch, AgentVersion: req.AgentVersion,
		MQTTPasswordHash: secret.Hash(password)}
	if f.cfg.PasswordFile != "" {
		d.ID = "dev_" + secret.New("")[:20]
		line, err := bus.MosquittoPasswordLine(d.ID, password)
		if err != nil {
			return nil, err
		}
		d.BrokerCredential = line
	}
	if err := f.cfg.Store.Enroll(ctx, secret.Hash(req.Token), d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrBadToken
		}
		return nil, err
	}
	f.cfg.Log.Info("device enrolled", zap.String("device", d.ID), zap.String("name", d.Name), zap.String("group", d.Group))
	if err := f.SyncPasswords(ctx); err != nil {
		// The device is recorded; the next rewrite (any enrolment, or a
		// restart) gives the broker its line.
		f.cfg.Log.Error("device enrolled but the broker password file was not updated", zap.String("device", d.ID), zap.Error(err))
	}
	resp := &pfleet.EnrollResponse{DeviceID: d.ID, MQTT: pfleet.MQTTCredentials{URL: f.cfg.MQTTURL, Username: d.ID, Password: password},
		SigningPublicKey: string(f.cfg.SigningPublicKey), ServerURL: f.cfg.PublicURL}
	if err := resp.Validate(); err != nil {
		return nil, err
	}
	return resp, nil
}

// Login checks a device's MQTT credentials (the embedded broker's hook).
func (f *Fleet) Login(username, password string) bool {
	if pfleet.ValidateDeviceID(username) != nil || password == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	d, err := f.cfg.Store.Device(ctx, username)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(d.MQTTPasswordHash), []byte(secret.Hash(password))) == 1
}

// Remove deletes a device, takes its broker login away and clears its
// retained desired state.
func (f *Fleet) Remove(ctx context.Context, deviceID string) error {
	if err := f.cfg.Store.DeleteDevice(ctx, deviceID); err != nil {
		return err
	}
	if err := f.SyncPasswords(ctx); err != nil {
		f.cfg.Log.Error("device removed but the broker password file was not updated", zap.Error(err))
	}
	if b := f.getBus(); b != nil {
		if err := b.ClearDesired(ctx, deviceID); err != nil {
			f.cfg.Log.Warn("clearing a removed device's desired state", zap.String("device", deviceID), zap.Error(err))
		}
	}
	return nil
}

// SetDesired records and publishes (retained) the model version a device
// should run; the package goes to it over MQTT chunks (transfer id = the
// package's sha256) or HTTP from a URL only that device can use. It
// returns the device as now desired.
func (f *Fleet) SetDesired(ctx context.Context, deviceID, modelID string, version int) (*store.Device, error) {
	return f.setDesired(ctx, deviceID, modelID, version, nil)
}

// setDesired is SetDesired; before, when set, is told the new desired
// state's id after it is stored and before it is published (a rollout
// records it first, so the device's quick answers find their row).
func (f *Fleet) setDesired(ctx context.Context, deviceID, modelID string, version int, before func(desiredID string) error) (*store.Device, error) {
	d, err := f.cfg.Store.Device(ctx, deviceID)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", deviceID, err)
	}
	v, err := f.cfg.Store.Version(ctx, modelID, version)
	if err != nil {
		return nil, fmt.Errorf("version %d of model %s: %w", version, modelID, err)
	}
	if v.Status != store.VersionSucceeded {
		return nil, fmt.Errorf("%w: version %d is %s; only a trained version can be deployed", ErrNotTrained, v.Number, v.Status)
	}
	size, err := f.cfg.PackageSize(ctx, v.PackageSHA256)
	if err != nil {
		return nil, err
	}
	msg := &pfleet.Desired{Header: pfleet.Header{Schema: pfleet.SchemaVersion, ID: "des_" + secret.New("")[:20]},
		Model: &pfleet.ModelTarget{ID: v.ModelID, Version: v.Number, SHA256: v.PackageSHA256, Size: size,
			TransferID: v.PackageSHA256}}
	if !f.cfg.NoDeviceHTTP {
		msg.Model.URL = f.PackageURL(d.ID, v.PackageSHA256)
	}
	raw, err := pfleet.Encode(msg)
	if err != nil {
		return nil, err
	}
	if err := f.cfg.Store.SetDesired(ctx, d.ID, v.ModelID, v.Number, msg.ID, raw); err != nil {
		return nil, err
	}
	d.DesiredModelID, d.DesiredVersion, d.DesiredID = v.ModelID, v.Number, msg.ID
	if before != nil {
		if err := before(msg.ID); err != nil {
			return nil, err
		}
	}
	if b := f.getBus(); b != nil {
		if err := b.PublishDesired(ctx, d.ID, msg); err != nil {
			return d, fmt.Errorf("%w: %v", ErrPublish, err)
		}
	}
	return d, nil
}

// RepublishDesired publishes every stored desired state again (at start:
// an external broker may have lost its retained messages).
func (f *Fleet) RepublishDesired(ctx context.Context) error {
	b := f.getBus()
	if b == nil {
		return nil
	}
	ds, err := f.cfg.Store.Devices(ctx, "")
	if err != nil {
		return err
	}
	for _, d := range ds {
		if len(d.Desired) == 0 {
			continue
		}
		msg, err := pfleet.DecodeDesired(d.Desired)
		if err != nil {
			f.cfg.Log.Warn("stored desired state does not decode", zap.String("device", d.ID), zap.Error(err))
			continue
		}
		if err := b.PublishDesired(ctx, d.ID, msg); err != nil {
			return err
		}
	}
	return nil
}

// PackageURL is an HTTP download URL for one device and one package,
// authorised by an HMAC only the control plane can make.
func (f *Fleet) PackageURL(deviceID, sha string) string {
	q := url.Values{"device": {deviceID}, "sig": {f.urlSig(deviceID, sha)}}
	return strings.TrimRight(f.cfg.PublicURL, "/") + "/api/v1/device-packages/" + sha + "?" + q.Encode()
}

// ValidURL says whether sig is PackageURL's signature for the device and
// package.
func (f *Fleet) ValidURL(deviceID, sha, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(f.urlSig(deviceID, sha)))
}

func (f *Fleet) urlSig(deviceID, sha string) string {
	k := sha256.Sum256(append([]byte("autocv device package url v1\x00"), f.cfg.URLKey...))
	m := hmac.New(sha256.New, k[:])
	io.WriteString(m, deviceID+"\x00"+sha)
	return hex.EncodeToString(m.Sum(nil))
}

// Desires says whether a device may fetch a package: it must be the
// device's desired one.
func (f *Fleet) Desires(ctx context.Context, deviceID, sha string) bool {
	d, err := f.cfg.Store.Device(ctx, deviceID)
	if err != nil || len(d.Desired) == 0 {
		return false
	}
	msg, err := pfleet.DecodeDesired(d.Desired)
	return err == nil && msg.Model != nil && msg.Model.SHA256 == sha
}

// OnReported stores a device's reported state (from the MQTT side).
func (f *Fleet) OnReported(deviceID string, r *pfleet.Reported, raw []byte) {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	online := r.State != pfleet.StateOffline
	if err := f.cfg.Store.SetDeviceSeen(ctx, deviceID, online, time.Now(), raw); err != nil && !errors.Is(err, store.ErrNotFound) {
		f.cfg.Log.Warn("storing reported state", zap.String("device", deviceID), zap.Error(err))
	}
	// The reported state is retained and names the last desired state
	// applied: it settles a rollout device whose "applied" event was lost.
	if r.AppliedDesiredID != "" && r.State == pfleet.StateServing {
		if changed, err := f.cfg.Store.RolloutDeviceProgress(ctx, deviceID, r.AppliedDesiredID, api.DeviceHealthy, "", 100); err == nil && changed {
			f.kick()
		}
	}
}

// OnEvent marks a device seen when it sends an event, and records what
// the event says about a rollout's desired state.
func (f *Fleet) OnEvent(deviceID string, e *pfleet.Event) {
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	_ = f.cfg.Store.SetDeviceSeen(ctx, deviceID, true, time.Now(), nil)
	if e.Ref != "" {
		f.rolloutProgress(ctx, deviceID, e)
	}
}

// packageSource is a package file answering MQTT chunk requests.
type packageSource struct {
	*os.File
	size int64
}

func (p packageSource) Size() int64 { return p.size }

// Transfer maps a device's chunk request to its desired package (the
// transfer id is the package sha256); anything else is refused.
func (f *Fleet) Transfer(ctx context.Context, deviceID, transferID string) (bus.Source, error) {
	if !f.Desires(ctx, deviceID, transferID) {
		return nil, fmt.Errorf("transfer %s: %w %s", transferID, ErrNotDesired, deviceID)
	}
	path, err := f.cfg.PackageFile(ctx, transferID)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	return packageSource{file, fi.Size()}, nil
}

// SyncPasswords rewrites the external broker's password file from the
// database (the control plane's line and every device's) and tells
// Mosquitto to reread it; a no-op without Config.PasswordFile.
func (f *Fleet) SyncPasswords(ctx context.Context) error {
	if f.cfg.PasswordFile == "" {
		return nil
	}
	f.pwMu.Lock()
	defer f.pwMu.Unlock()
	if f.pwLine == "" {
		line, err := bus.MosquittoPasswordLine(f.cfg.BrokerUser, f.cfg.BrokerPasswd)
		if err != nil {
			return fmt.Errorf("control plane broker user: %w", err)
		}
		f.pwLine = line
	}
	devs, err := f.cfg.Store.Devices(ctx, "")
	if err != nil {
		return err
	}
	lines := []string{f.pwLine}
	for _, d := range devs {
		if d.BrokerCredential != "" {
			lines = append(lines, d.BrokerCredential)
		}
	}
	// Other users' lines (other replicas, operators' tools) stay; device
	// lines ("dev_…" users) all come from the database, so a removed
	// device loses its login.
	keep := func(user string) bool { return user != f.cfg.BrokerUser && !strings.HasPrefix(user, "dev_") }
	if err := bus.WritePasswordFile(f.cfg.PasswordFile, lines, keep, f.cfg.PIDFile); err != nil {
		return err
	}
	f.cfg.Log.Info("broker password file updated", zap.String("path", f.cfg.PasswordFile), zap.Int("devices", len(devs)))
	return nil
}

// CreateGroup records a device group; its name may be in any script.
func (f *Fleet) CreateGroup(ctx context.Context, req api.CreateGroupRequest) (*store.Group, error) {
	if !api.ValidName(req.Name, 64) {
		return nil, fmt.Errorf("%w: group name %q: 1–64 letters (any script), digits, '_', '-', '.' or inner spaces", ErrInvalid, req.Name)
	}
	if utf8.RuneCountInString(req.Description) > 500 {
		return nil, fmt.Errorf("%w: description: at most 500 characters", ErrInvalid)
	}
	g := &store.Group{Name: req.Name, Description: req.Description}
	if err := f.cfg.Store.CreateGroup(ctx, g); err != nil {
		return nil, err
	}
	return g, nil
}
