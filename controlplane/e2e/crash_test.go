package e2e_test

// kill -9 of the server in the middle of work: what was accepted must
// finish (or fail cleanly) after a restart on the same data folder and
// ports, never hang in processing or training, and no trainer child may
// outlive the killed server.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
)

// expectedCounts is what an import of dir (one folder per label) must
// accept: per label, the distinct photos that pass the rules, leaving out
// photos found under two labels.
func expectedCounts(t *testing.T, dir string) map[string]int {
	t.Helper()
	labelsOf := map[[32]byte]map[string]bool{}
	labels, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		if !l.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, l.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, l.Name(), f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !imagerules.IsImageName(f.Name()) || !imagerules.CheckBytes(b).OK() {
				continue
			}
			sum := sha256.Sum256(b)
			if labelsOf[sum] == nil {
				labelsOf[sum] = map[string]bool{}
			}
			labelsOf[sum][l.Name()] = true
		}
	}
	out := map[string]int{}
	for _, ls := range labelsOf {
		if len(ls) == 1 {
			for l := range ls {
				out[l]++
			}
		}
	}
	return out
}

// TestCrashMidImport kills the server while it imports flowers5 (600
// photos) and restarts it: the import resumes and ends ready with exactly
// the photos it should have, once each.
func TestCrashMidImport(t *testing.T) {
	dir := testenv.Data(t, "datasets", "flowers5")
	want := expectedCounts(t, dir)
	s := startServer(t, serverOpts{trainers: 0})
	c := s.admin(t)
	id := c.startImport("flowers", zipDir(t, dir, "flowers5"))

	// Kill once the import is under way (some entries checked, not all).
	var state string
	waitFor(t, time.Minute, "import under way", func() (bool, string) {
		d, err := c.GetDataset(t.Context(), id)
		if err != nil {
			return false, err.Error()
		}
		var p api.ImportProgress
		if d.Progress != nil {
			p = *d.Progress
		}
		state = fmt.Sprintf("%s %s %d/%d", d.Status, p.Stage, p.Done, p.Total)
		if d.Status != api.DatasetProcessing {
			t.Fatalf("the import ended before the kill (%s): make the zip bigger", state)
		}
		return p.Stage == "importing" && p.Done > 0, state
	})
	s.kill9()
	t.Logf("killed at %s", state)

	s.start()
	c = s.admin(t)
	d := c.waitDataset(id)
	if d.Status != api.DatasetReady {
		t.Fatalf("after the restart: %s %q, want ready", d.Status, d.Error)
	}
	got := map[string]int{}
	for _, l := range d.Labels {
		got[l.Name] = l.Count
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("labels after the restart %v, want %v", got, want)
	}
	// Once each: the listed images have distinct hashes.
	for label, ims := range c.imagesOf(id) {
		seen := map[string]bool{}
		for _, line := range ims {
			sha := strings.Fields(line)[1]
			if seen[sha] {
				t.Errorf("label %s holds %s twice", label, sha)
			}
			seen[sha] = true
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.DataDir, "uploads", "*")); len(left) != 0 {
		t.Errorf("the finished import left its upload behind: %v", left)
	}
}

// trainerPIDs lists running autocv-trainer processes started for the
// server at url (their command line names it).
func trainerPIDs(t *testing.T, url string) []int {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
		if len(args) == 0 || filepath.Base(string(args[0])) != "autocv-trainer" || !bytes.Contains(cmdline, []byte(url+"\x00")) {
			continue
		}
		// A zombie (state Z) has exited; nobody reaped it yet.
		if st, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

var releasedRE = regexp.MustCompile(`job leased.*"attempt": [2-9]`)

// TestCrashMidTraining kills the server while its trainer child is
// training: the child must exit within seconds, and after a restart the
// job is leased again (when its lease expires) and the version succeeds.
func TestCrashMidTraining(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 1})
	c := s.admin(t)
	ctx := t.Context()
	d := c.createDataset("hymenoptera", zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"))
	if d.Status != api.DatasetReady {
		t.Fatalf("dataset: %s %s", d.Status, d.Error)
	}
	m, err := c.CreateModel(ctx, api.CreateModelRequest{Name: "crash"})
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	// high-accuracy searches more candidates, so training lasts long
	// enough to be caught in the middle.
	vs, err := c.Train(ctx, m.ID, api.CreateVersionsRequest{AppTypes: []string{"cloud-high-accuracy"}, Metric: "f1",
		Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("train: %v %+v", err, vs)
	}
	version := vs[0].Version
	var state string
	waitFor(t, 3*time.Minute, "training past download", func() (bool, string) {
		v, err := c.GetVersion(ctx, m.ID, version)
		if err != nil {
			return false, err.Error()
		}
		state = fmt.Sprintf("%s %s %.0f%%", v.Status, v.Progress.Stage, v.Progress.Percent)
		if v.Status != api.VersionQueued && v.Status != api.VersionTraining {
			t.Fatalf("training ended before the kill (%s)", state)
		}
		return v.Status == api.VersionTraining && v.Progress.Stage != "" && v.Progress.Stage != "download", state
	})
	before := trainerPIDs(t, s.URL)
	if len(before) != 1 {
		t.Fatalf("trainer processes of this server: %v, want 1", before)
	}
	s.kill9()
	killed := time.Now()
	t.Logf("killed at %s; trainer pid %d", state, before[0])
	waitFor(t, 10*time.Second, "the killed server's trainer to exit", func() (bool, string) {
		left := trainerPIDs(t, s.URL)
		return len(left) == 0, fmt.Sprint(left)
	})
	t.Logf("trainer gone %s after the kill", time.Since(killed).Round(10*time.Millisecond))

	s.start()
	c = s.admin(t)
	v := c.waitVersion(m.ID, version, 5*time.Minute)
	if v.Status != api.VersionSucceeded {
		t.Fatalf("after the restart: %s %q, want succeeded", v.Status, v.Error)
	}
	t.Logf("succeeded %s after the kill", time.Since(killed).Round(time.Second))
	// It was leased again, not finished by a survivor of the killed server.
	if m := releasedRE.FindStringSubmatch(s.out.String()); m == nil {
		t.Errorf("no second lease of the job in the server log")
	}
	resp, err := c.Package(ctx, m.ID, version)
	if err != nil {
		t.Fatalf("package after the restart: %v", err)
	}
	defer resp.Body.Close()
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n == 0 {
		t.Errorf("package after the restart: %d bytes (%v)", n, err)
	}
}
