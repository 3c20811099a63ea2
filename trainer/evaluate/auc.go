package evaluate

import (
	"slices"
)

// AUC is the area under the ROC curve of class c against the rest, using
// probs[i][c] as the score: the probability that a random image of c
// scores above a random image of another class, ties counting one half.
// It is computed from ranks (Mann-Whitney U) with tied scores sharing
// their average rank, in O(n log n). ok is false when the images are all
// of c or none is.
func AUC(truth []int, probs [][]float32, c int) (auc float64, ok bool) {
	n := len(truth)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		sa, sb := probs[a][c], probs[b][c]
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	var pos, rankSum float64
	for i := 0; i < n; {
		j := i
		for j < n && probs[order[j]][c] == probs[order[i]][c] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1 … j share their mean
		for _, idx := range order[i:j] {
			if truth[idx] == c {
				pos++
				rankSum += avg
			}
		}
		i = j
	}
	neg := float64(n) - pos
	if pos == 0 || neg == 0 {
		return 0, false
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg), true
}
