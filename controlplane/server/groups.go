package server

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/controlplane/fleet"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

func groupJSON(g *store.Group) api.Group {
	return api.Group{Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt.UTC(), Devices: g.Devices, Online: g.Online}
}

func (s *Server) createGroup(c *gin.Context) {
	var req api.CreateGroupRequest
	if !bindJSON(c, &req) {
		return
	}
	g, err := s.fleet.CreateGroup(c.Request.Context(), req)
	switch {
	case err == nil:
		c.JSON(http.StatusCreated, groupJSON(g))
	case errors.Is(err, fleet.ErrInvalid):
		fail(c, api.CodeInvalid, err.Error())
	default:
		s.createError(c, err)
	}
}

func (s *Server) listGroups(c *gin.Context) {
	gs, err := s.st.Groups(c.Request.Context())
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Group, 0, len(gs))
	for i := range gs {
		items = append(items, groupJSON(&gs[i]))
	}
	c.JSON(http.StatusOK, api.GroupList{Items: items, Total: len(items)})
}

func (s *Server) getGroup(c *gin.Context) {
	g, err := s.st.Group(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.lookupError(c, err, "group "+c.Param("name"))
		return
	}
	ds, err := s.st.Devices(c.Request.Context(), g.Name)
	if err != nil {
		s.internal(c, err)
		return
	}
	out := api.GroupDetail{Group: groupJSON(g), Members: make([]api.Device, 0, len(ds))}
	for i := range ds {
		out.Members = append(out.Members, deviceJSON(&ds[i]))
	}
	s.nameModels(c.Request.Context(), out.Members)
	c.JSON(http.StatusOK, out)
}
