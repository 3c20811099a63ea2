package evaluate

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/autocv/autocv/protocol/report"
)

// File is one image as the dataset checks see it.
type File struct {
	ID     string // image id (optional; Path is used when empty)
	Path   string // what the user knows it as: folder or zip path
	Label  string
	SHA256 string // lowercase hex of the file's bytes
	Split  string // "train", "validation" or "test" (optional)
}

// Imbalance compares the largest and the smallest label by image count
// (counts[i] is labels[i]'s). Ties name the first such label; no labels, or
// a label with no images, give a zero MaxRatio.
func Imbalance(labels []string, counts []int) report.Imbalance {
	var im report.Imbalance
	if len(labels) == 0 || len(counts) != len(labels) {
		return im
	}
	lo, hi := 0, 0
	for i, n := range counts {
		if n < counts[lo] {
			lo = i
		}
		if n > counts[hi] {
			hi = i
		}
	}
	im = report.Imbalance{
		SmallestLabel: labels[lo], SmallestCount: counts[lo],
		LargestLabel: labels[hi], LargestCount: counts[hi],
	}
	if counts[lo] > 0 {
		im.MaxRatio = float64(counts[hi]) / float64(counts[lo])
	}
	return im
}

// Duplicates groups byte-identical files by sha256: groups whose files all
// carry one label go to same, groups spanning labels to cross. Paths within
// a group, and the groups (by sha256), are sorted.
func Duplicates(files []File) (same, cross []report.DuplicateGroup) {
	bySHA := make(map[string][]File)
	for _, f := range files {
		if f.SHA256 != "" {
			bySHA[f.SHA256] = append(bySHA[f.SHA256], f)
		}
	}
	same, cross = []report.DuplicateGroup{}, []report.DuplicateGroup{}
	for sha, fs := range bySHA {
		if len(fs) < 2 {
			continue
		}
		slices.SortFunc(fs, func(a, b File) int { return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Label, b.Label)) })
		g := report.DuplicateGroup{SHA256: sha}
		labels := map[string]bool{}
		for _, f := range fs {
			g.Paths = append(g.Paths, f.Path)
			g.Labels = append(g.Labels, f.Label)
			labels[f.Label] = true
		}
		if len(labels) > 1 {
			cross = append(cross, g)
		} else {
			same = append(same, g)
		}
	}
	bySum := func(a, b report.DuplicateGroup) int { return cmp.Compare(a.SHA256, b.SHA256) }
	slices.SortFunc(same, bySum)
	slices.SortFunc(cross, bySum)
	return same, cross
}

// Mislabel rules: an image is suspected when the out-of-fold model gives
// its own label at most MaxLabelProb and another label at least
// MinConfidence. Defaults are DefaultMislabelRule.
type MislabelRule struct {
	MaxLabelProb  float64
	MinConfidence float64
	Limit         int // at most this many, the most confident first; 0 = no limit
}

// DefaultMislabelRule flags images whose label gets at most 5% while
// another label gets at least 80%, and lists at most 50.
var DefaultMislabelRule = MislabelRule{MaxLabelProb: 0.05, MinConfidence: 0.8, Limit: 50}

// SuspectedMislabels lists the images whose given label (truth) the
// predictions strongly disagree with (see MislabelRule), most confident
// disagreement first.
//
// probs must come from models that did not train on the image they score:
// out-of-fold predictions over the training and validation images
// (trainer/head's OutOfFold). A model that saw an image has fit its label,
// mislabelled or not, and would hide exactly the images this is for.
// files[i] describes image i (its label is taken from truth, not files).
func SuspectedMislabels(truth []int, probs [][]float32, labels []string, files []File, rule MislabelRule) ([]report.SuspectedMislabel, error) {
	if err := check(truth, probs, len(labels)); err != nil {
		return nil, err
	}
	if len(files) != len(truth) {
		return nil, fmt.Errorf("evaluate: %d files for %d images", len(files), len(truth))
	}
	out := []report.SuspectedMislabel{}
	pred := Predictions(probs)
	for i, t := range truth {
		p, own := float64(probs[i][pred[i]]), float64(probs[i][t])
		if pred[i] == t || own > rule.MaxLabelProb || p < rule.MinConfidence {
			continue
		}
		id := files[i].ID
		if id == "" {
			id = files[i].Path
		}
		out = append(out, report.SuspectedMislabel{
			ImageID: id, Path: files[i].Path, Split: files[i].Split, Label: labels[t],
			Predicted: labels[pred[i]], Confidence: p, LabelConfidence: own,
		})
	}
	slices.SortStableFunc(out, func(a, b report.SuspectedMislabel) int {
		return cmp.Or(cmp.Compare(b.Confidence, a.Confidence), cmp.Compare(a.LabelConfidence, b.LabelConfidence),
			cmp.Compare(a.ImageID, b.ImageID))
	})
	if rule.Limit > 0 && len(out) > rule.Limit {
		out = out[:rule.Limit]
	}
	return out, nil
}
