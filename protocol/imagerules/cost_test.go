package imagerules

import (
	"bytes"
	"image"
	"image/png"
	"testing"
)

// A tiny 16-bit PNG costs its pixels, not its bytes.
func TestDecodeCost(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewNRGBA64(image.Rect(0, 0, 1000, 500))); err != nil {
		t.Fatal(err)
	}
	cost, ok := DecodeCost(b.Bytes())
	if !ok || cost < 1000*500*8 || cost > 1000*500*8+int64(b.Len()) {
		t.Errorf("16-bit 1000×500: cost %d ok %v, want %d + file", cost, ok, 1000*500*8)
	}
	b.Reset()
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1000, 500))); err != nil {
		t.Fatal(err)
	}
	if cost, ok := DecodeCost(b.Bytes()); !ok || cost > 1000*500+int64(b.Len()) {
		t.Errorf("grey 1000×500: cost %d ok %v", cost, ok)
	}
	if _, ok := DecodeCost([]byte("not an image")); ok {
		t.Error("junk has a header")
	}
}
