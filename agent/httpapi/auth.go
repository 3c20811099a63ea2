package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gin-gonic/gin"
)

// requireKey lets a request through only when it carries the API key, as
// "Authorization: Bearer KEY" or "X-API-Key: KEY". It guards everything
// but the /upload page (which asks for the key and sends it), /healthz
// (for probes and service managers) and the / redirect. With no key
// configured, it is not installed.
func (s *Server) requireKey(c *gin.Context) {
	got, how := "", ""
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			got, how = strings.TrimSpace(token), "Authorization: Bearer"
		}
	}
	if got == "" {
		got, how = c.GetHeader("X-API-Key"), "X-API-Key"
	}
	if got == "" {
		s.unauthorized(c, "this agent needs an API key: send it as \"Authorization: Bearer KEY\" or \"X-API-Key: KEY\" "+
			"(the agent's api_key setting)")
		return
	}
	// Compare hashes so the time taken says nothing about the key's length.
	want := sha256.Sum256([]byte(s.cfg.APIKey))
	have := sha256.Sum256([]byte(got))
	if subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		s.unauthorized(c, "the API key sent in "+how+" is not this agent's key (the agent's api_key setting)")
		return
	}
	c.Next()
}

func (s *Server) unauthorized(c *gin.Context, msg string) {
	c.Header("WWW-Authenticate", `Bearer realm="autocv-agent"`)
	abort(c, newError(CodeUnauthorized, msg))
}
