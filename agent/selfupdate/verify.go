package selfupdate

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// messagePrefix starts every signed message; see Message.
const messagePrefix = "autocv-agent-binary-v1\n"

// Sentinel errors; the wrapping error says which file and what to do.
var (
	// ErrChecksum: the binary's sha256 is not the one given.
	ErrChecksum = errors.New("the new agent binary's sha256 does not match")
	// ErrSignature: the signature does not verify with the trusted key.
	ErrSignature = errors.New("the new agent binary's signature does not verify")
	// ErrBinary: the new binary does not run here (smoke test failed).
	ErrBinary = errors.New("the new agent binary does not run on this machine")
	// ErrRolledBack: the new binary did not come up healthy and the old
	// one was restored.
	ErrRolledBack = errors.New("the new agent binary did not become healthy; the old one was restored")
	// ErrAborted: the agent was asked to stop while the new binary was
	// being tried; the old binary was restored and the agent stops.
	ErrAborted = errors.New("stopped while the new agent binary was being tried; the old one was restored")
	// ErrServiceRestart: on Windows under the Service Control Manager the
	// agent must exit with a service-specific error so that the SCM's
	// recovery action restarts it with the binary now in place.
	ErrServiceRestart = errors.New("exit so that the service manager restarts the agent")
)

// Message is what the signature of a binary with this sha256 signs.
func Message(sha256Hex string) []byte {
	return []byte(messagePrefix + strings.ToLower(sha256Hex))
}

// Sign returns the sha256 (lowercase hex) of binary and the ed25519
// signature of Message of it; the control plane or a release script signs
// agent binaries with it.
func Sign(priv ed25519.PrivateKey, binary []byte) (sha256Hex string, sig []byte) {
	sum := sha256.Sum256(binary)
	sha256Hex = hex.EncodeToString(sum[:])
	return sha256Hex, ed25519.Sign(priv, Message(sha256Hex))
}

// Verify checks that binary has the sha256 sha256Hex and that sig is key's
// signature of Message(sha256Hex).
func Verify(binary []byte, sha256Hex string, sig []byte, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the trusted key is %d bytes, want an ed25519 public key (%d bytes)", ErrSignature, len(key), ed25519.PublicKeySize)
	}
	want, err := hex.DecodeString(sha256Hex)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: %q is not a sha256 in hex", ErrChecksum, sha256Hex)
	}
	if sum := sha256.Sum256(binary); !bytesEqual(sum[:], want) {
		return fmt.Errorf("%w: it is %x, want %s (the download is incomplete or not the published binary)", ErrChecksum, sum, strings.ToLower(sha256Hex))
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(key, Message(sha256Hex), sig) {
		return fmt.Errorf("%w: it was not signed by the trusted key (the agent only installs binaries its control plane signed)", ErrSignature)
	}
	return nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
