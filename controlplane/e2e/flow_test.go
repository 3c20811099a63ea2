package e2e_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/controlplane/store/pgtest"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	apiclient "github.com/autocv/autocv/protocol/api/client"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// The whole cloud user's flow on the embedded defaults (SQLite, a blob
// folder, the embedded broker) with one real trainer worker process.
func TestFlowSQLite(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 1})
	modelID, versions := flow(t, s)
	// Subtests, so that a skip in one (no mosquitto_sub outside CI) does
	// not silently skip the others.
	t.Run("devices", func(t *testing.T) { devices(t, s) })
	t.Run("deploy", func(t *testing.T) {
		agent := deploy(t, s, modelID, versions[1])
		// one prediction contract: the device and the cloud answer alike
		sameContract(t, s, agent)
		uploadPage(t, agent)
		rollout(t, s, modelID, versions[1])
	})
	t.Run("sdk", func(t *testing.T) { sdk(t, s, modelID, versions[1]) })
	// The agent took the HTTP URL here (the default), which the
	// MQTT-only tests below check never happens for them.
	if n := packageDownloads(t, s); n == 0 {
		t.Error("no HTTP package download counted, so the MQTT-only checks elsewhere prove nothing")
	}
}

// The same flow scaled out: PostgreSQL for metadata and an S3-compatible
// store (gofakes3 over real HTTP on loopback) for blobs.
func TestFlowPostgres(t *testing.T) {
	s3flags, bucket := startS3(t)
	s := startServer(t, serverOpts{trainers: 0, dsn: pgtest.DSN(t), extra: s3flags})
	// Trainers as on other machines: started by hand with a trainer token,
	// two of them leasing from the PostgreSQL queue at once.
	startWorkers(t, s, 2)
	modelID, _ := flow(t, s)
	for _, w := range []string{"e2e-node-1", "e2e-node-2"} {
		if !strings.Contains(s.out.String(), `"worker": "`+w+`"`) {
			t.Errorf("worker %s never leased a job (the two versions should train side by side)", w)
		}
	}
	switchUnderLoad(t, s, modelID)
	// The blobs are in the bucket, and nothing went to the local folder.
	objs, err := bucket.ListBucket("autocv", &gofakes3.Prefix{HasPrefix: true, Prefix: "blobs/"}, gofakes3.ListBucketPage{})
	if err != nil || len(objs.Contents) < 200 {
		t.Errorf("S3 bucket holds %v objects under blobs/ (%v); want the ~245 photos and the packages", objCount(objs), err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "blobs")); err == nil {
		t.Error("blobs were written to the data dir although the store is S3")
	}
}

// flow walks 数据中心 → 训练 → 评估报告 → 校验 → 发布 and returns the model and
// its version numbers (cloud-general, offline-high-performance).
func flow(t *testing.T, s *server) (string, []int) {
	ctx := t.Context()
	c := s.admin(t)

	// 数据中心: the hymenoptera training photos as a zip.
	train := testenv.Data(t, "datasets", "hymenoptera", "train")
	d := c.createDataset("蚂蚁和蜜蜂", zipDir(t, train, "hymenoptera"))
	if d.Status != api.DatasetReady {
		t.Fatalf("dataset %s: %s", d.Status, d.Error)
	}
	if d.ImportReport.Accepted["ants"] < 100 || d.ImportReport.Accepted["bees"] < 100 {
		t.Fatalf("accepted %v", d.ImportReport.Accepted)
	}
	gif := false
	for _, sk := range d.ImportReport.Skipped {
		if strings.HasSuffix(sk.Path, "imageNotFound.gif") {
			gif = true
			if sk.Reason != "unsupported_format" {
				t.Errorf("imageNotFound.gif skipped for %q (%s), want unsupported_format", sk.Reason, sk.Detail)
			}
		}
	}
	if !gif {
		t.Errorf("imageNotFound.gif is not in the skipped list: %+v", d.ImportReport.Skipped)
	}
	if len(d.Labels) != 2 || !d.Labels[0].Trainable {
		t.Errorf("labels %+v", d.Labels)
	}

	// 模型列表: a model, two application types trained at once.
	m, err := c.CreateModel(ctx, api.CreateModelRequest{Name: "hymenoptera", Contact: "qa@example.com", Description: "ants vs bees"})
	if err != nil {
		t.Fatalf("create model: %v", err)
	}
	vs, err := c.Train(ctx, m.ID, api.CreateVersionsRequest{AppTypes: []string{"cloud-general", "offline-high-performance"}, Metric: "f1",
		Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}})
	if err != nil || len(vs) != 2 {
		t.Fatalf("start training: %v %+v", err, vs)
	}
	for _, v := range vs {
		got := c.waitVersion(m.ID, v.Version, 5*time.Minute)
		if got.Status != api.VersionSucceeded {
			t.Fatalf("version %d (%s): %s: %s", v.Version, v.AppType, got.Status, got.Error)
		}
		rep, err := c.Report(ctx, m.ID, v.Version)
		if err != nil {
			t.Fatalf("report of version %d: %v", v.Version, err)
		}
		if rep.Metrics.Accuracy < 0.85 {
			t.Errorf("version %d (%s) test accuracy %.3f, want ≥ 0.85", v.Version, v.AppType, rep.Metrics.Accuracy)
		}
		if rep.Verdict.ZH == "" || rep.Verdict.EN == "" {
			t.Errorf("version %d: report has no verdict", v.Version)
		}
		t.Logf("version %d %s: accuracy %.3f, f1 %.3f", v.Version, v.AppType, rep.Metrics.Accuracy, rep.Metrics.F1)
	}
	cloudV := vs[0].Version
	// The version records exactly which images it saw, and in which split.
	frozen, err := c.VersionImages(ctx, m.ID, cloudV)
	if err != nil {
		t.Fatalf("frozen image list: %v", err)
	}
	accepted := d.ImportReport.Accepted["ants"] + d.ImportReport.Accepted["bees"]
	if frozen.Total != accepted || frozen.Splits["test"] == 0 || frozen.Splits["validation"] == 0 || frozen.Splits["train"] < frozen.Total/2 {
		t.Errorf("frozen image list: %d images (imported %d), splits %v", frozen.Total, accepted, frozen.Splits)
	}

	// 校验: load the cloud version, classify 3 validation photos.
	start := time.Now()
	c.readyValidation(m.ID, cloudV)
	t.Logf("validation service ready in %s", time.Since(start).Round(time.Millisecond))
	val := testenv.Data(t, "datasets", "hymenoptera", "val")
	photos := map[string][]byte{}
	want := map[string]string{}
	for _, p := range []string{"ants/10308379_1b6c72e180.jpg", "ants/1053149811_f62a3410d3.jpg", "bees/1032546534_06907fe3b3.jpg"} {
		b, err := os.ReadFile(filepath.Join(val, p))
		if err != nil {
			t.Fatal(err)
		}
		photos[filepath.Base(p)] = b
		want[filepath.Base(p)] = strings.Split(p, "/")[0]
	}
	res, err := c.PredictValidation(ctx, m.ID, cloudV, filesOf(photos), api.PredictQuery{})
	if err != nil || res.Batch == nil || len(res.Batch.Results) != 3 {
		t.Fatalf("validation predict: %v %s", err, jsonOf(res))
	}
	right := 0
	for _, r := range res.Batch.Results {
		if len(r.Predictions) != 2 || r.Predictions[0].Confidence < r.Predictions[1].Confidence {
			t.Errorf("%s: predictions %+v, want both labels sorted", r.File, r.Predictions)
			continue
		}
		if r.Predictions[0].Label == want[r.File] {
			right++
		}
	}
	if right < 2 {
		t.Errorf("validation got %d of 3 photos right: %s", right, jsonOf(res))
	}

	// 发布: a cloud API called with an API key, refused without one.
	key, err := c.CreateAPIKey(ctx, api.TokenRequest{Name: "e2e"})
	if err != nil || key.Key == "" {
		t.Fatalf("create api key: %v %+v", err, key)
	}
	svc, err := c.CreateService(ctx, api.CreateServiceRequest{Name: "蚂蚁识别", Path: "insects/ants", ModelID: m.ID, Version: cloudV})
	if err != nil || !svc.Online {
		t.Fatalf("publish: %v %+v", err, svc)
	}
	_, err = c.CreateService(ctx, api.CreateServiceRequest{Name: "dup", Path: "insects/ants", ModelID: m.ID, Version: cloudV})
	if errStatus(t, err) != http.StatusConflict {
		t.Errorf("second service on the same path: %v, want 409", err)
	}
	offline := vs[1].Version
	_, err = c.CreateService(ctx, api.CreateServiceRequest{Name: "offline", Path: "offline", ModelID: m.ID, Version: offline})
	if errStatus(t, err) != http.StatusBadRequest {
		t.Errorf("publishing an offline version as a cloud API: %v, want 400", err)
	}
	keyed := newClient(t, s.URL, key.Key)
	ant := []apiclient.File{fileOf("10308379_1b6c72e180.jpg", photos["10308379_1b6c72e180.jpg"])}
	one, err := keyed.Infer(ctx, "insects/ants", ant, api.PredictQuery{})
	if err != nil || one.One == nil {
		t.Fatalf("infer with the API key: %v %s", err, jsonOf(one))
	}
	if p := one.One; p.Model.ID != m.ID || p.Model.Version != cloudV || len(p.Predictions) != 2 || (p.Predictions[0].Label != "ants" && p.Predictions[0].Label != "bees") {
		t.Errorf("infer answer %+v", p)
	}
	anon := newClient(t, s.URL, "")
	if st, raw := anon.raw("POST", "/api/v1/infer/insects/ants", "image/jpeg", strings.NewReader(string(photos["10308379_1b6c72e180.jpg"]))); st != http.StatusUnauthorized {
		t.Errorf("infer without a key: %d %s, want 401", st, raw)
	}
	bad := newClient(t, s.URL, "acvk_not-a-real-key")
	if _, err := bad.Infer(ctx, "insects/ants", ant, api.PredictQuery{}); errStatus(t, err) != http.StatusUnauthorized {
		t.Errorf("infer with a wrong key: %v, want 401", err)
	}
	// Several files → results in request order; a bad one carries its own
	// error and does not sink the others.
	three, err := keyed.Infer(ctx, "insects/ants", filesOf(photos), api.PredictQuery{})
	names := make([]string, 0, len(photos)) // filesOf() sends files in name order
	for n := range photos {
		names = append(names, n)
	}
	sortStrings(names)
	if err != nil || three.Batch == nil || len(three.Batch.Results) != 3 {
		t.Fatalf("infer with 3 files: %v %s", err, jsonOf(three))
	}
	for i, r := range three.Batch.Results {
		if r.File != names[i] || len(r.Predictions) != 2 || r.Predictions[0].Label != want[r.File] {
			t.Errorf("result %d: %+v, want file %s labelled %s", i, r, names[i], want[names[i]])
		}
	}
	mixed := map[string][]byte{"a-good.jpg": photos["10308379_1b6c72e180.jpg"], "b-bad.jpg": []byte("this is not an image")}
	mres, err := keyed.Infer(ctx, "insects/ants", filesOf(mixed), api.PredictQuery{})
	if err != nil || mres.Batch == nil || len(mres.Batch.Results) != 2 || mres.Batch.Results[0].File != "a-good.jpg" ||
		len(mres.Batch.Results[0].Predictions) == 0 || mres.Batch.Results[1].Error == "" || mres.Batch.Results[1].Code == "" {
		t.Errorf("infer with a good and a bad file: %v %s", err, jsonOf(mres))
	}
	if st, raw := keyed.raw("POST", "/api/v1/infer/insects/ants", "image/jpeg", strings.NewReader("not an image")); st != http.StatusUnsupportedMediaType ||
		!strings.Contains(string(raw), `"code":"not_an_image"`) {
		t.Errorf("infer with one bad image: %d %s, want 415 not_an_image", st, raw)
	}
	// The version lists its publication (发布状态).
	got, err := c.GetVersion(ctx, m.ID, cloudV)
	if err != nil || len(got.Publications) == 0 || got.Publications[0].Kind != "service" {
		t.Errorf("publications of the cloud version: %v %s", err, jsonOf(got))
	}
	return m.ID, []int{vs[0].Version, vs[1].Version}
}

// deploy enrols a real autocv-agent, sets its desired model and waits until
// the agent serves it on its own HTTP API.
var (
	agentOnce sync.Once
	agentErr  error
)

func deploy(t *testing.T, s *server, modelID string, version int) *client {
	// beside the server and the plugin: the agent runs the plugin next to
	// itself, and the server packs this agent into offline SDKs
	bin := binaries(t)
	agentBin := filepath.Join(bin, "autocv-agent")
	agentOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./agent/cmd/autocv-agent")
		cmd.Dir = testenv.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = fmt.Errorf("building the agent: %v\n%s", err, out)
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	ctx := t.Context()
	c := s.admin(t)
	tok, err := c.CreateEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: "edge"})
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	state := filepath.Join(t.TempDir(), "agent")
	enroll := exec.Command(agentBin, "enroll", "--server", s.URL, "--state-dir", state, "--name", "e2e-edge")
	enroll.Env = append(os.Environ(), "AUTOCV_ENROLL_TOKEN="+tok.Token)
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("autocv-agent enroll: %v\n%s", err, out)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	agentOut := &testenv.LockedBuffer{}
	run := exec.Command(agentBin, "run", "--state-dir", state, "--listen", listen)
	run.Stdout, run.Stderr = agentOut, agentOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = run.Process.Kill()
		_ = run.Wait()
		if t.Failed() {
			t.Logf("agent output:\n%s", tail(agentOut.String(), 4000))
		}
	})
	list, err := c.ListDevices(ctx, "edge")
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("devices in group edge: %v %s", err, jsonOf(list))
	}
	dev := list.Items[0].ID
	if _, err := c.SetDesired(ctx, dev, api.DesiredRequest{ModelID: modelID, Version: version}); err != nil {
		t.Fatalf("set desired: %v", err)
	}
	agent := newClient(t, "http://"+listen, "")
	var model httpapi.ModelResponse
	waitFor(t, 90*time.Second, "agent serving the deployed version", func() (bool, string) {
		model.Model.ID = ""
		resp, err := http.Get(agent.BaseURL + "/v1/model")
		if err != nil {
			return false, err.Error() // not listening yet
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&model)
		return resp.StatusCode == 200 && model.Model.ID == modelID && model.Model.Version == version, fmt.Sprint(resp.StatusCode, " ", model.Model)
	})
	sameAnswers(t, c, agent, modelID, version)
	// The control plane sees the device serving it.
	waitFor(t, 20*time.Second, "reported state", func() (bool, string) {
		d, err := c.GetDevice(ctx, dev)
		if err != nil {
			return false, err.Error()
		}
		r := d.Reported
		return d.Online && r != nil && r.State == fleet.StateServing && r.Model != nil && r.Model.Version == version, jsonOf(d)
	})
	return agent
}

// rollout rolls the version out again to the deployed agent's group as a
// canary, through the real agent and broker: the agent's events (naming
// the new desired state) must take its device to healthy and the rollout
// to succeeded.
func rollout(t *testing.T, s *server, modelID string, version int) {
	ctx := t.Context()
	c := s.admin(t)
	r, err := c.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: modelID, Version: version, Group: "edge",
		Strategy: api.RolloutStrategy{Type: "canary", Canary: 1, HealthTimeoutSeconds: 120}})
	if err != nil {
		t.Fatalf("create rollout: %v", err)
	}
	if r.Status != api.RolloutRunning || r.Waves != 1 || len(r.Members) != 1 {
		t.Fatalf("new rollout: %s", jsonOf(r))
	}
	waitFor(t, 90*time.Second, "rollout succeeded", func() (bool, string) {
		if r, err = c.GetRollout(ctx, r.ID); err != nil {
			return false, err.Error()
		}
		return r.Status == api.RolloutSucceeded, jsonOf(r)
	})
	if r.Devices[api.DeviceHealthy] != 1 || r.Members[0].State != api.DeviceHealthy {
		t.Errorf("rollout devices: %s", jsonOf(r))
	}
	if _, err := c.RolloutAction(ctx, r.ID, "pause"); errStatus(t, err) != http.StatusConflict {
		t.Errorf("pausing a finished rollout: %v, want 409", err)
	}
	list, err := c.ListRollouts(ctx)
	if err != nil || list.Total != 1 || list.Items[0].ID != r.ID {
		t.Errorf("rollouts: %s %v", jsonOf(list), err)
	}
}

// answerPhotos are val photos of both labels, among them borderline ones
// whose top-1 moved with the CPU while backbones ran in int8.
var answerPhotos = []string{
	"ants/10308379_1b6c72e180.jpg", "ants/1053149811_f62a3410d3.jpg", "ants/1124525276_816a07c17f.jpg",
	"bees/1032546534_06907fe3b3.jpg", "bees/10870992_eebeeb3a12.jpg", "bees/1181173278_23c36fac71.jpg",
}

// sameAnswers checks that the device answers as the control plane's own
// inference (a 校验 session on the same version) does for the same photos:
// the same labels in the same order, probabilities within the golden
// tolerance. Which label a borderline photo gets is the model's business;
// that the device and the cloud agree on it is the deploy's.
func sameAnswers(t *testing.T, c, agent *client, modelID string, version int) {
	t.Helper()
	c.readyValidation(modelID, version)
	right := 0
	for _, p := range answerPhotos {
		photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", p))
		if err != nil {
			t.Fatal(err)
		}
		var dev api.PredictResponse
		if st := agent.call("POST", "/v1/predict", photo, &dev); st != 200 || len(dev.Predictions) != 2 {
			t.Errorf("%s: agent predict: %d %+v", p, st, dev)
			continue
		}
		cloud, err := c.PredictValidation(t.Context(), modelID, version, []apiclient.File{fileOf(filepath.Base(p), photo)}, api.PredictQuery{})
		if err != nil || cloud.Batch == nil || len(cloud.Batch.Results) != 1 || len(cloud.Batch.Results[0].Predictions) != 2 {
			t.Errorf("%s: validation predict: %v %s", p, err, jsonOf(cloud))
			continue
		}
		for i, want := range cloud.Batch.Results[0].Predictions {
			got := dev.Predictions[i]
			// the same package's thresholds, read by each side from its copy
			if got.Label != want.Label || math.Abs(float64(got.Confidence-want.Confidence)) > modelpkg.GoldenTolerance ||
				got.Threshold != want.Threshold || got.AboveThreshold != want.AboveThreshold {
				t.Errorf("%s: the device answers %+v, the control plane %+v", p, dev.Predictions, cloud.Batch.Results[0].Predictions)
				break
			}
		}
		if dev.Predictions[0].Label == strings.Split(p, "/")[0] {
			right++
		}
	}
	// a model that has lost its way gets most of them wrong
	if right < len(answerPhotos)-2 {
		t.Errorf("the deployed version gets %d of %d val photos right", right, len(answerPhotos))
	}
}

// devices enrols two devices and checks, with Debian's mosquitto-clients
// against the embedded broker, that each reads its own topics and is
// refused on the other's.
func devices(t *testing.T, s *server) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mosquitto_sub not installed (apt-get install mosquitto-clients)")
		}
		t.Skip("mosquitto_sub not installed")
	}
	ctx := t.Context()
	c := s.admin(t)
	tok, err := c.CreateEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: "line-1", Uses: 2, ExpiresIn: 600})
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	anon := newClient(t, s.URL, "")
	enrolment := func(token, name string) api.EnrollRequest {
		return api.EnrollRequest{EnrollRequest: fleet.EnrollRequest{Token: token, OS: "linux", Arch: "amd64"}, Hostname: name}
	}
	enroll := func(name string) fleet.EnrollResponse {
		req := enrolment(tok.Token, name)
		req.Capabilities = json.RawMessage(`{"plugins":["onnx-cpu"]}`)
		cr, err := anon.Enroll(ctx, req)
		if err != nil {
			t.Fatalf("enroll %s: %v", name, err)
		}
		return *cr
	}
	a, b := enroll("cam-a"), enroll("cam-b")
	if _, err := anon.Enroll(ctx, enrolment(tok.Token, "cam-c")); errStatus(t, err) != http.StatusUnauthorized {
		t.Errorf("third enrolment on a 2-use token: %v, want 401", err)
	}
	// A revoked token enrols nobody.
	tok2, err := c.CreateEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: "line-2"})
	if err != nil {
		t.Fatalf("enrollment token: %v", err)
	}
	var toks api.EnrollmentTokenList
	st, raw := c.raw("GET", "/api/v1/enrollment-tokens", "", nil)
	_ = json.Unmarshal(raw, &toks)
	if st != 200 || len(toks.Items) != 2 || strings.Contains(string(raw), tok.Token) || strings.Contains(string(raw), tok2.Token) {
		t.Errorf("enrolment token list (must never show a secret): %d %s", st, raw)
	}
	if err := c.DeleteEnrollmentToken(ctx, tok2.ID); err != nil {
		t.Errorf("revoke enrolment token: %v", err)
	}
	if _, err := anon.Enroll(ctx, enrolment(tok2.Token, "cam-d")); errStatus(t, err) != http.StatusUnauthorized {
		t.Errorf("enrolment with a revoked token: %v, want 401", err)
	}
	list, err := c.ListDevices(ctx, "line-1")
	if err != nil || len(list.Items) != 2 {
		t.Errorf("devices in line-1: %v %s", err, jsonOf(list))
	}
	host, port, _ := strings.Cut(s.MQTTAddr, ":")
	mq := func(cr fleet.EnrollResponse, topic string) (string, error) {
		cmd := exec.Command(sub, "-h", host, "-p", port, "-i", cr.DeviceID, "-u", cr.MQTT.Username, "-P", cr.MQTT.Password,
			"-t", topic, "-C", "1", "-W", "3", "-q", "1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// A retained message on a's own topic: a's reported from mosquitto_pub.
	pub := filepath.Join(filepath.Dir(sub), "mosquitto_pub")
	reported := `{"schema":1,"id":"r1","protocol":2,"agent_version":"1.0.0","os":"linux","arch":"amd64","state":"idle"}`
	if out, err := exec.Command(pub, "-h", host, "-p", port, "-i", a.DeviceID, "-u", a.MQTT.Username, "-P", a.MQTT.Password,
		"-t", "autocv/v1/devices/"+a.DeviceID+"/reported", "-r", "-q", "1", "-m", reported).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub reported: %v %s", err, out)
	}
	waitFor(t, 10*time.Second, "device a online", func() (bool, string) {
		d, err := c.GetDevice(ctx, a.DeviceID)
		if err != nil {
			return false, err.Error()
		}
		return d.Online, fmt.Sprint(d.Online)
	})
	// Own desired topic: connected, subscribed, nothing retained, so
	// mosquitto_sub -W times out (exit 27) without a denial.
	out, err := mq(a, "autocv/v1/devices/"+a.DeviceID+"/desired")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 27 || strings.Contains(out, "denied") || strings.Contains(out, "not authori") {
		t.Errorf("device a on its own desired topic: %v %q, want a quiet timeout (exit 27)", err, out)
	}
	// b's topics: refused.
	if out, _ := mq(a, "autocv/v1/devices/"+b.DeviceID+"/desired"); !strings.Contains(out, "denied") {
		t.Errorf("device a subscribing to device b's desired: %q, want a denial", out)
	}
	if out, _ := mq(a, "autocv/v1/devices/+/reported"); !strings.Contains(out, "denied") {
		t.Errorf("device a subscribing to a wildcard: %q, want a denial", out)
	}
	// A wrong password is refused.
	wrong := a
	wrong.MQTT.Password = "not-it"
	if out, err := mq(wrong, "autocv/v1/devices/"+a.DeviceID+"/desired"); err == nil || !strings.Contains(out, "not authori") {
		t.Errorf("wrong password: %v %q", err, out)
	}
}

// sdk requests the offline SDK of an offline version for this platform,
// downloads the zip and runs the agent from it the way start.sh does.
func sdk(t *testing.T, s *server, modelID string, version int) {
	ctx := t.Context()
	c := s.admin(t)
	const platform = "linux-amd64"
	if _, err := c.RequestSDK(ctx, modelID, version, platform); err != nil {
		t.Fatalf("request SDK: %v", err)
	}
	waitFor(t, time.Minute, "SDK build", func() (bool, string) {
		r, err := c.GetSDK(ctx, modelID, version, platform)
		if err != nil {
			return false, err.Error()
		}
		if r.Status == "failed" {
			t.Fatalf("SDK build failed: %s", r.Error)
		}
		return r.Status == "ready", r.Status
	})
	resp, err := c.DownloadSDK(ctx, modelID, version, platform)
	if err != nil {
		t.Fatalf("SDK download: %v", err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("SDK download: %v", err)
	}
	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("SDK is not a zip: %v", err)
	}
	root := ""
	for _, f := range zr.File {
		root, _, _ = strings.Cut(f.Name, "/")
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, f.Mode()); err != nil {
			t.Fatal(err)
		}
	}
	sdkDir := filepath.Join(dir, root)
	for _, want := range []string{"autocv-agent", "autocv-plugin-onnx", "libonnxruntime.so.1", "package.tar.gz", "signing.pub", "start.sh", "README.txt"} {
		if _, err := os.Stat(filepath.Join(sdkDir, want)); err != nil {
			t.Errorf("SDK lacks %s", want)
		}
	}
	// An offline version only: a cloud version is refused.
	if _, err := c.RequestSDK(ctx, modelID, 1, platform); errStatus(t, err) != http.StatusBadRequest {
		t.Errorf("SDK of a cloud version: %v, want 400", err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command("./autocv-agent", "serve", "--package", "package.tar.gz", "--trust-key", "signing.pub", "--listen", listen)
	cmd.Dir = sdkDir
	cmd.Env = append(os.Environ(), "ONNXRUNTIME_LIB=")
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", "bees", "1032546534_06907fe3b3.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the SDK's agent answering", func() (bool, string) {
		resp, err := http.Post("http://"+listen+"/v1/predict", "image/jpeg", bytes.NewReader(photo))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var p api.PredictResponse
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode == 200 && p.Model.ID == modelID && len(p.Predictions) == 2, fmt.Sprint(resp.StatusCode, " ", out.String())
	})
}

// switchUnderLoad trains another cloud version and moves the published
// path to it while clients keep calling: no call may fail, and calls after
// the switch answer from the new version.
func switchUnderLoad(t *testing.T, s *server, modelID string) {
	ctx := t.Context()
	c := s.admin(t)
	ds, err := c.ListDatasets(ctx, 0, 0)
	if err != nil || len(ds.Items) == 0 {
		t.Fatalf("datasets: %v %s", err, jsonOf(ds))
	}
	vs, err := c.Train(ctx, modelID, api.CreateVersionsRequest{AppTypes: []string{"cloud-general"},
		Data: []api.TrainingData{{DatasetID: ds.Items[0].ID, Labels: []string{"ants", "bees"}}}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("train another version: %v %+v", err, vs)
	}
	if v := c.waitVersion(modelID, vs[0].Version, 3*time.Minute); v.Status != api.VersionSucceeded {
		t.Fatalf("version %d: %s %s", vs[0].Version, v.Status, v.Error)
	}
	svcs, err := c.ListServices(ctx)
	if err != nil || len(svcs.Items) == 0 {
		t.Fatalf("services: %v %s", err, jsonOf(svcs))
	}
	oldV := svcs.Items[0].Version
	key, err := c.CreateAPIKey(ctx, api.TokenRequest{Name: "load"})
	if err != nil {
		t.Fatalf("api key: %v", err)
	}
	photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", "bees", "1032546534_06907fe3b3.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		status   int
		version  int
		sent, at time.Time // request sent, answer read
	}
	stop := make(chan struct{})
	results := make(chan result, 10000)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				req, _ := http.NewRequest("POST", s.URL+"/api/v1/infer/"+svcs.Items[0].Path, bytes.NewReader(photo))
				req.Header.Set("Authorization", "Bearer "+key.Key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					results <- result{status: -1, sent: sent, at: time.Now()}
					continue
				}
				var out api.PredictResponse
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				results <- result{status: resp.StatusCode, version: out.Model.Version, sent: sent, at: time.Now()}
			}
		}()
	}
	time.Sleep(time.Second)
	asked := time.Now()
	if _, err := c.UpdateService(ctx, svcs.Items[0].ID, api.UpdateServiceRequest{Version: &vs[0].Version}); err != nil {
		t.Fatalf("switch version: %v", err)
	}
	switched := time.Now()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	close(results)
	n, failed, stale, before, early := 0, 0, 0, 0, 0
	for r := range results {
		n++
		if r.status != 200 {
			failed++
		}
		// A call sent after the switch answered must get the new version
		// (one sent before may be answered by either, however late).
		if r.sent.After(switched) && r.version != vs[0].Version {
			stale++
		}
		if r.at.Before(asked) && r.status == 200 {
			if r.version == oldV {
				before++
			} else {
				early++ // the new version answered before the switch was asked for
			}
		}
	}
	t.Logf("switch under load: %d calls, %d failed, %d by v%d before the switch, %d answered by the old version after it", n, failed, before, oldV, stale)
	if failed > 0 || stale > 0 || n < 20 || before == 0 || early > 0 {
		t.Errorf("switch under load: %d calls, %d failed, %d stale, %d before the switch by the old version, %d by the new one", n, failed, stale, before, early)
	}
}

// startWorkers runs n `autocv-trainer worker` processes against the server
// with a trainer token from POST /api/v1/trainer-tokens, the way trainer
// nodes on other machines join.
func startWorkers(t *testing.T, s *server, n int) {
	c := s.admin(t)
	tok, err := c.CreateTrainerToken(t.Context(), "e2e nodes")
	if err != nil || tok.Token == "" {
		t.Fatalf("trainer token: %v %+v", err, tok)
	}
	for i := range n {
		out := &testenv.LockedBuffer{}
		cmd := exec.Command(filepath.Join(binaries(t), "autocv-trainer"), "worker", "--server", s.URL,
			"--worker-id", fmt.Sprintf("e2e-node-%d", i+1), "--poll", "1s", "--cache-dir", featureCache(), "--work-dir", t.TempDir())
		cmd.Env = append(os.Environ(), "AUTOCV_TOKEN="+tok.Token, "AUTOCV_BACKBONES="+testenv.Data(t, "backbones"), "ONNXRUNTIME_LIB=")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				t.Logf("worker %d output:\n%s", i+1, tail(out.String(), 3000))
			}
		})
	}
}

// startS3 serves an S3-compatible store (gofakes3, in memory) over HTTP on
// loopback with bucket "autocv", and returns the server flags that use it.
func startS3(t *testing.T) ([]string, *s3mem.Backend) {
	backend := s3mem.New()
	if err := backend.CreateBucket("autocv"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)
	return []string{"--blobs", "s3://autocv/blobs/", "--s3-endpoint", strings.TrimPrefix(s3.URL, "http://"),
		"--s3-insecure", "--s3-access-key", "e2e", "--s3-secret-key", "e2e-secret"}, backend
}

// packageDownloads counts the HTTP package downloads a server answered
// (from its /metrics), to tell HTTP from MQTT-chunk deliveries apart.
func packageDownloads(t *testing.T, s *server) int {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		// labels in any order: {code="200",route="…"} from client_golang
		if strings.HasPrefix(line, "autocv_http_requests_total{") && strings.Contains(line, `route="/api/v1/device-packages/:sha"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

func objCount(l *gofakes3.ObjectList) int {
	if l == nil {
		return 0
	}
	return len(l.Contents)
}
