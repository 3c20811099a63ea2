package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer"
	"github.com/autocv/autocv/trainer/dataset"
)

// quickPerLabel caps each label of each scanned folder under -quick.
const quickPerLabel = 30

// benchSet is one dataset split for training, as the CLI would hand it to
// trainer.Train.
type benchSet struct {
	name string
	in   trainer.Input
}

// loadSets scans hymenoptera and flowers5 and splits them:
//   - hymenoptera: the train folder split into train / validation, tested
//     on the val folder (dataset.SplitWithTest, as `--test-data` does);
//   - flowers5: every 5th photo of each label (sorted by name, byte order)
//     is the test split; the rest is split into train / validation with
//     the same stratified split (dataset.SplitWithTest).
func loadSets(c config) ([]benchSet, error) {
	dir := filepath.Join(c.data, "datasets")
	hymTrain, err := scan(c, filepath.Join(dir, "hymenoptera", "train"))
	if err != nil {
		return nil, err
	}
	hymVal, err := scan(c, filepath.Join(dir, "hymenoptera", "val"))
	if err != nil {
		return nil, err
	}
	sp, err := dataset.SplitWithTest(hymTrain.Images, hymVal.Images, c.seed, dataset.DefaultValFraction)
	if err != nil {
		return nil, err
	}
	hym := input(hymTrain.Labels, sp, "hymenoptera", c.seed)
	addScanned(&hym, "", hymTrain)

	flowers, err := scan(c, filepath.Join(dir, "flowers5"))
	if err != nil {
		return nil, err
	}
	var rest, test []dataset.Image
	n := map[string]int{}
	for _, im := range flowers.Images { // sorted by ID: label, then file name
		if n[im.Label]++; n[im.Label]%5 == 0 {
			test = append(test, im)
		} else {
			rest = append(rest, im)
		}
	}
	if sp, err = dataset.SplitWithTest(rest, test, c.seed, dataset.DefaultValFraction); err != nil {
		return nil, err
	}
	fl := input(flowers.Labels, sp, "flowers5", c.seed)
	addScanned(&fl, "", flowers)
	return []benchSet{{"hymenoptera", hym}, {"flowers5", fl}}, nil
}

// scan reads one dataset folder; -quick keeps the first few photos of
// each label.
func scan(c config, dir string) (*dataset.Dataset, error) {
	ds, err := dataset.Scan(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if c.quick {
		n := map[string]int{}
		ds.Images = slices.DeleteFunc(ds.Images, func(im dataset.Image) bool {
			n[im.Label]++
			return n[im.Label] > quickPerLabel
		})
	}
	return ds, nil
}

// input turns splits into the trainer's input; source names the folder
// the photos came from.
func input(labels []string, sp dataset.Splits, source string, seed uint64) trainer.Input {
	in := trainer.Input{Labels: labels, Seed: seed, Version: 1, Metric: report.MetricF1}
	for _, part := range []struct {
		split  string
		images []dataset.Image
	}{{jobs.SplitTrain, sp.Train}, {jobs.SplitValidation, sp.Val}, {jobs.SplitTest, sp.Test}} {
		for _, im := range part.images {
			in.Items = append(in.Items, trainer.Item{ID: im.ID, Label: im.Label, Split: part.split,
				Path: im.Path, SHA256: im.SHA256, Source: source})
		}
	}
	return in
}

// addScanned lists what a scan left out and the duplicates it found in the
// input, as the CLI does; prefix is put before every file id.
func addScanned(in *trainer.Input, prefix string, ds *dataset.Dataset) {
	for _, s := range ds.Skipped {
		in.Skipped = append(in.Skipped, report.Skipped{Path: prefix + s.ID, Reason: string(s.Reason),
			Message: dataset.Message(s.Reason, "en")})
	}
	for _, d := range ds.Duplicates {
		label := strings.SplitN(d.Kept, "/", 2)[0]
		in.Checks.Duplicates = append(in.Checks.Duplicates, report.DuplicateGroup{SHA256: d.SHA256,
			Paths: []string{prefix + d.Kept, prefix + d.Dropped}, Labels: []string{label, label}})
	}
}

// thousand scans flowers5 and hymenoptera's train and val folders as ONE
// dataset of 7 labels (the folder names): nothing is copied, the items
// point at the shared files. A photo whose bytes were already seen in
// another folder is left out like a duplicate. Split like the CLI's
// single folder: 70 / 15 / 15 stratified.
func thousand(c config) (trainer.Input, time.Duration, error) {
	start := time.Now()
	dir := filepath.Join(c.data, "datasets")
	var all []dataset.Image
	var in trainer.Input
	seen := map[string]string{}
	labels := map[string]bool{}
	for _, folder := range []string{"flowers5", "hymenoptera/train", "hymenoptera/val"} {
		ds, err := scan(c, filepath.Join(dir, filepath.FromSlash(folder)))
		if err != nil {
			return in, 0, err
		}
		prefix := folder + "/"
		addScanned(&in, prefix, ds)
		for _, im := range ds.Images {
			im.ID = prefix + im.ID
			if first, dup := seen[im.SHA256]; dup {
				in.Skipped = append(in.Skipped, report.Skipped{Path: im.ID, Reason: string(dataset.Duplicate),
					Message: "same bytes as " + first})
				continue
			}
			seen[im.SHA256] = im.ID
			labels[im.Label] = true
			all = append(all, im)
		}
	}
	sp, err := dataset.Split(all, c.seed, dataset.DefaultFractions())
	if err != nil {
		return in, 0, err
	}
	skipped, checks := in.Skipped, in.Checks
	in = input(slices.Sorted(func(yield func(string) bool) {
		for l := range labels {
			if !yield(l) {
				return
			}
		}
	}), sp, "flowers5+hymenoptera", c.seed)
	in.Skipped, in.Checks = skipped, checks
	return in, time.Since(start), nil
}

// splitSizes says how many photos each split holds.
func splitSizes(in trainer.Input) string {
	n := map[string]int{}
	for _, it := range in.Items {
		n[it.Split]++
	}
	return fmt.Sprintf("%d/%d/%d", n[jobs.SplitTrain], n[jobs.SplitValidation], n[jobs.SplitTest])
}
