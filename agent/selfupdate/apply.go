package selfupdate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"github.com/autocv/autocv/internal/atomicfile"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	minio "github.com/minio/selfupdate"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/fleet"
)

// Defaults for Updater's zero fields.
const (
	DefaultHealthTimeout = 2 * time.Minute
	// MaxBinarySize bounds the new binary read into memory.
	MaxBinarySize = 512 << 20
	smokeTimeout  = 30 * time.Second
)

// Updater replaces the running agent binary. The zero value updates the
// running executable with the default timeouts.
type Updater struct {
	// Exe is the binary to replace; default the running executable (with
	// symlinks resolved).
	Exe string
	// HealthTimeout is how long the new binary has to report healthy
	// (MarkReady) once started; default DefaultHealthTimeout.
	HealthTimeout time.Duration
	// Ref names what asked for the update (the id of a desired state); it
	// is recorded in the Outcome so the restarted agent can tell whether
	// it already tried that request.
	Ref    string
	Logger *zap.Logger
}

// Pending is an update whose new binary is in place but not yet running;
// Restart finishes it.
type Pending struct {
	exe, old      string
	sha256        string
	ref           string // Updater.Ref
	version       string // what `NEW version` printed
	healthTimeout time.Duration
	log           *zap.Logger
}

// Apply checks that the file at binaryPath has sha256 sha256Hex and that
// signature is trustedKey's signature of fleet.BinaryMessage(sha256Hex), checks that
// it runs here (`NEW version`), and swaps it in for the running binary,
// keeping that one as <exe>.old. The agent keeps running the old code
// until the returned Pending's Restart. On error the installed binary is
// unchanged.
func (u *Updater) Apply(ctx context.Context, binaryPath, sha256Hex string, signature []byte, trustedKey ed25519.PublicKey) (*Pending, error) {
	log := u.Logger
	if log == nil {
		log = zap.NewNop()
	}
	exe, err := u.exe()
	if err != nil {
		return nil, err
	}
	data, err := readBinary(binaryPath)
	if err != nil {
		return nil, err
	}
	if err := fleet.VerifyBinary(data, sha256Hex, signature, trustedKey); err != nil {
		return nil, fmt.Errorf("%s: %w", binaryPath, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return nil, fmt.Errorf("the running agent binary: %w", err)
	}
	sum, _ := hex.DecodeString(sha256Hex)
	opts := minio.Options{TargetPath: exe, TargetMode: fi.Mode().Perm() | 0o100, OldSavePath: exe + ".old", Checksum: sum}
	if err := minio.PrepareAndCheckBinary(bytes.NewReader(data), opts); err != nil {
		return nil, fmt.Errorf("writing the new agent binary beside %s: %w (is the folder writable and the disk not full?)", exe, err)
	}
	staged := filepath.Join(filepath.Dir(exe), "."+filepath.Base(exe)+".new") // minio/selfupdate's name
	if err := syncFile(staged); err != nil {
		os.Remove(staged)
		return nil, fmt.Errorf("writing the new agent binary: %w", err)
	}
	version, err := smokeTest(ctx, staged)
	if err != nil {
		os.Remove(staged)
		return nil, fmt.Errorf("%s: %w", binaryPath, err)
	}
	if err := minio.CommitBinary(opts); err != nil {
		if rerr := minio.RollbackError(err); rerr != nil {
			log.Error("agent binary missing after a failed update", zap.String("exe", exe), zap.String("old", opts.OldSavePath),
				zap.Error(err), zap.NamedError("rollback_error", rerr))
			return nil, fmt.Errorf("replacing %s failed (%v) and putting the old binary back failed too (%v): "+
				"move %s back to %s by hand before the agent next starts", exe, err, rerr, opts.OldSavePath, exe)
		}
		return nil, fmt.Errorf("replacing %s: %w (the old binary is still in place)", exe, err)
	}
	atomicfile.SyncDir(filepath.Dir(exe))
	log.Info("new agent binary installed; the old one is kept beside it",
		zap.String("exe", exe), zap.String("old", opts.OldSavePath), zap.String("version", version), zap.String("sha256", sha256Hex))
	timeout := u.HealthTimeout
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	return &Pending{exe: exe, old: opts.OldSavePath, sha256: strings.ToLower(sha256Hex), ref: u.Ref, version: version,
		healthTimeout: timeout, log: log}, nil
}

// Version is the new binary's version, as its `version` command says.
func (p *Pending) Version() string { return p.version }

func (u *Updater) exe() (string, error) {
	exe := u.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("finding the running agent binary: %w", err)
		}
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Abs(exe)
}

func readBinary(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the new agent binary: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBinarySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the new agent binary: %w", err)
	}
	if len(data) > MaxBinarySize {
		return nil, fmt.Errorf("the new agent binary %s is over %d MB", path, MaxBinarySize>>20)
	}
	return data, nil
}

// smokeTest runs `bin version`, which must succeed and name the agent.
func smokeTest(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, smokeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if err != nil {
		return "", fmt.Errorf("%w: `version` failed: %v: %s", ErrBinary, err, clip(text))
	}
	if f := strings.Fields(text); len(f) < 2 || f[0] != "autocv-agent" {
		return "", fmt.Errorf("%w: `version` printed %q, not an autocv-agent version", ErrBinary, clip(text))
	}
	return strings.Fields(text)[1], nil // "autocv-agent v1.2.3 (linux/amd64, ...)"
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyAtomic copies from over to through a synced temp file and a rename,
// so to is at every moment either the old or the new file.
func copyAtomic(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	return atomicfile.WriteFunc(to, fi.Mode().Perm(), func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
}
