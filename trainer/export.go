package trainer

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/plugins/onnx"
	"github.com/autocv/autocv/protocol/imagerules"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer/graph"
	"github.com/autocv/autocv/trainer/head"
)

// Agreement the exported model must reach with the trainer on every test
// image; a larger gap means the export is wrong and the job fails.
const (
	exportTolerance = 1e-3
	// a top-1 that differs only because two labels are this close is a tie,
	// not a disagreement
	tieTolerance = 1e-4
	// maxGolden golden samples at most go into the package, taken
	// round-robin over the labels.
	maxGolden = 8
	// exportChecks test photos at most go through the plugin to check the
	// exported model (checkSample).
	exportChecks = 64
)

// export builds model.onnx (backbones cut at their features + the head +
// softmax), checks it through the real inference plugin on up to
// exportChecks test photos against the trainer's own predictions, and picks
// golden samples among them.
func (r *run) export(ctx context.Context, final head.Head, rep *report.Report, testProbs [][]float32) error {
	work := r.workDir()
	if err := os.Mkdir(work, 0o755); err != nil {
		return err
	}
	m, err := r.graph(final)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	modelPath := filepath.Join(work, modelpkg.ModelName)
	if err := os.WriteFile(modelPath, data, 0o644); err != nil {
		return err
	}
	r.modelPath = modelPath
	r.manifest = modelpkg.Manifest{
		ModelID: r.in.ModelID, Version: r.in.Version, Labels: r.in.Labels, AppType: r.in.AppType,
		Backbone:   strings.Join(r.recipe.Backbones, "+"),
		Preprocess: r.feat.backbones[0].Descriptor.Preprocess,
		IO: modelpkg.IO{Input: graph.InputName, Output: graph.ProbabilityOutput,
			OutputKind: modelpkg.OutputProbabilities, FixedBatch: m.FixedBatch},
		Runtime:    modelpkg.Runtime{Opset: r.feat.backbones[0].Descriptor.Opset, ExecutionProviders: []string{"cpu"}},
		Thresholds: modelpkg.Thresholds{Global: rep.Thresholds.Global, PerLabel: rep.Thresholds.PerLabel},
		Metrics: modelpkg.Metrics{Accuracy: rep.Metrics.Accuracy, Precision: rep.Metrics.Precision,
			Recall: rep.Metrics.Recall, F1: rep.Metrics.F1, Metric: r.in.Metric},
	}

	// an unsigned package without golden samples, loaded by the plugin as
	// a device would load the real one
	check := filepath.Join(work, "check.tar.gz")
	b := modelpkg.Builder{Manifest: r.manifest, ModelPath: modelPath}
	if _, err := b.WriteFile(check); err != nil {
		return err
	}
	p, err := onnx.New(inference.NameONNXCPU)
	if err != nil {
		return err
	}
	if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: check, AllowUnsigned: true}); err != nil {
		return fmt.Errorf("export: the plugin cannot load the exported model: %w", err)
	}
	defer p.Unload(ctx)
	ts := r.split[jobs.SplitTest]
	sample := checkSample(ts.truth, len(r.in.Labels), exportChecks)
	items := make([]Item, len(sample))
	for k, i := range sample {
		items[k] = ts.items[i]
	}
	got, err := r.predictAll(ctx, p, items)
	if err != nil {
		return err
	}
	for k, i := range sample {
		if err := agree(ts.items[i].ID, r.in.Labels, testProbs[i], got[k]); err != nil {
			return fmt.Errorf("export: the exported model disagrees with the trainer: %w", err)
		}
		r.prog.report("export", k+1, len(sample)+1)
	}
	return r.pickGolden(ts, sample, got)
}

// checkSample picks up to n test photos for the export check, round-robin
// over the labels in split order, so every label is checked and the check
// costs the same for a big test split as for a small one: a wrong graph or
// preprocessing shows on every photo, not on one in a thousand.
func checkSample(truth []int, labels, n int) []int {
	byLabel := make([][]int, labels)
	for i, c := range truth {
		byLabel[c] = append(byLabel[c], i)
	}
	var out []int
	for round := 0; len(out) < min(n, len(truth)); round++ {
		for _, list := range byLabel {
			if round < len(list) && len(out) < n {
				out = append(out, list[round])
			}
		}
	}
	slices.Sort(out)
	return out
}

func (r *run) graph(final head.Head) (*graph.Model, error) {
	gh := graph.Head{}
	for _, l := range final.Layers {
		gh.Layers = append(gh.Layers, graph.Dense{In: l.In, Out: l.Out, W: l.W, B: l.B, Relu: l.Relu})
	}
	var m *graph.Model
	var err error
	mirror := r.recipe.mirrored()
	if bs := r.feat.backbones; len(bs) == 1 && !mirror {
		m, err = graph.Features(bs[0].Descriptor, bs[0].Data)
		gh.Normalize = true // the trainer L2-normalised the one feature
	} else {
		parts := make([]graph.Part, len(bs))
		for i, b := range bs {
			parts[i] = graph.Part{Descriptor: b.Descriptor, Model: b.Data, Normalize: true}
		}
		m, err = graph.Combined(parts)
	}
	if err == nil && mirror {
		err = graph.MirrorMean(m)
	}
	if err != nil {
		return nil, err
	}
	if err := graph.AppendHead(m, gh); err != nil {
		return nil, err
	}
	if err := graph.SetMetadata(m, graph.Metadata{Labels: r.in.Labels,
		Preprocess: r.feat.backbones[0].Descriptor.Preprocess, Version: buildinfo.String()}); err != nil {
		return nil, err
	}
	return m, nil
}

// predictAll runs the photos through the plugin and returns, per photo, the
// probability of every label in label order.
func (r *run) predictAll(ctx context.Context, p *onnx.Plugin, items []Item) ([][]float32, error) {
	index := map[string]int{}
	for i, l := range r.in.Labels {
		index[l] = i
	}
	out := make([][]float32, len(items))
	const chunk = 16
	for lo := 0; lo < len(items); lo += chunk {
		hi := min(lo+chunk, len(items))
		var imgs [][]byte
		for _, it := range items[lo:hi] {
			b, err := os.ReadFile(it.Path)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, b)
		}
		res, err := p.Predict(ctx, inference.PredictRequest{Images: imgs, TopK: len(r.in.Labels)})
		if err != nil {
			return nil, err
		}
		for j, pr := range res.Predictions {
			if pr.Err != "" {
				return nil, fmt.Errorf("export check: %s: %s", items[lo+j].ID, pr.Err)
			}
			probs := make([]float32, len(r.in.Labels))
			for _, l := range pr.Labels {
				probs[index[l.Label]] = l.Confidence
			}
			out[lo+j] = probs
		}
	}
	return out, nil
}

// agree checks one photo: same top-1 (unless a tie) and every probability
// within exportTolerance.
func agree(id string, labels []string, want, got []float32) error {
	for c := range want {
		if d := math.Abs(float64(want[c] - got[c])); d > exportTolerance {
			return fmt.Errorf("%s: p(%s) is %.5f in the trainer, %.5f from the exported model", id, labels[c], want[c], got[c])
		}
	}
	w, g := argmax(want), argmax(got)
	if w != g && math.Abs(float64(got[w]-got[g])) > tieTolerance {
		return fmt.Errorf("%s: top-1 is %s in the trainer, %s from the exported model", id, labels[w], labels[g])
	}
	return nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// pickGolden takes correctly classified test photos, round-robin over the
// labels, with the exported model's outputs as their expected answers.
func (r *run) pickGolden(ts *splitData, sample []int, got [][]float32) error {
	r.golden = map[string][]byte{}
	r.manifest.Golden = nil
	byLabel := make([][]int, len(r.in.Labels))
	probs := map[int][]float32{}
	for k, i := range sample {
		if argmax(got[k]) == ts.truth[i] {
			byLabel[ts.truth[i]] = append(byLabel[ts.truth[i]], i)
			probs[i] = got[k]
		}
	}
	for round := 0; len(r.manifest.Golden) < maxGolden; round++ {
		added := false
		for _, list := range byLabel {
			if round >= len(list) || len(r.manifest.Golden) >= maxGolden {
				continue
			}
			i := list[round]
			data, err := os.ReadFile(ts.items[i].Path)
			if err != nil {
				return err
			}
			ext := imagerules.Sniff(data)
			if ext == "jpeg" {
				ext = "jpg"
			}
			name := fmt.Sprintf("%s%d.%s", modelpkg.GoldenDir, len(r.manifest.Golden), ext)
			r.golden[name] = data
			r.manifest.Golden = append(r.manifest.Golden, modelpkg.Golden{
				File: name, ExpectedTop1: r.in.Labels[ts.truth[i]], Probabilities: probs[i]})
			added = true
		}
		if !added {
			break
		}
	}
	return nil
}

// pack writes the final package: the model, the report and the golden
// samples, signed when a key is set.
func (r *run) pack() error {
	reportJSON, err := os.ReadFile(filepath.Join(r.dir, "report.json"))
	if err != nil {
		return err
	}
	b := modelpkg.Builder{Manifest: r.manifest, ModelPath: r.modelPath, Report: reportJSON, Golden: r.golden, Key: r.o.Key}
	if _, err := b.WriteFile(filepath.Join(r.dir, "package.tar.gz")); err != nil {
		return err
	}
	return os.RemoveAll(r.workDir())
}

// workDir holds export's scratch files; it is gone before the output
// folder is renamed into place.
func (r *run) workDir() string { return filepath.Join(r.dir, "work") }
