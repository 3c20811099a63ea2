package selfupdate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/autocv/autocv/internal/atomicfile"
)

// EnvReady names the file a trial agent writes when it is healthy; Restart
// sets it for the new binary it tries.
const EnvReady = "AUTOCV_SELFUPDATE_READY"

// readyNote is what a trial agent writes to the EnvReady file.
type readyNote struct {
	Pid     int    `json:"pid"`
	Version string `json:"version"`
}

// MarkReady tells the agent that started this one as a trial (see
// Pending.Restart) that it is healthy: the model is loaded and self-tested
// and the agent answers. The agent calls it once it would report healthy
// (standalone: after the model loaded; with a control plane: once it also
// reached the broker). Outside a trial it does nothing.
func MarkReady(version string) error {
	path := os.Getenv(EnvReady)
	if path == "" {
		return nil
	}
	data, _ := json.Marshal(readyNote{Pid: os.Getpid(), Version: version})
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("telling the updating agent this one is healthy: %w", err)
	}
	return nil
}

// OnTrial reports whether this agent is a new binary on trial, started by
// Pending.Restart: it should show that it is healthy (MarkReady) and
// change nothing meanwhile, since the agent that runs after the trial
// (this binary again, or the restored old one) carries on.
func OnTrial() bool { return os.Getenv(EnvReady) != "" }

// readReady returns the note in path when the process pid wrote it.
func readReady(path string, pid int) (readyNote, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return readyNote{}, false
	}
	var n readyNote
	if json.Unmarshal(data, &n) != nil || n.Pid != pid {
		return readyNote{}, false
	}
	return n, true
}

// Outcome is the result of the last update, written beside the binary as
// <exe>.update.json for the restarted agent to report.
type Outcome struct {
	Time        time.Time `json:"time"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	SHA256      string    `json:"sha256"` // of the new binary
	// Ref is Updater.Ref: what asked for the update, e.g. a desired
	// state's id; empty when nothing was named.
	Ref string `json:"ref,omitempty"`
	// Result is "updated" (the new binary runs), "rolled_back" (it did
	// not become healthy; the old one runs) or "aborted" (the agent was
	// stopped meanwhile; the old binary is in place).
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Outcome results.
const (
	ResultUpdated    = "updated"
	ResultRolledBack = "rolled_back"
	ResultAborted    = "aborted"
)

// OutcomePath is where the outcome of updating exe is written.
func OutcomePath(exe string) string { return exe + ".update.json" }

// ReadOutcome reads the outcome of the last update of the running binary
// (or of exe when given); fs.ErrNotExist when it was never updated.
func ReadOutcome(exe string) (Outcome, error) {
	if exe == "" {
		var err error
		if exe, err = (&Updater{}).exe(); err != nil {
			return Outcome{}, err
		}
	}
	data, err := os.ReadFile(OutcomePath(exe))
	if err != nil {
		return Outcome{}, err
	}
	var o Outcome
	if err := json.Unmarshal(data, &o); err != nil {
		return Outcome{}, fmt.Errorf("%s: %w", OutcomePath(exe), err)
	}
	return o, nil
}

func writeOutcome(exe string, o Outcome) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(OutcomePath(exe), append(data, '\n'), 0o644)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
