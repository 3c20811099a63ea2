package features

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// BenchmarkExtractVsRaw compares, side by side in each iteration, the
// extractor (read + decode once + a tensor per view + model, no cache)
// with onnxruntime alone on the same views preprocessed beforehand, in
// the same batches of 8. raw-img/s counts images (all their views), so the
// ratio is the share of raw model speed the whole pipeline keeps.
func BenchmarkExtractVsRaw(b *testing.B) {
	m := testModel(b)
	for _, views := range [][]View{{Orig}, {Orig, Flip, CropTL, CropTR, CropBL, CropBR}} {
		b.Run(fmt.Sprintf("%dviews", len(views)), func(b *testing.B) {
			items := photos(b, 16, views...)
			spec := preprocess.ImageNet()
			per, n := spec.Len(), len(items)*len(views)
			in := make([]float32, n*per)
			for i, it := range items {
				data, _ := os.ReadFile(it.Path)
				img, err := preprocess.Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				for j, v := range views {
					spec.TensorView(img, v.Preprocess(it.SHA256), in[(i*len(views)+j)*per:])
				}
			}
			s, err := engine.NewSession(m.Path, engine.Options{Input: "input", Output: "features"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			e, _ := NewExtractor(m, Options{})
			defer e.Close()
			if _, _, err := e.Extract(context.Background(), items[:1]); err != nil { // open the session
				b.Fatal(err)
			}
			var raw, ext time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				for k := 0; k < n; k += 8 {
					c := min(8, n-k)
					if _, err := s.Run(in[k*per:(k+c)*per], c); err != nil {
						b.Fatal(err)
					}
				}
				raw += time.Since(t0)
				t0 = time.Now()
				if _, _, err := e.Extract(context.Background(), items); err != nil {
					b.Fatal(err)
				}
				ext += time.Since(t0)
			}
			imgs := float64(len(items) * b.N)
			b.ReportMetric(imgs/raw.Seconds(), "raw-img/s")
			b.ReportMetric(imgs/ext.Seconds(), "extract-img/s")
			b.ReportMetric(raw.Seconds()/ext.Seconds(), "ratio")
		})
	}
}
