package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoadRunConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c runConfig)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c runConfig) {
			if c.StateDir == "" || c.TransferWindow != 8 || c.TransferTimeout != 10*time.Second || c.MaxStoreBytes != 0 || c.Plugin != "auto" ||
				c.AgentUpdateTimeout != 2*time.Minute {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "env then flags", args: []string{"--state-dir", "/flag", "--transfer-window", "16"},
			env: map[string]string{"AUTOCV_STATE_DIR": "/env", "AUTOCV_MAX_STORE_BYTES": "1000", "AUTOCV_LISTEN": "127.0.0.1:1", "ONNXRUNTIME_LIB": "/ort.so"},
			check: func(t *testing.T, c runConfig) {
				if c.StateDir != "/flag" || c.MaxStoreBytes != 1000 || c.Listen != "127.0.0.1:1" || c.TransferWindow != 16 || c.ONNXRuntimeLib != "/ort.so" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "bad env", env: map[string]string{"AUTOCV_TRANSFER_TIMEOUT": "soon"}, wantErr: "AUTOCV_TRANSFER_TIMEOUT"},
		{name: "window too big", args: []string{"--transfer-window", "65"}, wantErr: "--transfer-window must be in [1, 64]"},
		{name: "negative store", args: []string{"--max-store-bytes", "-1"}, wantErr: "--max-store-bytes"},
		{name: "bad plugin", args: []string{"--plugin", "tensorrt"}, wantErr: "tensorrt"},
		{name: "zero update timeout", env: map[string]string{"AUTOCV_AGENT_UPDATE_TIMEOUT": "0s"}, wantErr: "--agent-update-timeout"},
		{name: "stray argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadRunConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
	if _, err := loadRunConfig([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}
