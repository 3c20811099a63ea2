package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /from/file\nhttp_addr: 127.0.0.1:9000\ntrainers: 3\nlease_ttl: 90s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load([]string{"--config", file, "--trainers", "2"}, env(map[string]string{
		"AUTOCV_HTTP_ADDR": "127.0.0.1:9100", "AUTOCV_TRAINERS": "5"}), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/file" || c.HTTPAddr != "127.0.0.1:9100" || c.Trainers != 2 || c.LeaseTTL != 90*time.Second {
		t.Errorf("got data_dir %q http_addr %q trainers %d lease_ttl %s; want file, env, flag, file", c.DataDir, c.HTTPAddr, c.Trainers, c.LeaseTTL)
	}
	if c.MQTTAddr != "127.0.0.1:1883" {
		t.Errorf("default mqtt addr %q", c.MQTTAddr)
	}
	// A bool flag without a value before another flag.
	c, err = load([]string{"--s3-insecure", "--config", file, "--trainers", "0"}, env(nil), os.Stderr)
	if err != nil || !c.S3Insecure || c.Trainers != 0 || c.DataDir != "/from/file" {
		t.Errorf("bool flag: %+v %v", c, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	_ = os.WriteFile(unknown, []byte("data_dir: x\nhttp_adr: 1.2.3.4:5\n"), 0o600)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--config", unknown}, nil, "http_adr"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "config file"},
		{[]string{"--http-addr", "nope"}, nil, "--http-addr"},
		{[]string{"--trainers", "-1"}, nil, "--trainers"},
		{nil, map[string]string{"AUTOCV_TRAINERS": "many"}, "AUTOCV_TRAINERS"},
		{[]string{"--trainer-device", "tpu"}, nil, "--trainer-device"},
		{[]string{"--lease-ttl", "1s"}, nil, "--lease-ttl"},
		{[]string{"--public-url", "example.com"}, nil, "--public-url"},
		{[]string{"--blobs", "s3://bucket"}, nil, "s3-endpoint"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"extra"}, nil, "unexpected"},
	} {
		_, err := load(tc.args, env(tc.env), &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: error %v, want one naming %q", tc.args, tc.env, err, tc.want)
		}
	}
}
