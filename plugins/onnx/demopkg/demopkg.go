// Package demopkg wraps an ImageNet backbone from the shared test data
// (../shared/data/backbones) as a model package with the 1000 ImageNet
// classes as labels. Tests, benchmarks and `make run` use it to exercise
// the real inference path before any model has been trained.
package demopkg

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// Backbone describes one ImageNet model file in the test data.
type Backbone struct {
	ID         string // backbone id written to the manifest
	File       string // under backbones/
	FixedBatch int    // 0 = dynamic batch
}

// Backbones in ../shared/data/backbones.
var (
	MobileNetV2 = Backbone{ID: "mobilenetv2-12-int8", File: "mobilenetv2-12-int8.onnx"}
	ShuffleNet  = Backbone{ID: "shufflenet-v2-12-qdq", File: "shufflenet-v2-12-qdq.onnx", FixedBatch: 1}
)

// GoldenPhotos are the photos shipped as golden samples (paths under the
// data folder), so loading the package self-tests it.
var GoldenPhotos = []string{
	"datasets/hymenoptera/val/ants/1124525276_816a07c17f.jpg",
	"datasets/flowers5/daisy/10140303196_b88d3d6cec.jpg",
}

// Labels reads imagenet_classes.txt. ImageNet repeats two names ("crane",
// "maillot"); repeats get " (2)" so labels stay unique as manifests require.
func Labels(dataDir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "backbones", "imagenet_classes.txt"))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	seen := map[string]int{}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		seen[l]++
		if seen[l] > 1 {
			l = fmt.Sprintf("%s (%d)", l, seen[l])
		}
		lines[i] = l
	}
	if len(lines) != 1000 {
		return nil, fmt.Errorf("imagenet_classes.txt: %d classes, want 1000", len(lines))
	}
	return lines, nil
}

// Build writes a package wrapping bb to out, signed with key (nil for an
// unsigned package). It runs the backbone in-process to record the golden
// samples' expected outputs.
func Build(dataDir string, bb Backbone, key ed25519.PrivateKey, out string) (*modelpkg.Manifest, error) {
	labels, err := Labels(dataDir)
	if err != nil {
		return nil, err
	}
	modelPath := filepath.Join(dataDir, "backbones", bb.File)
	pre := modelpkg.Preprocess{
		InputSize: 224, ResizeMode: modelpkg.ResizeShorterCrop, Resize: 256, Crop: 224,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
		ChannelOrder: "RGB", Layout: "NCHW",
	}
	golden, files, err := goldens(dataDir, modelPath, pre, labels)
	if err != nil {
		return nil, err
	}
	b := modelpkg.Builder{
		Manifest: modelpkg.Manifest{
			ModelID: "imagenet-" + bb.ID, Version: 1, Labels: labels, Backbone: bb.ID,
			Preprocess: pre,
			IO:         modelpkg.IO{Input: "input", Output: "output", OutputKind: modelpkg.OutputLogits, FixedBatch: bb.FixedBatch},
			Runtime:    modelpkg.Runtime{Opset: 12, ExecutionProviders: []string{engine.CPU}},
			Thresholds: modelpkg.Thresholds{Global: 0.5},
			Golden:     golden,
		},
		ModelPath: modelPath,
		Golden:    files,
		Key:       key,
	}
	return b.WriteFile(out)
}

func goldens(dataDir, modelPath string, pre modelpkg.Preprocess, labels []string) ([]modelpkg.Golden, map[string][]byte, error) {
	spec, err := preprocess.SpecFrom(pre)
	if err != nil {
		return nil, nil, err
	}
	sess, err := engine.NewSession(modelPath, engine.Options{Provider: engine.CPU, Input: "input", Output: "output"})
	if err != nil {
		return nil, nil, err
	}
	defer sess.Close()
	var golden []modelpkg.Golden
	files := map[string][]byte{}
	for i, p := range GoldenPhotos {
		data, err := os.ReadFile(filepath.Join(dataDir, p))
		if err != nil {
			return nil, nil, err
		}
		t := make([]float32, 3*224*224)
		if err := spec.DecodeTensor(data, t); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		logits, err := sess.Run(t, 1)
		if err != nil {
			return nil, nil, err
		}
		engine.Softmax(logits)
		probs := logits
		best := 0
		for j, v := range probs {
			if v > probs[best] {
				best = j
			}
		}
		name := fmt.Sprintf("golden/%d%s", i, strings.ToLower(filepath.Ext(p)))
		files[name] = bytes.Clone(data)
		golden = append(golden, modelpkg.Golden{File: name, ExpectedTop1: labels[best], Probabilities: probs})
	}
	return golden, files, nil
}
