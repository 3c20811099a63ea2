package evaluate

import (
	"math"
	"math/rand/v2"
)

// fromMatrix builds truth and probability rows that realise a confusion
// matrix: each image of cell (t, p) gives p probability conf and spreads
// the rest evenly, so its arg-max is p. Rows come in matrix order.
func fromMatrix(matrix [][]int, conf float32) (truth []int, probs [][]float32) {
	k := len(matrix)
	for t, row := range matrix {
		for p, n := range row {
			for range n {
				r := make([]float32, k)
				for c := range r {
					r[c] = (1 - conf) / float32(k-1)
				}
				r[p] = conf
				truth = append(truth, t)
				probs = append(probs, r)
			}
		}
	}
	return truth, probs
}

// randomPredictions returns n images of k classes with random probability
// rows, some quantised to create ties, correct about acc of the time.
func randomPredictions(rng *rand.Rand, n, k int, acc float64) (truth []int, probs [][]float32) {
	for range n {
		t := rng.IntN(k)
		r := make([]float32, k)
		var sum float32
		for c := range r {
			r[c] = rng.Float32()
			if rng.IntN(3) == 0 {
				r[c] = float32(math.Round(float64(r[c])*4) / 4)
			}
			sum += r[c]
		}
		if rng.Float64() < acc {
			r[t] += sum
			sum += sum
		}
		for c := range r {
			r[c] /= max(sum, 1e-6)
		}
		truth = append(truth, t)
		probs = append(probs, r)
	}
	return truth, probs
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func names(k int) []string {
	all := []string{"cat", "dog", "bird", "fish", "horse", "cow", "sheep", "goat"}
	return all[:k]
}
