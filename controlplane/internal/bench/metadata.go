package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/autocv/autocv/controlplane/internal/rig"
)

// importResult is one zip imported through POST /datasets.
type importResult struct {
	zip        rig.ZipStats
	accepted   int
	skipped    int
	upload     time.Duration // request start to the 202
	total      time.Duration // request start to status "ready"
	datasetID  string
	labelCount int
}

// importZip uploads a zip and waits for its import, polling every 20 ms so
// the poll adds at most that much to the time.
func importZip(c *rig.Client, name, path string, z rig.ZipStats) (importResult, error) {
	r := importResult{zip: z}
	t0 := time.Now()
	id, err := c.UploadDataset(name, path)
	if err != nil {
		return r, err
	}
	r.upload = time.Since(t0)
	d, err := c.WaitDataset(id, 20*time.Millisecond, 5*time.Minute)
	if err != nil {
		return r, err
	}
	r.total = time.Since(t0)
	r.datasetID = id
	for _, n := range d.ImportReport.Accepted {
		r.accepted += n
	}
	r.skipped = len(d.ImportReport.Skipped)
	r.labelCount = len(d.ImportReport.Accepted)
	return r, nil
}

// endpointResult is one list endpoint's latencies.
type endpointResult struct {
	name string
	lat  rig.Latencies
}

// benchLists calls the list endpoints calls times each, round-robin so a
// noisy moment slows them alike, after a few warm-up calls each.
// datasetID is the synthetic dataset, whose label "l00" holds labelImages
// images listed 50 to a page.
func benchLists(c *rig.Client, datasetID string, labelImages, calls int) ([]endpointResult, error) {
	pages := max(1, (labelImages+49)/50)
	id := url.PathEscape(datasetID)
	endpoints := []struct {
		name string
		path func(i int) string
	}{
		{"GET /datasets", func(int) string { return "/api/v1/datasets" }},
		{"GET /models", func(int) string { return "/api/v1/models" }},
		{"GET /datasets/{id}", func(int) string { return "/api/v1/datasets/" + id }},
		{fmt.Sprintf("GET …/labels/l00/images?page=1…%d", pages), func(i int) string {
			return fmt.Sprintf("/api/v1/datasets/%s/labels/l00/images?page=%d", id, 1+i%pages)
		}},
	}
	out := make([]endpointResult, len(endpoints))
	for i, e := range endpoints {
		out[i].name = e.name
	}
	const warm = 5
	for i := range warm + calls {
		for j, e := range endpoints {
			t0 := time.Now()
			if _, err := c.Do("GET", e.path(i), "", nil); err != nil {
				return nil, err
			}
			if i >= warm {
				out[j].lat = append(out[j].lat, time.Since(t0))
			}
		}
	}
	return out, nil
}

// createModels creates n models (no versions) so GET /models lists
// something.
func createModels(c *rig.Client, n int) error {
	for i := range n {
		body := map[string]string{"name": fmt.Sprintf("bench-model-%02d", i), "contact": "bench@example.com", "description": "list benchmark"}
		if err := c.JSON("POST", "/api/v1/models", body, nil); err != nil {
			return err
		}
	}
	return nil
}

// backendResult is sections 1 and 2 on one metadata store.
type backendResult struct {
	name          string
	photos, synth importResult
	lists         []endpointResult
}

// benchBackend imports the photo zip and the synthetic zip into the server
// and measures the list endpoints.
func benchBackend(name string, srv *rig.ServerProc, cfg config, photoZip, synthZip string, pz, sz rig.ZipStats) (backendResult, error) {
	r := backendResult{name: name}
	c := rig.NewClient(srv.URL())
	if err := c.Login(); err != nil {
		return r, err
	}
	var err error
	if r.photos, err = importZip(c, "photos", photoZip, pz); err != nil {
		return r, fmt.Errorf("%s: photo import: %w", name, err)
	}
	if r.synth, err = importZip(c, "synthetic", synthZip, sz); err != nil {
		return r, fmt.Errorf("%s: synthetic import: %w", name, err)
	}
	if err := createModels(c, cfg.models); err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	perLabel := cfg.synthImages / cfg.synthLabels
	if r.lists, err = benchLists(c, r.synth.datasetID, perLabel, cfg.calls); err != nil {
		return r, fmt.Errorf("%s: lists: %w", name, err)
	}
	return r, nil
}

// printImports prints section 1 and the synthetic import beside it.
func printImports(rs []backendResult, distinctNote string) {
	fmt.Println("1. dataset import: POST /datasets (multipart zip) until GET /datasets/{id} says ready")
	fmt.Println("   " + distinctNote)
	fmt.Printf("%-10s %-10s %7s %8s %8s %9s %11s %9s %9s %8s\n",
		"store", "zip", "entries", "accepted", "MB", "upload s", "upload MB/s", "total s", "images/s", "MB/s")
	rig.Rule(102)
	for _, r := range rs {
		for _, row := range []struct {
			name string
			im   importResult
		}{{"photos", r.photos}, {"synthetic", r.synth}} {
			im := row.im
			fmt.Printf("%-10s %-10s %7d %8d %8.1f %9.2f %11.1f %9.2f %9.1f %8.1f\n", r.name, row.name, im.zip.Entries, im.accepted,
				rig.MB(im.zip.Bytes), im.upload.Seconds(), rig.MB(im.zip.Bytes)/im.upload.Seconds(), im.total.Seconds(),
				float64(im.accepted)/im.total.Seconds(), rig.MB(im.zip.Bytes)/im.total.Seconds())
		}
	}
	fmt.Println("   total = upload + import; images/s and MB/s over the total. Synthetic = the 64×64 JPEGs of section 2.")
	fmt.Println()
}

// printLists prints section 2.
func printLists(rs []backendResult, cfg config) {
	fmt.Printf("2. list endpoints, %d calls each, one at a time (session token), with %d synthetic + the photo images stored, %d models\n",
		cfg.calls, cfg.synthImages, cfg.models)
	fmt.Printf("   the %d images are generated 64×64 JPEGs (distinct, valid, %d labels): a metadata benchmark, not a photo one\n",
		cfg.synthImages, cfg.synthLabels)
	fmt.Printf("%-10s %-40s %9s %9s %9s\n", "store", "endpoint", "p50 ms", "p99 ms", "mean ms")
	rig.Rule(81)
	for _, r := range rs {
		for _, e := range r.lists {
			s := e.lat.Summarize()
			fmt.Printf("%-10s %-40s %9.2f %9.2f %9.2f\n", r.name, e.name, s.P50, s.P99, s.Mean)
		}
	}
	fmt.Println()
}
