package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/dataset/importer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
)

// Refusals of AddImages; the error's text says what is wrong.
var (
	ErrBadLabel      = errors.New("bad label name")
	ErrImporting     = errors.New("still importing")
	ErrTooManyLabels = errors.New("too many labels")
)

// File is one uploaded image: its name for people and its bytes.
type File struct {
	Name string
	Data []byte
}

// AddImages adds images to one label of a ready dataset, by the import's
// rules: each file is checked (imagerules.CheckBytes) and a bad one is
// skipped with its reason, the bytes are stored content-addressed, and a
// photo already in the label is skipped as a duplicate. It refuses a
// dataset still importing, a bad label name, and a new label beyond
// imagerules.MaxLabels.
func AddImages(ctx context.Context, st store.Store, blobs blob.Store, d *store.Dataset, label string, files []File) ([]store.Image, []api.SkippedFile, error) {
	if !importer.ValidLabel(label) {
		return nil, nil, fmt.Errorf("%w: label %s must be Chinese characters, letters, digits or '_'", ErrBadLabel, label)
	}
	if d.Status == store.DatasetProcessing {
		return nil, nil, fmt.Errorf("%w: dataset %s is still importing; wait until it is ready", ErrImporting, d.ID)
	}
	ls, err := st.Labels(ctx, d.ID)
	if err != nil {
		return nil, nil, err
	}
	known := len(ls) < imagerules.MaxLabels
	for _, l := range ls {
		known = known || l.Name == label
	}
	if !known {
		return nil, nil, fmt.Errorf("%w: the dataset already has %d labels; at most %d are allowed", ErrTooManyLabels, len(ls), imagerules.MaxLabels)
	}
	var ims []store.Image
	skipped := []api.SkippedFile{}
	for _, f := range files {
		res := imagerules.CheckBytes(f.Data)
		if res.Reason != imagerules.OK {
			skipped = append(skipped, api.SkippedFile{Path: f.Name, Reason: string(res.Reason), Detail: res.Message("zh-CN") + " / " + res.Message("en")})
			continue
		}
		sha, n, err := blobs.Put(ctx, bytes.NewReader(f.Data))
		if err != nil {
			return nil, nil, err
		}
		ims = append(ims, store.Image{Label: label, SHA256: sha, Size: n, Width: res.Width, Height: res.Height, Source: f.Name})
	}
	added := []store.Image{}
	if len(ims) > 0 {
		if added, err = st.AddImages(ctx, d.ID, ims); err != nil {
			return nil, nil, err
		}
	}
	if dup := len(ims) - len(added); dup > 0 {
		skipped = append(skipped, api.SkippedFile{Reason: importer.ReasonDuplicate, Detail: fmt.Sprintf("%d already in label %s", dup, label)})
	}
	return added, skipped, nil
}
