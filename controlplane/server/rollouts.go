package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/controlplane/fleet"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

func rolloutJSON(r *store.Rollout, devs []store.RolloutDevice, members bool) api.Rollout {
	out := api.Rollout{ID: r.ID, ModelID: r.ModelID, Version: r.Version, Group: r.Group, Status: r.Status, Error: r.Error,
		Wave: r.Wave, Waves: r.Waves, Devices: map[string]int{}, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	_ = json.Unmarshal(r.Strategy, &out.Strategy) // stored by CreateRollout from this type
	for _, d := range devs {
		out.Devices[d.State]++
		if members {
			out.Members = append(out.Members, api.RolloutDevice{DeviceID: d.DeviceID, Wave: d.Wave, State: d.State,
				Reason: d.Reason, Percent: d.Percent, UpdatedAt: d.UpdatedAt.UTC()})
		}
	}
	return out
}

func (s *Server) createRollout(c *gin.Context) {
	var req api.CreateRolloutRequest
	if !bindJSON(c, &req) {
		return
	}
	r, err := s.fleet.CreateRollout(c.Request.Context(), req, who(c).user.ID)
	switch {
	case errors.Is(err, fleet.ErrInvalid):
		fail(c, api.CodeInvalid, err.Error())
	case errors.Is(err, fleet.ErrNotTrained):
		fail(c, api.CodeNotTrained, err.Error())
	case errors.Is(err, fleet.ErrState):
		fail(c, api.CodeConflict, err.Error()) // the group has a rollout going
	case errors.Is(err, store.ErrNotFound):
		fail(c, api.CodeNotFound, err.Error()) // names the version or the group
	case err != nil:
		s.internal(c, err)
	default:
		s.answerRollout(c, http.StatusCreated, r.ID)
	}
}

// answerRollout answers a rollout as it now stands, with its devices.
func (s *Server) answerRollout(c *gin.Context, status int, id string) {
	r, devs, err := s.st.Rollout(c.Request.Context(), id)
	if err != nil {
		s.lookupError(c, err, "rollout "+id)
		return
	}
	c.JSON(status, rolloutJSON(r, devs, true))
}

func (s *Server) getRollout(c *gin.Context) { s.answerRollout(c, http.StatusOK, c.Param("id")) }

func (s *Server) listRollouts(c *gin.Context) {
	rs, err := s.st.Rollouts(c.Request.Context())
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Rollout, 0, len(rs))
	for i := range rs {
		_, devs, err := s.st.Rollout(c.Request.Context(), rs[i].ID)
		if err != nil {
			s.internal(c, err)
			return
		}
		items = append(items, rolloutJSON(&rs[i], devs, false))
	}
	c.JSON(http.StatusOK, api.RolloutList{Items: items, Total: len(items)})
}

// rolloutAction is POST /rollouts/{id}/{pause|resume|abort|rollback}.
func (s *Server) rolloutAction(c *gin.Context) {
	err := s.fleet.RolloutAction(c.Request.Context(), c.Param("id"), c.Param("action"))
	switch {
	case errors.Is(err, fleet.ErrInvalid):
		fail(c, api.CodeInvalid, err.Error())
	case errors.Is(err, fleet.ErrState), errors.Is(err, store.ErrConflict):
		fail(c, api.CodeConflict, err.Error())
	case err != nil:
		s.lookupError(c, err, "rollout "+c.Param("id"))
	default:
		s.answerRollout(c, http.StatusOK, c.Param("id"))
	}
}
