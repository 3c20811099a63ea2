package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/autocv/autocv/controlplane/infer"
	"github.com/autocv/autocv/controlplane/internal/rig"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/api"
)

// benchPhoto is the one photo section 3 classifies.
const benchPhoto = "datasets/hymenoptera/val/ants/10308379_1b6c72e180.jpg"

// inferResult is section 3.
type inferResult struct {
	trainImages int
	train       time.Duration // version queued → succeeded, cold feature cache
	publish     time.Duration // POST /services (loads the model)
	http        rig.Latencies // POST /infer/{path}, client side
	server      rig.Latencies // the latency_ms the server reports (its Pool.Predict)
	direct      rig.Latencies // Pool.Predict in this process
	topHTTP     string
	topDirect   string
}

// trainAndPublish trains a cloud-general version on hymenoptera/train
// through the server's own trainer, publishes it as a cloud API, and
// returns the model id, version and an API key.
func trainAndPublish(c *rig.Client, data, tmp string, r *inferResult) (modelID string, version int, key string, err error) {
	zipPath := filepath.Join(tmp, "hymenoptera-train.zip")
	z, err := rig.WriteFolderZip(data, zipPath, "datasets/hymenoptera/train")
	if err != nil {
		return "", 0, "", err
	}
	im, err := importZip(c, "hymenoptera", zipPath, z)
	if err != nil {
		return "", 0, "", fmt.Errorf("hymenoptera import: %w", err)
	}
	r.trainImages = im.accepted
	var m api.Model
	if err := c.JSON("POST", "/api/v1/models", api.CreateModelRequest{Name: "hymenoptera", Contact: "bench@example.com", Description: "ants vs bees"}, &m); err != nil {
		return "", 0, "", err
	}
	var vs []api.Version
	t0 := time.Now()
	if err := c.JSON("POST", "/api/v1/models/"+m.ID+"/versions", api.CreateVersionsRequest{AppTypes: []string{"cloud-general"}, Metric: "f1",
		Data: []api.TrainingData{{DatasetID: im.datasetID, Labels: []string{"ants", "bees"}}}}, &vs); err != nil {
		return "", 0, "", err
	}
	if len(vs) != 1 {
		return "", 0, "", fmt.Errorf("training answered %d versions, want 1", len(vs))
	}
	version = vs[0].Version
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var v api.Version
		if err := c.JSON("GET", fmt.Sprintf("/api/v1/models/%s/versions/%d", m.ID, version), nil, &v); err != nil {
			return "", 0, "", err
		}
		if v.Status == "succeeded" {
			break
		}
		if v.Status != "queued" && v.Status != "training" && v.Status != "stopping" {
			return "", 0, "", fmt.Errorf("training version %d: %s: %s", version, v.Status, v.Error)
		}
		if time.Now().After(deadline) {
			return "", 0, "", fmt.Errorf("training version %d: still %s after 5 minutes", version, v.Status)
		}
	}
	r.train = time.Since(t0)

	var k api.Token
	if err := c.JSON("POST", "/api/v1/apikeys", api.TokenRequest{Name: "bench"}, &k); err != nil {
		return "", 0, "", err
	}
	t0 = time.Now()
	if err := c.JSON("POST", "/api/v1/services", api.CreateServiceRequest{Name: "bench", Path: "bench/ants",
		ModelID: m.ID, Version: version}, nil); err != nil {
		return "", 0, "", err
	}
	r.publish = time.Since(t0)
	return m.ID, version, k.Key, nil
}

// benchInfer compares POST /api/v1/infer/bench/ants with Pool.Predict in
// this process on the same package, photo and thread setting. The two run
// in alternating rounds after a warm-up, so a noisy moment slows both.
func benchInfer(ctx context.Context, srv *rig.ServerProc, cfg config, tmp string) (inferResult, error) {
	var r inferResult
	c := rig.NewClient(srv.URL())
	if err := c.Login(); err != nil {
		return r, err
	}
	modelID, version, key, err := trainAndPublish(c, cfg.data, tmp, &r)
	if err != nil {
		return r, err
	}
	pkg, err := c.Do("GET", fmt.Sprintf("/api/v1/models/%s/versions/%d/package", modelID, version), "", nil)
	if err != nil {
		return r, err
	}
	pkgPath := filepath.Join(tmp, "package.tar.gz")
	if err := os.WriteFile(pkgPath, pkg, 0o600); err != nil {
		return r, err
	}
	sum := sha256.Sum256(pkg)
	pub, err := os.ReadFile(filepath.Join(srv.DataDir, "signing.pub"))
	if err != nil {
		return r, fmt.Errorf("the server's signing key: %w", err)
	}
	pool := infer.New(infer.Config{PluginBinary: filepath.Join(cfg.bin, host.BinaryName()),
		Env: []string{"ONNXRUNTIME_LIB=" + filepath.Join(cfg.bin, rig.ORTName)}, TrustedKeys: [][]byte{pub}, Threads: cfg.threads})
	defer pool.Close()
	pkey := infer.Key{ModelID: modelID, Version: version, SHA256: hex.EncodeToString(sum[:])}
	if err := pool.Load(ctx, pkey, pkgPath, infer.LoadOptions{}); err != nil {
		return r, err
	}
	photo, err := os.ReadFile(filepath.Join(cfg.data, benchPhoto))
	if err != nil {
		return r, err
	}

	keyed := c.WithToken(key)
	viaHTTP := func(keep bool) error {
		t0 := time.Now()
		raw, err := keyed.Do("POST", "/api/v1/infer/bench/ants", "image/jpeg", bytes.NewReader(photo))
		d := time.Since(t0)
		if err != nil {
			return err
		}
		var out api.PredictResponse
		if err := json.Unmarshal(raw, &out); err != nil || len(out.Predictions) == 0 {
			return fmt.Errorf("/infer answered %q", raw)
		}
		if keep {
			r.http = append(r.http, d)
			r.server = append(r.server, time.Duration(out.LatencyMS*float64(time.Millisecond)))
			r.topHTTP = out.Predictions[0].Label
		}
		return nil
	}
	direct := func(keep bool) error {
		t0 := time.Now()
		preds, _, err := pool.Predict(ctx, pkey, [][]byte{photo}, 5)
		d := time.Since(t0)
		if err != nil {
			return err
		}
		if len(preds) != 1 || len(preds[0].Labels) == 0 {
			return errors.New("Pool.Predict answered no labels")
		}
		if keep {
			r.direct = append(r.direct, d)
			r.topDirect = preds[0].Labels[0].Label
		}
		return nil
	}
	const warm, rounds = 10, 4
	for i := range warm {
		if err := direct(false); err != nil {
			return r, fmt.Errorf("in-process: %w", err)
		}
		if err := viaHTTP(false); err != nil {
			return r, fmt.Errorf("infer %d: %w", i, err)
		}
	}
	per := max(1, cfg.inferN/rounds)
	for range rounds {
		for range per {
			if err := direct(true); err != nil {
				return r, fmt.Errorf("in-process: %w", err)
			}
		}
		for range per {
			if err := viaHTTP(true); err != nil {
				return r, fmt.Errorf("/infer: %w", err)
			}
		}
	}
	if r.topHTTP != r.topDirect {
		return r, fmt.Errorf("the two paths disagree on the photo: /infer says %q, in-process %q", r.topHTTP, r.topDirect)
	}
	return r, nil
}

// printInfer prints section 3.
func printInfer(r inferResult, cfg config) {
	threads := fmt.Sprint(cfg.threads)
	if cfg.threads == 0 {
		threads = "plugin default (its GOMAXPROCS)"
	}
	fmt.Printf("3. cloud /infer vs the same plugin in-process: one photo (%s), top 5, one call at a time, intra-op threads %s\n",
		filepath.Base(benchPhoto), threads)
	fmt.Printf("   model: cloud-general version trained by the server's trainer on %d hymenoptera photos in %.1f s (cold feature cache); publishing took %.2f s\n",
		r.trainImages, r.train.Seconds(), r.publish.Seconds())
	fmt.Printf("%-50s %6s %9s %9s %9s\n", "path", "n", "p50 ms", "p99 ms", "mean ms")
	rig.Rule(87)
	d, h, s := r.direct.Summarize(), r.http.Summarize(), r.server.Summarize()
	fmt.Printf("%-50s %6d %9.2f %9.2f %9.2f\n", "in-process infer.Pool.Predict", d.N, d.P50, d.P99, d.Mean)
	fmt.Printf("%-50s %6d %9.2f %9.2f %9.2f\n", "POST /api/v1/infer/{path} (API key, raw body)", h.N, h.P50, h.P99, h.Mean)
	fmt.Printf("%-50s %6d %9.2f %9.2f %9.2f\n", "  of which the server's Pool.Predict (latency_ms)", s.N, s.P50, s.P99, s.Mean)
	fmt.Printf("%-50s %6s %8.3f× %8.3f× %8.3f×\n", "ratio /infer ÷ in-process", "", h.P50/d.P50, h.P99/d.P99, h.Mean/d.Mean)
	fmt.Printf("%-50s %6s %9.2f %9.2f %9.2f\n", "difference /infer − in-process, ms", "", h.P50-d.P50, h.P99-d.P99, h.Mean-d.Mean)
	fmt.Printf("   both paths answer %q first; %d rounds alternating, %d warm-up calls each not counted\n", r.topHTTP, 4, 10)
	fmt.Println()
}
