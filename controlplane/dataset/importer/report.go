package importer

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/autocv/autocv/protocol/api"
)

// Reasons an entry is skipped besides imagerules' own codes (too_large,
// unsupported_format, corrupt, too_long_side, too_short_side,
// bad_aspect_ratio). They are stable codes: never change one, only append.
// already_present and label_refused are given by controlplane/dataset,
// which knows what the dataset holds and what its store took.
const (
	ReasonZipSlip             = "zip_slip"              // absolute path, ".." or a drive letter
	ReasonSymlink             = "symlink"               // a symbolic link entry
	ReasonZipBomb             = "zip_bomb"              // expands too much, or more than its header says
	ReasonBadName             = "bad_name"              // the name decodes neither as UTF-8 nor as GBK
	ReasonOutsideLabelFolder  = "outside_label_folder"  // file not inside a label folder
	ReasonNestedTooDeep       = "nested_too_deep"       // file in a sub-folder of a label folder
	ReasonBadLabelName        = "bad_label_name"        // label folder name not Chinese, letters, digits, underscore
	ReasonNotAnImage          = "not_an_image"          // the name is not an image's
	ReasonEmpty               = "empty_file"            // 0 bytes
	ReasonUnreadable          = "unreadable"            // the entry could not be decompressed
	ReasonDuplicate           = "duplicate"             // same bytes as an earlier image of the label, which is kept
	ReasonCrossLabelDuplicate = "cross_label_duplicate" // same bytes under two or more labels; every copy left out
	ReasonLabelTooLong        = "label_too_long"        // label folder name over MaxLabelBytes; one entry for the folder
	ReasonNameTooLong         = "name_too_long"         // path over MaxPathBytes
	ReasonAlreadyPresent      = "already_present"       // the label already had this image before the import (an append)
	ReasonLabelRefused        = "label_refused"         // the store refused the label's images; one entry for the folder
)

// Bounds on what a skip shows: a hostile zip may hold names of 64 KiB.
const (
	maxShownPath   = 1024 // bytes of a skipped entry's path
	maxShownDetail = 256  // bytes of a skip's detail
)

// skipOf is a skip with its path and detail cut to a readable length.
func skipOf(path, reason, detail string) Skip {
	return Skip{Path: Shorten(path, maxShownPath), Reason: reason, Detail: Shorten(detail, maxShownDetail)}
}

// Shorten cuts s to at most n bytes of valid UTF-8, ending in "…" when
// it was cut. Messages that reach people go through it.
func Shorten(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	ell := "…"
	if n < len(ell) {
		ell = ""
	}
	cut := max(n-len(ell), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// Report is the import report: the import_report of GET /datasets/{id}
// plus the labels and the accepted images. Accepted and Labels count this
// zip's images; the dataset queue, which knows what the dataset already
// holds, turns them into what each label got and holds after the import.
type Report struct {
	Accepted map[string]int `json:"accepted"`
	Skipped  []Skip         `json:"skipped"`
	Labels   []Label        `json:"labels"`
	// GBK is true when at least one entry name was decoded from GBK.
	GBK    bool    `json:"gbk"`
	Images []Image `json:"images"`
}

// Skip is one entry left out, with a stable reason code and a detail for
// people, as the API shows it.
type Skip = api.SkippedFile

// Label is one label folder of the zip, as the API shows it.
type Label = api.Label

// Image is one accepted, stored image.
type Image struct {
	Label  string `json:"label"`
	SHA256 string `json:"sha256"`
	Path   string `json:"path"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Size   int64  `json:"size"` // bytes (checked against what was read)
}

// image is an entry that passed the checks, before it is stored.
type image struct {
	entry
	sha           string
	width, height int
}

func newReport(p *planned) *Report {
	r := &Report{Accepted: map[string]int{}, Skipped: []Skip{}, Images: []Image{}, GBK: p.gbk}
	r.Skipped = append(r.Skipped, p.skipped...)
	for _, l := range p.labels {
		r.Labels = append(r.Labels, Label{Name: l})
	}
	return r
}

func (r *Report) skip(path, reason, detail string) {
	r.Skipped = append(r.Skipped, skipOf(path, reason, detail))
}

func (r *Report) accept(im image) {
	r.Accepted[im.label]++
	r.Images = append(r.Images, Image{Label: im.label, SHA256: im.sha, Path: im.path, Width: im.width, Height: im.height,
		Size: int64(im.file.UncompressedSize64)})
}

func (r *Report) finish(opts Options) {
	for i := range r.Labels {
		l := &r.Labels[i]
		l.Count = r.Accepted[l.Name]
		l.Trainable = l.Count >= opts.MinImages
		switch {
		case !l.Trainable:
			l.Warning = fmt.Sprintf("only %d images: a label needs at least %d to be trained", l.Count, opts.MinImages)
		case l.Count < opts.WarnImages:
			l.Warning = fmt.Sprintf("only %d images: %d or more give better results", l.Count, opts.WarnImages)
		}
	}
}

// dedupe keeps the first copy of an image within a label, and leaves out
// every copy of an image found under more than one label.
func dedupe(all []image, rep *Report) []image {
	labelsOf := map[string][]string{}
	for _, im := range all {
		ls := labelsOf[im.sha]
		if !contains(ls, im.label) {
			labelsOf[im.sha] = append(ls, im.label)
		}
	}
	first := map[[2]string]string{} // (label, sha) → path kept
	var kept []image
	for _, im := range all {
		if ls := labelsOf[im.sha]; len(ls) > 1 {
			sorted := append([]string(nil), ls...)
			sort.Strings(sorted)
			rep.skip(im.path, ReasonCrossLabelDuplicate, "the same image is under labels "+strings.Join(sorted, ", "))
			continue
		}
		key := [2]string{im.label, im.sha}
		if p, ok := first[key]; ok {
			rep.skip(im.path, ReasonDuplicate, "same image as "+p)
			continue
		}
		first[key] = im.path
		kept = append(kept, im)
	}
	return kept
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
