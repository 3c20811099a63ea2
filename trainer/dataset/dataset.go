// Package dataset reads a folder of labelled photos for the trainer and
// splits it for training (DESIGN.md "Data flow" steps 1-2).
//
// A dataset folder holds one sub-folder per label; the folder name is the
// label. Scan checks every file with protocol/imagerules, the same rules the
// control plane's zip import applies, so a folder that trains locally would
// import too. Files that break a rule are skipped and listed with a stable
// reason code; hidden files (.DS_Store, ._x, __MACOSX/) are ignored without
// a word. Byte-identical copies are found by sha256: within a label one copy
// is kept; the same bytes under two labels are a conflict and every copy is
// left out (see Conflict). A dataset is trainable with at least MinLabels
// labels, each with at least MinImages usable images.
//
// Split divides images into train / validation / test, stratified per label
// and deterministic for a seed; SplitWithTest takes a held-out test folder
// as given and splits only the training folder.
package dataset

import (
	"errors"
	"fmt"
	"github.com/autocv/autocv/protocol/split"
	"strings"
	"unicode"

	"github.com/autocv/autocv/protocol/imagerules"
)

// Limits a dataset must meet to train (DESIGN.md "Data flow").
const (
	MinLabels = 2                            // labels a model needs
	MinImages = imagerules.MinImagesPerLabel // usable images each label needs
	MaxLabels = imagerules.MaxLabels         // labels a dataset may have
)

// Errors returned by this package, wrapped with details that
// name the folder or labels; test them with errors.Is.
var (
	ErrNoFolder      = errors.New("dataset folder unreadable")
	ErrLabelName     = errors.New("label folder name not allowed")
	ErrTooFewLabels  = errors.New("too few labels")
	ErrTooManyLabels = errors.New("too many labels")
	ErrTooFewImages  = errors.New("labels with too few images")
	ErrUnknownLabel  = errors.New("test image of a label that is not trained")
	ErrBadFractions  = split.ErrBadFractions
)

// Reasons a file is skipped besides imagerules' own (imagerules.OK never
// appears). They are stable codes, like imagerules.Reason: never change
// one, only append.
const (
	OutsideLabelFolder imagerules.Reason = "outside_label_folder" // file directly in the dataset folder
	NestedTooDeep      imagerules.Reason = "nested_too_deep"      // file in a sub-folder of a label folder
	Unreadable         imagerules.Reason = "unreadable"           // the file could not be read (permissions, I/O)
	Duplicate          imagerules.Reason = "duplicate"            // same bytes as another image of the label, which is kept
	LabelConflict      imagerules.Reason = "label_conflict"       // same bytes under two or more labels; every copy left out
)

var messages = map[imagerules.Reason][2]string{ // en, zh-CN
	OutsideLabelFolder: {"file is not inside a label folder", "文件不在标签文件夹内"},
	NestedTooDeep:      {"file is nested too deep: put images directly inside their label folder", "文件层级过深：请把图片直接放在标签文件夹内"},
	Unreadable:         {"file cannot be read", "文件无法读取"},
	Duplicate:          {"duplicate of another image of the same label", "与同一标签下的另一张图片完全相同"},
	LabelConflict:      {"the same image is under two or more labels, so no copy is used", "同一张图片出现在多个标签下，所有副本均不使用"},
}

// Message explains a skip reason to a user, in Chinese for "zh-CN" (any
// "zh" tag) and English otherwise; imagerules' reasons use its messages.
func Message(r imagerules.Reason, lang string) string {
	m, ok := messages[r]
	if !ok {
		return r.Message(lang)
	}
	if l := strings.ToLower(lang); l == "zh" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_") {
		return m[1]
	}
	return m[0]
}

// Image is one usable photo.
type Image struct {
	// ID is the path relative to the dataset folder with "/" separators
	// ("ants/0013035.jpg"): stable across machines and runs.
	ID     string `json:"id"`
	Path   string `json:"path"` // the file on disk
	Label  string `json:"label"`
	SHA256 string `json:"sha256"` // hex of the file's bytes
	Width  int    `json:"width"`  // as stored in the file (imagerules.Result)
	Height int    `json:"height"`
}

// Skip is one file left out of the dataset and why.
type Skip struct {
	ID     string            `json:"id"` // path relative to the dataset folder, "/" separated
	Reason imagerules.Reason `json:"reason"`
	// Detail is for people and logs: the image size that broke a rule,
	// the kept copy of a duplicate, the decoder's or the file system's error.
	Detail string `json:"detail,omitempty"`
}

// DuplicatePair is two byte-identical files of one label: Kept is used,
// Dropped is not (it is also listed in Dataset.Skipped).
type DuplicatePair struct {
	SHA256  string `json:"sha256"`
	Kept    string `json:"kept"`
	Dropped string `json:"dropped"`
}

// Conflict is one content found under several labels. Which label is
// right cannot be told, and training on both (or testing on a copy of a
// training image) would teach the model nonsense and flatter the test, so
// every copy is left out and listed in Dataset.Skipped.
type Conflict struct {
	SHA256 string   `json:"sha256"`
	IDs    []string `json:"ids"`    // sorted
	Labels []string `json:"labels"` // sorted, distinct
}

// LabelCount is the number of usable images of one label.
type LabelCount struct {
	Label  string `json:"label"`
	Images int    `json:"images"`
}

// validLabel reports whether a folder name may be a label: letters of any
// script (Chinese included), digits and underscores (DESIGN.md "Data flow").
func validLabel(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// Check applies the training rules: between MinLabels and MaxLabels labels,
// each with at least MinImages usable images. The error names the labels
// that fall short, with their counts.
func (d *Dataset) Check() error {
	if len(d.Labels) < MinLabels {
		return fmt.Errorf("%w: %s has %d label folder(s) %q; a model needs at least %d labels, one sub-folder of photos per label",
			ErrTooFewLabels, d.Dir, len(d.Labels), d.Labels, MinLabels)
	}
	if len(d.Labels) > MaxLabels {
		return fmt.Errorf("%w: %s has %d label folders, at most %d are allowed", ErrTooManyLabels, d.Dir, len(d.Labels), MaxLabels)
	}
	var short []string
	for _, c := range d.Counts() {
		if c.Images < MinImages {
			short = append(short, fmt.Sprintf("%s has %d", c.Label, c.Images))
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("%w: %s (each label needs at least %d usable images: add photos or remove the folder)",
			ErrTooFewImages, strings.Join(short, ", "), MinImages)
	}
	return nil
}

// Counts returns the usable images per label, in label order.
func (d *Dataset) Counts() []LabelCount {
	n := make(map[string]int, len(d.Labels))
	for _, im := range d.Images {
		n[im.Label]++
	}
	out := make([]LabelCount, len(d.Labels))
	for i, l := range d.Labels {
		out[i] = LabelCount{l, n[l]}
	}
	return out
}
