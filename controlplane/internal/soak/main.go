// Command soak runs the real autocv-server (from make build's bin folder)
// under mixed load with injected faults for a while, then prints what it
// answered, its memory peaks and anything lost. make soak runs it.
//
// Load: good photos to the cloud /infer, hostile images (decompression
// bombs, truncated, garbage, pixel-heavy), slow clients trickling their
// bodies, small dataset uploads. Faults: kill -9 of the server's
// autocv-plugin-onnx children every -kill-every.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/autocv/autocv/controlplane/internal/rig"
	"github.com/autocv/autocv/protocol/api"
)

// soakPhoto is the good photo the load classifies.
const soakPhoto = "datasets/hymenoptera/val/ants/10308379_1b6c72e180.jpg"

// faultGrace is how long after an injected fault a good request may fail
// without counting as lost.
const faultGrace = 15 * time.Second

func main() {
	bin := flag.String("bin", "bin", "folder with autocv-server, autocv-trainer, autocv-plugin-onnx and libonnxruntime.so.1 (make build)")
	data := flag.String("data", os.Getenv("AUTOCV_TESTDATA"), "test data folder (datasets/hymenoptera)")
	duration := flag.Duration("duration", 10*time.Minute, "how long the mixed load runs")
	killEvery := flag.Duration("kill-every", time.Minute, "how often the plugin processes get kill -9")
	flag.Parse()
	if err := run(*bin, *data, *duration, *killEvery); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(bin, data string, duration, killEvery time.Duration) error {
	if duration <= 0 || killEvery <= 0 {
		return errors.New("-duration and -kill-every must be positive / 必须为正数")
	}
	if err := rig.CheckBinaries(bin); err != nil {
		return err
	}
	photo, err := os.ReadFile(filepath.Join(data, soakPhoto))
	if err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	tmp, err := os.MkdirTemp("", "autocv-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	logPath := filepath.Join(tmp, "server.log")
	srv := &rig.ServerProc{Bin: bin, DataDir: filepath.Join(tmp, "data"), Trainers: 1, LogPath: logPath,
		Env: []string{"ONNXRUNTIME_LIB=" + filepath.Join(bin, rig.ORTName)}}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Stop()
	c := rig.NewClient(srv.URL())
	if err := c.Login(); err != nil {
		return err
	}
	fmt.Println("soak: training a cloud-general model on hymenoptera/train …")
	setup, err := trainAndPublish(c, data, tmp)
	if err != nil {
		return err
	}
	zipPath := filepath.Join(tmp, "small.zip")
	if _, err := rig.WriteSyntheticZip(zipPath, 20, 2); err != nil {
		return err
	}

	st := newStats()
	mem := newRSSWatch(srv.Pid())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mem.run(ctx)

	// 24 concurrent pixel-heavy images to each decoding path.
	heavy := hostileImages()
	keyed := c.WithToken(setup.key)
	for _, name := range []string{"pixel-heavy jpeg", "pixel-heavy png"} {
		mem.resetWindow()
		var wg sync.WaitGroup
		for range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st.add(name+" ×24", post(keyed, "/api/v1/infer/soak/ants", heavy[name]))
			}()
		}
		wg.Wait()
		st.burstPeak[name] = mem.windowPeak()
	}

	fmt.Printf("soak: mixed load for %s …\n", duration)
	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	var wg sync.WaitGroup
	loop := func(pause time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				f()
				select {
				case <-loadCtx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	for range 2 {
		loop(0, func() {
			r := post(keyed, "/api/v1/infer/soak/ants", photo)
			st.add("good /infer", r)
			ok := r.status == 200 || r.status == 429 || r.status == 503
			if !ok && !st.inFault() {
				st.lose(fmt.Sprintf("good /infer answered %d %v outside a fault", r.status, r.err))
			}
		})
	}
	names := []string{"bomb png", "bomb jpeg", "truncated jpeg", "garbage", "pixel-heavy jpeg", "pixel-heavy png"}
	i := 0
	loop(200*time.Millisecond, func() {
		name := names[i%len(names)]
		i++
		r := post(keyed, "/api/v1/infer/soak/ants", heavy[name])
		st.add("hostile "+name, r)
		if r.status >= 500 && r.status != 503 {
			st.lose(fmt.Sprintf("hostile %s answered %d", name, r.status))
		}
	})
	for range 3 {
		loop(time.Second, func() { st.add("slow client", slowPost(srv.URL()+"/api/v1/infer/soak/ants", setup.key, photo)) })
	}
	var datasets []string
	var dsMu sync.Mutex
	loop(10*time.Second, func() {
		t0 := time.Now()
		id, err := c.UploadDataset("soak-upload", zipPath)
		r := result{status: 202, took: time.Since(t0), err: err}
		if err != nil {
			r.status = 0
		} else {
			dsMu.Lock()
			datasets = append(datasets, id)
			dsMu.Unlock()
		}
		st.add("dataset upload", r)
	})
	loop(killEvery/2, func() { // waits killEvery/2 inside too: one kill per killEvery
		select {
		case <-loadCtx.Done():
			return
		case <-time.After(killEvery / 2):
		}
		n := killPlugins(srv.Pid())
		st.fault(fmt.Sprintf("kill -9 of %d plugin(s)", n))
	})
	wg.Wait()

	// What must still be there.
	for _, id := range datasets {
		if _, err := c.WaitDataset(id, 200*time.Millisecond, 2*time.Minute); err != nil {
			st.lose(fmt.Sprintf("dataset %s: %v", id, err))
		}
	}
	var m api.Model
	if err := c.JSON("GET", "/api/v1/models/"+setup.modelID, nil, &m); err != nil {
		st.lose(fmt.Sprintf("model %s: %v", setup.modelID, err))
	}
	if r := post(keyed, "/api/v1/infer/soak/ants", photo); r.status != 200 {
		st.lose(fmt.Sprintf("the service no longer answers a good photo: %d %v", r.status, r.err))
	}
	cancel()
	srv.Stop()
	for _, line := range errorLines(logPath) {
		st.lose("server log: " + line)
	}
	st.print(mem)
	return st.verdict(mem)
}

// soakSetup is what the load needs from the trained, published model.
type soakSetup struct {
	modelID string
	version int
	key     string
}

// trainAndPublish trains a cloud-general version on hymenoptera/train and
// publishes it at /infer/soak/ants.
func trainAndPublish(c *rig.Client, data, tmp string) (soakSetup, error) {
	var s soakSetup
	zipPath := filepath.Join(tmp, "hymenoptera-train.zip")
	if _, err := rig.WriteFolderZip(data, zipPath, "datasets/hymenoptera/train"); err != nil {
		return s, err
	}
	id, err := c.UploadDataset("hymenoptera", zipPath)
	if err != nil {
		return s, err
	}
	if _, err := c.WaitDataset(id, 200*time.Millisecond, 5*time.Minute); err != nil {
		return s, err
	}
	var m api.Model
	if err := c.JSON("POST", "/api/v1/models", api.CreateModelRequest{Name: "soak", Contact: "soak@example.com", Description: "ants vs bees"}, &m); err != nil {
		return s, err
	}
	var vs []api.Version
	if err := c.JSON("POST", "/api/v1/models/"+m.ID+"/versions", api.CreateVersionsRequest{AppTypes: []string{"cloud-general"}, Metric: "f1",
		Data: []api.TrainingData{{DatasetID: id, Labels: []string{"ants", "bees"}}}}, &vs); err != nil {
		return s, err
	}
	if len(vs) != 1 {
		return s, fmt.Errorf("training answered %d versions, want 1", len(vs))
	}
	s.modelID, s.version = m.ID, vs[0].Version
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(time.Second) {
		var v api.Version
		if err := c.JSON("GET", fmt.Sprintf("/api/v1/models/%s/versions/%d", m.ID, s.version), nil, &v); err != nil {
			return s, err
		}
		if v.Status == "succeeded" {
			break
		}
		if v.Status != "queued" && v.Status != "training" {
			return s, fmt.Errorf("training: %s: %s", v.Status, v.Error)
		}
		if time.Now().After(deadline) {
			return s, errors.New("training: still running after 10 minutes")
		}
	}
	var k api.Token
	if err := c.JSON("POST", "/api/v1/apikeys", api.TokenRequest{Name: "soak"}, &k); err != nil {
		return s, err
	}
	s.key = k.Key
	err = c.JSON("POST", "/api/v1/services", api.CreateServiceRequest{Name: "soak", Path: "soak/ants", ModelID: m.ID, Version: s.version}, nil)
	return s, err
}

// result is one request's outcome: status 0 means no answer (err says why).
type result struct {
	status int
	took   time.Duration
	err    error
}

// post sends body raw to path and reads the whole answer.
func post(c *rig.Client, path string, body []byte) result {
	t0 := time.Now()
	req, err := http.NewRequest("POST", c.Base()+path, bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return result{took: time.Since(t0), err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return result{status: resp.StatusCode, took: time.Since(t0)}
}

// errorLines are the server log's lines at level error.
func errorLines(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, `"level":"error"`) || strings.Contains(l, "level=error") || strings.Contains(l, "\terror\t") {
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}
