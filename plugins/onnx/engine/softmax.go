package engine

import "math"

// Softmax turns logits into probabilities in place (sums in float64).
func Softmax(v []float32) {
	maxv := float32(math.Inf(-1))
	for _, x := range v {
		maxv = max(maxv, x)
	}
	var sum float64
	for i, x := range v {
		e := math.Exp(float64(x - maxv))
		v[i] = float32(e)
		sum += e
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / sum)
	}
}
