package rig

import (
	"archive/zip"
	"crypto/sha256"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/imagerules"
)

// The synthetic images must pass the import's rules and be distinct, or
// the list benchmark would store fewer images than it says.
func TestSyntheticZip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.zip")
	const n, labels = 300, 7
	st, err := WriteSyntheticZip(path, n, labels)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != n || st.Bytes == 0 {
		t.Fatalf("stats %+v, want %d entries", st, n)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	seen := map[[32]byte]string{}
	perLabel := map[string]int{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		res := imagerules.CheckBytes(b)
		if !res.OK() || res.Format != "jpeg" || res.Width != SynthSide || res.Height != SynthSide {
			t.Fatalf("%s: %+v, want an accepted %d×%d jpeg", f.Name, res, SynthSide, SynthSide)
		}
		sum := sha256.Sum256(b)
		if other, dup := seen[sum]; dup {
			t.Fatalf("%s has the same bytes as %s", f.Name, other)
		}
		seen[sum] = f.Name
		label, _, ok := strings.Cut(f.Name, "/")
		if !ok {
			t.Fatalf("%s is outside a label folder", f.Name)
		}
		perLabel[label]++
	}
	if len(zr.File) != n || len(perLabel) != labels {
		t.Fatalf("%d files in %d labels, want %d in %d", len(zr.File), len(perLabel), n, labels)
	}
	for l, c := range perLabel {
		if c < n/labels || c > n/labels+1 {
			t.Errorf("label %s holds %d images, want %d or %d", l, c, n/labels, n/labels+1)
		}
	}
}

func TestPhotoZip(t *testing.T) {
	data := testenv.DataDir(t)
	path := filepath.Join(t.TempDir(), "p.zip")
	st, err := WritePhotoZip(data, path, 7)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if st.Entries != 7 || len(zr.File) != 7 {
		t.Fatalf("%d entries (%d in the zip), want the 7 asked for", st.Entries, len(zr.File))
	}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "ants/train-") {
			t.Errorf("entry %s, want ants/train-… (the first folder, sorted)", f.Name)
		}
	}
}

func TestQuantile(t *testing.T) {
	sample := func(msList ...int) Latencies {
		var l Latencies
		for _, m := range msList {
			l = append(l, time.Duration(m)*time.Millisecond)
		}
		return l
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100…1, unsorted on purpose
	}
	for _, tc := range []struct {
		name           string
		l              Latencies
		p50, p99, mean float64
	}{
		{"one", sample(7), 7, 7, 7},
		{"two", sample(3, 1), 1, 3, 2},
		{"hundred", sample(hundred...), 50, 99, 50.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.l.Summarize()
			if s.P50 != tc.p50 || s.P99 != tc.p99 || s.Mean != tc.mean || s.N != len(tc.l) {
				t.Errorf("summary %+v, want p50 %v p99 %v mean %v", s, tc.p50, tc.p99, tc.mean)
			}
		})
	}
	if s := (Latencies{}).Summarize(); s != (Summary{}) {
		t.Errorf("empty sample: %+v", s)
	}
}
