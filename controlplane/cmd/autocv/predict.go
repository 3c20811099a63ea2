package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

// printPredictions shows each image's labels under the name it was given
// on the command line; it fails when an image could not be classified.
func (a *app) printPredictions(files []localFile, ans *client.Answer) error {
	if a.jsonOut {
		return a.emitJSON(ans)
	}
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
			t.row("  "+p.Label, fmt.Sprintf("%.4f", p.Confidence), fmt.Sprintf("%s (%.2f)", yesNo(p.AboveThreshold), p.Threshold))
		}
		t.flush()
	}
	model, latency := api.ModelRef{}, 0.0
	if one := ans.One; one != nil {
		show(files[0].path, one.Predictions, "", "")
		model, latency = one.Model, one.LatencyMS
	}
	if b := ans.Batch; b != nil {
		for i, r := range b.Results {
			name := r.File
			if i < len(files) {
				name = files[i].path
			}
			show(name, r.Predictions, r.Error, r.Code)
		}
		model, latency = b.Model, b.LatencyMS
	}
	fmt.Fprintf(w, "model %s version %d, %.1f ms\n", model.ID, model.Version, latency)
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
	c, err := a.api()
	if err != nil {
		return err
	}
	st, err := c.StartValidation(a.ctx, m, v)
	if err != nil {
		return err
	}
	prog := a.newProgress("validation service", 0)
	deadline := time.Now().Add(*timeout)
	last := ""
	for st.Status != "ready" {
		if st.Status == "failed" {
			prog.done()
			return fmt.Errorf("the validation service of version %d failed to load: %s", v, orDash(st.Error))
		}
		if st.Status != last {
			prog.note(st.Status)
			last = st.Status
		}
		if time.Now().After(deadline) {
			prog.done()
			return fmt.Errorf("the validation service of version %d is still %s after %s (--timeout)", v, st.Status, *timeout)
		}
		if err := a.sleep(250 * time.Millisecond); err != nil {
			return err
		}
		if st, err = c.GetValidation(a.ctx, m, v); err != nil {
			return err
		}
	}
	prog.note("ready")
	prog.done()
	ans, err := c.PredictValidation(a.ctx, m, v, parts(files), api.PredictQuery{TopK: *topK})
	if err != nil {
		return err
	}
	return a.printPredictions(files, ans)
}

// maxInferImages is what one cloud inference call takes.
const maxInferImages = 32

// servicePath turns "factory/defects", "/api/v1/infer/factory/defects" or
// a service URL into the service's path, "factory/defects".
func servicePath(p string) (string, error) {
	if i := strings.Index(p, "/api/v1/infer/"); i >= 0 {
		p = p[i+len("/api/v1/infer/"):]
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return "", fmt.Errorf("the service path is empty")
	}
	for _, s := range strings.Split(p, "/") {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("service path %q has an empty or dot segment", p)
		}
	}
	return p, nil
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
	c, err := a.api()
	if err != nil {
		return err
	}
	// One image goes as the raw body, as on-site systems send it, and is
	// a JSON call; several stream as multipart without a deadline.
	ctx := a.ctx
	if len(files) == 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	ans, err := c.Infer(ctx, path, parts(files), api.PredictQuery{TopK: *topK})
	if err != nil {
		return err
	}
	return a.printPredictions(files, ans)
}
