package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/dataset"
	"github.com/autocv/autocv/trainer/features"
	"github.com/autocv/autocv/trainer/graph"
)

// extractBatch is the batch both sides run: the extractor's default.
const extractBatch = 8

// extractRow compares the extractor with onnxruntime alone for one view set.
type extractRow struct {
	views       int
	images      int
	raw, ext    time.Duration // summed over the rounds
	rounds      int
	decodeShare float64 // the extractor's decode+preprocess CPU time / its wall time
}

func (r extractRow) rawIPS() float64 { return float64(r.images*r.rounds) / r.raw.Seconds() }
func (r extractRow) extIPS() float64 { return float64(r.images*r.rounds) / r.ext.Seconds() }

// benchExtract runs the trainer's extractor (read + one decode per photo +
// a tensor per view + model, no cache) and onnxruntime alone on the same
// views preprocessed beforehand, in the same batches, alternating rounds
// so a noisy machine slows both alike. img/s counts photos (all their
// views), so the ratio is the share of raw model speed the pipeline keeps.
func benchExtract(c config) ([]extractRow, error) {
	b, err := backbone.Open(c.backbones, backbone.MobileNetV2)
	if err != nil {
		return nil, err
	}
	spec, err := preprocess.SpecFrom(b.Descriptor.Preprocess)
	if err != nil {
		return nil, err
	}
	data, err := graph.FeatureModel(b.Descriptor, b.Data)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(c.tmp, "mobilenetv2-features.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	m := features.Model{Path: path, ID: b.Descriptor.ID, Dim: b.Descriptor.Feature.Dim,
		FixedBatch: b.Descriptor.FixedBatch, Input: graph.InputName, Output: graph.FeatureOutput}
	photos, err := extractPhotos(c)
	if err != nil {
		return nil, err
	}
	sess, err := engine.NewSession(path, engine.Options{Provider: engine.CPU, Input: graph.InputName, Output: graph.FeatureOutput})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	ex, err := features.NewExtractor(m, features.Options{Spec: spec, Batch: extractBatch, Provider: engine.CPU})
	if err != nil {
		return nil, err
	}
	defer ex.Close()

	rounds := 3
	if c.quick {
		rounds = 1
	}
	var rows []extractRow
	for _, views := range [][]features.View{{features.Orig},
		{features.Orig, features.Flip, features.CropTL, features.CropTR, features.CropBL, features.CropBR}} {
		fmt.Fprintf(os.Stderr, "extraction, %d photos × %d view(s) …\n", len(photos), len(views))
		items := features.Items(photos, views)
		in, err := tensors(spec, items)
		if err != nil {
			return nil, err
		}
		rawRun := func() error {
			per, n := spec.Len(), len(in)/spec.Len()
			for k := 0; k < n; k += extractBatch {
				cnt := min(extractBatch, n-k)
				if _, err := sess.Run(in[k*per:(k+cnt)*per], cnt); err != nil {
					return err
				}
			}
			return nil
		}
		// warm up both: the session opens, the files are in the page cache
		if err := rawRun(); err != nil {
			return nil, err
		}
		if _, _, err := ex.Extract(context.Background(), items); err != nil {
			return nil, err
		}
		row := extractRow{views: len(views), images: len(items), rounds: rounds}
		var decode time.Duration
		for range rounds {
			t0 := time.Now()
			if err := rawRun(); err != nil {
				return nil, err
			}
			row.raw += time.Since(t0)
			t0 = time.Now()
			_, st, err := ex.Extract(context.Background(), items)
			if err != nil {
				return nil, err
			}
			row.ext += time.Since(t0)
			decode += st.Decode
		}
		row.decodeShare = decode.Seconds() / row.ext.Seconds()
		rows = append(rows, row)
	}
	return rows, nil
}

// extractPhotos takes c.photos usable photos, alternating between
// hymenoptera/val and flowers5 (different sizes: 500×375-ish and 499×665).
func extractPhotos(c config) ([]dataset.Image, error) {
	var lists [][]dataset.Image
	for _, dir := range []string{"hymenoptera/val", "flowers5"} {
		ds, err := dataset.Scan(filepath.Join(c.data, "datasets", filepath.FromSlash(dir)))
		if err != nil {
			return nil, err
		}
		// spread over the labels: every k-th image
		step := max(1, len(ds.Images)/max(1, c.photos/2))
		var picked []dataset.Image
		for i := 0; i < len(ds.Images); i += step {
			picked = append(picked, ds.Images[i])
		}
		lists = append(lists, picked)
	}
	var out []dataset.Image
	for i := 0; len(out) < c.photos; i++ {
		if i >= len(lists[0]) && i >= len(lists[1]) {
			break
		}
		for _, l := range lists {
			if i < len(l) && len(out) < c.photos {
				out = append(out, l[i])
			}
		}
	}
	return out, nil
}

// tensors preprocesses every item's views as the extractor does: one
// decode per photo, one tensor per view, in item then view order.
func tensors(spec preprocess.Spec, items []features.Item) ([]float32, error) {
	per := spec.Len()
	var n int
	for _, it := range items {
		n += len(it.Views)
	}
	in := make([]float32, n*per)
	k := 0
	for _, it := range items {
		data, err := os.ReadFile(it.Path)
		if err != nil {
			return nil, err
		}
		img, err := preprocess.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", it.ID, err)
		}
		for _, v := range it.Views {
			if err := spec.TensorView(img, v.Preprocess(it.SHA256), in[k*per:(k+1)*per]); err != nil {
				return nil, err
			}
			k++
		}
	}
	return in, nil
}

func printExtract(rows []extractRow) {
	fmt.Printf("Feature extraction: MobileNetV2-int8 feature model, batch %d, %d cores; img/s counts photos (all their views)\n",
		extractBatch, engine.DefaultThreads())
	fmt.Println("  extractor = trainer/features (read + one decode per photo + a tensor per view + model, no cache)")
	fmt.Println("  raw = onnxruntime Session.Run alone on the same tensors preprocessed beforehand")
	fmt.Printf("%-6s %7s %11s %13s %11s %14s\n", "views", "photos", "raw img/s", "extract img/s", "ratio", "decode cpu/wall")
	fmt.Println(strings.Repeat("-", 68))
	for _, r := range rows {
		fmt.Printf("%-6d %7d %11.1f %13.1f %11.3f %14.2f\n", r.views, r.images, r.rawIPS(), r.extIPS(),
			r.extIPS()/r.rawIPS(), r.decodeShare)
	}
	fmt.Println("  ratio = extract / raw; decode cpu/wall = decode+preprocess CPU seconds (all workers) per extractor wall second")
	fmt.Println()
}
