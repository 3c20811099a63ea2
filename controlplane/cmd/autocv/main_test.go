package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testApp(env map[string]string) (*app, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	a := newApp(context.Background(), strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return a, &out, &errb
}

func TestParseInterleaved(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		min, max int
		pos      []string
		json     bool
		wait     bool
		zip      string
		err      string
	}{
		{name: "flags after args", args: []string{"ds_1", "--json"}, min: 1, max: 1, pos: []string{"ds_1"}, json: true},
		{name: "flags between args", args: []string{"m", "--wait", "3", "--zip=z.zip"}, min: 2, max: 2, pos: []string{"m", "3"}, wait: true, zip: "z.zip"},
		{name: "flags first", args: []string{"--zip", "a b.zip", "x"}, min: 1, max: -1, pos: []string{"x"}, zip: "a b.zip"},
		{name: "double dash ends flags", args: []string{"a", "--", "--json", "-x"}, min: 0, max: -1, pos: []string{"a", "--json", "-x"}},
		{name: "too few", args: []string{"--json"}, min: 1, max: 1, err: "missing arguments"},
		{name: "too many", args: []string{"a", "b", "c"}, min: 1, max: 2, err: "too many arguments: c"},
		{name: "unknown flag", args: []string{"a", "--frob"}, min: 1, max: 1, err: "flag provided but not defined: -frob"},
		{name: "flag without value", args: []string{"a", "--zip"}, min: 1, max: 1, err: "flag needs an argument: -zip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _, _ := testApp(nil)
			fs := a.flagSet("test", "usage: test")
			wait := fs.Bool("wait", false, "")
			zip := fs.String("zip", "", "")
			pos, err := a.parse(fs, tc.args, tc.min, tc.max)
			if tc.err != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(ue.msg, tc.err) {
					t.Fatalf("err %v, want a usage error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pos, tc.pos) && !(len(pos) == 0 && len(tc.pos) == 0) {
				t.Errorf("positional %q, want %q", pos, tc.pos)
			}
			if a.jsonOut != tc.json || *wait != tc.wait || *zip != tc.zip {
				t.Errorf("json %v wait %v zip %q, want %v %v %q", a.jsonOut, *wait, *zip, tc.json, tc.wait, tc.zip)
			}
		})
	}
}

func TestDataFlag(t *testing.T) {
	cases := []struct {
		in     string
		id     string
		labels []string
		err    string
	}{
		{in: "ds_1:ants,bees", id: "ds_1", labels: []string{"ants", "bees"}},
		{in: "ds_1: 蚂蚁 , 蜜蜂", id: "ds_1", labels: []string{"蚂蚁", "蜜蜂"}},
		{in: "ds_1", err: "want DATASET_ID:label1,label2"},
		{in: ":ants", err: "want DATASET_ID"},
		{in: "ds_1:", err: "want DATASET_ID"},
		{in: "ds_1:ants,,bees", err: "empty label"},
		{in: "ds_1:ants,ants", err: "names label ants twice"},
	}
	for _, tc := range cases {
		var d dataFlag
		err := d.Set(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(d) != 1 || d[0].DatasetID != tc.id || !reflect.DeepEqual(d[0].Labels, tc.labels) {
			t.Errorf("%q: %v %v", tc.in, d, err)
		}
	}
}

func TestServicePath(t *testing.T) {
	cases := map[string]string{
		"insects/ants":                   "insects/ants",
		"/insects/ants/":                 "insects/ants",
		"/api/v1/infer/insects/ants":     "insects/ants",
		"http://h:8080/api/v1/infer/a/b": "a/b",
		"a b":                            "a b",
		"":                               "",
		"a/../b":                         "",
		"a//b":                           "",
	}
	for in, want := range cases {
		got, err := servicePath(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("servicePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	cases := map[string]string{
		"http://127.0.0.1:8080":          "http://127.0.0.1:8080",
		"https://cv.example.com/":        "https://cv.example.com",
		" https://cv.example.com/autocv": "https://cv.example.com/autocv",
		"127.0.0.1:8080":                 "",
		"ftp://x":                        "",
		"http://":                        "",
		"http://u:p@host":                "",
		"http://host/?q=1":               "",
	}
	for in, want := range cases {
		got, err := normalizeServer(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Settings come from the flag, then the environment, then the saved
// login; the saved token is only sent to the server it came from.
func TestResolve(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	if _, err := saveCredentials(&credentials{Server: "http://saved:8080", Username: "u", Token: "acvs_saved"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(cfg, "autocv", "credentials.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	cases := []struct {
		name          string
		env           map[string]string
		flagServer    string
		flagToken     string
		server, token string
	}{
		{name: "saved login", server: "http://saved:8080", token: "acvs_saved"},
		{name: "env server elsewhere: no saved token", env: map[string]string{"AUTOCV_SERVER": "http://other"}, server: "http://other"},
		{name: "env server same: saved token", env: map[string]string{"AUTOCV_SERVER": "http://saved:8080/"}, server: "http://saved:8080", token: "acvs_saved"},
		{name: "env token wins", env: map[string]string{"AUTOCV_TOKEN": "acvk_env"}, server: "http://saved:8080", token: "acvk_env"},
		{name: "flags win", env: map[string]string{"AUTOCV_SERVER": "http://other", "AUTOCV_TOKEN": "acvk_env"}, flagServer: "https://flag", flagToken: "acvk_flag", server: "https://flag", token: "acvk_flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _, _ := testApp(tc.env)
			a.serverFlag, a.tokenFlag = tc.flagServer, tc.flagToken
			if err := a.resolve(); err != nil {
				t.Fatal(err)
			}
			if a.server != tc.server || a.token != tc.token {
				t.Errorf("server %q token %q, want %q %q", a.server, a.token, tc.server, tc.token)
			}
		})
	}
	// Without a saved login the default server is used, with no token.
	if err := os.Remove(filepath.Join(cfg, "autocv", "credentials.json")); err != nil {
		t.Fatal(err)
	}
	a, _, _ := testApp(nil)
	if err := a.resolve(); err != nil || a.server != defaultServer || a.token != "" {
		t.Errorf("no login: %q %q %v", a.server, a.token, err)
	}
}

func TestExitCodes(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	cases := []struct {
		args   []string
		env    map[string]string
		code   int
		stdout string
		stderr string
	}{
		{args: nil, code: 2, stderr: "autocv: no command given"},
		{args: []string{"help"}, code: 0, stdout: "autocv train MODEL_ID"},
		{args: []string{"--help"}, code: 0, stdout: "usage: autocv"},
		{args: []string{"datasets", "get", "-h"}, code: 0, stdout: "usage: autocv datasets get ID"},
		{args: []string{"frob"}, code: 2, stderr: `unknown command "frob"`},
		{args: []string{"models"}, code: 2, stderr: "models: which one?"},
		{args: []string{"versions", "get", "m", "x"}, code: 2, stderr: `version "x": want a number`},
		{args: []string{"validate", "m", "1", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"}, code: 2, stderr: "at most 10 images"},
		{args: []string{"enrollment-tokens", "create", "--group", "g", "--expires-in", "10s"}, code: 2, stderr: "--expires-in must be"},
		{args: []string{"datasets", "create", "--name", "x", "--zip", "/nonexistent.zip"}, code: 1, stderr: "zip file: open /nonexistent.zip"},
		{args: []string{"whoami"}, env: map[string]string{"AUTOCV_SERVER": "localhost:8080"}, code: 2, stderr: "is not an http:// or https:// URL"},
		{args: []string{"datasets", "create", "--name", "x", "--zip", "main.go"}, code: 1, stderr: "main.go is not a zip file"},
		{args: []string{"datasets", "create", "--name", "x", "--zip", "main.go"}, env: map[string]string{"AUTOCV_CHUNK_SIZE": "0"}, code: 2, stderr: "AUTOCV_CHUNK_SIZE=\"0\""},
		{args: []string{"version"}, code: 0, stdout: "autocv "},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, strings.NewReader(""), &out, &errb, func(k string) string { return tc.env[k] })
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("exit %d, want %d\nstdout %q (want %q)\nstderr %q (want %q)", code, tc.code, out.String(), tc.stdout, errb.String(), tc.stderr)
			}
		})
	}
}
