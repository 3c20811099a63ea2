//go:build linux && amd64

package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// olderCPUs are the CPUs a package must also serve on: qemu-x86_64 emulates
// them, so the inference plugin's onnxruntime picks the kernels those
// instruction sets have (SSE4.2 only; AVX2 without AVX-512 or VNNI).
var olderCPUs = []string{"Nehalem", "Haswell-v4"}

// servesOnOlderCPUs loads the signed package the trainer wrote into out in
// the real inference plugin running on emulated older CPUs: the load's
// golden self-test must pass there, and a few val photos must get the
// answers the plugin gives on this machine, within the golden tolerance.
func servesOnOlderCPUs(t *testing.T, out string) {
	qemu := testenv.Tool(t, "qemu-x86_64", "qemu-user")
	dir := t.TempDir()
	plugin := testenv.GoBuild(t, "./plugins/onnx/cmd/autocv-plugin-onnx", nil)
	pub, err := os.ReadFile(filepath.Join(out, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	var photos [][]byte
	for _, p := range []string{"ants/10308379_1b6c72e180.jpg", "ants/1124525276_816a07c17f.jpg", "bees/10870992_eebeeb3a12.jpg", "bees/1032546534_06907fe3b3.jpg"} {
		b, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", p))
		if err != nil {
			t.Fatal(err)
		}
		photos = append(photos, b)
	}
	serve := func(t *testing.T, binary string) inference.PredictResult {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		p, err := host.Start(ctx, host.Config{Binary: binary, StartTimeout: 2 * time.Minute,
			Env: []string{"ONNXRUNTIME_LIB=" + testenv.ORTLibrary(t)}})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Kill()
		start := time.Now()
		if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: filepath.Join(out, "package.tar.gz"),
			TrustedKeys: [][]byte{pub}, IntraOpThreads: 1}); err != nil {
			t.Fatalf("load (golden self-test included): %v", err)
		}
		t.Logf("loaded and self-tested in %s", time.Since(start).Round(time.Millisecond))
		res, err := p.Predict(ctx, inference.PredictRequest{Images: photos, TopK: 2})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	native := serve(t, plugin)
	for _, cpu := range olderCPUs {
		t.Run(cpu, func(t *testing.T) {
			t.Parallel()
			wrapper := filepath.Join(dir, "plugin-on-"+cpu)
			script := fmt.Sprintf("#!/bin/sh\nexec %q -cpu %q %q \"$@\" 2>/dev/null\n", qemu, cpu, plugin)
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			emulated := serve(t, wrapper)
			if len(emulated.Predictions) != len(native.Predictions) {
				t.Fatalf("%d answers on %s for %d photos", len(emulated.Predictions), cpu, len(native.Predictions))
			}
			for i, want := range native.Predictions {
				got := emulated.Predictions[i]
				if got.Err != "" || len(got.Labels) != len(want.Labels) {
					t.Fatalf("photo %d: %+v on %s, %+v here", i, got, cpu, want)
				}
				for j := range want.Labels {
					if got.Labels[j].Label != want.Labels[j].Label ||
						math.Abs(float64(got.Labels[j].Confidence-want.Labels[j].Confidence)) > modelpkg.GoldenTolerance {
						t.Errorf("photo %d: %+v on %s, %+v here", i, got.Labels, cpu, want.Labels)
						break
					}
				}
			}
		})
	}
}
