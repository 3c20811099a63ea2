package fleet

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Agent binary signatures.
//
// The control plane (or a release script) signs every agent binary it
// offers in a Desired's AgentTarget with the same ed25519 key that signs
// model packages; the agent got its public half at enrolment and installs
// only binaries that verify with it. The signature is over
// BinaryMessage(sha256): the bytes
//
//	autocv-agent-binary-v1\n<sha256 of the binary, lowercase hex>
//
// not over the binary itself, so a signer needs only the digest, and the
// prefix keeps a binary's signature from ever verifying as a model
// manifest's (signed by the same key) or anything else's. In an
// AgentTarget it travels as AgentTarget.Signature, standard base64 of the
// 64 signature bytes (EncodeBinarySignature).

// binaryMessagePrefix starts every signed binary message; a new layout
// gets a new prefix, never a changed one.
const binaryMessagePrefix = "autocv-agent-binary-v1\n"

// Sentinel errors of VerifyBinary; the wrapping error says what was wrong.
var (
	// ErrBinaryChecksum: the binary's sha256 is not the one given.
	ErrBinaryChecksum = errors.New("the agent binary's sha256 does not match")
	// ErrBinarySignature: the signature does not verify with the key.
	ErrBinarySignature = errors.New("the agent binary's signature does not verify")
)

// BinaryMessage is what the signature of an agent binary with this sha256
// (hex, either case) signs.
func BinaryMessage(sha256Hex string) []byte {
	return []byte(binaryMessagePrefix + strings.ToLower(sha256Hex))
}

// SignBinary returns the sha256 (lowercase hex) of binary and priv's
// signature of BinaryMessage of it.
func SignBinary(priv ed25519.PrivateKey, binary []byte) (sha256Hex string, sig []byte) {
	sum := sha256.Sum256(binary)
	sha256Hex = hex.EncodeToString(sum[:])
	return sha256Hex, SignBinaryDigest(priv, sha256Hex)
}

// SignBinaryDigest signs a binary known only by its sha256 (hex).
func SignBinaryDigest(priv ed25519.PrivateKey, sha256Hex string) []byte {
	return ed25519.Sign(priv, BinaryMessage(sha256Hex))
}

// VerifyBinary checks that binary has the sha256 sha256Hex and that sig is
// key's signature of BinaryMessage(sha256Hex). Errors wrap
// ErrBinaryChecksum or ErrBinarySignature.
func VerifyBinary(binary []byte, sha256Hex string, sig []byte, key ed25519.PublicKey) error {
	want, err := hex.DecodeString(sha256Hex)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("%w: %q is not a sha256 in hex", ErrBinaryChecksum, sha256Hex)
	}
	if sum := sha256.Sum256(binary); subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return fmt.Errorf("%w: it is %x, want %s (the download is incomplete or not the published binary)",
			ErrBinaryChecksum, sum, strings.ToLower(sha256Hex))
	}
	return VerifyBinaryDigest(sha256Hex, sig, key)
}

// VerifyBinaryDigest checks only the signature: that sig is key's
// signature of BinaryMessage(sha256Hex), for a binary whose sha256 was
// checked already (the agent's download store checks it). Errors wrap
// ErrBinarySignature.
func VerifyBinaryDigest(sha256Hex string, sig []byte, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the trusted key is %d bytes, want an ed25519 public key (%d bytes)",
			ErrBinarySignature, len(key), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(key, BinaryMessage(sha256Hex), sig) {
		return fmt.Errorf("%w: it was not signed by the trusted key (the agent only installs binaries its control plane signed)",
			ErrBinarySignature)
	}
	return nil
}

// EncodeBinarySignature is sig as AgentTarget.Signature carries it.
func EncodeBinarySignature(sig []byte) string { return base64.StdEncoding.EncodeToString(sig) }

// DecodeBinarySignature decodes AgentTarget.Signature; "" decodes to nil
// (an unsigned target, which agents refuse to install).
func DecodeBinarySignature(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("is not standard base64: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("is %d bytes, want an ed25519 signature (%d bytes)", len(sig), ed25519.SignatureSize)
	}
	return sig, nil
}
