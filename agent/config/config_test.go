package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/modelpkg"
)

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "package: /from/file.tar.gz\nlisten: 127.0.0.1:1\nmax_files: 4\nshutdown_grace: 3s\n")
	unknown := writeFile(t, dir, "unknown.yaml", "package: p\nlisen: :1\n")
	nested := writeFile(t, dir, "nested.yaml", "listen:\n  host: x\n")
	badValue := writeFile(t, dir, "bad.yaml", "max_files: many\n")
	empty := writeFile(t, dir, "empty.yaml", "# nothing yet\n")

	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c Serve)
		wantErr []string // substrings of the error
	}{
		{name: "defaults", args: []string{"--package", "m.tar.gz"}, check: func(t *testing.T, c Serve) {
			want := Defaults()
			want.Package = "m.tar.gz"
			if c != want {
				t.Errorf("got %+v, want %+v", c, want)
			}
		}},
		{name: "file", args: []string{"--config", good}, check: func(t *testing.T, c Serve) {
			if c.Package != "/from/file.tar.gz" || c.Listen != "127.0.0.1:1" || c.MaxFiles != 4 || c.ShutdownGrace != 3*time.Second {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "config from env", env: map[string]string{"AUTOCV_CONFIG": good}, check: func(t *testing.T, c Serve) {
			if c.Package != "/from/file.tar.gz" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "env over file", args: []string{"--config", good}, env: map[string]string{"AUTOCV_LISTEN": ":2", "AUTOCV_PLUGIN": "onnx-cuda"},
			check: func(t *testing.T, c Serve) {
				if c.Listen != ":2" || c.Plugin != "onnx-cuda" || c.Package != "/from/file.tar.gz" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "flag over env", args: []string{"--config", good, "--listen", ":3", "--trust-key", "k.pub"},
			env: map[string]string{"AUTOCV_LISTEN": ":2", "AUTOCV_TRUST_KEY": "env.pub"},
			check: func(t *testing.T, c Serve) {
				if c.Listen != ":3" || c.TrustKey != "k.pub" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "empty file", args: []string{"--config", empty, "--package", "m"}, check: func(t *testing.T, c Serve) {
			if c.Listen != DefaultListen {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "unknown key", args: []string{"--config", unknown}, wantErr: []string{`unknown key "lisen"`, "line 2", "listen"}},
		{name: "nested value", args: []string{"--config", nested, "--package", "m"}, wantErr: []string{"listen must be a single value"}},
		{name: "bad file value", args: []string{"--config", badValue, "--package", "m"}, wantErr: []string{"max_files", `"many"`}},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "nope.yaml")}, wantErr: []string{"nope.yaml"}},
		{name: "bad env value", args: []string{"--package", "m"}, env: map[string]string{"AUTOCV_MAX_IMAGE_BYTES": "8MB"},
			wantErr: []string{"AUTOCV_MAX_IMAGE_BYTES", "8MB"}},
		{name: "no package", wantErr: []string{"--package FILE", "AUTOCV_PACKAGE"}},
		{name: "bad plugin", args: []string{"--package", "m", "--plugin", "tensorrt"}, wantErr: []string{`"tensorrt"`, "auto", "onnx-cpu", "onnx-cuda"}},
		{name: "bad log level", args: []string{"--package", "m", "--log-level", "loud"}, wantErr: []string{"log_level"}},
		{name: "zero max files", args: []string{"--package", "m", "--max-files", "0"}, wantErr: []string{"max_files"}},
		{name: "max concurrent", args: []string{"--package", "m"}, env: map[string]string{"AUTOCV_MAX_CONCURRENT": "3"},
			check: func(t *testing.T, c Serve) {
				if c.MaxConcurrent != 3 {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "negative max concurrent", args: []string{"--package", "m", "--max-concurrent", "-1"}, wantErr: []string{"max_concurrent"}},
		{name: "queue, timeout and key", args: []string{"--package", "m", "--max-queue", "0", "--request-timeout", "5s"},
			env: map[string]string{"AUTOCV_API_KEY": "0123456789abcdef"},
			check: func(t *testing.T, c Serve) {
				if c.MaxQueue != 0 || c.RequestTimeout != 5*time.Second || c.APIKey != "0123456789abcdef" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "negative max queue", args: []string{"--package", "m", "--max-queue", "-1"}, wantErr: []string{"max_queue"}},
		{name: "zero request timeout", args: []string{"--package", "m", "--request-timeout", "0s"}, wantErr: []string{"request_timeout"}},
		{name: "short api key", args: []string{"--package", "m", "--api-key", "abc"}, wantErr: []string{"api_key", "8 characters"}},
		{name: "stray argument", args: []string{"m.tar.gz"}, wantErr: []string{`unexpected argument "m.tar.gz"`, "--package"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			c, err := Load(tc.args, getenv, io.Discard)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; got %+v", c)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Defaults()
	if c.MaxQueue != 64 || c.RequestTimeout != 30*time.Second || c.APIKey != "" {
		t.Errorf("defaults: %+v", c)
	}
	// The seed's offline SDK documents 0.0.0.0:8987 on Linux and
	// 127.0.0.1:8987 on Windows.
	want := "0.0.0.0:8987"
	if runtime.GOOS == "windows" {
		want = "127.0.0.1:8987"
	}
	if c.Listen != want {
		t.Errorf("listen default %q, want %q on %s", c.Listen, want, runtime.GOOS)
	}
}

func TestLoadHelp(t *testing.T) {
	var out strings.Builder
	_, err := Load([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "-"+s.flagName()) || !strings.Contains(out.String(), s.env) {
			t.Errorf("usage lacks --%s or %s", s.flagName(), s.env)
		}
	}
}

func TestLoadTrustKey(t *testing.T) {
	pub, _, err := modelpkg.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	withKey := t.TempDir()
	if err := modelpkg.WritePublicKey(filepath.Join(withKey, "signing.pub"), pub); err != nil {
		t.Fatal(err)
	}
	bare := t.TempDir()
	junk := writeFile(t, bare, "junk.pub", "not a key")

	for _, tc := range []struct {
		name     string
		c        Serve
		wantPath string
		wantErr  []string
		is       error
	}{
		{name: "beside the package", c: Serve{Package: filepath.Join(withKey, "m.tar.gz")}, wantPath: filepath.Join(withKey, "signing.pub")},
		{name: "given", c: Serve{Package: filepath.Join(bare, "m.tar.gz"), TrustKey: filepath.Join(withKey, "signing.pub")},
			wantPath: filepath.Join(withKey, "signing.pub")},
		{name: "none", c: Serve{Package: filepath.Join(bare, "m.tar.gz")}, is: ErrNoTrustKey,
			wantErr: []string{"没有可信的签名公钥", "no trusted signing key", "--trust-key FILE", "AUTOCV_TRUST_KEY", filepath.Join(bare, "signing.pub")}},
		{name: "given but missing", c: Serve{Package: "m", TrustKey: filepath.Join(bare, "nope.pub")}, is: os.ErrNotExist,
			wantErr: []string{"nope.pub"}},
		{name: "not a key", c: Serve{Package: "m", TrustKey: junk}, is: modelpkg.ErrKey, wantErr: []string{"junk.pub", "PUBLIC KEY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.c.LoadTrustKey()
			if tc.is != nil || len(tc.wantErr) > 0 {
				if !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Path != tc.wantPath || k.ID != modelpkg.KeyID(pub) {
				t.Errorf("got %s %s", k.Path, k.ID)
			}
			if got, err := modelpkg.ParsePublicKey(k.PEM); err != nil || !got.Equal(pub) {
				t.Errorf("PEM does not hold the key: %v", err)
			}
		})
	}
}
