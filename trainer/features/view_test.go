package features

import (
	"strings"
	"testing"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

func TestViews(t *testing.T) {
	const sumA = "a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	const sumB = "03f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	cases := []struct {
		view View
		want preprocess.View
	}{
		{Orig, preprocess.View{}},
		{Flip, preprocess.View{Flip: true}},
		{CropTL, preprocess.View{Crop: preprocess.Box{X0: 0, Y0: 0, X1: 0.8, Y1: 0.8}}},
		{CropTR, preprocess.View{Crop: preprocess.Box{X0: 0.2, Y0: 0, X1: 1, Y1: 0.8}}},
		{CropBL, preprocess.View{Crop: preprocess.Box{X0: 0, Y0: 0.2, X1: 0.8, Y1: 1}}},
		{CropBR, preprocess.View{Crop: preprocess.Box{X0: 0.2, Y0: 0.2, X1: 1, Y1: 1}}},
		{Center08, preprocess.View{Crop: preprocess.Box{X0: 0.1, Y0: 0.1, X1: 0.9, Y1: 0.9}}},
	}
	for _, tc := range cases {
		if got := tc.view.Preprocess(sumA); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.view, got, tc.want)
		}
	}
	if len(AllViews()) != len(cases)+1 {
		t.Errorf("AllViews() = %v", AllViews())
	}
	for _, v := range AllViews() {
		if p, err := ParseView(string(v)); err != nil || p != v {
			t.Errorf("ParseView(%q) = %q, %v", v, p, err)
		}
	}
	if _, err := ParseView("mirror"); err == nil || !strings.Contains(err.Error(), "crop-tl") {
		t.Errorf("ParseView(mirror): %v", err)
	}

	// Jitter: fixed per image, different between images, mild.
	a, again, b := Jitter.Preprocess(sumA), Jitter.Preprocess(sumA), Jitter.Preprocess(sumB)
	if a != again || a == b {
		t.Errorf("jitter %+v, again %+v, other image %+v", a, again, b)
	}
	for _, key := range []string{sumA, sumB, "ants/x.jpg", ""} {
		j := Jitter.Preprocess(key)
		for _, f := range []float32{j.Brightness, j.Contrast, j.Saturation} {
			if f < 1-JitterRange || f > 1+JitterRange {
				t.Errorf("jitter factor %v out of range for %q", f, key)
			}
		}
		if j.Flip || j.Crop != (preprocess.Box{}) {
			t.Errorf("jitter %+v moves pixels", j)
		}
	}
}
