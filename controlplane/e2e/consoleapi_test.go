package e2e_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/report"
)

// TestConsoleAPI drives the server side of the console (issue 14) on the
// real server with a real trainer: uploads that are no dataset, label
// rename / merge / delete and image moves, the stopping state, accuracy in
// the lists, the training curve, notes and model names on services, and
// service usage per minute that survives a restart.
func TestConsoleAPI(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 1})
	c := s.admin(t)
	ctx := t.Context()

	// A file that is no zip: 400 not_a_zip, and no dataset is made.
	st, raw := c.multipart("/api/v1/datasets", map[string]string{"name": "not-a-zip"}, map[string][]byte{"photo.jpg": realPhotos(t, "ants", 1)[0]})
	if st != http.StatusBadRequest || !strings.Contains(string(raw), `"code":"not_a_zip"`) {
		t.Fatalf("non-zip upload: %d %s, want 400 not_a_zip", st, raw)
	}
	if list, err := c.ListDatasets(ctx, 1, 50); err != nil || list.Total != 0 {
		t.Fatalf("datasets after a refused upload: %v %+v", err, list)
	}
	// A zip of images without label folders: failed, saying how to pack.
	flat := []zipEnt{{name: "1.jpg", data: realPhotos(t, "ants", 1)[0]}}
	if d := c.createDataset("flat", buildZip(t, flat)); d.Status != api.DatasetFailed || !strings.Contains(d.Error, "ants/1.jpg") {
		t.Fatalf("zip without label folders: %s %q, want failed with how to pack it", d.Status, d.Error)
	}

	d := c.createDataset("虫子", buildZip(t, append(labelEntries("ants", realPhotos(t, "ants", 24)), labelEntries("bees", realPhotos(t, "bees", 24))...)))
	if d.Status != api.DatasetReady || d.ImageCount != 48 {
		t.Fatalf("dataset: %s, %d images: %s", d.Status, d.ImageCount, d.Error)
	}
	labels(t, c, d.ID)

	// Two versions; the first is stopped while it trains: stopping until
	// the trainer acknowledges, then stopped.
	m, err := c.CreateModel(ctx, api.CreateModelRequest{Name: "虫子识别"})
	if err != nil {
		t.Fatal(err)
	}
	req := api.CreateVersionsRequest{AppTypes: []string{"cloud-general"}, Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "蜜蜂"}}}}
	v1, err := c.Train(ctx, m.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.Train(ctx, m.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	stopWhileTraining(t, c, m.ID, v1[0].Version)
	got := c.waitVersion(m.ID, v2[0].Version, 5*time.Minute)
	if got.Status != api.VersionSucceeded {
		t.Fatalf("version 2: %s %s", got.Status, got.Error)
	}
	headlines(t, c, m.ID, v2[0].Version)

	// Label edits after training leave the version's frozen list alone.
	before, _ := c.VersionImages(ctx, m.ID, v2[0].Version)
	if st := c.call("DELETE", "/api/v1/datasets/"+d.ID+"/labels/ants", nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete label ants: %d", st)
	}
	after, _ := c.VersionImages(ctx, m.ID, v2[0].Version)
	if before == nil || after == nil || after.Total != before.Total || jsonOf(after.Labels) != jsonOf(before.Labels) {
		t.Errorf("frozen list changed with the dataset: %s → %s", jsonOf(before), jsonOf(after))
	}
	if err := c.DeleteLabel(ctx, d.ID, "蜜蜂"); err != nil { // the typed client
		t.Fatalf("delete label 蜜蜂: %v", err)
	}
	// Nothing left to train on: refused before any job is queued.
	if _, err := c.Train(ctx, m.ID, req); errStatus(t, err) != http.StatusBadRequest || !strings.Contains(err.Error(), "too_few_images") && !strings.Contains(err.Error(), "no images") {
		t.Errorf("training from an empty dataset: %v, want 400 too_few_images", err)
	}

	usage(t, s, c, m.ID, v2[0].Version)
}

// labels renames, merges, moves and deletes on a ready dataset of ants
// and bees (24 each); it leaves ants (23) and 蜜蜂 (25).
func labels(t *testing.T, c *client, id string) {
	base := "/api/v1/datasets/" + id
	var ds api.Dataset
	if st := c.call("PATCH", base+"/labels/bees", api.RenameLabelRequest{Name: "蜜蜂"}, &ds); st != http.StatusOK || !hasLabel(ds, "蜜蜂", 24) {
		t.Fatalf("rename bees → 蜜蜂: %d %s", st, jsonOf(ds))
	}
	for _, tc := range []struct {
		path string
		body any
		want int
		code string
	}{
		{"/labels/" + url.PathEscape("蜜蜂"), api.RenameLabelRequest{Name: "ants"}, http.StatusConflict, "conflict"},
		{"/labels/" + url.PathEscape("蜜蜂"), api.RenameLabelRequest{Name: "a b"}, http.StatusBadRequest, "bad_label"},
		{"/labels/nope", api.RenameLabelRequest{Name: "x"}, http.StatusNotFound, "not_found"},
	} {
		st, raw := c.raw("PATCH", base+tc.path, "application/json", strings.NewReader(jsonOf(tc.body)))
		if st != tc.want || !strings.Contains(string(raw), `"code":"`+tc.code+`"`) {
			t.Errorf("PATCH %s %s: %d %s, want %d %s", tc.path, jsonOf(tc.body), st, raw, tc.want, tc.code)
		}
	}
	// a third label of copies of two ants, merged back: the copies drop
	ants, err := c.ListImages(t.Context(), id, "ants", 1, 100)
	if err != nil || len(ants.Items) != 24 {
		t.Fatalf("ants: %v %d", err, len(ants.Items))
	}
	st, raw := c.multipart(base+"/labels/copies/images", nil, map[string][]byte{"a.jpg": realPhotos(t, "ants", 1)[0], "b.jpg": realPhotos(t, "bees", 25)[24]})
	if st != http.StatusCreated {
		t.Fatalf("add copies: %d %s", st, raw)
	}
	if got, err := c.RenameLabel(t.Context(), id, "copies", "ants", true); err != nil || !hasLabel(*got, "ants", 25) || len(got.Labels) != 2 {
		t.Fatalf("merge copies into ants: %v %s, want ants 25 (one duplicate dropped)", err, jsonOf(got))
	}
	// move two ants to 蜜蜂; a label the dataset lacks is refused
	for _, x := range ants.Items[:2] {
		if got, err := c.MoveImage(t.Context(), id, x.ID, "蜜蜂"); err != nil || got.Label != "蜜蜂" || got.ID != x.ID {
			t.Fatalf("move image: %v %+v", err, got)
		}
	}
	if st, raw := c.raw("PATCH", base+"/images/"+ants.Items[3].ID, "application/json", strings.NewReader(`{"label":"wasps"}`)); st != http.StatusBadRequest ||
		!strings.Contains(string(raw), "unknown_label") {
		t.Errorf("move to an unknown label: %d %s", st, raw)
	}
	if st := c.call("GET", base, nil, &ds); st != http.StatusOK || !hasLabel(ds, "ants", 23) || !hasLabel(ds, "蜜蜂", 26) {
		t.Errorf("after the moves: %s", jsonOf(ds.Labels))
	}
	if st := c.call("DELETE", base+"/labels/nope", nil, nil); st != http.StatusNotFound {
		t.Errorf("delete a label the dataset lacks: %d", st)
	}
}

func hasLabel(d api.Dataset, name string, n int) bool {
	for _, l := range d.Labels {
		if l.Name == name {
			return l.Count == n
		}
	}
	return false
}

// stopWhileTraining waits until a version trains, stops it and checks it
// says stopping, then ends stopped.
func stopWhileTraining(t *testing.T, c *client, modelID string, v int) {
	base := fmt.Sprintf("/api/v1/models/%s/versions/%d", modelID, v)
	waitFor(t, 3*time.Minute, "version training", func() (bool, string) {
		var got api.Version
		c.call("GET", base, nil, &got)
		return got.Status == api.VersionTraining, got.Status
	})
	var got api.Version
	if st := c.call("POST", base+"/stop", nil, &got); st != http.StatusOK || got.Status != api.VersionStopping {
		t.Fatalf("stop: %d %s, want 200 stopping", st, got.Status)
	}
	start := time.Now()
	waitFor(t, time.Minute, "version stopped", func() (bool, string) {
		c.call("GET", base, nil, &got)
		return got.Status == api.VersionStopped, got.Status
	})
	t.Logf("stopping → stopped in %s", time.Since(start).Round(time.Millisecond))
}

// headlines checks the lists carry a succeeded version's accuracy and the
// report its training curve.
func headlines(t *testing.T, c *client, modelID string, v int) {
	ctx := t.Context()
	rep, err := c.Report(ctx, modelID, v)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Curve) == 0 || rep.Curve[0].Epoch != 1 || len(rep.Curve) > report.MaxCurve {
		t.Errorf("report curve: %d points, first %+v", len(rep.Curve), rep.Curve)
	} else {
		t.Logf("curve: %d epochs, last %+v", len(rep.Curve), rep.Curve[len(rep.Curve)-1])
	}
	var models api.ModelList
	c.call("GET", "/api/v1/models", nil, &models)
	var versions api.VersionList
	c.call("GET", "/api/v1/models/"+modelID+"/versions", nil, &versions)
	for what, vs := range map[string][]api.Version{"models": models.Items[0].Versions, "versions": versions.Items} {
		for _, x := range vs {
			if x.Version == v && x.Metrics["accuracy"] != rep.Metrics.Accuracy {
				t.Errorf("GET %s: version %d accuracy %v, report %v", what, v, x.Metrics["accuracy"], rep.Metrics.Accuracy)
			}
		}
	}
}

// usage publishes the version with notes, calls it well and badly, and
// reads the calls per minute back, before and after a restart.
func usage(t *testing.T, s *server, c *client, modelID string, v int) {
	ctx := t.Context()
	svc, err := c.CreateService(ctx, api.CreateServiceRequest{Name: "虫子", Path: "bugs", ModelID: modelID, Version: v, Notes: "工作日 9–18 点调用"})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Notes != "工作日 9–18 点调用" || svc.ModelName != "虫子识别" {
		t.Errorf("service notes %q, model name %q", svc.Notes, svc.ModelName)
	}
	long := api.CreateServiceRequest{Name: "x", Path: "long", ModelID: modelID, Version: v, Notes: strings.Repeat("字", 2001)}
	if _, err := c.CreateService(ctx, long); errStatus(t, err) != http.StatusBadRequest {
		t.Errorf("notes over 2000 characters: %v", err)
	}
	photo := realPhotos(t, "ants", 1)[0]
	for i := range 3 {
		if st, raw := c.raw("POST", "/api/v1/infer/bugs", "image/jpeg", strings.NewReader(string(photo))); st != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, st, raw)
		}
	}
	if st, _ := c.raw("POST", "/api/v1/infer/bugs?top_k=0", "image/jpeg", strings.NewReader(string(photo))); st != http.StatusBadRequest {
		t.Errorf("top_k=0: %d, want 400", st)
	}
	if st, _ := c.raw("POST", "/api/v1/infer/bugs", "image/jpeg", strings.NewReader("not an image")); st != http.StatusUnsupportedMediaType {
		t.Errorf("not an image: %d, want 415", st)
	}
	check := func(when string) {
		u, err := c.ServiceUsage(t.Context(), svc.ID, 10)
		if err != nil || len(u.Points) != 10 {
			t.Fatalf("%s: usage %v, %s", when, err, jsonOf(u))
		}
		var calls, client int64
		p95 := 0.0
		for _, p := range u.Points {
			calls, client = calls+p.Calls, client+p.Errors.Client
			p95 = max(p95, p.P95MS)
		}
		if calls != 5 || client != 2 || p95 <= 0 {
			t.Errorf("%s: %d calls, %d client errors, p95 %v ms; want 5, 2, > 0: %s", when, calls, client, p95, jsonOf(u.Points))
		}
	}
	check("before the restart")
	var got api.Service
	if c.call("GET", "/api/v1/services/"+svc.ID, nil, &got); got.Stats.Errors != 2 || got.Stats.Calls != 5 {
		t.Errorf("service stats %+v: want 5 calls, 2 errors (a 400 is an error)", got.Stats)
	}
	for _, q := range []string{"minutes=0", "minutes=10081", "minutes=x"} {
		if st, _ := c.raw("GET", "/api/v1/services/"+svc.ID+"/usage?"+q, "", nil); st != http.StatusBadRequest {
			t.Errorf("usage?%s: %d, want 400", q, st)
		}
	}
	s.stop() // stores what is not stored yet
	s.start()
	c = s.admin(t)
	check("after the restart")
}
