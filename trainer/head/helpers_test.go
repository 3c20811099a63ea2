package head

import (
	"math"
	"math/rand/v2"
)

// blobs draws n feature vectors of dim values around one random centre per
// class, with Gaussian noise of the given spread, and L2-normalises them
// like the trainer does. counts[c] rows are of class c; rows are shuffled.
func blobs(seed uint64, dim int, counts []int, spread float64) Dataset {
	return blobsFrom(seed, seed, dim, counts, spread)
}

// blobsFrom is blobs with the centres drawn from centreSeed and the rows
// from rowSeed, so two calls can sample the same classes independently.
func blobsFrom(centreSeed, rowSeed uint64, dim int, counts []int, spread float64) Dataset {
	rng := rand.New(rand.NewPCG(centreSeed, 1))
	centres := make([][]float64, len(counts))
	for c := range centres {
		centres[c] = make([]float64, dim)
		for i := range centres[c] {
			centres[c][i] = rng.NormFloat64()
		}
	}
	rng = rand.New(rand.NewPCG(rowSeed, 2))
	d := Dataset{Classes: len(counts)}
	for c, n := range counts {
		for range n {
			x := make([]float32, dim)
			var ss float64
			for i := range x {
				v := centres[c][i] + spread*rng.NormFloat64()
				x[i] = float32(v)
				ss += v * v
			}
			for i := range x {
				x[i] /= float32(math.Sqrt(ss))
			}
			d.X = append(d.X, x)
			d.Y = append(d.Y, c)
		}
	}
	rng.Shuffle(len(d.Y), func(i, j int) {
		d.X[i], d.X[j] = d.X[j], d.X[i]
		d.Y[i], d.Y[j] = d.Y[j], d.Y[i]
	})
	return d
}

// split cuts d into its first frac and the rest.
func split(d Dataset, frac float64) (Dataset, Dataset) {
	k := int(float64(d.Len()) * frac)
	return Dataset{X: d.X[:k], Y: d.Y[:k], Classes: d.Classes}, Dataset{X: d.X[k:], Y: d.Y[k:], Classes: d.Classes}
}

func accuracy(h Head, d Dataset) float64 {
	right := 0
	for i, p := range h.PredictBatch(d.X) {
		best := 0
		for c := range p {
			if p[c] > p[best] {
				best = c
			}
		}
		if best == d.Y[i] {
			right++
		}
	}
	return float64(right) / float64(d.Len())
}

func repeat(n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = n
	}
	return out
}
