package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// testModel loads onnxruntime and writes the MobileNetV2 feature model
// (1280-d) for one test.
func testModel(t testing.TB) Model {
	t.Helper()
	if err := engine.Init(testenv.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	return Model{Path: mobileNetFeatures(t), ID: "mobilenetv2-int8", Dim: 1280}
}

// photos returns n items from hymenoptera/val (both labels), with views.
func photos(t testing.TB, n int, views ...View) []Item {
	t.Helper()
	var items []Item
	for _, label := range []string{"ants", "bees"} {
		dir := testenv.Data(t, "datasets", "hymenoptera", "val", label)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries[:(n+1)/2] {
			p := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			items = append(items, Item{ID: label + "/" + e.Name(), Path: p, SHA256: hex.EncodeToString(sum[:]), Views: views})
		}
	}
	return items[:n]
}

func extract(t *testing.T, m Model, o Options, items []Item) ([][][]float32, Stats) {
	t.Helper()
	e, err := NewExtractor(m, o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f, st, err := e.Extract(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	return f, st
}

// A second extraction of the same images is served from the cache: the
// same floats, no model run, no decode (the model is not even opened);
// asking for one more view computes only that view.
func TestExtractCache(t *testing.T) {
	m := testModel(t)
	cache, _ := OpenCache(t.TempDir())
	items := photos(t, 4, Orig, Flip)
	var progress [][2]int
	o := Options{Cache: cache, Batch: 3, Progress: func(d, n int) { progress = append(progress, [2]int{d, n}) }}
	first, st := extract(t, m, o, items)
	if st.Computed != 8 || st.Hits != 0 || st.Decoded != 4 || st.Runs != 3 || st.CacheErr != nil {
		t.Fatalf("first run %+v", st)
	}
	if last := progress[len(progress)-1]; progress[0] != [2]int{0, 4} || last != [2]int{4, 4} {
		t.Errorf("progress %v", progress)
	}
	for i := range first {
		if len(first[i]) != 2 || len(first[i][0]) != 1280 || slices.Equal(first[i][0], first[i][1]) {
			t.Fatalf("image %d: bad features", i)
		}
	}

	e, _ := NewExtractor(m, Options{Cache: cache})
	defer e.Close()
	again, st, err := e.Extract(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hits != 8 || st.Computed != 0 || st.Runs != 0 || st.Decoded != 0 || e.ms[0].sess != nil {
		t.Fatalf("cached run %+v (session opened: %v)", st, e.ms[0].sess != nil)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatal("cached features differ")
	}

	more := photos(t, 4, Orig, CropTL, Flip)
	withCrop, st, err := e.Extract(context.Background(), more)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hits != 8 || st.Computed != 4 || st.Decoded != 4 {
		t.Fatalf("one more view: %+v", st)
	}
	for i := range more {
		if !slices.Equal(withCrop[i][0], first[i][0]) || !slices.Equal(withCrop[i][2], first[i][1]) {
			t.Fatalf("image %d: cached views moved", i)
		}
	}
	// A different preprocessing spec is another namespace: nothing shared.
	stretch := preprocess.ImageNet()
	stretch.Mode, stretch.Resize = preprocess.Stretch, 0
	if _, st := extract(t, m, Options{Cache: cache, Spec: stretch}, items[:1]); st.Hits != 0 {
		t.Fatalf("other spec hit the cache: %+v", st)
	}
}

// The views made from one decode in the pipeline are the tensors of
// separate decodes and TensorView calls: the features equal a plain
// session run on those tensors (same batch).
func TestExtractViewsMatchSeparateDecodes(t *testing.T) {
	m := testModel(t)
	views := []View{Orig, Flip, CropBR, Center08, Jitter}
	item := photos(t, 1, views...)[0]
	got, _ := extract(t, m, Options{Batch: len(views), Workers: 1}, []Item{item})

	spec := preprocess.ImageNet()
	in := make([]float32, len(views)*spec.Len())
	for j, v := range views {
		data, _ := os.ReadFile(item.Path)
		img, err := preprocess.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := spec.TensorView(img, v.Preprocess(item.SHA256), in[j*spec.Len():]); err != nil {
			t.Fatal(err)
		}
	}
	s, err := engine.NewSession(m.Path, engine.Options{Input: "input", Output: "features"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, err := s.Run(in, len(views))
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range views {
		if !slices.Equal(got[0][j], want[j*m.Dim:(j+1)*m.Dim]) {
			t.Errorf("view %s differs from a separate decode", v)
		}
	}
}

// Cancelling stops within a batch; images finished by then stay cached.
func TestExtractCancel(t *testing.T) {
	m := testModel(t)
	cache, _ := OpenCache(t.TempDir())
	items := photos(t, 6, Orig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, _ := NewExtractor(m, Options{Cache: cache, Batch: 1, Progress: func(done, total int) {
		if done >= 1 {
			cancel()
		}
	}})
	defer e.Close()
	f, st, err := e.Extract(ctx, items)
	if !errors.Is(err, context.Canceled) || f != nil {
		t.Fatalf("err %v, features %v", err, f != nil)
	}
	if st.Runs != 1 {
		t.Fatalf("%d runs after cancelling in the first one's progress", st.Runs)
	}
	_, st, err = e.Extract(context.Background(), items)
	if err != nil || st.Hits != 1 || st.Computed != 5 {
		t.Fatalf("after cancel: %+v, %v", st, err)
	}
	// Already cancelled: no model run at all.
	_, st, err = e.Extract(ctx, photos(t, 6, Flip))
	if !errors.Is(err, context.Canceled) || st.Runs != 0 {
		t.Fatalf("cancelled before start: %+v, %v", st, err)
	}
}

// A damaged cache entry is detected, recomputed and rewritten.
func TestExtractCorruptEntry(t *testing.T) {
	m := testModel(t)
	cache, _ := OpenCache(t.TempDir())
	items := photos(t, 2, Orig)
	first, _ := extract(t, m, Options{Cache: cache}, items)
	e, _ := NewExtractor(m, Options{Cache: cache})
	defer e.Close()
	p, _ := cache.path(e.Namespace(), items[0].SHA256)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x40
	os.WriteFile(p, b, 0o644)

	again, st, err := e.Extract(context.Background(), items)
	if err != nil || st.Corrupt != 1 || st.Computed != 1 || st.Hits != 1 {
		t.Fatalf("%+v, %v", st, err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatal("recomputed features differ")
	}
	if v, err := cache.Load(e.Namespace(), items[0].SHA256, m.Dim); err != nil || len(v) != 1 {
		t.Fatalf("entry not rewritten: %v", err)
	}
}

// The raw ShuffleNet backbone (fixed batch of 1, 1000 logits as the
// "feature") runs one view at a time.
func TestExtractFixedBatch(t *testing.T) {
	testModel(t)
	m := Model{Path: testenv.Data(t, "backbones", "shufflenet-v2-12-qdq.onnx"), ID: "shufflenet-logits", Dim: 1000, Output: "output"}
	f, st := extract(t, m, Options{Batch: 8}, photos(t, 2, Orig, Flip))
	if st.Runs != 4 || st.Computed != 4 || len(f[1][1]) != 1000 {
		t.Fatalf("%+v", st)
	}
}

func TestExtractErrors(t *testing.T) {
	m := testModel(t)
	cache, _ := OpenCache(t.TempDir())
	item := photos(t, 1, Orig)[0]
	missing := item
	missing.ID, missing.Path = "ants/gone.jpg", filepath.Join(t.TempDir(), "gone.jpg")
	noSum := item
	noSum.SHA256 = ""
	wrongDim := m
	wrongDim.Dim = 1000
	noOutput := m
	noOutput.Output = "pooled"
	cases := []struct {
		name  string
		m     Model
		o     Options
		item  Item
		words string
	}{
		{"wrong dim", wrongDim, Options{}, item, "1280"},
		{"no such output", noOutput, Options{}, item, "pooled"},
		{"missing file", m, Options{}, missing, "ants/gone.jpg"},
		{"unknown view", m, Options{}, Item{ID: "x", Path: item.Path, Views: []View{"mirror"}}, "mirror"},
		{"repeated view", m, Options{}, Item{ID: "x", Path: item.Path, Views: []View{Flip, Flip}}, "repeated"},
		{"no sha256 to cache by", m, Options{Cache: cache}, noSum, "sha256"},
		{"not a photo", m, Options{}, Item{ID: "notes.txt", Data: []byte("hello"), Views: []View{Orig}}, "notes.txt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewExtractor(tc.m, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if _, _, err := e.Extract(context.Background(), []Item{tc.item}); err == nil || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("err %v, want one naming %q", err, tc.words)
			}
		})
	}
	if _, err := NewExtractor(Model{Path: m.Path, ID: "x"}, Options{}); err == nil {
		t.Error("model without a dim accepted")
	}
}

// Two models share one decode per image: the dynamic-batch MobileNetV2
// features and the fixed-batch-1 ShuffleNet logits give the same values as
// separate extractors, and a model whose views are cached is not run.
func TestExtractSeveralModels(t *testing.T) {
	mobile := testModel(t)
	shuffle := Model{Path: testenv.Data(t, "backbones", "shufflenet-v2-12-qdq.onnx"), ID: "shufflenet-logits", Dim: 1000, Output: "output"}
	items := photos(t, 5, Orig, Flip)
	alone := [][][][]float32{}
	for _, m := range []Model{mobile, shuffle} {
		f, _ := extract(t, m, Options{}, items)
		alone = append(alone, f)
	}

	cache, _ := OpenCache(t.TempDir())
	extract(t, mobile, Options{Cache: cache}, items[:2]) // MobileNetV2 knows two images
	e, err := NewMultiExtractor([]Model{mobile, shuffle}, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got, st, err := e.ExtractAll(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	// 5 images × 2 views: MobileNetV2 computes 3 images, ShuffleNet 5.
	if st.Decoded != 5 || st.Hits != 4 || st.Computed != 6+10 {
		t.Fatalf("%+v", st)
	}
	for k := range alone {
		if !reflect.DeepEqual(got[k], alone[k]) {
			t.Fatalf("model %d: features differ from its own extractor", k)
		}
	}
	_, st, err = e.ExtractAll(context.Background(), items)
	if err != nil || st.Decoded != 0 || st.Hits != 20 || st.Runs != 0 {
		t.Fatalf("cached run %+v, %v", st, err)
	}
	if _, err := NewMultiExtractor(nil, Options{}); err == nil {
		t.Error("no models accepted")
	}
}

// With SkipUndecodable a truncated photo is left out, not fatal; the
// verdict is cached, so the next run does not decode it again.
func TestExtractSkipsUndecodable(t *testing.T) {
	m := testModel(t)
	cache, _ := OpenCache(t.TempDir())
	items := photos(t, 3, Orig, Flip)
	whole, err := os.ReadFile(items[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	cut := whole[:len(whole)/2]
	sum := sha256.Sum256(cut)
	items[1] = Item{ID: "ants/cut.jpg", Data: cut, SHA256: hex.EncodeToString(sum[:]), Views: items[1].Views}

	e, _ := NewExtractor(m, Options{Cache: cache})
	if _, _, err := e.Extract(context.Background(), items); !errors.Is(err, preprocess.ErrCorrupt) || !strings.Contains(err.Error(), "ants/cut.jpg") {
		t.Fatalf("without SkipUndecodable: %v", err)
	}
	e.Close()
	for _, run := range []string{"first", "again"} {
		e, _ := NewExtractor(m, Options{Cache: cache, SkipUndecodable: true})
		f, st, err := e.Extract(context.Background(), items)
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Undecodable) != 1 || st.Undecodable[0].Item != 1 || !strings.Contains(st.Undecodable[0].Reason, "corrupt") {
			t.Fatalf("%s run: undecodable %+v", run, st.Undecodable)
		}
		if f[1] != nil || len(f[0]) != 2 || len(f[2][1]) != m.Dim {
			t.Fatalf("%s run: features of the bad photo %v, others %d %d", run, f[1], len(f[0]), len(f[2]))
		}
		if run == "again" && (st.Decoded != 0 || st.Hits != 4) {
			t.Fatalf("second run decoded again: %+v", st)
		}
	}
}
