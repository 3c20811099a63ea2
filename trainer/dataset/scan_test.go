package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/imagerules"
)

// TestScanHymenoptera scans the real training folder: exactly the two
// files the data's README names break a rule.
func TestScanHymenoptera(t *testing.T) {
	dir := testenv.Data(t, "datasets", "hymenoptera", "train")
	start := time.Now()
	ds, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scanned %d files in %v", len(ds.Images)+len(ds.Skipped), time.Since(start))
	want := []Skip{
		{ID: "ants/662541407_ff8db781e7.jpg", Reason: imagerules.BadAspectRatio},
		{ID: "ants/imageNotFound.gif", Reason: imagerules.UnsupportedFormat},
	}
	if len(ds.Skipped) != len(want) {
		t.Fatalf("skipped %+v, want %+v", ds.Skipped, want)
	}
	for i, s := range ds.Skipped {
		if s.ID != want[i].ID || s.Reason != want[i].Reason {
			t.Errorf("skipped[%d] = %+v, want %+v", i, s, want[i])
		}
	}
	if !slices.Equal(ds.Labels, []string{"ants", "bees"}) {
		t.Fatalf("labels %q", ds.Labels)
	}
	if got := ds.Counts(); got[0].Images != 122 || got[1].Images != 121 {
		t.Errorf("counts %+v, want ants 122, bees 121", got)
	}
	for _, im := range ds.Images {
		if len(im.SHA256) != 64 || im.Width <= 0 || im.Height <= 0 || !strings.HasPrefix(im.ID, im.Label+"/") ||
			im.Path != filepath.Join(dir, filepath.FromSlash(im.ID)) {
			t.Fatalf("bad image %+v", im)
		}
	}
	if len(ds.Duplicates) != 0 || len(ds.Conflicts) != 0 {
		t.Errorf("duplicates %+v, conflicts %+v", ds.Duplicates, ds.Conflicts)
	}
}

// TestScanFlowersDuplicates scans the real sunflower folder beside a
// second label: its two byte-identical pairs are reported and one copy of
// each is kept.
func TestScanFlowersDuplicates(t *testing.T) {
	src := testenv.Data(t, "datasets", "flowers5")
	dir := t.TempDir()
	copyPhotos(t, filepath.Join(src, "sunflower"), filepath.Join(dir, "sunflower"), -1)
	copyPhotos(t, filepath.Join(src, "daisy"), filepath.Join(dir, "daisy"), 20)
	ds, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []DuplicatePair{
		{Kept: "sunflower/14889392928_9742aed45b_m.jpg", Dropped: "sunflower/15066430311_fb57fa92b0_m.jpg"},
		{Kept: "sunflower/15069459615_7e0fd61914_n.jpg", Dropped: "sunflower/15072973261_73e2912ef2_n.jpg"},
	}
	if len(ds.Duplicates) != len(want) {
		t.Fatalf("duplicates %+v, want %+v", ds.Duplicates, want)
	}
	for i, d := range ds.Duplicates {
		if d.Kept != want[i].Kept || d.Dropped != want[i].Dropped || len(d.SHA256) != 64 {
			t.Errorf("duplicate %+v, want %+v", d, want[i])
		}
	}
	if c := ds.Counts(); c[1].Label != "sunflower" || c[1].Images != 118 {
		t.Errorf("counts %+v, want sunflower 118", c)
	}
	for _, s := range ds.Skipped {
		if s.Reason != Duplicate {
			t.Errorf("unexpected skip %+v", s)
		}
	}
}

// TestScanLayout checks the folder rules on a small dataset made of copies
// of real photos.
func TestScanLayout(t *testing.T) {
	val := testenv.Data(t, "datasets", "hymenoptera", "val")
	dir := t.TempDir()
	copyPhotos(t, filepath.Join(val, "ants"), filepath.Join(dir, "ants"), 20)
	copyPhotos(t, filepath.Join(val, "bees"), filepath.Join(dir, "蜜蜂_2"), 21)
	one := firstPhoto(t, filepath.Join(val, "ants"))
	write(t, filepath.Join(dir, "loose.jpg"), one)
	write(t, filepath.Join(dir, "ants", "deeper", "x.jpg"), one)
	write(t, filepath.Join(dir, "ants", "notes.txt"), []byte("hello"))
	write(t, filepath.Join(dir, "ants", ".DS_Store"), []byte("junk"))
	write(t, filepath.Join(dir, "__MACOSX", "ants", "._x.jpg"), []byte("junk"))
	write(t, filepath.Join(dir, "ants", "copy.jpg"), one) // duplicate within ants
	write(t, filepath.Join(dir, "蜜蜂_2", "same.jpg"), one) // conflict across labels

	ds, err := Scan(dir)
	if !errors.Is(err, ErrTooFewImages) || !strings.Contains(err.Error(), "ants has 19") {
		t.Fatalf("err = %v, want ants short of images (19 after the conflict)", err)
	}
	if ds == nil || !slices.Equal(ds.Labels, []string{"ants", "蜜蜂_2"}) {
		t.Fatalf("dataset %+v", ds)
	}
	got := map[string]imagerules.Reason{}
	for _, s := range ds.Skipped {
		got[s.ID] = s.Reason
	}
	firstID := "ants/" + firstName(t, filepath.Join(val, "ants"))
	want := map[string]imagerules.Reason{
		"loose.jpg":         OutsideLabelFolder,
		"ants/deeper/x.jpg": NestedTooDeep,
		"ants/notes.txt":    imagerules.NotAnImage,
		"ants/copy.jpg":     LabelConflict,
		firstID:             LabelConflict,
		"蜜蜂_2/same.jpg":     LabelConflict,
	}
	if len(got) != len(want) {
		t.Errorf("skipped %v, want %v", got, want)
	}
	for id, r := range want {
		if got[id] != r {
			t.Errorf("%s: reason %q, want %q", id, got[id], r)
		}
	}
	if len(ds.Conflicts) != 1 || len(ds.Conflicts[0].IDs) != 3 || !slices.Equal(ds.Conflicts[0].Labels, []string{"ants", "蜜蜂_2"}) {
		t.Errorf("conflicts %+v", ds.Conflicts)
	}
	if Message(LabelConflict, "zh-CN") == Message(LabelConflict, "en") || Message(imagerules.TooLarge, "en") != imagerules.TooLarge.Message("en") {
		t.Error("messages")
	}
}

func TestScanRules(t *testing.T) {
	val := testenv.Data(t, "datasets", "hymenoptera", "val")
	cases := []struct {
		name   string
		labels map[string]int // label folder → photos copied into it
		err    error
		words  []string // the error must name these
	}{
		{"one label", map[string]int{"ants": 20}, ErrTooFewLabels, []string{"ants"}},
		{"no label", map[string]int{}, ErrTooFewLabels, nil},
		{"short label", map[string]int{"ants": 20, "bees": 5, "wasps": 0}, ErrTooFewImages, []string{"bees has 5", "wasps has 0"}},
		{"bad name", map[string]int{"ants": 20, "honey bees": 20}, ErrLabelName, []string{"honey bees"}},
		{"enough", map[string]int{"ants": 20, "bees": 20}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for label, n := range tc.labels {
				src := filepath.Join(val, "ants")
				if label != "ants" {
					src = filepath.Join(val, "bees")
				}
				if err := os.MkdirAll(filepath.Join(dir, label), 0o755); err != nil {
					t.Fatal(err)
				}
				copyPhotos(t, src, filepath.Join(dir, label), n)
			}
			_, err := Scan(dir)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	if _, err := Scan(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrNoFolder) {
		t.Errorf("missing folder: %v", err)
	}
}

func TestScanContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if _, err := ScanContext(ctx, testenv.Data(t, "datasets", "flowers5")); !errors.Is(err, context.Canceled) {
		t.Fatalf("ScanContext on a cancelled context: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %s to notice the cancel", d)
	}
}
