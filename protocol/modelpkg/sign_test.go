package modelpkg

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, priv := testKey()
	otherPub, _ := otherKey()
	msg := []byte(`{"schema": 1}` + "\n")
	sig := Sign(priv, msg)
	if err := Verify(pub, msg, sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	flipped := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name          string
		pub           ed25519.PublicKey
		msg, sig      []byte
		wantInMessage string
	}{
		{"wrong key", otherPub, msg, sig, KeyID(otherPub)},
		{"flipped manifest byte", pub, flipped(msg, 3), sig, "not signed"},
		{"flipped signature byte", pub, msg, flipped(sig, 63), "not signed"},
		{"short signature", pub, msg, sig[:63], "63 bytes"},
		{"short key", pub[:31], msg, sig, "31 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.pub, tc.msg, tc.sig)
			if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), tc.wantInMessage) {
				t.Fatalf("Verify = %v, want ErrSignature mentioning %q", err, tc.wantInMessage)
			}
		})
	}
}

func TestSignatureEncoding(t *testing.T) {
	_, priv := testKey()
	sig := Sign(priv, []byte("m"))
	enc := EncodeSignature(sig)
	if !regexp.MustCompile(`^[A-Za-z0-9+/]{86}==\n$`).Match(enc) {
		t.Errorf("EncodeSignature = %q, want one line of std base64", enc)
	}
	for _, in := range [][]byte{enc, bytes.TrimSpace(enc), append([]byte("  "), append(bytes.TrimSpace(enc), "\r\n"...)...)} {
		got, err := DecodeSignature(in)
		if err != nil || !bytes.Equal(got, sig) {
			t.Errorf("DecodeSignature(%q) = %x, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "!!!!", "AAAA", string(enc[:80]), strings.ReplaceAll(string(enc), "+", "-")} {
		if _, err := DecodeSignature([]byte(bad)); !errors.Is(err, ErrSignature) {
			t.Errorf("DecodeSignature(%q) err = %v, want ErrSignature", bad, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.pub")
	if err := WritePrivateKey(privPath, priv); err != nil {
		t.Fatal(err)
	}
	if err := WritePublicKey(pubPath, pub); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(privPath); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("private key mode = %v, %v; want 0600", fi.Mode(), err)
		}
	}
	gotPriv, err := ReadPrivateKey(privPath)
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("ReadPrivateKey = %v", err)
	}
	gotPub, err := ReadPublicKey(pubPath)
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("ReadPublicKey = %v", err)
	}
	if data, _ := os.ReadFile(pubPath); !strings.HasPrefix(string(data), "-----BEGIN PUBLIC KEY-----\n") {
		t.Errorf("public key file:\n%s", data)
	}
	if err := WritePrivateKey(privPath, priv); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwriting a private key: err = %v, want fs.ErrExist", err)
	}
	if err := WritePublicKey(pubPath, pub); err != nil {
		t.Errorf("rewriting a public key: %v", err)
	}
	if left := listTree(t, dir); len(left) != 2 {
		t.Errorf("files in key dir: %v, want the two keys only", left)
	}

	// The wrong file for the reader, garbage and bad lengths all say ErrKey.
	if _, err := ReadPublicKey(privPath); !errors.Is(err, ErrKey) {
		t.Errorf("ReadPublicKey(private key file) = %v, want ErrKey", err)
	}
	if _, err := ReadPrivateKey(pubPath); !errors.Is(err, ErrKey) {
		t.Errorf("ReadPrivateKey(public key file) = %v, want ErrKey", err)
	}
	garbage := filepath.Join(dir, "garbage")
	writeFile(t, garbage, []byte("hello"))
	if _, err := ReadPublicKey(garbage); !errors.Is(err, ErrKey) {
		t.Errorf("ReadPublicKey(garbage) = %v, want ErrKey", err)
	}
	if _, err := MarshalPublicKey(pub[:3]); !errors.Is(err, ErrKey) {
		t.Errorf("MarshalPublicKey(short) = %v, want ErrKey", err)
	}
	if err := WritePrivateKey(filepath.Join(dir, "short"), priv[:10]); !errors.Is(err, ErrKey) {
		t.Errorf("WritePrivateKey(short) = %v, want ErrKey", err)
	}
}

func TestKeyID(t *testing.T) {
	pub, _ := testKey()
	otherPub, _ := otherKey()
	id := KeyID(pub)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) || id != KeyID(bytes.Clone(pub)) || id == KeyID(otherPub) {
		t.Errorf("KeyID = %q (other key %q)", id, KeyID(otherPub))
	}
}
