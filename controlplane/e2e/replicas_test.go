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
	"github.com/autocv/autocv/protocol/api"
	apiclient "github.com/autocv/autocv/protocol/api/client"
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

	ctx := t.Context()
	ca := a.admin(t)
	cb := newClient(t, b.URL, ca.Token) // a session made on A works on B
	// Upload to A; B sees the dataset ready with the same labels.
	d := ca.createDataset("replicated", zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"))
	if db, err := cb.GetDataset(ctx, d.ID); err != nil || db.Status != api.DatasetReady || len(db.Labels) != 2 {
		t.Fatalf("dataset seen from B: %v %s", err, jsonOf(db))
	}
	// Model on B, training started on A, leased by the node behind B,
	// package signed by B, status read back on A.
	m, err := cb.CreateModel(ctx, api.CreateModelRequest{Name: "replicated"})
	if err != nil {
		t.Fatalf("model on B: %v", err)
	}
	vs, err := ca.Train(ctx, m.ID, api.CreateVersionsRequest{AppTypes: []string{"cloud-general", "offline-high-performance"},
		Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}})
	if err != nil || len(vs) != 2 {
		t.Fatalf("train via A: %v %+v", err, vs)
	}
	for _, v := range vs {
		if got := ca.waitVersion(m.ID, v.Version, 4*time.Minute); got.Status != api.VersionSucceeded {
			t.Fatalf("version %d: %s %s", v.Version, got.Status, got.Error)
		}
	}
	// Published on B, called on A (which loads the version on first use).
	key2, err := cb.CreateAPIKey(ctx, api.TokenRequest{Name: "replicas"})
	if err != nil {
		t.Fatalf("api key on B: %v", err)
	}
	if _, err := cb.CreateService(ctx, api.CreateServiceRequest{Name: "both", Path: "replicas/ants", ModelID: m.ID, Version: vs[0].Version}); err != nil {
		t.Fatalf("publish on B: %v", err)
	}
	photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", "ants", "10308379_1b6c72e180.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// Both answer, and answer alike: the label a borderline photo gets is
	// the model's business, that replicas agree on it is theirs.
	var answers [2][]api.Prediction
	for i, s := range []*server{a, b} {
		keyed := newClient(t, s.URL, key2.Key)
		out, err := keyed.Infer(ctx, "replicas/ants", []apiclient.File{fileOf("ant.jpg", photo)}, api.PredictQuery{})
		if err != nil || out.One == nil || len(out.One.Predictions) != 2 {
			t.Errorf("infer on %s: %v %s", s.URL, err, jsonOf(out))
			continue
		}
		answers[i] = out.One.Predictions
	}
	for i := range answers[0] {
		if i >= len(answers[1]) || answers[0][i].Label != answers[1][i].Label ||
			math.Abs(float64(answers[0][i].Confidence-answers[1][i].Confidence)) > modelpkg.GoldenTolerance {
			t.Errorf("replicas answer differently: A %+v, B %+v", answers[0], answers[1])
			break
		}
	}
	// Switched off on A: B refuses at once (the row, not a cache, decides).
	svcs, err := ca.ListServices(ctx)
	if err != nil || len(svcs.Items) == 0 {
		t.Fatalf("services on A: %v %s", err, jsonOf(svcs))
	}
	online := false
	if _, err := ca.UpdateService(ctx, svcs.Items[0].ID, api.UpdateServiceRequest{Online: &online}); err != nil {
		t.Fatalf("offline on A: %v", err)
	}
	_, err = newClient(t, b.URL, key2.Key).Infer(ctx, "replicas/ants", []apiclient.File{fileOf("ant.jpg", photo)}, api.PredictQuery{})
	if errStatus(t, err) != http.StatusServiceUnavailable {
		t.Errorf("infer on B after A took the service offline: %v, want 503", err)
	}
	// A device enrolled through B gets its package as MQTT chunks answered
	// by whichever replica the shared subscription picks.
	deploy(t, b, m.ID, vs[1].Version)
	if n := packageDownloads(t, a) + packageDownloads(t, b); n != 0 {
		t.Errorf("%d HTTP package downloads with --device-http-downloads=false", n)
	}
}
