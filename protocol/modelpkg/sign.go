package modelpkg

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

// Sign signs the exact bytes of manifest.json and returns the raw 64-byte
// ed25519 signature. Write it into manifest.sig with EncodeSignature. It
// panics if priv is not ed25519.PrivateKeySize bytes long, like
// ed25519.Sign; Builder and Resign check the key first and return ErrKey.
func Sign(priv ed25519.PrivateKey, manifestJSON []byte) []byte {
	return ed25519.Sign(priv, manifestJSON)
}

// Verify checks a raw 64-byte signature (DecodeSignature turns manifest.sig
// into one) over the exact bytes of manifest.json. Any failure, including a
// key or signature of the wrong length, wraps ErrSignature.
func Verify(pub ed25519.PublicKey, manifestJSON, sig []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrSignature, len(pub), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrSignature, len(sig), ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, manifestJSON, sig) {
		return fmt.Errorf("%w: manifest.json is not signed by key %s", ErrSignature, KeyID(pub))
	}
	return nil
}

// EncodeSignature returns the content of manifest.sig for a raw signature:
// standard base64 (with padding) on one line, ending in a newline. Text
// rather than raw bytes so that operators can cat, diff and paste it.
func EncodeSignature(sig []byte) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sig))+1)
	base64.StdEncoding.Encode(out, sig)
	out[len(out)-1] = '\n'
	return out
}

// DecodeSignature parses the content of manifest.sig: standard base64 of
// exactly 64 bytes, surrounding ASCII whitespace ignored. Errors wrap
// ErrSignature.
func DecodeSignature(data []byte) ([]byte, error) {
	text := bytes.TrimSpace(data)
	sig := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(sig, text)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest.sig is not base64: %v", ErrSignature, err)
	}
	if n != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: manifest.sig holds %d bytes, want %d", ErrSignature, n, ed25519.SignatureSize)
	}
	return sig[:n], nil
}
