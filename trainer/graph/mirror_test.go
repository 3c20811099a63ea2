package graph

import (
	"math"
	"testing"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// flipTensor mirrors CHW planes left to right, as the flip view does.
func flipTensor(x []float32, side int) []float32 {
	out := make([]float32, len(x))
	for row := 0; row < len(x)/side; row++ {
		for c := range side {
			out[row*side+c] = x[row*side+side-1-c]
		}
	}
	return out
}

// The mirrored model outputs the mean of the plain model's features of the
// photo and of its mirror image: what the trainer judges photos by.
func TestMirrorMean(t *testing.T) {
	parts := generalParts(t)
	plain, err := Combined(parts)
	if err != nil {
		t.Fatal(err)
	}
	m := plain.Clone()
	if err := MirrorMean(m); err != nil {
		t.Fatal(err)
	}
	if m.Dim != plain.Dim || m.FixedBatch != 1 {
		t.Fatalf("model %+v", m)
	}
	if got, want := len(m.Proto.GetGraph().GetInitializer()), len(plain.Proto.GetGraph().GetInitializer())+5; got != want {
		t.Errorf("%d initializers, want %d: the mirror shares the weights", got, want)
	}
	plainBytes, _ := plain.Marshal()
	mirrorBytes, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	spec := preprocess.ImageNet()
	x := images(t, 2)
	for i := range 2 {
		one := x[i*spec.Len() : (i+1)*spec.Len()]
		a := run(t, plainBytes, FeatureOutput, one, 1)
		b := run(t, plainBytes, FeatureOutput, flipTensor(one, spec.Size), 1)
		got := run(t, mirrorBytes, FeatureOutput, one, 1)
		worst := 0.0
		for d := range got {
			worst = max(worst, math.Abs(float64(got[d])-float64(a[d]+b[d])/2))
		}
		if worst > 1e-5 {
			t.Errorf("photo %d: differs from the mean of the two views by %g", i, worst)
		}
	}
	if err := MirrorMean(m); err == nil {
		t.Error("a model mirrored twice was accepted")
	}
}
