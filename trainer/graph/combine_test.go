package graph

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/autocv/autocv/trainer/backbone"
)

// generalParts is the "general" recipe: both backbones, each feature
// L2-normalised.
func generalParts(t testing.TB) []Part {
	var parts []Part
	for _, id := range []string{backbone.MobileNetV2, backbone.ShuffleNet} {
		bb := openBackbone(t, id)
		parts = append(parts, Part{Descriptor: bb.Descriptor, Model: bb.Data, Normalize: true})
	}
	return parts
}

// The combined graph's output is the concat of each backbone's feature
// model output, L2-normalised in Go.
func TestCombined(t *testing.T) {
	parts := generalParts(t)
	m, err := Combined(parts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Dim != 2304 || m.FixedBatch != 1 || m.Input != InputName || !slices.Equal(m.Backbones, []string{backbone.MobileNetV2, backbone.ShuffleNet}) {
		t.Fatalf("model %+v", m)
	}
	// both computed in float: no com.microsoft quantised ops are left
	if got, want := opsets(m.Proto), []string{":12"}; !slices.Equal(got, want) {
		t.Errorf("opset imports %v, want %v", got, want)
	}
	g := m.Proto.GetGraph()
	if len(g.GetInput()) != 1 || g.GetInput()[0].GetName() != InputName || len(g.GetOutput()) != 1 {
		t.Fatalf("inputs %v outputs %v", g.GetInput(), g.GetOutput())
	}
	// Both feature models name their float weights autocv/float/w1, …:
	// the prefixes keep them apart.
	seen := map[string]bool{}
	for _, init := range g.GetInitializer() {
		if seen[init.GetName()] {
			t.Fatalf("initializer %q twice", init.GetName())
		}
		seen[init.GetName()] = true
	}
	if !seen["mobilenetv2-12-int8/autocv/float/min2"] || !seen["shufflenet-v2-12-qdq/autocv/float/min2"] {
		t.Error("prefixed autocv/float/min2 initializers missing")
	}
	for _, n := range g.GetNode() {
		for _, name := range append(slices.Clone(n.GetInput()), n.GetOutput()...) {
			if name != InputName && name != "" && !strings.HasPrefix(name, prefix) && !strings.HasPrefix(name, backbone.MobileNetV2+"/") &&
				!strings.HasPrefix(name, backbone.ShuffleNet+"/") && name != FeatureOutput {
				t.Fatalf("node %q uses unprefixed tensor %q", n.GetName(), name)
			}
		}
	}
	model, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Combined(parts)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := again.Marshal(); !bytes.Equal(model, b) {
		t.Error("Combined is not deterministic")
	}

	var single [][]byte
	for _, p := range parts {
		b, err := FeatureModel(p.Descriptor, p.Model)
		if err != nil {
			t.Fatal(err)
		}
		single = append(single, b)
	}
	in := images(t, 2)
	for i := range 2 {
		x := in[i*3*224*224 : (i+1)*3*224*224]
		got := run(t, model, FeatureOutput, x, 1)
		var want []float32
		for _, b := range single {
			f := run(t, b, FeatureOutput, x, 1)
			L2Normalize(f)
			want = append(want, f...)
		}
		if len(got) != 2304 || len(want) != 2304 {
			t.Fatalf("got %d and %d values, want 2304", len(got), len(want))
		}
		for j := range got {
			if math.Abs(float64(got[j]-want[j])) > 1e-5 {
				t.Fatalf("photo %d value %d: combined %v, separate %v", i, j, got[j], want[j])
			}
		}
		for k, r := range [][2]int{{0, 1280}, {1280, 2304}} {
			var ss float64
			for _, v := range got[r[0]:r[1]] {
				ss += float64(v) * float64(v)
			}
			if math.Abs(ss-1) > 1e-5 {
				t.Errorf("photo %d part %d: squared norm %v, want 1", i, k, ss)
			}
		}
	}
}

func TestCombinedRefuses(t *testing.T) {
	parts := generalParts(t)
	other := parts[1]
	other.Descriptor.Preprocess.Resize = 288
	cases := []struct {
		name  string
		parts []Part
		want  string
	}{
		{"nothing", nil, "no backbones"},
		{"same backbone twice", []Part{parts[0], parts[0]}, "appears twice"},
		{"different preprocessing", []Part{parts[0], other}, "preprocess images differently"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Combined(tc.parts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestL2Normalize(t *testing.T) {
	v := []float32{3, 4}
	L2Normalize(v)
	if v[0] != 0.6 || v[1] != 0.8 {
		t.Errorf("got %v", v)
	}
	z := []float32{0, 0}
	L2Normalize(z)
	if z[0] != 0 || z[1] != 0 {
		t.Errorf("zero vector became %v", z)
	}
}
