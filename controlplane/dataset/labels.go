package dataset

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/autocv/autocv/controlplane/dataset/importer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
)

// LabelOf is a stored label as the API shows it: trainable from
// imagerules.MinImagesPerLabel images, with a warning in zh-CN and English
// below that or below imagerules.WarnImagesPerLabel.
func LabelOf(name string, count int) api.Label {
	l := api.Label{Name: name, Count: count, Trainable: count >= imagerules.MinImagesPerLabel}
	switch {
	case !l.Trainable:
		l.Warning = fmt.Sprintf("不足 %d 张图片，不能训练 / fewer than %d images: not trainable",
			imagerules.MinImagesPerLabel, imagerules.MinImagesPerLabel)
	case count < imagerules.WarnImagesPerLabel:
		l.Warning = fmt.Sprintf("少于 %d 张图片，建议补充 / fewer than %d images: add more for better results",
			imagerules.WarnImagesPerLabel, imagerules.WarnImagesPerLabel)
	}
	return l
}

// ErrUnknownLabel: a move to a label the dataset does not have.
var ErrUnknownLabel = errors.New("unknown label")

// checkEditable refuses changes to a dataset that is still importing (the
// import counts and reports labels as it goes).
func checkEditable(d *store.Dataset) error {
	if d.Status == store.DatasetProcessing {
		return fmt.Errorf("%w: dataset %s is still importing; wait until it is ready / 数据集仍在导入，请等导入完成", ErrImporting, d.Name)
	}
	return nil
}

func checkLabelName(label string) error {
	if !importer.ValidLabel(label) {
		return fmt.Errorf("%w: 分类名须为 1–%d 字节的中文、字母、数字或下划线 / label %s must be 1 to %d bytes of Chinese characters, letters, digits or '_'",
			ErrBadLabel, importer.MaxLabelBytes, importer.Shorten(label, 64), importer.MaxLabelBytes)
	}
	return nil
}

// RenameLabel renames a label of a ready dataset by the import's label
// rule; merge moves its images into a label of that name that exists
// (store.ErrConflict without it), dropping exact duplicates.
func RenameLabel(ctx context.Context, st store.Store, d *store.Dataset, from, to string, merge bool) (moved, dropped int, err error) {
	if err := checkLabelName(to); err != nil {
		return 0, 0, err
	}
	if err := checkEditable(d); err != nil {
		return 0, 0, err
	}
	moved, dropped, err = st.RenameLabel(ctx, d.ID, from, to, merge)
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: 分类 %s 已存在；要把图片并入它，请选择合并 / label %s exists already; merge to move the images into it", store.ErrConflict, to, to)
	}
	return moved, dropped, err
}

// DeleteLabel deletes a label of a ready dataset and its images; versions
// already trained or training keep them.
func DeleteLabel(ctx context.Context, st store.Store, d *store.Dataset, label string) (int, error) {
	if err := checkEditable(d); err != nil {
		return 0, err
	}
	return st.DeleteLabel(ctx, d.ID, label)
}

// MoveImage moves an image of a ready dataset to another of its labels.
func MoveImage(ctx context.Context, st store.Store, d *store.Dataset, imageID, label string) (*store.Image, error) {
	if err := checkEditable(d); err != nil {
		return nil, err
	}
	ls, err := st.Labels(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(ls, func(l store.LabelCount) bool { return l.Name == label }) {
		return nil, fmt.Errorf("%w: 数据集 %s 没有分类 %s / dataset %s has no label %q", ErrUnknownLabel,
			d.Name, importer.Shorten(label, 64), d.Name, importer.Shorten(label, 64))
	}
	im, err := st.MoveImage(ctx, d.ID, imageID, label)
	if errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("%w: 分类 %s 已有这张图片 / label %s has this image already", store.ErrConflict, label, label)
	}
	return im, err
}
