package head

import (
	"context"
	"math"
	"testing"
)

func TestTrajectory(t *testing.T) {
	_, flw := loadReal(t)
	for _, lr := range []float64{0.01, 0.02, 0.05} {
		cfg := Config{Kind: KindSoftmax, L2: 1e-4, LR: lr, Epochs: 1, Seed: 1}
		tr := newTrainer(flw.train, cfg)
		vx, vw := flw.val.flat(), balancedWeights(flw.val.Y, 5, true, false)
		for ep := 1; ep <= 400; ep++ {
			tr.epoch(context.Background())
			if ep%20 == 0 || ep < 10 {
				h := tr.net.snapshot()
				p := h.forward(vx, flw.val.Len(), nil)
				var wn float64
				for _, v := range h.Layers[0].W {
					wn += float64(v * v)
				}
				t.Logf("lr %v ep %3d vloss %.4f vacc %.3f test %.3f |W| %.1f", lr, ep, crossEntropy(p, flw.val.Y, vw, 5), accuracy(h, flw.val), accuracy(h, flw.test), math.Sqrt(wn))
			}
		}
	}
}
