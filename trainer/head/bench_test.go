package head

import (
	"context"
	"testing"
)

// BenchmarkSoftmax1000x2304 trains one softmax-regression candidate (the
// general grid's first) on 1000 training and 250 validation features of
// 2304 values (the general recipe's concatenated backbone features), 5
// classes, with early stopping.
func BenchmarkSoftmax1000x2304(b *testing.B) {
	all := blobs(7, 2304, repeat(250, 5), 40)
	train, val := split(all, 0.8)
	cfg := Grid("general", 1)[1]
	b.ResetTimer()
	for b.Loop() {
		fit, err := Train(context.Background(), train, val, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fit.Ran), "epochs")
	}
}
