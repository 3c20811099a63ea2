package importer

import (
	"archive/zip"
	"fmt"
	"io/fs"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/autocv/autocv/protocol/imagerules"
)

// entry is a zip entry that names an image in a label folder.
type entry struct {
	file  *zip.File
	path  string // decoded name as in the zip
	label string
}

// planned is what the names and headers alone tell.
type planned struct {
	candidates []entry
	skipped    []Skip
	labels     []string // label folders with a valid name, in zip order
	gbk        bool
	declared   uint64 // uncompressed bytes the candidates declare
}

// named is one entry after name decoding and normalisation.
type named struct {
	file  *zip.File
	raw   string   // decoded name
	parts []string // clean path segments
	dir   bool
}

// plan classifies every entry by its name and header, reading no data.
func plan(files []*zip.File, opts Options) *planned {
	p := &planned{}
	var kept []named
	for _, f := range files {
		name, gbk, ok := decodeName(f)
		p.gbk = p.gbk || gbk
		if !ok {
			p.skipped = append(p.skipped, skipOf(name, ReasonBadName, "the file name is neither UTF-8 nor GBK"))
			continue
		}
		norm := strings.ReplaceAll(name, "\\", "/")
		if unsafePath(norm) {
			p.skipped = append(p.skipped, skipOf(name, ReasonZipSlip, "the path leaves the dataset folder"))
			continue
		}
		dir := strings.HasSuffix(norm, "/") || f.Mode().IsDir()
		parts := splitPath(norm)
		if len(parts) == 0 || ignored(parts) {
			continue
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			p.skipped = append(p.skipped, skipOf(name, ReasonSymlink, "links are not imported"))
			continue
		}
		kept = append(kept, named{file: f, raw: name, parts: parts, dir: dir})
	}

	strip := wrapper(kept)
	seen := map[string]bool{}
	long := map[string]*longLabel{} // label folders whose name is too long, by folder path
	var longOrder []string
	for _, n := range kept {
		if n.dir {
			continue
		}
		parts := n.parts[strip:]
		if len(parts) >= 2 && len(parts[0]) > MaxLabelBytes {
			// One entry for the whole folder, however many files it holds.
			folder := strings.Join(n.parts[:strip+1], "/") + "/"
			if long[folder] == nil {
				long[folder] = &longLabel{bytes: len(parts[0])}
				longOrder = append(longOrder, folder)
			}
			long[folder].files++
			continue
		}
		if len(n.raw) > MaxPathBytes {
			p.skipped = append(p.skipped, skipOf(n.raw, ReasonNameTooLong, fmt.Sprintf("the path is %d bytes, at most %d are allowed", len(n.raw), MaxPathBytes)))
			continue
		}
		switch {
		case len(parts) == 1:
			p.skipped = append(p.skipped, skipOf(n.raw, ReasonOutsideLabelFolder, "put images inside a folder named after their label"))
			continue
		case len(parts) > 2:
			p.skipped = append(p.skipped, skipOf(n.raw, ReasonNestedTooDeep, "put images directly inside their label folder"))
			continue
		}
		label := parts[0]
		if !ValidLabel(label) {
			p.skipped = append(p.skipped, skipOf(n.raw, ReasonBadLabelName, fmt.Sprintf("label %q: use Chinese characters, letters, digits and underscores only", label)))
			continue
		}
		if !seen[label] {
			seen[label] = true
			p.labels = append(p.labels, label)
		}
		if !imagerules.IsImageName(parts[1]) {
			p.skipped = append(p.skipped, skipOf(n.raw, ReasonNotAnImage, imagerules.NotAnImage.Message(imagerules.LangEN)))
			continue
		}
		f := n.file
		if f.UncompressedSize64 > 0 && float64(f.UncompressedSize64) > opts.MaxRatio*float64(max(f.CompressedSize64, 1)) {
			p.skipped = append(p.skipped, skipOf(n.raw, ReasonZipBomb, fmt.Sprintf("declares it expands more than %.0f times", opts.MaxRatio)))
			continue
		}
		if f.UncompressedSize64 > imagerules.MaxFileSize {
			p.skipped = append(p.skipped, skipOf(n.raw, string(imagerules.TooLarge), imagerules.TooLarge.Message(imagerules.LangEN)))
			continue
		}
		p.declared += f.UncompressedSize64
		p.candidates = append(p.candidates, entry{file: f, path: n.raw, label: label})
	}
	for _, folder := range longOrder {
		l := long[folder]
		p.skipped = append(p.skipped, skipOf(folder, ReasonLabelTooLong,
			fmt.Sprintf("the label name is %d bytes, at most %d are allowed; %d files left out", l.bytes, MaxLabelBytes, l.files)))
	}
	return p
}

// longLabel is a label folder whose name is too long to store.
type longLabel struct {
	bytes int // length of the name
	files int // files left out with it
}

// decodeName returns the entry's name as UTF-8: as is when the UTF-8 flag
// is set or the bytes are valid UTF-8, else decoded from GBK (gbk true).
// ok is false when neither works.
func decodeName(f *zip.File) (name string, gbk, ok bool) {
	const flagUTF8 = 0x800
	if f.Flags&flagUTF8 != 0 || utf8.ValidString(f.Name) {
		return f.Name, false, utf8.ValidString(f.Name)
	}
	s, err := simplifiedchinese.GBK.NewDecoder().String(f.Name)
	if err != nil || strings.ContainsRune(s, utf8.RuneError) {
		return strings.ToValidUTF8(f.Name, "\uFFFD"), false, false
	}
	return s, true, true
}

// unsafePath reports names that could write outside the target folder:
// absolute paths, drive letters, ".." segments and NUL bytes.
func unsafePath(p string) bool {
	if strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return true
	}
	if len(p) >= 2 && p[1] == ':' {
		return true
	}
	for _, s := range strings.Split(p, "/") {
		if s == ".." || strings.Contains(s, ":") {
			return true
		}
	}
	return false
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			out = append(out, s)
		}
	}
	return out
}

// ignored reports macOS metadata and hidden files, left out silently.
func ignored(parts []string) bool {
	for _, s := range parts {
		if s == "__MACOSX" || strings.HasPrefix(s, ".") {
			return true
		}
	}
	return false
}

// wrapper returns 1 when every entry sits under one top folder and some
// file is at least two levels below it (dataset/label/file), else 0.
func wrapper(ns []named) int {
	if len(ns) == 0 {
		return 0
	}
	top := ns[0].parts[0]
	deep := false
	for _, n := range ns {
		if n.parts[0] != top || !n.dir && len(n.parts) < 2 {
			return 0
		}
		if !n.dir && len(n.parts) >= 3 {
			deep = true
		}
	}
	if deep {
		return 1
	}
	return 0
}

// ValidLabel reports whether a folder name may be a label: 1 to
// MaxLabelBytes bytes of Chinese characters and other letters, digits and
// underscores (DESIGN.md "Data flow"), the same characters as
// trainer/dataset allows.
func ValidLabel(name string) bool {
	if name == "" || len(name) > MaxLabelBytes {
		return false
	}
	for _, r := range name {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
