//go:build unix

package selfupdate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/protocol/fleet"
)

// fakes are fakeagent binaries built once: "v1" and "v2" (good), "exit"
// and "hang", and "other" (not an agent at all: prints something else).
var (
	fakesOnce sync.Once
	fakes     map[string][]byte
	fakesErr  error
)

func fakeAgents(t *testing.T) map[string][]byte {
	t.Helper()
	fakesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "autocv-selfupdate-")
		if err != nil {
			fakesErr = err
			return
		}
		defer os.RemoveAll(dir)
		gobin, err := exec.LookPath("go")
		if err != nil {
			fakesErr = err
			return
		}
		fakes = map[string][]byte{}
		for name, flags := range map[string]string{
			"v1": "-X main.version=v1", "v2": "-X main.version=v2",
			"exit": "-X main.mode=exit -X main.version=v2-exit", "hang": "-X main.mode=hang -X main.version=v2-hang",
		} {
			out := filepath.Join(dir, name)
			cmd := exec.Command(gobin, "build", "-ldflags", flags, "-o", out, "./testdata/fakeagent")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				fakesErr = fmt.Errorf("go build fakeagent %s: %v\n%s", name, err, b)
				return
			}
			if fakes[name], err = os.ReadFile(out); err != nil {
				fakesErr = err
				return
			}
		}
		fakes["other"] = []byte("#!/bin/sh\necho hello\n")
	})
	if fakesErr != nil {
		t.Fatal(fakesErr)
	}
	return fakes
}

// install puts the v1 fake at dir/bin/autocv-agent and the update to
// apply at dir/download, and returns both paths.
func install(t *testing.T, update []byte) (exe, download string) {
	t.Helper()
	dir := t.TempDir()
	exe = filepath.Join(dir, "bin", "autocv-agent")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, fakeAgents(t)["v1"], 0o755); err != nil {
		t.Fatal(err)
	}
	download = filepath.Join(dir, "download")
	if err := os.WriteFile(download, update, 0o644); err != nil {
		t.Fatal(err)
	}
	return exe, download
}

func key(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sameFile(t *testing.T, path string, want []byte) bool {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(got, want)
}

// TestApplyRefuses: a binary that fails its checks is refused and the
// installed one is left alone.
func TestApplyRefuses(t *testing.T) {
	f := fakeAgents(t)
	pub, priv := key(t)
	_, otherPriv := key(t)
	for _, tc := range []struct {
		name   string
		bin    []byte
		signer ed25519.PrivateKey
		sum    string // overrides the signed sha256
		want   error
	}{
		{"wrong sha256", f["v2"], priv, strings.Repeat("ab", 32), ErrChecksum},
		{"untrusted signer", f["v2"], otherPriv, "", ErrSignature},
		{"not an agent", f["other"], priv, "", ErrBinary},
		{"not an executable", []byte("\x7fELF garbage"), priv, "", ErrBinary},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe, download := install(t, tc.bin)
			sum, sig := fleet.SignBinary(tc.signer, tc.bin)
			if tc.sum != "" {
				sum = tc.sum
			}
			_, err := (&Updater{Exe: exe, Logger: zaptest.NewLogger(t)}).Apply(context.Background(), download, sum, sig, pub)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Apply = %v, want %v", err, tc.want)
			}
			if !sameFile(t, exe, f["v1"]) {
				t.Error("the installed binary changed")
			}
			entries, _ := os.ReadDir(filepath.Dir(exe))
			if len(entries) != 1 {
				t.Errorf("left behind in the binary's folder: %v", entries)
			}
		})
	}
}

// TestTrial runs the new binary's trial for each kind of new binary: a
// good one is kept; one that exits or never gets healthy is given up on,
// and Restart's restore puts the old one back.
func TestTrial(t *testing.T) {
	f := fakeAgents(t)
	pub, priv := key(t)
	for _, tc := range []struct {
		name    string
		bin     string
		wantErr string // "" for success
	}{
		{"good", "v2", ""},
		{"exits at start", "exit", "exited before it became healthy: exit status 1"},
		{"never healthy", "hang", "did not report healthy within 1.5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe, download := install(t, f[tc.bin])
			sum, sig := fleet.SignBinary(priv, f[tc.bin])
			p, err := (&Updater{Exe: exe, HealthTimeout: 1500 * time.Millisecond, Logger: zaptest.NewLogger(t)}).
				Apply(context.Background(), download, sum, sig, pub)
			if err != nil {
				t.Fatal(err)
			}
			if !sameFile(t, exe, f[tc.bin]) || !sameFile(t, exe+".old", f["v1"]) {
				t.Fatal("after Apply: want the new binary in place and the old one beside it as .old")
			}
			if want := strings.Fields(string(mustRun(t, exe, "version")))[1]; p.Version() != want {
				t.Errorf("Version() = %q, want %q", p.Version(), want)
			}
			kept := 0
			start := time.Now()
			err = p.try(RestartOptions{Args: []string{"autocv-agent", "serve"}, Env: os.Environ(), KeepAlive: func() { kept++ }})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("try = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("try = %v, want %v saying %q", err, ErrRolledBack, tc.wantErr)
			}
			if tc.bin == "hang" && (time.Since(start) < 1500*time.Millisecond || kept == 0) {
				t.Errorf("gave up after %s with %d keep-alives", time.Since(start), kept)
			}
			if err := copyAtomic(p.old, p.exe); err != nil {
				t.Fatal(err)
			}
			if !sameFile(t, exe, f["v1"]) || !sameFile(t, exe+".old", f["v1"]) {
				t.Error("after the restore: want the old binary in place and still beside it")
			}
			if fi, err := os.Stat(exe); err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("restored binary not executable: %v %v", fi.Mode(), err)
			}
			if _, err := os.Stat(exe + ".update-ready"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ready file left behind: %v", err)
			}
		})
	}
}

func mustRun(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOutcome(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "autocv-agent")
	if _, err := ReadOutcome(exe); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("before any update: %v", err)
	}
	want := Outcome{Time: time.Now().UTC().Truncate(time.Second), FromVersion: "v1", ToVersion: "v2", SHA256: "ab", Result: ResultRolledBack, Reason: "x"}
	if err := writeOutcome(exe, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOutcome(exe)
	if err != nil || got != want {
		t.Errorf("ReadOutcome = %+v, %v; want %+v", got, err, want)
	}
}

func TestMarkReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ready")
	t.Setenv(EnvReady, "")
	if err := MarkReady("v9"); err != nil {
		t.Fatalf("outside a trial: %v", err)
	}
	t.Setenv(EnvReady, path)
	if err := MarkReady("v9"); err != nil {
		t.Fatal(err)
	}
	if n, ok := readReady(path, os.Getpid()); !ok || n.Version != "v9" {
		t.Errorf("readReady = %+v %v", n, ok)
	}
	if _, ok := readReady(path, os.Getpid()+1); ok {
		t.Error("a note from another pid was accepted")
	}
}
