package server

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// Label and image edits of a dataset (the work is dataset's): rename or
// merge a label, delete one, move an image. Versions keep their frozen
// image lists whatever changes here.

// renameLabel renames a label, or merges it into an existing one with
// {"merge": true}; it answers the dataset as it is after.
func (s *Server) renameLabel(c *gin.Context) {
	var req api.RenameLabelRequest
	if !bindJSON(c, &req) {
		return
	}
	d := s.dataset(c)
	if d == nil {
		return
	}
	_, _, err := dataset.RenameLabel(c.Request.Context(), s.st, d, c.Param("label"), req.Name, req.Merge)
	if err != nil {
		s.labelError(c, err, "label "+c.Param("label"))
		return
	}
	s.answerDataset(c, d.ID)
}

// deleteLabel deletes a label and its images.
func (s *Server) deleteLabel(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	if _, err := dataset.DeleteLabel(c.Request.Context(), s.st, d, c.Param("label")); err != nil {
		s.labelError(c, err, "label "+c.Param("label"))
		return
	}
	c.Status(http.StatusNoContent)
}

// moveImage moves an image to another label of its dataset.
func (s *Server) moveImage(c *gin.Context) {
	var req api.MoveImageRequest
	if !bindJSON(c, &req) {
		return
	}
	d := s.dataset(c)
	if d == nil {
		return
	}
	im, err := dataset.MoveImage(c.Request.Context(), s.st, d, c.Param("image"), req.Label)
	if err != nil {
		s.labelError(c, err, "image "+c.Param("image"))
		return
	}
	c.JSON(http.StatusOK, imageJSON(im))
}

// labelError answers a refused label or image edit.
func (s *Server) labelError(c *gin.Context, err error, what string) {
	switch {
	case errors.Is(err, dataset.ErrBadLabel):
		fail(c, api.CodeBadLabel, err.Error())
	case errors.Is(err, dataset.ErrImporting):
		fail(c, api.CodeImporting, err.Error())
	case errors.Is(err, dataset.ErrUnknownLabel):
		fail(c, api.CodeUnknownLabel, err.Error())
	case errors.Is(err, store.ErrConflict):
		fail(c, api.CodeConflict, err.Error())
	default:
		s.storeError(c, err, what)
	}
}

// answerDataset answers a dataset read afresh, with its labels.
func (s *Server) answerDataset(c *gin.Context, id string) {
	d, err := s.st.Dataset(c.Request.Context(), id)
	if err != nil {
		s.lookupError(c, err, "dataset "+id)
		return
	}
	h, err := s.datasetJSON(c.Request.Context(), d, true)
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, h)
}
