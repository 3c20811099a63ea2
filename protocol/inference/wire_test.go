package inference

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// Errors a plugin returns must match the same sentinel on the host side
// after the gRPC hop, and keep the plugin's message.
func TestErrorsCrossTheWire(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"not loaded", ErrNotLoaded, ErrNotLoaded},
		{"bad request wrapped", fmt.Errorf("%w: top_k -1", ErrBadRequest), ErrBadRequest},
		{"provider", fmt.Errorf("%w: cuda: no GPU", ErrUnavailable), ErrUnavailable},
		{"bad package", fmt.Errorf("%w: hash mismatch", ErrBadPackage), ErrBadPackage},
		{"canceled", context.Canceled, context.Canceled},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fromStatus(toStatus(tc.err))
			if !errors.Is(got, tc.want) {
				t.Fatalf("%v came back as %v", tc.err, got)
			}
			if got.Error() == "" || (tc.want != tc.err && got.Error() != tc.err.Error()) {
				t.Fatalf("message %q, want %q", got.Error(), tc.err.Error())
			}
		})
	}
	// other errors keep their message but match no sentinel
	got := fromStatus(toStatus(errors.New("disk on fire")))
	for _, s := range []error{ErrNotLoaded, ErrBadRequest, ErrUnavailable, ErrBadPackage, ErrPluginGone} {
		if errors.Is(got, s) {
			t.Fatalf("internal error matched %v", s)
		}
	}
	if toStatus(nil) != nil || fromStatus(nil) != nil {
		t.Fatal("nil error not kept nil")
	}
}

func TestTensorBytes(t *testing.T) {
	f := []float32{1, -2.5, 3e-7, 0}
	b := floatBytes(f)
	if len(b) != 16 {
		t.Fatalf("%d bytes", len(b))
	}
	// misaligned input is copied, not read crooked
	buf := make([]byte, 17)
	copy(buf[1:], b)
	got, err := bytesFloats(buf[1:])
	if err != nil {
		t.Fatal(err)
	}
	for i := range f {
		if got[i] != f[i] {
			t.Fatalf("value %d: %v, want %v", i, got[i], f[i])
		}
	}
	if _, err := bytesFloats(buf[:5]); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("5 bytes: %v", err)
	}
	if v, err := bytesFloats(nil); v != nil || err != nil {
		t.Fatal("empty tensor")
	}
}
