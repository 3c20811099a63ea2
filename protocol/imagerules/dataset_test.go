package imagerules

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

// TestHymenoptera checks every photo of the real training set: all pass
// except the two the data set's README lists. Files are checked in
// parallel subtests, which keeps the test quick under the race detector.
func TestHymenoptera(t *testing.T) {
	root := testenv.Data(t, "datasets", "hymenoptera", "train")
	want := map[string]Reason{
		"ants/imageNotFound.gif":        UnsupportedFormat,
		"ants/662541407_ff8db781e7.jpg": BadAspectRatio,
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 245 {
		t.Errorf("found %d files, want 245", len(files))
	}
	var mu sync.Mutex
	failed := map[string]Result{}
	t.Run("files", func(t *testing.T) {
		for _, rel := range files {
			t.Run(rel, func(t *testing.T) {
				t.Parallel()
				if !IsImageName(rel) {
					t.Errorf("IsImageName(%q) is false", rel)
				}
				f, err := os.Open(filepath.Join(root, filepath.FromSlash(rel)))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				fi, err := f.Stat()
				if err != nil {
					t.Fatal(err)
				}
				res := Check(f, fi.Size())
				wantReason, ok := want[rel]
				if !ok {
					wantReason = OK
				}
				if res.Reason != wantReason {
					t.Errorf("got %+v, want %s", res, wantReason)
				}
				if !res.OK() {
					mu.Lock()
					failed[rel] = res
					mu.Unlock()
				}
			})
		}
	})
	for rel, res := range failed {
		t.Logf("%s: %s / %s", rel, res.Message(LangEN), res.Message(LangZH))
	}
	if len(failed) != len(want) {
		t.Errorf("%d files broke a rule, want %d", len(failed), len(want))
	}
	if res := failed["ants/662541407_ff8db781e7.jpg"]; res.Width != 500 || res.Height != 146 || res.Format != "jpeg" {
		t.Errorf("662541407_ff8db781e7.jpg: got %+v, want a 500x146 jpeg", res)
	}
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkCheck checks one real 500x375 JPEG photo, header to pixels.
func BenchmarkCheck(b *testing.B) {
	data := readFile(b, testenv.Data(b, "datasets", "hymenoptera", "train", "ants", "1286984635_5119e80de1.jpg"))
	if res := CheckBytes(data); !res.OK() || res.Width != 500 || res.Height != 375 {
		b.Fatalf("benchmark image: got %+v, want an ok 500x375 jpeg", res)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if res := Check(bytes.NewReader(data), int64(len(data))); !res.OK() {
			b.Fatal(res)
		}
	}
}

// FuzzCheck: arbitrary bytes never panic, and whatever passes obeys the
// rules on dimensions and format.
func FuzzCheck(f *testing.F) {
	for name := range testdataFiles {
		f.Add(readFile(f, filepath.Join("testdata", name)))
	}
	f.Add([]byte{})
	f.Add([]byte("BM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res := CheckBytes(b)
		if !res.Reason.Valid() || res.Reason == NotAnImage {
			t.Fatalf("bad reason %q", res.Reason)
		}
		if res.OK() && (Dimensions(res.Width, res.Height) != OK || Sniff(b) != res.Format || res.Format == "") {
			t.Fatalf("passed but breaks a rule: %+v", res)
		}
	})
}

// CheckHeader judges what the header shows and leaves the pixels to the
// caller: a photo cut in half passes it and fails CheckBytes.
func TestCheckHeader(t *testing.T) {
	data := readFile(t, testenv.Data(t, "datasets", "hymenoptera", "train", "ants", "1286984635_5119e80de1.jpg"))
	cut := data[:len(data)/2]
	if res := CheckHeader(cut); !res.OK() || res.Width != 500 || res.Height != 375 || res.Format != "jpeg" {
		t.Fatalf("header of a cut photo: %+v", res)
	}
	if res := CheckBytes(cut); res.Reason != Corrupt {
		t.Fatalf("pixels of a cut photo: %+v", res)
	}
	for _, tc := range []struct {
		data []byte
		want Reason
	}{
		{[]byte("hello"), UnsupportedFormat},
		{data[:20], Corrupt},
		{make([]byte, MaxFileSize+1), TooLarge},
	} {
		if res := CheckHeader(tc.data); res.Reason != tc.want {
			t.Errorf("%d bytes: %s, want %s", len(tc.data), res.Reason, tc.want)
		}
	}
}
