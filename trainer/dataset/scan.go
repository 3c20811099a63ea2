package dataset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/autocv/autocv/protocol/imagerules"
)

// Dataset is what Scan found in a folder.
type Dataset struct {
	Dir        string
	Labels     []string // sorted (byte order of the UTF-8 names)
	Images     []Image  // usable images, sorted by ID
	Skipped    []Skip   // every file left out, sorted by ID
	Duplicates []DuplicatePair
	Conflicts  []Conflict
}

// Scan reads the dataset folder dir: one sub-folder per label, images
// directly inside. Every file is read once and its header checked with
// imagerules (size, format, dimensions; the pixels are decoded by whoever
// uses the photo next: the trainer leaves out one that does not decode),
// in parallel (GOMAXPROCS readers). Files directly in dir, files in folders
// below a label folder, files not named like images and files that break
// a rule are skipped and listed; hidden files and folders are ignored.
//
// Scan fails with ErrNoFolder when dir cannot be listed and ErrLabelName
// for a label folder whose name is not letters, digits and underscores. The
// training rules (Dataset.Check) are applied last: on ErrTooFewLabels,
// ErrTooManyLabels or ErrTooFewImages the scanned Dataset is returned
// with the error, so a caller can still show what was skipped.
func Scan(dir string) (*Dataset, error) {
	return ScanContext(context.Background(), dir)
}

// ScanContext is Scan that stops (returning ctx's error) when ctx is done:
// reading a big folder can take a while.
func ScanContext(ctx context.Context, dir string) (*Dataset, error) {
	ds := &Dataset{Dir: dir}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoFolder, err)
	}
	var files []Image // candidates: ID, Path, Label
	for _, e := range entries {
		name := e.Name()
		if hidden(name) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p) // follows a symlinked label folder
		if err != nil {
			ds.Skipped = append(ds.Skipped, Skip{ID: name, Reason: Unreadable, Detail: err.Error()})
			continue
		}
		if !fi.IsDir() {
			ds.Skipped = append(ds.Skipped, Skip{ID: name, Reason: OutsideLabelFolder})
			continue
		}
		if !validLabel(name) {
			return nil, fmt.Errorf("%w: %q in %s: a label may hold only letters (Chinese included), digits and underscores; rename the folder",
				ErrLabelName, name, dir)
		}
		ds.Labels = append(ds.Labels, name)
		listLabel(ds, &files, p, name, name, 0)
	}
	slices.Sort(ds.Labels)
	checked, err := checkAll(ctx, files)
	if err != nil {
		return nil, err
	}
	ds.dedupe(checked)
	slices.SortFunc(ds.Skipped, func(a, b Skip) int { return strings.Compare(a.ID, b.ID) })
	return ds, ds.Check()
}

// hidden reports whether a file or folder is ignored silently: dot files
// (.DS_Store, macOS "._x" resource forks, .git) and macOS zip debris.
func hidden(name string) bool {
	return strings.HasPrefix(name, ".") || name == "__MACOSX"
}

// listLabel collects the files of one label folder; those deeper down are
// skipped as NestedTooDeep.
func listLabel(ds *Dataset, files *[]Image, dirPath, rel, label string, depth int) {
	entries, err := os.ReadDir(dirPath)
	if err != nil {
		ds.Skipped = append(ds.Skipped, Skip{ID: rel, Reason: Unreadable, Detail: err.Error()})
		return
	}
	for _, e := range entries {
		name := e.Name()
		if hidden(name) {
			continue
		}
		p, id := filepath.Join(dirPath, name), path.Join(rel, name)
		if e.IsDir() {
			listLabel(ds, files, p, id, label, depth+1)
			continue
		}
		switch {
		case !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0:
			ds.Skipped = append(ds.Skipped, Skip{ID: id, Reason: Unreadable, Detail: "not a regular file"})
		case depth > 0:
			ds.Skipped = append(ds.Skipped, Skip{ID: id, Reason: NestedTooDeep})
		case !imagerules.IsImageName(name):
			ds.Skipped = append(ds.Skipped, Skip{ID: id, Reason: imagerules.NotAnImage})
		default:
			*files = append(*files, Image{ID: id, Path: p, Label: label})
		}
	}
}

// checked is one candidate file after reading and checking it.
type checked struct {
	img  Image
	skip *Skip // nil when the image is usable
}

// checkAll reads and checks the files on GOMAXPROCS goroutines; the
// result is in the order of files.
func checkAll(ctx context.Context, files []Image) ([]checked, error) {
	out := make([]checked, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(files), 1)) {
		wg.Go(func() {
			for i := range next {
				out[i] = checkFile(files[i])
			}
		})
	}
	for i := range files {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out, ctx.Err()
}

// checkFile reads one file (at most imagerules.MaxFileSize+1 bytes),
// checks its header and hashes it. The pixels are not decoded here: the
// trainer decodes each photo once, for its features, and leaves out one
// that does not decode.
func checkFile(im Image) checked {
	f, err := os.Open(im.Path)
	if err != nil {
		return checked{im, &Skip{ID: im.ID, Reason: Unreadable, Detail: err.Error()}}
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > imagerules.MaxFileSize {
		res := imagerules.Check(bytes.NewReader(nil), fi.Size())
		return checked{im, &Skip{ID: im.ID, Reason: res.Reason, Detail: res.Message(imagerules.LangEN)}}
	}
	b, err := io.ReadAll(io.LimitReader(f, imagerules.MaxFileSize+1))
	if err != nil {
		return checked{im, &Skip{ID: im.ID, Reason: Unreadable, Detail: err.Error()}}
	}
	res := imagerules.CheckHeader(b)
	if !res.OK() {
		detail := res.Message(imagerules.LangEN)
		if res.Err != nil {
			detail += ": " + res.Err.Error()
		}
		return checked{im, &Skip{ID: im.ID, Reason: res.Reason, Detail: detail}}
	}
	sum := sha256.Sum256(b)
	im.SHA256, im.Width, im.Height = hex.EncodeToString(sum[:]), res.Width, res.Height
	return checked{img: im}
}

// dedupe files the checked candidates: usable images into Images, exact
// copies within a label into Duplicates (the smallest ID is kept), the same
// content under several labels into Conflicts (no copy kept).
func (ds *Dataset) dedupe(all []checked) {
	bySum := map[string][]Image{}
	for _, c := range all {
		if c.skip != nil {
			ds.Skipped = append(ds.Skipped, *c.skip)
			continue
		}
		bySum[c.img.SHA256] = append(bySum[c.img.SHA256], c.img)
	}
	for sum, group := range bySum {
		slices.SortFunc(group, func(a, b Image) int { return strings.Compare(a.ID, b.ID) })
		var labels []string
		for _, im := range group {
			labels = append(labels, im.Label)
		}
		slices.Sort(labels)
		labels = slices.Compact(labels)
		if len(labels) > 1 {
			c := Conflict{SHA256: sum, Labels: labels}
			for _, im := range group {
				c.IDs = append(c.IDs, im.ID)
				ds.Skipped = append(ds.Skipped, Skip{ID: im.ID, Reason: LabelConflict,
					Detail: "same bytes under labels " + strings.Join(labels, ", ")})
			}
			ds.Conflicts = append(ds.Conflicts, c)
			continue
		}
		ds.Images = append(ds.Images, group[0])
		for _, im := range group[1:] {
			ds.Duplicates = append(ds.Duplicates, DuplicatePair{SHA256: sum, Kept: group[0].ID, Dropped: im.ID})
			ds.Skipped = append(ds.Skipped, Skip{ID: im.ID, Reason: Duplicate, Detail: "same bytes as " + group[0].ID})
		}
	}
	slices.SortFunc(ds.Images, func(a, b Image) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(ds.Duplicates, func(a, b DuplicatePair) int { return strings.Compare(a.Dropped, b.Dropped) })
	slices.SortFunc(ds.Conflicts, func(a, b Conflict) int { return strings.Compare(a.IDs[0], b.IDs[0]) })
}
