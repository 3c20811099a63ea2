// Package secret makes the control plane's bearer secrets (session tokens,
// API keys, trainer and enrolment tokens, device MQTT passwords) and the
// hash the store keeps of them.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// New is prefix plus 256 random bits, lower-case base32.
func New(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + strings.ToLower(b32.EncodeToString(b))
}

// Hash is what the store keeps of a secret: secrets are 256-bit random,
// so a plain SHA-256 is enough (no stretching needed).
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
