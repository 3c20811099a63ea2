package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/bus"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/fleet"
)

func (s *Server) createEnrollmentToken(c *gin.Context) {
	var req api.EnrollmentTokenRequest
	if !bindJSON(c, &req) {
		return
	}
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
	case !validName(req.Group, 64):
		fail(c, api.CodeInvalid, "group must be 1–64 letters, digits, Chinese characters, '_', '-' or '.'")
		return
	case req.Uses < 1 || req.Uses > 100_000:
		fail(c, api.CodeInvalid, "uses must be 1–100000")
		return
	case req.ExpiresIn < 60 || req.ExpiresIn > 365*24*3600:
		fail(c, api.CodeInvalid, "expires_in must be 60 seconds to 365 days")
		return
	}
	secret := newSecret("acve_")
	t := &store.EnrollmentToken{Hash: hashSecret(secret), Group: req.Group, UsesLeft: req.Uses,
		ExpiresAt: time.Now().Add(time.Duration(req.ExpiresIn) * time.Second), CreatedBy: who(c).user.ID}
	if err := s.st.CreateEnrollmentToken(c.Request.Context(), t); err != nil {
		s.internal(c, err)
		return
	}
	out := enrollmentTokenJSON(t)
	out.Token, out.Command = secret, "autocv-agent enroll --server "+s.opt.PublicURL+" --token "+secret
	c.JSON(http.StatusCreated, out)
}

func enrollmentTokenJSON(t *store.EnrollmentToken) api.EnrollmentToken {
	return api.EnrollmentToken{ID: t.ID, Group: t.Group, UsesLeft: t.UsesLeft, ExpiresAt: t.ExpiresAt.UTC(),
		Expired: !t.ExpiresAt.IsZero() && time.Now().After(t.ExpiresAt), CreatedAt: t.CreatedAt.UTC()}
}

func (s *Server) listEnrollmentTokens(c *gin.Context) {
	ts, err := s.st.EnrollmentTokens(c.Request.Context())
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.EnrollmentToken, 0, len(ts))
	for i := range ts {
		items = append(items, enrollmentTokenJSON(&ts[i]))
	}
	c.JSON(http.StatusOK, api.EnrollmentTokenList{Items: items, Total: len(items)})
}

func (s *Server) deleteEnrollmentToken(c *gin.Context) {
	if err := s.st.DeleteEnrollmentToken(c.Request.Context(), c.Param("id")); err != nil {
		s.lookupError(c, err, "enrolment token "+c.Param("id"))
		return
	}
	c.Status(http.StatusNoContent)
}

// enroll consumes a token and registers a device. The answer carries the
// device's MQTT password, which is stored only as a hash.
func (s *Server) enroll(c *gin.Context) {
	var req api.EnrollRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Name == "" {
		req.Name = req.Hostname
	}
	if req.AgentVersion == "" {
		req.AgentVersion = "unknown"
	}
	if err := req.EnrollRequest.Validate(); err != nil {
		fail(c, api.CodeInvalid, err.Error())
		return
	}
	if s.opt.MQTTURL == "" {
		fail(c, api.CodeMQTTOff, "this control plane runs without MQTT; devices cannot enrol")
		return
	}
	password := newSecret("")
	d := &store.Device{Name: req.Name, OS: req.OS, Arch: req.Arch, AgentVersion: req.AgentVersion,
		MQTTPasswordHash: hashSecret(password)}
	if s.opt.MosquittoPasswordFile != "" {
		d.ID = "dev_" + newSecret("")[:20]
		line, err := bus.MosquittoPasswordLine(d.ID, password)
		if err != nil {
			s.internal(c, err)
			return
		}
		d.BrokerCredential = line
	}
	if err := s.st.Enroll(c.Request.Context(), hashSecret(req.Token), d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fail(c, api.CodeBadToken, "enrolment token unknown, used up or expired")
			return
		}
		s.createError(c, err)
		return
	}
	s.log.Info("device enrolled", zap.String("device", d.ID), zap.String("name", d.Name), zap.String("group", d.Group))
	if err := s.SyncBrokerPasswords(c.Request.Context()); err != nil {
		// The device is recorded; the next rewrite (any enrolment, or a
		// restart) gives the broker its line.
		s.log.Error("device enrolled but the broker password file was not updated", zap.String("device", d.ID), zap.Error(err))
	}
	resp := fleet.EnrollResponse{DeviceID: d.ID, MQTT: fleet.MQTTCredentials{URL: s.opt.MQTTURL, Username: d.ID, Password: password},
		SigningPublicKey: string(s.pub), ServerURL: s.opt.PublicURL}
	if err := resp.Validate(); err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// DeviceLogin checks a device's MQTT credentials (for the embedded
// broker's auth hook).
func (s *Server) DeviceLogin(username, password string) bool {
	if fleet.ValidateDeviceID(username) != nil || password == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	d, err := s.st.Device(ctx, username)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(d.MQTTPasswordHash), []byte(hashSecret(password))) == 1
}

func deviceJSON(d *store.Device) api.Device {
	out := api.Device{ID: d.ID, Name: d.Name, Group: d.Group, OS: d.OS, Arch: d.Arch,
		AgentVersion: d.AgentVersion, Online: d.Online, EnrolledAt: d.EnrolledAt.UTC()}
	if !d.LastSeen.IsZero() {
		seen := d.LastSeen.UTC()
		out.LastSeen = &seen
	}
	if len(d.Reported) > 0 {
		// Stored as received and validated (OnReported); a message this
		// server cannot read back is left out rather than failing the list.
		var r fleet.Reported
		if json.Unmarshal(d.Reported, &r) == nil {
			out.Reported = &r
		}
	}
	if d.DesiredModelID != "" {
		out.Desired = &api.DesiredRef{ModelID: d.DesiredModelID, Version: d.DesiredVersion, ID: d.DesiredID}
	}
	return out
}

func (s *Server) listDevices(c *gin.Context) {
	ds, err := s.st.Devices(c.Request.Context(), c.Query("group"))
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Device, 0, len(ds))
	for i := range ds {
		items = append(items, deviceJSON(&ds[i]))
	}
	c.JSON(http.StatusOK, api.DeviceList{Items: items, Total: len(items)})
}

func (s *Server) getDevice(c *gin.Context) {
	d, err := s.st.Device(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.lookupError(c, err, "device "+c.Param("id"))
		return
	}
	c.JSON(http.StatusOK, deviceJSON(d))
}

func (s *Server) deleteDevice(c *gin.Context) {
	if err := s.st.DeleteDevice(c.Request.Context(), c.Param("id")); err != nil {
		s.lookupError(c, err, "device "+c.Param("id"))
		return
	}
	if err := s.SyncBrokerPasswords(c.Request.Context()); err != nil {
		s.log.Error("device removed but the broker password file was not updated", zap.Error(err))
	}
	// Its retained desired state would otherwise stay on the broker.
	if b := s.getBus(); b != nil {
		if err := b.ClearDesired(c.Request.Context(), c.Param("id")); err != nil {
			s.log.Warn("clearing a removed device's desired state", zap.String("device", c.Param("id")), zap.Error(err))
		}
	}
	c.Status(http.StatusNoContent)
}

// setDesired records and publishes (retained) the model a device should
// run; the package goes to it over MQTT chunks (transfer id = package
// sha256) or HTTP from a URL only that device can use.
func (s *Server) setDesired(c *gin.Context) {
	var req api.DesiredRequest
	if !bindJSON(c, &req) {
		return
	}
	d, err := s.st.Device(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.lookupError(c, err, "device "+c.Param("id"))
		return
	}
	v, err := s.st.Version(c.Request.Context(), req.ModelID, req.Version)
	if err != nil {
		s.lookupError(c, err, fmt.Sprintf("version %d of model %s", req.Version, req.ModelID))
		return
	}
	if v.Status != store.VersionSucceeded {
		failf(c, api.CodeNotTrained, "version %d is %s; only a trained version can be deployed", v.Number, v.Status)
		return
	}
	size, err := s.blobs.Stat(c.Request.Context(), v.PackageSHA256)
	if err != nil {
		s.internal(c, err)
		return
	}
	msg := &fleet.Desired{Header: fleet.Header{Schema: fleet.SchemaVersion, ID: "des_" + newSecret("")[:20]},
		Model: &fleet.ModelTarget{ID: v.ModelID, Version: v.Number, SHA256: v.PackageSHA256, Size: size,
			TransferID: v.PackageSHA256}}
	if !s.opt.NoDeviceHTTP {
		msg.Model.URL = s.packageURL(d.ID, v.PackageSHA256)
	}
	raw, err := fleet.Encode(msg)
	if err != nil {
		s.internal(c, err)
		return
	}
	if err := s.st.SetDesired(c.Request.Context(), d.ID, v.ModelID, v.Number, msg.ID, raw); err != nil {
		s.storeError(c, err, "device")
		return
	}
	if b := s.getBus(); b != nil {
		if err := b.PublishDesired(c.Request.Context(), d.ID, msg); err != nil {
			// Stored: it is published again at the next start.
			failf(c, api.CodeMQTT, "desired state stored but not published: %v", err)
			return
		}
	}
	d.DesiredModelID, d.DesiredVersion, d.DesiredID = v.ModelID, v.Number, msg.ID
	c.JSON(http.StatusOK, deviceJSON(d))
}

// RepublishDesired publishes every stored desired state again (at start:
// an external broker may have lost its retained messages).
func (s *Server) RepublishDesired(ctx context.Context) error {
	b := s.getBus()
	if b == nil {
		return nil
	}
	ds, err := s.st.Devices(ctx, "")
	if err != nil {
		return err
	}
	for _, d := range ds {
		if len(d.Desired) == 0 {
			continue
		}
		msg, err := fleet.DecodeDesired(d.Desired)
		if err != nil {
			s.log.Warn("stored desired state does not decode", zap.String("device", d.ID), zap.Error(err))
			continue
		}
		if err := b.PublishDesired(ctx, d.ID, msg); err != nil {
			return err
		}
	}
	return nil
}

// packageURL is an HTTP download URL for one device and one package,
// authorised by an HMAC only the control plane can make.
func (s *Server) packageURL(deviceID, sha string) string {
	q := url.Values{"device": {deviceID}, "sig": {s.urlSig(deviceID, sha)}}
	return strings.TrimRight(s.opt.PublicURL, "/") + "/api/v1/device-packages/" + sha + "?" + q.Encode()
}

func (s *Server) urlSig(deviceID, sha string) string {
	k := sha256.Sum256(append([]byte("autocv device package url v1\x00"), s.key.Seed()...))
	m := hmac.New(sha256.New, k[:])
	io.WriteString(m, deviceID+"\x00"+sha)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) devicePackage(c *gin.Context) {
	sha, dev, sig := c.Param("sha"), c.Query("device"), c.Query("sig")
	if !hmac.Equal([]byte(sig), []byte(s.urlSig(dev, sha))) {
		fail(c, api.CodeForbidden, "this package URL is not valid for this device")
		return
	}
	if !s.transferAllowed(c.Request.Context(), dev, sha) {
		fail(c, api.CodeNotFound, "package "+sha+" is not desired for device "+dev)
		return
	}
	s.sendBlob(c, sha, "application/gzip", sha+".tar.gz")
}

// transferAllowed says whether a device may fetch a package: it must be the
// device's desired one.
func (s *Server) transferAllowed(ctx context.Context, deviceID, sha string) bool {
	d, err := s.st.Device(ctx, deviceID)
	if err != nil || len(d.Desired) == 0 {
		return false
	}
	msg, err := fleet.DecodeDesired(d.Desired)
	return err == nil && msg.Model != nil && msg.Model.SHA256 == sha
}

// OnReported stores a device's reported state (from the MQTT side).
func (s *Server) OnReported(deviceID string, r *fleet.Reported, raw []byte) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	online := r.State != fleet.StateOffline
	if err := s.st.SetDeviceSeen(ctx, deviceID, online, time.Now(), raw); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("storing reported state", zap.String("device", deviceID), zap.Error(err))
	}
}

// OnEvent marks a device seen when it sends an event.
func (s *Server) OnEvent(deviceID string, e *fleet.Event) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	_ = s.st.SetDeviceSeen(ctx, deviceID, true, time.Now(), nil)
}

// packageSource is a package file answering MQTT chunk requests.
type packageSource struct {
	*os.File
	size int64
}

func (p packageSource) Size() int64 { return p.size }

// Transfer maps a device's chunk request to its desired package (the
// transfer id is the package sha256); anything else is refused.
func (s *Server) Transfer(ctx context.Context, deviceID, transferID string) (bus.Source, error) {
	if !s.transferAllowed(ctx, deviceID, transferID) {
		return nil, fmt.Errorf("transfer %s is not desired for device %s", transferID, deviceID)
	}
	path, err := s.packageFile(ctx, transferID)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return packageSource{f, fi.Size()}, nil
}
