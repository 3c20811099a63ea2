package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestSignVerifyBinary(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	bin := []byte("a binary")
	sum, sig := SignBinary(priv, bin)
	if !ed25519.Verify(pub, []byte("autocv-agent-binary-v1\n"+sum), sig) {
		t.Fatal("the signature is not over the documented message")
	}
	for _, tc := range []struct {
		name string
		bin  []byte
		sum  string
		sig  []byte
		key  ed25519.PublicKey
		want error
	}{
		{"good", bin, sum, sig, pub, nil},
		{"upper-case sha256", bin, strings.ToUpper(sum), sig, pub, nil},
		{"signed by digest", bin, sum, SignBinaryDigest(priv, sum), pub, nil},
		{"other bytes", []byte("a binarY"), sum, sig, pub, ErrBinaryChecksum},
		{"not hex", bin, "xyz", sig, pub, ErrBinaryChecksum},
		{"other key", bin, sum, sig, other, ErrBinarySignature},
		{"no signature", bin, sum, nil, pub, ErrBinarySignature},
		{"signature of the raw bytes", bin, sum, ed25519.Sign(priv, bin), pub, ErrBinarySignature},
		{"no key", bin, sum, sig, nil, ErrBinarySignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyBinary(tc.bin, tc.sum, tc.sig, tc.key)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("VerifyBinary = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBinarySignatureEncoding(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, sig := SignBinary(priv, []byte("x"))
	got, err := DecodeBinarySignature(EncodeBinarySignature(sig))
	if err != nil || string(got) != string(sig) {
		t.Fatalf("round trip: %x, %v", got, err)
	}
	if got, err := DecodeBinarySignature(""); got != nil || err != nil {
		t.Errorf("empty: %x, %v", got, err)
	}
	for _, bad := range []string{"!!", "AAEC", EncodeBinarySignature(append(sig, 0))} {
		if _, err := DecodeBinarySignature(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
