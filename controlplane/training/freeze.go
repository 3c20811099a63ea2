// Package training is the control plane's training application, below its
// HTTP layer: which photos a new version trains on (Freeze), how they are
// split (Split, the rule autocv-trainer applies too) and the seed that makes
// a retraining split alike (SeedFor).
package training

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/split"
)

// Kinds of Freeze's refusals (errors.Is); the error's text is the whole
// message for the user, and the HTTP layer maps the kind to a status and
// code.
var (
	ErrInvalid       = errors.New("invalid training data")   // nothing chosen, a dataset twice, no labels of one
	ErrNotReady      = errors.New("dataset not ready")       // still importing, or failed
	ErrUnknownLabel  = errors.New("unknown label")           // the dataset has no such label
	ErrTooFewLabels  = errors.New("too few labels")          // fewer than 2 after leaving out conflicts
	ErrTooFewImages  = errors.New("too few images in label") // a label under imagerules.MinImagesPerLabel
	errNotFoundOwner = store.ErrNotFound
)

// refusal is a refusal of one kind with its own message.
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Data is one dataset and the labels of it to train on.
type Data = api.TrainingData

// Image is one image chosen for training, before splitting; Source is the
// dataset it came from (the report lists sources per label).
type Image struct {
	ID, SHA256, Label, Source string
}

// Freeze collects the live images of the chosen labels of the chosen
// datasets, which visible (the caller's ownership check) must allow.
// Identical photos (same sha256) under one label are kept once; under two
// labels every copy is left out (the label is unknowable). It checks the
// product rules: ≥ 2 labels, each with ≥ imagerules.MinImagesPerLabel
// images. It returns the images in a stable order and the labels sorted.
func Freeze(ctx context.Context, st store.Store, visible func(ownerID string) bool, data []Data) ([]Image, []string, error) {
	if len(data) == 0 {
		return nil, nil, refuse(ErrInvalid, "data: choose at least one dataset and its labels")
	}
	type entry struct {
		im     Image
		labels map[string]bool
	}
	bySHA := map[string]*entry{}
	var order []string
	chosen := map[string]bool{}
	seenDS := map[string]bool{}
	for _, d := range data {
		if seenDS[d.DatasetID] {
			return nil, nil, refuse(ErrInvalid, "data: dataset %s is listed twice", d.DatasetID)
		}
		seenDS[d.DatasetID] = true
		ds, err := st.Dataset(ctx, d.DatasetID)
		if err == nil && !visible(ds.OwnerID) {
			err = errNotFoundOwner
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, refuse(errNotFoundOwner, "dataset %s not found", d.DatasetID)
		}
		if err != nil {
			return nil, nil, err
		}
		if ds.Status != store.DatasetReady {
			return nil, nil, refuse(ErrNotReady, "dataset %s is %s, not ready", ds.Name, ds.Status)
		}
		if len(d.Labels) == 0 {
			return nil, nil, refuse(ErrInvalid, "data: choose labels of dataset %s", ds.Name)
		}
		have, err := st.Labels(ctx, ds.ID)
		if err != nil {
			return nil, nil, err
		}
		if len(have) == 0 {
			return nil, nil, refuse(ErrTooFewImages, "数据集 %s 没有图片，请先添加图片 / dataset %s has no images; add images before training", ds.Name, ds.Name)
		}
		for _, l := range d.Labels {
			found := false
			for _, h := range have {
				found = found || h.Name == l
			}
			if !found {
				return nil, nil, refuse(ErrUnknownLabel, "dataset %s has no label %q", ds.Name, l)
			}
			chosen[l] = true
			for p := 0; ; p++ {
				ims, _, err := st.Images(ctx, ds.ID, l, store.Page{Offset: p * 1000, Limit: 1000})
				if err != nil {
					return nil, nil, err
				}
				for _, im := range ims {
					e := bySHA[im.SHA256]
					if e == nil {
						e = &entry{im: Image{ID: im.ID, SHA256: im.SHA256, Label: l, Source: ds.Name}, labels: map[string]bool{}}
						bySHA[im.SHA256] = e
						order = append(order, im.SHA256)
					}
					e.labels[l] = true
				}
				if len(ims) < 1000 {
					break
				}
			}
		}
	}
	counts := map[string]int{}
	var out []Image
	for _, sha := range order {
		e := bySHA[sha]
		if len(e.labels) > 1 {
			continue
		}
		counts[e.im.Label]++
		out = append(out, e.im)
	}
	labels := make([]string, 0, len(chosen))
	var short []string
	for l := range chosen {
		labels = append(labels, l)
		if counts[l] < imagerules.MinImagesPerLabel {
			short = append(short, fmt.Sprintf("%s (%d)", l, counts[l]))
		}
	}
	sort.Strings(labels)
	sort.Strings(short)
	if len(labels) < 2 {
		return nil, nil, refuse(ErrTooFewLabels, "choose at least 2 labels to train a classifier")
	}
	if short != nil {
		return nil, nil, refuse(ErrTooFewImages, "every label needs at least %d images; short: %s",
			imagerules.MinImagesPerLabel, strings.Join(short, ", "))
	}
	return out, labels, nil
}

// SeedFor makes a version's split seed from its model and type, so
// retraining the same data splits it the same way.
func SeedFor(modelID, appType string) uint64 {
	h := sha256.Sum256([]byte(modelID + "\x00" + appType))
	return binary.LittleEndian.Uint64(h[:8])
}

// Split assigns each label's images to train / validation / test by the
// product's one rule (protocol/split: 70 / 15 / 15 stratified, order fixed
// by (seed, sha256)), the rule autocv-trainer applies to a folder: the same
// photos and seed split alike in both. Adding photos later moves few
// existing ones.
func Split(ims []Image, seed uint64) []jobs.Image {
	items := make([]split.Item, len(ims))
	for i, im := range ims {
		items[i] = split.Item{ID: im.ID, Label: im.Label, SHA256: im.SHA256}
	}
	where, err := split.Assign(items, seed, split.Default())
	if err != nil {
		panic(err) // the default fractions are valid
	}
	out := make([]jobs.Image, len(ims))
	for i, im := range ims {
		out[i] = jobs.Image{ID: im.ID, SHA256: im.SHA256, Label: im.Label, Split: where[i], Source: im.Source}
	}
	return out
}
