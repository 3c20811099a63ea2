// Package importer reads a dataset zip that an upload has already streamed to
// disk and turns it into content-addressed images plus an import report
// (DESIGN.md "Data flow" step 1; the import_report of GET /datasets/{id}).
//
// The zip must hold one folder per label (label/file, optionally inside a
// single wrapper folder). Every entry is either accepted, skipped with a
// stable reason code, or ignored silently (directories, __MACOSX/ and
// dot-files); a label folder that cannot be a label at all (its name is
// over MaxLabelBytes) is skipped as one entry. One bad entry or label never
// fails the import: only a zip that is not one or is over the limits does,
// before anything is stored. Zip-slip names, symlinks and zip bombs are
// refused; names in GBK are decoded. Nothing is stored until the whole zip
// has been checked, and only images that pass imagerules are ever handed
// to store.
package importer

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/autocv/autocv/protocol/imagerules"
)

// Errors that fail a whole import; they are wrapped with details (counts,
// limits) and tested with errors.Is.
var (
	ErrNotZip         = errors.New("not a zip file or the zip is damaged")
	ErrZipTooLarge    = errors.New("zip file too large")
	ErrTooManyEntries = errors.New("zip holds too many files")
	ErrTooManyLabels  = errors.New("too many labels")
	ErrZipBomb        = errors.New("zip expands to too much data")
	ErrChangedOnDisk  = errors.New("zip entry changed while importing")
	ErrStore          = errors.New("storing an image failed")
)

// Options bound an import. Zero fields take the defaults of DefaultOptions.
type Options struct {
	MaxZipBytes          int64   // size of the zip file itself
	MaxEntries           int     // entries in the zip's directory
	MaxTotalUncompressed int64   // bytes all entries may expand to (declared and actually read)
	MaxRatio             float64 // uncompressed/compressed size of one entry
	MaxLabels            int     // label folders
	MinImages            int     // images a label needs to be trainable
	WarnImages           int     // images below which a label gets a warning
	// KnownLabels are the labels the dataset already has (an append): with
	// the zip's labels they may number at most MaxLabels.
	KnownLabels []string
	// Progress, if set, is called as the import goes with the steps done
	// so far and the total: one step per zip entry, plus one more per
	// image file (checked, then stored or left out); the entries that are
	// not image files are done once their names are read. done grows
	// through every pass, the check pass included, and ends at total.
	Progress func(done, total int)
}

// DefaultOptions are the product limits.
func DefaultOptions() Options {
	return Options{
		MaxZipBytes:          5 << 30,
		MaxEntries:           500_000,
		MaxTotalUncompressed: 20 << 30,
		MaxRatio:             200,
		MaxLabels:            imagerules.MaxLabels,
		MinImages:            imagerules.MinImagesPerLabel,
		WarnImages:           imagerules.WarnImagesPerLabel,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.MaxZipBytes <= 0 {
		o.MaxZipBytes = d.MaxZipBytes
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = d.MaxEntries
	}
	if o.MaxTotalUncompressed <= 0 {
		o.MaxTotalUncompressed = d.MaxTotalUncompressed
	}
	if o.MaxRatio <= 0 {
		o.MaxRatio = d.MaxRatio
	}
	if o.MaxLabels <= 0 {
		o.MaxLabels = d.MaxLabels
	}
	if o.MinImages <= 0 {
		o.MinImages = d.MinImages
	}
	if o.WarnImages <= 0 {
		o.WarnImages = d.WarnImages
	}
	return o
}

// Store receives one accepted image: its sha256 (hex) and its bytes. The
// bytes are kept content-addressed (controlplane/blob), so one blob may
// serve images of several datasets: an import that fails after storing
// some never deletes them, as another dataset may already use the same
// bytes. Every check that can leave an image out runs before the first
// call, so only a failure of the store itself, of the zip changing on
// disk or of ctx can leave blobs no image uses.
type Store func(sha256 string, data []byte) error

// Limits of what the dataset store keeps (controlplane/store): longer
// label folders and paths are skipped, not handed on to be refused there.
const (
	MaxLabelBytes = 255  // bytes of a label name
	MaxPathBytes  = 4096 // bytes of an entry's path, kept as the image's source
)

// Import checks the zip at zipPath and hands every accepted image to store.
// It returns an error, with nothing stored, when the file is not a zip, is
// over the limits, holds (with KnownLabels) more than MaxLabels labels or
// expands past MaxTotalUncompressed; a failing store or a cancelled ctx
// also ends it (images stored before that stay stored: blobs are
// content-addressed and may be shared, see Store).
func Import(ctx context.Context, zipPath string, opts Options, store Store) (*Report, error) {
	f, err := os.Open(zipPath)
	if err != nil {
		return nil, fmt.Errorf("open uploaded zip: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open uploaded zip: %w", err)
	}
	return importReader(ctx, f, st.Size(), opts, store)
}

func importReader(ctx context.Context, r io.ReaderAt, size int64, opts Options, store Store) (*Report, error) {
	opts = opts.withDefaults()
	if size > opts.MaxZipBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d bytes", ErrZipTooLarge, size, opts.MaxZipBytes)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotZip, err)
	}
	if n := len(zr.File); n > opts.MaxEntries {
		return nil, fmt.Errorf("%w: %d entries, the limit is %d", ErrTooManyEntries, n, opts.MaxEntries)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Pass 1: names and headers only.
	p := plan(zr.File, opts)
	if n := len(p.labels); n > opts.MaxLabels {
		return nil, fmt.Errorf("%w: the zip has %d label folders, at most %d are allowed", ErrTooManyLabels, n, opts.MaxLabels)
	}
	if n := unionSize(opts.KnownLabels, p.labels); n > opts.MaxLabels {
		return nil, fmt.Errorf("%w: the dataset would have %d labels; at most %d are allowed", ErrTooManyLabels, n, opts.MaxLabels)
	}
	if p.declared > uint64(opts.MaxTotalUncompressed) {
		return nil, fmt.Errorf("%w: images declare %d bytes uncompressed, the limit is %d", ErrZipBomb, p.declared, opts.MaxTotalUncompressed)
	}
	rep := newReport(p)
	// Steps (Options.Progress): the entries that are no candidates are
	// done; each candidate is checked (pass 2), then stored (pass 3) or
	// left out.
	total := len(zr.File) + len(p.candidates)
	done := len(zr.File) - len(p.candidates)
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	progress()

	// Pass 2: read and check every candidate; nothing stored yet.
	var read int64
	var checked []image
	for _, c := range p.candidates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, reason, detail, err := readEntry(c.file, opts, &read)
		if err != nil {
			return nil, err
		}
		done++ // checked
		if reason == "" {
			res := imagerules.CheckBytes(data)
			if res.OK() {
				sum := sha256.Sum256(data)
				checked = append(checked, image{entry: c, sha: hex.EncodeToString(sum[:]), width: res.Width, height: res.Height})
				progress()
				continue
			}
			reason, detail = string(res.Reason), res.Message(imagerules.LangEN)
		}
		rep.skip(c.path, reason, detail)
		done++ // and left out
		progress()
	}

	// Duplicates: within a label keep the first; across labels drop all.
	accepted := dedupe(checked, rep)
	done += len(checked) - len(accepted)
	progress()

	// Pass 3: store what was accepted, re-reading it from the zip.
	for _, im := range accepted {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := readAccepted(im)
		if err != nil {
			return nil, err
		}
		if err := store(im.sha, data); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrStore, Shorten(im.path, maxShownPath), err)
		}
		rep.accept(im)
		done++
		progress()
	}
	rep.finish(opts)
	return rep, nil
}

// readEntry reads one candidate with a size cap, counting the bytes it
// actually expands to. A non-empty reason means the entry is skipped; an
// error fails the import.
func readEntry(f *zip.File, opts Options, total *int64) (data []byte, reason, detail string, err error) {
	rc, err := f.Open()
	if err != nil {
		return nil, ReasonUnreadable, err.Error(), nil
	}
	defer rc.Close()
	data, rerr := io.ReadAll(io.LimitReader(rc, imagerules.MaxFileSize+1))
	n := int64(len(data))
	*total += n
	if *total > opts.MaxTotalUncompressed {
		return nil, "", "", fmt.Errorf("%w: more than %d bytes uncompressed", ErrZipBomb, opts.MaxTotalUncompressed)
	}
	if float64(n) > opts.MaxRatio*float64(max(f.CompressedSize64, 1)) {
		return nil, ReasonZipBomb, fmt.Sprintf("expands more than %.0f times", opts.MaxRatio), nil
	}
	if n > imagerules.MaxFileSize {
		return nil, string(imagerules.TooLarge), imagerules.TooLarge.Message(imagerules.LangEN), nil
	}
	if rerr != nil {
		// archive/zip answers ErrFormat while reading only when an entry
		// expands past the size its header declares (the chunk that went
		// over is dropped, so n can be below it).
		if uint64(n) > f.UncompressedSize64 || errors.Is(rerr, zip.ErrFormat) {
			return nil, ReasonZipBomb, "entry holds more data than its header declares", nil
		}
		return nil, ReasonUnreadable, rerr.Error(), nil
	}
	if n == 0 {
		return nil, ReasonEmpty, "the file is empty (0 bytes)", nil
	}
	return data, "", "", nil
}

// readAccepted reads an accepted image again for storing and makes sure it
// is still the bytes that were checked.
func readAccepted(im image) ([]byte, error) {
	rc, err := im.file.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrChangedOnDisk, Shorten(im.path, maxShownPath), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, imagerules.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrChangedOnDisk, Shorten(im.path, maxShownPath), err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != im.sha {
		return nil, fmt.Errorf("%w: %s", ErrChangedOnDisk, Shorten(im.path, maxShownPath))
	}
	return data, nil
}

// unionSize is how many distinct labels a and b hold together.
func unionSize(a, b []string) int {
	seen := make(map[string]bool, len(a)+len(b))
	for _, l := range a {
		seen[l] = true
	}
	for _, l := range b {
		seen[l] = true
	}
	return len(seen)
}
