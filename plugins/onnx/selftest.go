package onnx

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// selfTest runs the package's golden samples and checks the model still
// gives the recorded answers here: same top-1, probabilities within
// modelpkg.GoldenTolerance. It catches a wrong runtime, a broken provider or
// preprocessing that differs from the trainer's before traffic arrives.
func (m *model) selfTest(ctx context.Context) error {
	for _, g := range m.manifest.Golden {
		data, err := os.ReadFile(filepath.Join(m.members, filepath.FromSlash(g.File)))
		if err != nil {
			return fmt.Errorf("%w: golden sample %s: %v", inference.ErrBadPackage, g.File, err)
		}
		res, err := m.predict(ctx, inference.PredictRequest{Images: [][]byte{data}, TopK: len(m.manifest.Labels)})
		if err != nil {
			return fmt.Errorf("%w: golden sample %s: %v", inference.ErrBadPackage, g.File, err)
		}
		p := res.Predictions[0]
		if p.Err != "" {
			return fmt.Errorf("%w: golden sample %s: %s", inference.ErrBadPackage, g.File, p.Err)
		}
		if p.Labels[0].Label != g.ExpectedTop1 {
			return fmt.Errorf("%w: golden sample %s: top-1 is %q (%.4f) here, the package expects %q",
				inference.ErrBadPackage, g.File, p.Labels[0].Label, p.Labels[0].Confidence, g.ExpectedTop1)
		}
		got := make(map[string]float32, len(p.Labels))
		for _, l := range p.Labels {
			got[l.Label] = l.Confidence
		}
		for i, want := range g.Probabilities {
			label := m.manifest.Labels[i]
			if d := math.Abs(float64(got[label] - want)); d > modelpkg.GoldenTolerance {
				return fmt.Errorf("%w: golden sample %s: p(%s) is %.5f here, the package expects %.5f (tolerance %g)",
					inference.ErrBadPackage, g.File, label, got[label], want, modelpkg.GoldenTolerance)
			}
		}
	}
	return nil
}
