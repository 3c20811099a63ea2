package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

// predictAnswer is the prediction JSON (protocol/api): one image's
// predictions, or results for several in request order.
type predictAnswer struct {
	api.PredictResponse
	Results []api.FileResult `json:"results"`
}

// printPredictions shows each image's labels under the name it was given
// on the command line; it fails when an image could not be classified.
func (a *app) printPredictions(files []localFile, ans *predictAnswer) error {
	w := a.stdout
	bad := 0
	show := func(name string, ps []api.Prediction, errMsg string, code api.Code) {
		fmt.Fprintln(w, name)
		if errMsg != "" {
			bad++
			fmt.Fprintf(w, "  error: %s (%s)\n", errMsg, code)
			return
		}
		t := a.table("  LABEL", "CONFIDENCE", "ABOVE THRESHOLD")
		for _, p := range ps {
			above := "no"
			if p.AboveThreshold {
				above = "yes"
			}
			t.row("  "+p.Label, fmt.Sprintf("%.4f", p.Confidence), fmt.Sprintf("%s (%.2f)", above, p.Threshold))
		}
		t.flush()
	}
	if ans.Results == nil {
		show(files[0].path, ans.Predictions, "", "")
	}
	for i, r := range ans.Results {
		name := r.File
		if i < len(files) {
			name = files[i].path
		}
		show(name, r.Predictions, r.Error, r.Code)
	}
	fmt.Fprintf(w, "model %s version %d, %.1f ms\n", ans.Model.ID, ans.Model.Version, ans.LatencyMS)
	if bad > 0 {
		return fmt.Errorf("%d of %d images could not be classified", bad, len(files))
	}
	return nil
}

// maxValidationImages is the product's limit for 校验.
const maxValidationImages = 10

func (a *app) validate(args []string) error {
	fs := a.flagSet("validate", a.usage)
	topK := fs.Int("top-k", 5, "labels to show per image")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the validation service to load")
	pos, err := a.parse(fs, args, 3, -1)
	if err != nil {
		return err
	}
	m, v, err := a.modelVersion(pos)
	if err != nil {
		return err
	}
	paths := pos[2:]
	switch {
	case len(paths) > maxValidationImages:
		return a.usagef("at most %d images per validation; got %d", maxValidationImages, len(paths))
	case *topK < 1 || *topK > 1000:
		return a.usagef("--top-k must be 1–1000")
	case *timeout <= 0:
		return a.usagef("--timeout must be positive")
	}
	files, err := openImages(paths)
	if err != nil {
		return err
	}
	defer closeAll(files)
	base := apiPath("models", m, "versions", v, "validation")
	var st struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if _, err := a.send(http.MethodPost, base, nil, &st); err != nil {
		return err
	}
	prog := a.newProgress("validation service", 0)
	deadline := time.Now().Add(*timeout)
	last := ""
	for st.Status != "ready" {
		if st.Status == "failed" {
			prog.done()
			return fmt.Errorf("the validation service of version %s failed to load: %s", v, orDash(st.Error))
		}
		if st.Status != last {
			prog.note(st.Status)
			last = st.Status
		}
		if time.Now().After(deadline) {
			prog.done()
			return fmt.Errorf("the validation service of version %s is still %s after %s (--timeout)", v, st.Status, *timeout)
		}
		if err := a.sleep(250 * time.Millisecond); err != nil {
			return err
		}
		if _, err := a.get(base, &st); err != nil {
			return err
		}
	}
	prog.note("ready")
	prog.done()
	var ans predictAnswer
	raw, err := a.postFiles(base+"/predict?top_k="+strconv.Itoa(*topK), files, &ans)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	return a.printPredictions(files, &ans)
}

// maxInferImages is what one cloud inference call takes.
const maxInferImages = 32

// servicePath turns "factory/defects", "/api/v1/infer/factory/defects" or
// a service URL into the escaped path under /infer.
func servicePath(p string) (string, error) {
	if i := strings.Index(p, "/api/v1/infer/"); i >= 0 {
		p = p[i+len("/api/v1/infer/"):]
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return "", fmt.Errorf("the service path is empty")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("service path %q has an empty or dot segment", p)
		}
	}
	return apiPath(append([]string{"infer"}, segs...)...), nil
}

func (a *app) infer(args []string) error {
	fs := a.flagSet("infer", a.usage)
	topK := fs.Int("top-k", 5, "labels to return per image")
	pos, err := a.parse(fs, args, 2, -1)
	if err != nil {
		return err
	}
	path, err := servicePath(pos[0])
	if err != nil {
		return a.usagef("%v", err)
	}
	paths := pos[1:]
	switch {
	case len(paths) > maxInferImages:
		return a.usagef("at most %d images per call; got %d", maxInferImages, len(paths))
	case *topK < 1 || *topK > 1000:
		return a.usagef("--top-k must be 1–1000")
	}
	files, err := openImages(paths)
	if err != nil {
		return err
	}
	defer closeAll(files)
	path += "?top_k=" + strconv.Itoa(*topK)
	var raw []byte
	var ans predictAnswer
	if len(files) == 1 {
		// One image: the raw body, as on-site systems send it.
		raw, err = a.postRaw(path, files[0])
		if err == nil {
			err = decode(raw, &ans, path)
		}
	} else {
		raw, err = a.postFiles(path, files, &ans)
	}
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	return a.printPredictions(files, &ans)
}

func (a *app) postRaw(path string, f localFile) ([]byte, error) {
	ctx, cancel := context.WithTimeout(a.ctx, callTimeout)
	defer cancel()
	resp, err := a.request(ctx, http.MethodPost, path, f.f, f.size, http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}
