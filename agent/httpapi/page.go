package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// uploadPage is the /upload page: one self-contained HTML file (no
// external resources, no build step) where a person picks photos and sees
// the top labels for each.
//
//go:embed upload.html
var uploadPage []byte

// page answers GET /upload.
func (s *Server) page(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	c.Header("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", uploadPage)
}
