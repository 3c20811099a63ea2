package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func TestTopK(t *testing.T) {
	for _, tc := range []struct {
		q      string
		labels int
		want   int
		code   Code
	}{
		{"", 2, 2, ""}, {"", 1000, inference.DefaultTopK, ""}, {"5", 2, 2, ""}, {"1", 2, 1, ""},
		{"3", 1000, 3, ""}, {"0", 2, 0, CodeBadTopK}, {"-1", 2, 0, CodeBadTopK}, {"five", 2, 0, CodeBadTopK}, {"1.5", 2, 0, CodeBadTopK},
	} {
		k, e := TopK(tc.q, tc.labels)
		if (e == nil) != (tc.code == "") || (e != nil && e.Code != tc.code) || k != tc.want {
			t.Errorf("TopK(%q, %d) = %d, %v; want %d, %q", tc.q, tc.labels, k, e, tc.want, tc.code)
		}
	}
}

func TestThreshold(t *testing.T) {
	for _, q := range []string{"-0.1", "1.01", "NaN", "high", "Inf"} {
		if _, e := Threshold(q); e == nil || e.Code != CodeBadThreshold || e.Status() != http.StatusBadRequest {
			t.Errorf("Threshold(%q) = %v, want bad_threshold", q, e)
		}
	}
	if v, e := Threshold(""); v != nil || e != nil {
		t.Errorf("empty threshold: %v %v", v, e)
	}
	v, e := Threshold("0.3")
	if e != nil || *v != 0.3 {
		t.Fatalf("0.3: %v %v", v, e)
	}
	th := modelpkg.Thresholds{Global: 0.5, PerLabel: map[string]float64{"ant": 0.9}}
	ls := []inference.Label{{Label: "ant", Confidence: 0.8}, {Label: "bee", Confidence: 0.2}}
	got := Predictions(ls, th, nil)
	if got[0].Threshold != 0.9 || got[0].AboveThreshold || got[1].Threshold != 0.5 || got[1].AboveThreshold {
		t.Errorf("package thresholds: %+v", got)
	}
	got = Predictions(ls, th, v)
	if got[0].Threshold != 0.3 || !got[0].AboveThreshold || got[1].AboveThreshold {
		t.Errorf("threshold=0.3: %+v", got)
	}
}

func TestCheckImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		code Code
	}{
		{"empty", nil, CodeEmptyBody},
		{"text", []byte("hello, not a photo"), CodeNotAnImage},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), CodeUnsupportedFormat},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10}, ""},
	} {
		e := CheckImage(tc.data, "the body")
		if (e == nil) != (tc.code == "") || (e != nil && (e.Code != tc.code || e.Message == "")) {
			t.Errorf("%s: %v, want %q", tc.name, e, tc.code)
		}
	}
	if e := DecodeError("x", "", "corrupt image: unexpected EOF"); e.Code != CodeCorrupt || e.Status() != http.StatusUnprocessableEntity {
		t.Errorf("decode error: %+v", e)
	}
	// the plugin's typed code decides, not the words of its message
	if e := DecodeError("x", inference.ImageTooLarge, "corrupt image: sort of"); e.Code != CodeTooLarge {
		t.Errorf("typed code: %+v", e)
	}
	// the plugin's batch numbering is not the caller's
	if e := DecodeError(`file "c.jpg"`, "", "image 2: unsupported image format: gif"); e.Code != CodeUnsupportedFormat ||
		strings.Contains(e.Message, "image 2") || !strings.Contains(e.Message, "c.jpg") {
		t.Errorf("decode error: %+v", e)
	}
}

// Every code has a status of the right class.
func TestCodeTable(t *testing.T) {
	for _, c := range Codes() {
		if s := c.Status(); s < 400 || s > 599 {
			t.Errorf("%s: status %d", c, s)
		}
	}
	if Code("no such code").Status() != http.StatusInternalServerError {
		t.Error("unknown code is not 500")
	}
}
