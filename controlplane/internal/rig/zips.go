package rig

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
)

// PhotoFolders are the real photo folders of the import zip: label folder
// in the zip ← folder under the data folder. hymenoptera's train and val
// photos go into the same label.
var PhotoFolders = []struct{ Label, Dir string }{
	{"ants", "datasets/hymenoptera/train/ants"},
	{"ants", "datasets/hymenoptera/val/ants"},
	{"bees", "datasets/hymenoptera/train/bees"},
	{"bees", "datasets/hymenoptera/val/bees"},
	{"daisy", "datasets/flowers5/daisy"},
	{"dandelion", "datasets/flowers5/dandelion"},
	{"rose", "datasets/flowers5/rose"},
	{"sunflower", "datasets/flowers5/sunflower"},
	{"tulip", "datasets/flowers5/tulip"},
}

// ZipStats describes a zip the bench wrote.
type ZipStats struct {
	Entries int
	Bytes   int64 // size of the zip file
}

// zipFile is a zip being written to disk. Entries are stored, not
// deflated: JPEGs don't shrink, and the bench measures the server, not
// the client's compressor.
type zipFile struct {
	f  *os.File
	zw *zip.Writer
	n  int
}

func createZip(path string) (*zipFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &zipFile{f: f, zw: zip.NewWriter(f)}, nil
}

func (z *zipFile) add(name string, b []byte) error {
	w, err := z.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err == nil {
		_, err = w.Write(b)
	}
	z.n++
	return err
}

// addFile adds the file at path under name.
func (z *zipFile) addFile(name, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return z.add(name, b)
}

// finish closes the zip and its file; after an error the caller only
// closes the file (the temporary folder goes anyway).
func (z *zipFile) finish() (ZipStats, error) {
	if err := z.zw.Close(); err != nil {
		return ZipStats{}, err
	}
	fi, err := z.f.Stat()
	if err != nil {
		return ZipStats{}, err
	}
	return ZipStats{Entries: z.n, Bytes: fi.Size()}, z.f.Close()
}

// WritePhotoZip zips up to max files of PhotoFolders (sorted by name
// within each folder, one folder after another) into out, as
// label/split-name. Every file goes in, including the ones the image rules
// refuse: the import skips them, as it would for a user.
func WritePhotoZip(data, out string, max int) (ZipStats, error) {
	z, err := createZip(out)
	if err != nil {
		return ZipStats{}, err
	}
	defer z.f.Close()
	for _, pf := range PhotoFolders {
		entries, err := os.ReadDir(filepath.Join(data, pf.Dir))
		if err != nil {
			return ZipStats{}, fmt.Errorf("photos: %w (set -data or AUTOCV_TESTDATA)", err)
		}
		// ReadDir sorts by name; split is train, val or flowers5.
		split := filepath.Base(filepath.Dir(pf.Dir))
		for _, e := range entries {
			if z.n >= max || !e.Type().IsRegular() {
				continue
			}
			if err := z.addFile(pf.Label+"/"+split+"-"+e.Name(), filepath.Join(data, pf.Dir, e.Name())); err != nil {
				return ZipStats{}, err
			}
		}
	}
	return z.finish()
}

// Synthetic images for the metadata benchmark: small, valid and distinct.
const (
	SynthSide  = 64
	synthGrid  = 8 // 8×8 blocks of 8×8 pixels
	synthBlock = SynthSide / synthGrid
)

// WriteSyntheticZip writes n distinct 64×64 JPEGs spread over labels
// label folders ("l00", "l01", …) into out. Image i is an 8×8 grid of flat
// blocks whose colours come from a hash of (i, block), so no two images
// share bytes (the import would skip duplicates) and each is a real JPEG
// the import decodes and thumbnails like a photo, only faster.
func WriteSyntheticZip(out string, n, labels int) (ZipStats, error) {
	z, err := createZip(out)
	if err != nil {
		return ZipStats{}, err
	}
	defer z.f.Close()
	img := image.NewRGBA(image.Rect(0, 0, SynthSide, SynthSide))
	var buf bytes.Buffer
	for i := range n {
		for b := range synthGrid * synthGrid {
			h := mix(uint64(i)<<8 | uint64(b))
			c := color.RGBA{R: uint8(h), G: uint8(h >> 8), B: uint8(h >> 16), A: 255}
			x0, y0 := (b%synthGrid)*synthBlock, (b/synthGrid)*synthBlock
			for y := y0; y < y0+synthBlock; y++ {
				for x := x0; x < x0+synthBlock; x++ {
					img.SetRGBA(x, y, c)
				}
			}
		}
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return ZipStats{}, err
		}
		if err := z.add(fmt.Sprintf("l%02d/%06d.jpg", i%labels, i), buf.Bytes()); err != nil {
			return ZipStats{}, err
		}
	}
	return z.finish()
}

// mix is splitmix64's finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// WriteFolderZip zips the label folders under data/dir (label/file, every
// file) into out.
func WriteFolderZip(data, out, dir string) (ZipStats, error) {
	labels, err := os.ReadDir(filepath.Join(data, dir))
	if err != nil {
		return ZipStats{}, fmt.Errorf("photos: %w (set -data or AUTOCV_TESTDATA)", err)
	}
	z, err := createZip(out)
	if err != nil {
		return ZipStats{}, err
	}
	defer z.f.Close()
	for _, l := range labels {
		if !l.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(data, dir, l.Name()))
		if err != nil {
			return ZipStats{}, err
		}
		for _, e := range files {
			if e.Type().IsRegular() {
				if err := z.addFile(l.Name()+"/"+e.Name(), filepath.Join(data, dir, l.Name(), e.Name())); err != nil {
					return ZipStats{}, err
				}
			}
		}
	}
	return z.finish()
}
