package selfupdate

import (
	"errors"

	"github.com/autocv/autocv/protocol/fleet"
)

// Sentinel errors; the wrapping error says which file and what to do.
var (
	// ErrChecksum: the binary's sha256 is not the one given (the
	// protocol's sentinel: the format is fleet.VerifyBinary's).
	ErrChecksum = fleet.ErrBinaryChecksum
	// ErrSignature: the signature does not verify with the trusted key.
	ErrSignature = fleet.ErrBinarySignature
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
