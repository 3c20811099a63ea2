package head

import (
	"context"
	"testing"
	"time"
)

// benchData is 1000 training and 250 validation features of 2304 values
// (the general recipe's two concatenated backbone features), 5 classes,
// noisy enough that the classes overlap.
func benchData() (Dataset, Dataset) {
	return split(blobs(7, 2304, repeat(250, 5), 40), 0.8)
}

// BenchmarkSoftmax1000x2304 trains each softmax-regression candidate of
// the general grid with early stopping, reporting the epochs it ran and the
// time per epoch.
func BenchmarkSoftmax1000x2304(b *testing.B) {
	train, val := benchData()
	for _, cfg := range Grid("general", 1) {
		if cfg.Kind != KindSoftmax {
			continue
		}
		b.Run(cfg.Name(), func(b *testing.B) {
			ran := 0
			for b.Loop() {
				fit, err := Train(context.Background(), train, val, cfg)
				if err != nil {
					b.Fatal(err)
				}
				ran += fit.Ran
			}
			b.ReportMetric(float64(ran)/float64(b.N), "epochs")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(ran), "ms/epoch")
		})
	}
}

// BenchmarkSearchGeneral1000x2304 runs the whole general grid (softmax
// candidates and the MLP) and the refit of the winner.
func BenchmarkSearchGeneral1000x2304(b *testing.B) {
	train, val := benchData()
	all, _ := Concat(train, val)
	for b.Loop() {
		start := time.Now()
		best, _, err := Search(context.Background(), train, val, Grid("general", 1), "f1", nil)
		if err != nil {
			b.Fatal(err)
		}
		search := time.Since(start)
		if _, err := Refit(context.Background(), all, best.Config, best.Epochs); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(search.Seconds(), "search-s")
	}
}
