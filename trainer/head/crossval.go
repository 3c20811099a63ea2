package head

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// OutOfFold returns, for every row of data, the class probabilities of a
// model that did not train on it: the rows are split into folds stratified
// by class (seeded by cfg.Seed), and for each fold cfg is trained on the
// other folds for epochs epochs (as Refit does) and predicts the held-out
// fold. This is what the suspected-mislabel check needs (trainer/evaluate's
// SuspectedMislabels): a model that saw an image has learnt its label,
// right or wrong. It costs folds trainings; use the search winner's config
// and epochs.
func OutOfFold(ctx context.Context, data Dataset, cfg Config, epochs, folds int) ([][]float32, error) {
	if err := check(data, cfg); err != nil {
		return nil, err
	}
	if folds < 2 || folds > data.Len() {
		return nil, fmt.Errorf("head: %d folds for %d images, want 2 to the number of images", folds, data.Len())
	}
	fold := stratifiedFolds(data.Y, data.Classes, folds, cfg.Seed)
	out := make([][]float32, data.Len())
	for f := range folds {
		var trainIdx, testIdx []int
		for i, g := range fold {
			if g == f {
				testIdx = append(testIdx, i)
			} else {
				trainIdx = append(trainIdx, i)
			}
		}
		if len(testIdx) == 0 {
			continue
		}
		h, err := Refit(ctx, data.subset(trainIdx), cfg, epochs)
		if err != nil {
			return nil, err
		}
		probs := h.PredictBatch(data.subset(testIdx).X)
		for j, i := range testIdx {
			out[i] = probs[j]
		}
	}
	return out, nil
}

// stratifiedFolds assigns each row a fold in [0, folds): each class's rows,
// in a seeded random order, are dealt round-robin, continuing where the
// previous class stopped so the fold sizes stay even.
func stratifiedFolds(y []int, classes, folds int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x666f6c6473)) // "folds"
	byClass := make([][]int, classes)
	for i, c := range y {
		byClass[c] = append(byClass[c], i)
	}
	fold := make([]int, len(y))
	next := 0
	for _, rows := range byClass {
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for _, i := range rows {
			fold[i] = next
			next = (next + 1) % folds
		}
	}
	return fold
}
