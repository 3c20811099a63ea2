package graph

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/trainer/backbone"
)

// BenchmarkFeatures measures feature extraction through the cut models
// against the unmodified backbones on the same batches (images/s).
func BenchmarkFeatures(b *testing.B) {
	for _, bc := range []struct {
		id    string
		batch int
	}{{backbone.MobileNetV2, 8}, {backbone.ShuffleNet, 1}} {
		bb := openBackbone(b, bc.id)
		cut, err := FeatureModel(bb.Descriptor, bb.Data)
		if err != nil {
			b.Fatal(err)
		}
		in := images(b, bc.batch)
		for _, mc := range []struct {
			name, output string
			model        []byte
		}{{"features", FeatureOutput, cut}, {"original", "output", bb.Data}} {
			b.Run(bc.id+"/"+mc.name, func(b *testing.B) {
				initORT(b)
				path := filepath.Join(b.TempDir(), "model.onnx")
				if err := os.WriteFile(path, mc.model, 0o600); err != nil {
					b.Fatal(err)
				}
				s, err := engine.NewSession(path, engine.Options{Input: InputName, Output: mc.output})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				for b.Loop() {
					if _, err := s.Run(in, bc.batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*bc.batch)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
