package head

import (
	"context"
	"testing"
	"time"
)

func TestExperiment(t *testing.T) {
	for _, spread := range []float64{1.5, 3, 5} {
		all := blobs(7, 2304, repeat(250, 5), spread)
		tr, va := split(all, 0.8)
		for _, cfg := range Grid("general", 1) {
			start := time.Now()
			fit, err := Train(context.Background(), tr, va, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("spread %v %-40s epochs %3d ran %3d loss %.4f acc %.3f  %v", spread, cfg.Name(), fit.Epochs, fit.Ran, fit.ValLoss, accuracy(fit.Head, va), time.Since(start))
		}
	}
}
