package importer

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/imagerules"
)

// zent is one entry of a test zip.
type zent struct {
	name    string
	data    []byte
	nonUTF8 bool
	mode    fs.FileMode // 0: a regular file
	store   bool        // no compression
}

func buildZip(t testing.TB, ents []zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, NonUTF8: e.nonUTF8}
		if e.store {
			h.Method = zip.Store
		}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		fw, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeZip(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload.zip")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// photos returns n distinct real photos of a flowers5 label that pass the rules.
func photos(t *testing.T, label string, n int) [][]byte {
	t.Helper()
	dir := testenv.Data(t, "datasets", "flowers5", label)
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range names {
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if imagerules.CheckBytes(b).OK() {
			out = append(out, b)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("only %d usable photos in %s", len(out), dir)
	return nil
}

func hymenoptera(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "train", "ants", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memStore records what Import stores.
type memStore map[string][]byte

func (m memStore) store(sha string, data []byte) error {
	m[sha] = append([]byte(nil), data...)
	return nil
}

func run(t *testing.T, ents []zent, opts Options) (*Report, memStore, error) {
	t.Helper()
	m := memStore{}
	rep, err := Import(context.Background(), writeZip(t, buildZip(t, ents)), opts, m.store)
	return rep, m, err
}

func labelEnts(prefix, label string, imgs [][]byte) []zent {
	var out []zent
	for i, b := range imgs {
		out = append(out, zent{name: fmt.Sprintf("%s%s/img%03d.jpg", prefix, label, i), data: b})
	}
	return out
}

func reasons(rep *Report) map[string]string {
	m := map[string]string{}
	for _, s := range rep.Skipped {
		m[s.Path] = s.Reason
	}
	return m
}

func TestGoodZip(t *testing.T) {
	for _, prefix := range []string{"", "dataset/"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			daisy, rose := photos(t, "daisy", 20), photos(t, "rose", 20)
			ents := append(labelEnts(prefix, "daisy", daisy), labelEnts(prefix, "玫瑰", rose)...)
			ents = append(ents, zent{name: "__MACOSX/" + prefix + "daisy/._img000.jpg", data: []byte("x")},
				zent{name: prefix + "daisy/.DS_Store", data: []byte("x")}, zent{name: prefix + "daisy/", mode: fs.ModeDir | 0o755})
			var calls, last, lastTotal int
			opts := Options{Progress: func(done, total int) { calls++; last, lastTotal = done, total }}
			rep, m, err := run(t, ents, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Skipped) != 0 {
				t.Fatalf("skipped: %+v", rep.Skipped)
			}
			if rep.Accepted["daisy"] != 20 || rep.Accepted["玫瑰"] != 20 || len(m) != 40 || len(rep.Images) != 40 {
				t.Fatalf("accepted %v, stored %d", rep.Accepted, len(m))
			}
			for _, im := range rep.Images {
				sum := sha256.Sum256(m[im.SHA256])
				if hex.EncodeToString(sum[:]) != im.SHA256 || im.Width == 0 || im.Height == 0 {
					t.Fatalf("bad image %+v", im)
				}
			}
			for _, l := range rep.Labels {
				if !l.Trainable || l.Count != 20 || l.Warning == "" {
					t.Fatalf("label %+v", l)
				}
			}
			// one step per entry, one more per image (checked, then stored)
			if want := len(ents) + 40; calls == 0 || last != want || lastTotal != want {
				t.Fatalf("progress: %d calls, last %d of %d, want %d of %d", calls, last, lastTotal, want, want)
			}
		})
	}
}

func TestBadEntries(t *testing.T) {
	good := photos(t, "daisy", 22)
	gbkName, err := simplifiedchinese.GBK.NewEncoder().String("蚂蚁")
	if err != nil {
		t.Fatal(err)
	}
	ents := labelEnts("", "daisy", good[:20])
	ents = append(ents,
		zent{name: "../evil/a.jpg", data: good[20]},
		zent{name: "/abs/a.jpg", data: good[20]},
		zent{name: "C:/win/a.jpg", data: good[20]},
		zent{name: "daisy/link.jpg", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777},
		zent{name: "daisy/empty.jpg", data: nil},
		zent{name: "daisy/notes.txt", data: []byte("hello")},
		zent{name: "daisy/sub/deep.jpg", data: good[20]},
		zent{name: "top.jpg", data: good[20]},
		zent{name: "bad-label/a.jpg", data: good[20]},
		zent{name: "daisy/notfound.gif", data: hymenoptera(t, "imageNotFound.gif")},
		zent{name: "daisy/wide.jpg", data: hymenoptera(t, "662541407_ff8db781e7.jpg")},
		zent{name: "daisy/corrupt.jpg", data: good[21][:len(good[21])/2]},
		zent{name: "daisy/dup.jpg", data: good[0]},
		zent{name: gbkName + "/a.jpg", data: good[21], nonUTF8: true},
		zent{name: "other/same.jpg", data: good[1]},
	)
	rep, m, err := run(t, ents, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"../evil/a.jpg":      ReasonZipSlip,
		"/abs/a.jpg":         ReasonZipSlip,
		"C:/win/a.jpg":       ReasonZipSlip,
		"daisy/link.jpg":     ReasonSymlink,
		"daisy/empty.jpg":    ReasonEmpty,
		"daisy/notes.txt":    ReasonNotAnImage,
		"daisy/sub/deep.jpg": ReasonNestedTooDeep,
		"top.jpg":            ReasonOutsideLabelFolder,
		"bad-label/a.jpg":    ReasonBadLabelName,
		"daisy/notfound.gif": string(imagerules.UnsupportedFormat),
		"daisy/wide.jpg":     string(imagerules.BadAspectRatio),
		"daisy/corrupt.jpg":  string(imagerules.Corrupt),
		"daisy/dup.jpg":      ReasonDuplicate,
		"daisy/img001.jpg":   ReasonCrossLabelDuplicate,
		"other/same.jpg":     ReasonCrossLabelDuplicate,
	}
	got := reasons(rep)
	for p, r := range want {
		if got[p] != r {
			t.Errorf("%s: reason %q, want %q", p, got[p], r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("skipped %v", got)
	}
	if !rep.GBK || rep.Accepted["蚂蚁"] != 1 {
		t.Errorf("GBK name not decoded: gbk=%v accepted=%v", rep.GBK, rep.Accepted)
	}
	if rep.Accepted["daisy"] != 19 || len(m) != 20 {
		t.Errorf("accepted %v, stored %d", rep.Accepted, len(m))
	}
	for _, l := range rep.Labels {
		if l.Name == "daisy" && (l.Trainable || l.Count != 19 || l.Warning == "") {
			t.Errorf("19-image label: %+v", l)
		}
	}
	assertValidated(t, m)
}

func assertValidated(t testing.TB, m memStore) {
	t.Helper()
	for sha, b := range m {
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != sha || !imagerules.CheckBytes(b).OK() {
			t.Fatalf("stored an image that was not validated: %s", sha)
		}
	}
}

func TestZipBomb(t *testing.T) {
	big := bytes.Repeat([]byte{0}, 50<<20)
	good := photos(t, "daisy", 1)
	ents := []zent{{name: "daisy/bomb.jpg", data: big}, {name: "daisy/ok.jpg", data: good[0]}}
	t.Run("ratio", func(t *testing.T) {
		rep, m, err := run(t, ents, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if reasons(rep)["daisy/bomb.jpg"] != ReasonZipBomb || len(m) != 1 {
			t.Fatalf("skipped %+v, stored %d", rep.Skipped, len(m))
		}
	})
	t.Run("total", func(t *testing.T) {
		_, m, err := run(t, ents[1:], Options{MaxTotalUncompressed: 1000})
		if !errors.Is(err, ErrZipBomb) || len(m) != 0 {
			t.Fatalf("err %v, stored %d", err, len(m))
		}
	})
	t.Run("lying header", func(t *testing.T) {
		// A header declaring fewer bytes than the entry holds.
		b := buildZip(t, []zent{{name: "daisy/a.jpg", data: good[0], store: true}})
		i := bytes.LastIndex(b, []byte("PK\x01\x02"))
		b[i+24] = 10 // uncompressed size (central directory) → 10 bytes
		b[i+25], b[i+26], b[i+27] = 0, 0, 0
		m := memStore{}
		rep, err := Import(context.Background(), writeZip(t, b), Options{}, m.store)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 0 || len(rep.Skipped) != 1 {
			t.Fatalf("skipped %+v, stored %d", rep.Skipped, len(m))
		}
	})
}

func TestNotZip(t *testing.T) {
	m := memStore{}
	p := filepath.Join(t.TempDir(), "x.zip")
	if err := os.WriteFile(p, hymenoptera(t, "imageNotFound.gif"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), p, Options{}, m.store); !errors.Is(err, ErrNotZip) {
		t.Fatalf("err %v", err)
	}
	if _, err := Import(context.Background(), filepath.Join(t.TempDir(), "missing.zip"), Options{}, m.store); err == nil {
		t.Fatal("missing file imported")
	}
	if _, err := Import(context.Background(), p, Options{MaxZipBytes: 10}, m.store); !errors.Is(err, ErrZipTooLarge) {
		t.Fatalf("err %v", err)
	}
}

func TestTooManyLabels(t *testing.T) {
	good := photos(t, "daisy", 1)
	var ents []zent
	for i := range 1001 {
		ents = append(ents, zent{name: fmt.Sprintf("l%04d/a.jpg", i), data: good[0], store: true})
	}
	_, m, err := run(t, ents, Options{})
	if !errors.Is(err, ErrTooManyLabels) || len(m) != 0 {
		t.Fatalf("err %v, stored %d", err, len(m))
	}
	if !bytes.Contains([]byte(err.Error()), []byte("1001")) {
		t.Fatalf("error does not name the count: %v", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := memStore{}
	_, err := Import(ctx, writeZip(t, buildZip(t, labelEnts("", "daisy", photos(t, "daisy", 2)))), Options{}, m.store)
	if !errors.Is(err, context.Canceled) || len(m) != 0 {
		t.Fatalf("err %v, stored %d", err, len(m))
	}
}

func TestStoreError(t *testing.T) {
	boom := errors.New("disk full")
	_, err := Import(context.Background(), writeZip(t, buildZip(t, labelEnts("", "daisy", photos(t, "daisy", 2)))), Options{},
		func(string, []byte) error { return boom })
	if !errors.Is(err, ErrStore) || !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}
