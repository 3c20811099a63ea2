package evaluate

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/autocv/autocv/protocol/report"
)

// DefaultNearDuplicate is the cosine similarity of L2-normalised pooled
// backbone features at or above which two different files count as near
// duplicates: the same photo resized, recoloured, recompressed or cropped,
// or two frames of one burst. Calibrated on ../shared/data/datasets with
// the general recipe's features (MobileNetV2 + ShuffleNetV2, each
// L2-normalised, concatenated; checked by eye): such pairs scored 0.886 to
// 0.992 (an edited copy of a daisy photo 0.992, a burst of sunflower shots
// 0.888, one photo cropped differently in flowers5/dandelion and
// hymenoptera/val/bees 0.886), while the most similar different photos
// scored 0.876 and below. Other backbones need their own calibration.
const DefaultNearDuplicate = 0.88

// nearBlock is how many rows one block of the Gram matrix covers; a block
// holds nearBlock×n similarities.
const nearBlock = 256

// NearDuplicates returns the pairs of files whose features have a cosine
// similarity of at least minSimilarity, most similar first, at most limit
// of them (0 = all). features[i] is files[i]'s feature vector; rows are
// L2-normalised here (a concatenation of normalised features is not), so a
// dot product is the cosine. Byte-identical files (same SHA256) are
// left out: Duplicates reports them. The similarities are computed with a
// blocked matrix product, n²·d multiply-adds in all.
func NearDuplicates(files []File, features [][]float32, minSimilarity float64, limit int) ([]report.NearDuplicate, error) {
	n := len(files)
	if len(features) != n {
		return nil, fmt.Errorf("evaluate: %d feature rows for %d files", len(features), n)
	}
	out := []report.NearDuplicate{}
	if n < 2 {
		return out, nil
	}
	d := len(features[0])
	x := make([]float32, n*d)
	for i, row := range features {
		if len(row) != d {
			return nil, fmt.Errorf("evaluate: feature row %d has %d values, want %d", i, len(row), d)
		}
		var norm float64
		for _, v := range row {
			norm += float64(v) * float64(v)
		}
		scale := float32(1 / max(math.Sqrt(norm), 1e-12))
		for k, v := range row {
			x[i*d+k] = v * scale
		}
	}
	sim := make([]float32, nearBlock*n)
	for lo := 0; lo < n; lo += nearBlock {
		hi := min(lo+nearBlock, n)
		block := blas32.General{Rows: hi - lo, Cols: d, Stride: d, Data: x[lo*d : hi*d]}
		// Only columns from lo on are needed: pairs (i, j) with i < j.
		rest := blas32.General{Rows: n - lo, Cols: d, Stride: d, Data: x[lo*d:]}
		c := blas32.General{Rows: hi - lo, Cols: n - lo, Stride: n - lo, Data: sim[:(hi-lo)*(n-lo)]}
		blas32.Gemm(blas.NoTrans, blas.Trans, 1, block, rest, 0, c)
		for i := lo; i < hi; i++ {
			row := c.Data[(i-lo)*c.Stride : (i-lo+1)*c.Stride]
			for j := i + 1; j < n; j++ {
				s := float64(row[j-lo])
				if s < minSimilarity || files[i].SHA256 != "" && files[i].SHA256 == files[j].SHA256 {
					continue
				}
				out = append(out, report.NearDuplicate{
					Paths:      []string{files[i].Path, files[j].Path},
					Labels:     []string{files[i].Label, files[j].Label},
					Similarity: min(max(s, -1), 1),
				})
				if limit > 0 && len(out) >= 4*limit {
					out = best(out, limit) // memory stays bounded however many pairs pass
				}
			}
		}
	}
	if limit > 0 {
		return best(out, limit), nil
	}
	return best(out, len(out)), nil
}

// best sorts pairs most similar first and keeps the first limit.
func best(out []report.NearDuplicate, limit int) []report.NearDuplicate {
	slices.SortStableFunc(out, func(a, b report.NearDuplicate) int {
		return cmp.Or(cmp.Compare(b.Similarity, a.Similarity), cmp.Compare(a.Paths[0], b.Paths[0]), cmp.Compare(a.Paths[1], b.Paths[1]))
	})
	return out[:min(limit, len(out))]
}
