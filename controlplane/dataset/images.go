package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// skipped with its reason, the bytes are stored content-addressed, a
// second copy in the same upload is skipped as a duplicate and a photo
// the label already has as already_present (importer's reason codes). It
// refuses a dataset still importing, a bad label name, and a new label
// beyond imagerules.MaxLabels.
func AddImages(ctx context.Context, st store.Store, blobs blob.Store, d *store.Dataset, label string, files []File) ([]store.Image, []api.SkippedFile, error) {
	if !importer.ValidLabel(label) {
		return nil, nil, fmt.Errorf("%w: label %s must be 1 to %d bytes of Chinese characters, letters, digits or '_'",
			ErrBadLabel, importer.Shorten(label, 64), importer.MaxLabelBytes)
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
	first := map[string]string{} // sha256 → the file kept
	for _, f := range files {
		name := importer.Shorten(f.Name, importer.MaxPathBytes) // valid UTF-8, as the store keeps names
		if len(f.Name) > importer.MaxPathBytes {
			skipped = append(skipped, api.SkippedFile{Path: importer.Shorten(f.Name, 256), Reason: importer.ReasonNameTooLong,
				Detail: fmt.Sprintf("the file name is %d bytes, at most %d are allowed", len(f.Name), importer.MaxPathBytes)})
			continue
		}
		res := imagerules.CheckBytes(f.Data)
		if res.Reason != imagerules.OK {
			skipped = append(skipped, api.SkippedFile{Path: name, Reason: string(res.Reason), Detail: res.Message("zh-CN") + " / " + res.Message("en")})
			continue
		}
		sum := sha256.Sum256(f.Data)
		sha := hex.EncodeToString(sum[:])
		if p, ok := first[sha]; ok {
			skipped = append(skipped, api.SkippedFile{Path: name, Reason: importer.ReasonDuplicate, Detail: "same image as " + p})
			continue
		}
		first[sha] = name
		if err := blobs.PutKnown(ctx, sha, bytes.NewReader(f.Data)); err != nil {
			return nil, nil, err
		}
		ims = append(ims, store.Image{Label: label, SHA256: sha, Size: int64(len(f.Data)), Width: res.Width, Height: res.Height, Source: name})
	}
	added := []store.Image{}
	if len(ims) > 0 {
		if added, err = st.AddImages(ctx, d.ID, ims); err != nil {
			return nil, nil, err
		}
	}
	got := make(map[string]bool, len(added))
	for _, a := range added {
		got[a.SHA256] = true
	}
	for _, im := range ims {
		if !got[im.SHA256] {
			skipped = append(skipped, api.SkippedFile{Path: im.Source, Reason: importer.ReasonAlreadyPresent, Detail: "label " + label + " already has this image"})
		}
	}
	return added, skipped, nil
}
