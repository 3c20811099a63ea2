package e2e_test

import (
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store/pgtest"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// TestReplicas runs two autocv-server replicas side by side on what they
// share when scaled out — one PostgreSQL, one S3 store, one external
// Mosquitto, one signing key — with a trainer node talking to replica B
// only. Whatever is started on one replica is seen and served by the other.
func TestReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	s3, _ := startS3(t)
	mq := startMosquitto(t, "_autocv-cp-a", "_autocv-cp-b")
	key := filepath.Join(t.TempDir(), "signing.key")
	flags := func(id string) []string {
		return append([]string{"--replica-id", id, "--signing-key", key,
			"--mqtt-url", "tcp://" + mq.addr, "--mqtt-username", "_autocv-cp-" + id, "--mqtt-password", mosquittoPassword,
			"--mosquitto-password-file", mq.pwFile, "--mosquitto-pid-file", mq.pidFile,
			"--device-http-downloads=false"}, s3...)
	}
	a := startServer(t, serverOpts{dsn: dsn, extra: flags("a")})
	b := startServer(t, serverOpts{dsn: dsn, extra: flags("b")})
	startWorkers(t, b, 1)

	ca := a.admin(t)
	cb := &client{t: t, base: b.URL, token: ca.token} // a session made on A works on B
	// Upload to A; B sees the dataset ready with the same labels.
	d := ca.createDataset("replicated", zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"))
	var db dataset
	if st := cb.call("GET", "/api/v1/datasets/"+d.ID, nil, &db); st != 200 || db.Status != "ready" || len(db.Labels) != 2 {
		t.Fatalf("dataset seen from B: %d %+v", st, db)
	}
	// Model on B, training started on A, leased by the node behind B,
	// package signed by B, status read back on A.
	var m struct{ ID string }
	cb.call("POST", "/api/v1/models", map[string]string{"name": "replicated"}, &m)
	var vs []version
	if st := ca.call("POST", "/api/v1/models/"+m.ID+"/versions", map[string]any{"app_types": []string{"cloud-general", "offline-high-performance"},
		"data": []map[string]any{{"dataset_id": d.ID, "labels": []string{"ants", "bees"}}}}, &vs); st != http.StatusAccepted {
		t.Fatalf("train via A: %d", st)
	}
	for _, v := range vs {
		if got := ca.waitVersion(m.ID, v.Version, 4*time.Minute); got.Status != "succeeded" {
			t.Fatalf("version %d: %s %s", v.Version, got.Status, got.Error)
		}
	}
	// Published on B, called on A (which loads the version on first use).
	var key2 struct{ Key string }
	cb.call("POST", "/api/v1/apikeys", map[string]string{"name": "replicas"}, &key2)
	if st := cb.call("POST", "/api/v1/services", map[string]any{"name": "both", "path": "replicas/ants", "model_id": m.ID, "version": vs[0].Version}, nil); st != 201 {
		t.Fatalf("publish on B: %d", st)
	}
	photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", "ants", "10308379_1b6c72e180.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// Both answer, and answer alike: the label a borderline photo gets is
	// the model's business, that replicas agree on it is theirs.
	var answers [2][]struct {
		Label      string
		Confidence float64
	}
	for i, s := range []*server{a, b} {
		api := &client{t: t, base: s.URL, token: key2.Key}
		var out struct {
			Predictions []struct {
				Label      string
				Confidence float64
			}
		}
		if st := api.call("POST", "/api/v1/infer/replicas/ants", photo, &out); st != 200 || len(out.Predictions) != 2 {
			t.Errorf("infer on %s: %d %+v", s.URL, st, out)
		}
		answers[i] = out.Predictions
	}
	for i := range answers[0] {
		if i >= len(answers[1]) || answers[0][i].Label != answers[1][i].Label ||
			math.Abs(answers[0][i].Confidence-answers[1][i].Confidence) > modelpkg.GoldenTolerance {
			t.Errorf("replicas answer differently: A %+v, B %+v", answers[0], answers[1])
			break
		}
	}
	// Switched off on A: B refuses at once (the row, not a cache, decides).
	var svcs struct{ Items []struct{ ID string } }
	ca.call("GET", "/api/v1/services", nil, &svcs)
	if st := ca.call("PATCH", "/api/v1/services/"+svcs.Items[0].ID, map[string]any{"online": false}, nil); st != 200 {
		t.Fatalf("offline on A: %d", st)
	}
	if st := (&client{t: t, base: b.URL, token: key2.Key}).call("POST", "/api/v1/infer/replicas/ants", photo, nil); st != http.StatusServiceUnavailable {
		t.Errorf("infer on B after A took the service offline: %d, want 503", st)
	}
	// A device enrolled through B gets its package as MQTT chunks answered
	// by whichever replica the shared subscription picks.
	deploy(t, b, m.ID, vs[1].Version)
	if n := packageDownloads(t, a) + packageDownloads(t, b); n != 0 {
		t.Errorf("%d HTTP package downloads with --device-http-downloads=false", n)
	}
}
