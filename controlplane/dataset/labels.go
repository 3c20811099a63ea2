package dataset

import (
	"fmt"

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
