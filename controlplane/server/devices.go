package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/controlplane/fleet"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	pfleet "github.com/autocv/autocv/protocol/fleet"
)

// The fleet's handlers: each binds its api type, calls controlplane/fleet
// and answers an api type; fleetError maps the fleet's refusals.

func (s *Server) createEnrollmentToken(c *gin.Context) {
	var req api.EnrollmentTokenRequest
	if !bindJSON(c, &req) {
		return
	}
	t, secret, err := s.fleet.NewEnrollmentToken(c.Request.Context(), req, who(c).user.ID)
	if errors.Is(err, fleet.ErrInvalid) {
		fail(c, api.CodeInvalid, err.Error())
		return
	} else if err != nil {
		s.internal(c, err)
		return
	}
	out := enrollmentTokenJSON(t)
	out.Token, out.Command = secret, s.fleet.EnrollCommand(secret)
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

// enroll consumes a token and registers a device; the answer carries the
// device's MQTT password (stored only as a hash).
func (s *Server) enroll(c *gin.Context) {
	var req api.EnrollRequest
	if !bindJSON(c, &req) {
		return
	}
	resp, err := s.fleet.Enroll(c.Request.Context(), req)
	switch {
	case err == nil:
		c.JSON(http.StatusOK, resp)
	case errors.Is(err, fleet.ErrInvalid):
		fail(c, api.CodeInvalid, err.Error())
	case errors.Is(err, fleet.ErrBadToken):
		fail(c, api.CodeBadToken, err.Error())
	case errors.Is(err, fleet.ErrNoMQTT):
		fail(c, api.CodeMQTTOff, err.Error())
	default:
		s.createError(c, err)
	}
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
		var r pfleet.Reported
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
	s.nameModels(c.Request.Context(), items)
	c.JSON(http.StatusOK, api.DeviceList{Items: items, Total: len(items)})
}

// nameModels fills in the model names of devices' desired states, reading
// each model once.
func (s *Server) nameModels(ctx context.Context, devs []api.Device) {
	names := map[string]string{}
	for i := range devs {
		d := devs[i].Desired
		if d == nil {
			continue
		}
		name, ok := names[d.ModelID]
		if !ok {
			name = s.modelName(ctx, d.ModelID)
			names[d.ModelID] = name
		}
		d.ModelName = name
	}
}

// deviceView is one device as the API shows it, model name included.
func (s *Server) deviceView(ctx context.Context, d *store.Device) api.Device {
	out := []api.Device{deviceJSON(d)}
	s.nameModels(ctx, out)
	return out[0]
}

func (s *Server) getDevice(c *gin.Context) {
	d, err := s.st.Device(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.lookupError(c, err, "device "+c.Param("id"))
		return
	}
	c.JSON(http.StatusOK, s.deviceView(c.Request.Context(), d))
}

func (s *Server) deleteDevice(c *gin.Context) {
	if err := s.fleet.Remove(c.Request.Context(), c.Param("id")); err != nil {
		s.lookupError(c, err, "device "+c.Param("id"))
		return
	}
	c.Status(http.StatusNoContent)
}

// setDesired tells a device which model version to run.
func (s *Server) setDesired(c *gin.Context) {
	var req api.DesiredRequest
	if !bindJSON(c, &req) {
		return
	}
	d, err := s.fleet.SetDesired(c.Request.Context(), c.Param("id"), req.ModelID, req.Version)
	switch {
	case err == nil:
		c.JSON(http.StatusOK, s.deviceView(c.Request.Context(), d))
	case errors.Is(err, fleet.ErrNotTrained):
		fail(c, api.CodeNotTrained, err.Error())
	case errors.Is(err, fleet.ErrPublish):
		fail(c, api.CodeMQTT, "desired state "+err.Error())
	case errors.Is(err, store.ErrNotFound):
		fail(c, api.CodeNotFound, err.Error()) // names the device or the version
	default:
		s.storeError(c, err, "device")
	}
}

// devicePackage serves a package to the device its signed URL names, if
// the device is told to install it.
func (s *Server) devicePackage(c *gin.Context) {
	sha, dev := c.Param("sha"), c.Query("device")
	if !s.fleet.ValidURL(dev, sha, c.Query("sig")) {
		fail(c, api.CodeForbidden, "this package URL is not valid for this device")
		return
	}
	if !s.fleet.Desires(c.Request.Context(), dev, sha) {
		fail(c, api.CodeNotFound, "package "+sha+" is not desired for device "+dev)
		return
	}
	s.sendBlob(c, sha, "application/gzip", sha+".tar.gz")
}
