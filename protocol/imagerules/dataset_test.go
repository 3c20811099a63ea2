package imagerules

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/autocv/autocv/protocol/testenv"
)

// TestHymenoptera checks every photo of the real training set: all pass
// except the two the data set's README lists.
func TestHymenoptera(t *testing.T) {
	root := testenv.Data(t, "datasets", "hymenoptera", "train")
	want := map[string]Reason{
		"ants/imageNotFound.gif":        UnsupportedFormat,
		"ants/662541407_ff8db781e7.jpg": BadAspectRatio,
	}
	checked, failed := 0, 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !IsImageName(rel) {
			t.Errorf("%s: IsImageName is false", rel)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		res := Check(f, fi.Size())
		checked++
		wantReason, ok := want[rel]
		if !ok {
			wantReason = OK
		}
		if res.Reason != wantReason {
			t.Errorf("%s: got %+v, want %s", rel, res, wantReason)
		}
		if res.Reason != OK {
			failed++
			t.Logf("%s: %s / %s", rel, res.Message(LangEN), res.Message(LangZH))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked != 245 || failed != 2 {
		t.Errorf("checked %d files, %d failed; want 245 and 2", checked, failed)
	}
	res := CheckBytes(readFile(t, filepath.Join(root, "ants", "662541407_ff8db781e7.jpg")))
	if res.Width != 500 || res.Height != 146 || res.Format != "jpeg" {
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
