package modelpkg

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadOptions says what Read trusts and where it puts the members.
type ReadOptions struct {
	// TrustedKeys are the public keys a package may be signed with. With
	// at least one, Read refuses a package whose manifest.sig is missing or
	// verifies with none of them (ErrSignature). With none, the signature
	// is not checked and Package.Signed is false: only for callers that
	// check it some other way or sign it themselves (the control plane
	// receiving a trainer's upload). The agent must always pass a key;
	// VerifyFile insists on one.
	TrustedKeys []ed25519.PublicKey
	// Dir is where the members are extracted: a directory that must not
	// exist yet (its parent must). Members are streamed into a temp
	// directory beside it while they are hashed, and it is renamed to Dir
	// only when the whole package checked out, so on any error nothing is
	// left behind. Empty Dir verifies the package without writing anything.
	Dir string
	// Limits bound member sizes; zero fields take the defaults.
	Limits Limits
}

// Package is a package that passed every check.
type Package struct {
	Manifest *Manifest
	// ManifestJSON is manifest.json exactly as signed.
	ManifestJSON []byte
	// Signature is the raw 64-byte signature from manifest.sig; nil when the
	// archive had none.
	Signature []byte
	// Signed is true only when Signature verified with a trusted key; a
	// package read without TrustedKeys is never Signed.
	Signed bool
	// KeyID names the trusted key that verified it (see KeyID); "" if none.
	KeyID string
	// Dir holds the extracted members; "" when read without ReadOptions.Dir.
	Dir string
}

// Read checks a package read from r and, when opts.Dir is set, extracts its
// members there. It refuses, with an error naming the entry and wrapping the
// matching sentinel: a corrupt, truncated or padded-with-data stream
// (ErrCorrupt); manifest.json missing or not first (ErrMissing); an invalid
// manifest (ErrSchema, ErrInvalid); a missing or bad signature when keys are
// given (ErrSignature); unsafe names and non-regular entries
// (ErrUnsafePath); entries the manifest does not list (ErrUnlisted);
// entries seen twice (ErrDuplicate); listed members absent (ErrMissing);
// members over the limits (ErrTooLarge); size or sha256 mismatches
// (ErrHash). With TrustedKeys the signature is checked before the manifest
// is parsed and before any member is written.
func Read(r io.Reader, opts ReadOptions) (*Package, error) {
	for i, k := range opts.TrustedKeys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ReadOptions.TrustedKeys[%d] is %d bytes, want %d",
				ErrKey, i, len(k), ed25519.PublicKeySize)
		}
	}
	if opts.Dir != "" {
		if _, err := os.Lstat(opts.Dir); err == nil {
			return nil, fmt.Errorf("extract model package: %s: %w", opts.Dir, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("extract model package: %w", err)
		}
	}
	s, err := newScanner(r, opts.Limits, opts.TrustedKeys)
	if err != nil {
		return nil, err
	}
	pkg := &Package{
		Manifest:     s.manifest,
		ManifestJSON: s.manifestJSON,
		Signature:    s.sig,
		Signed:       s.keyID != "",
		KeyID:        s.keyID,
	}
	if opts.Dir == "" {
		for {
			mem, err := s.next()
			if err == io.EOF {
				return pkg, nil
			}
			if err != nil {
				return nil, err
			}
			if err := s.copyTo(io.Discard, mem); err != nil {
				return nil, err
			}
		}
	}
	if err := extract(s, opts.Dir); err != nil {
		return nil, err
	}
	pkg.Dir = opts.Dir
	return pkg, nil
}

// ReadFile is Read on the file at path.
func ReadFile(path string, opts ReadOptions) (*Package, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkg, err := Read(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pkg, nil
}

// VerifyFile checks the package at path completely (every member hashed)
// without extracting it, and requires a signature by one of keys: with no
// key it fails with ErrSignature. Agents call it on a downloaded package.
func VerifyFile(path string, keys ...ed25519.PublicKey) (*Package, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w: no trusted key given", path, ErrSignature)
	}
	return ReadFile(path, ReadOptions{TrustedKeys: keys})
}

// Path returns where the listed member name was extracted, or "" when it is
// not listed or the package was read without a Dir.
func (p *Package) Path(name string) string {
	if p.Dir == "" {
		return ""
	}
	if _, ok := p.Manifest.Member(name); !ok {
		return ""
	}
	return filepath.Join(p.Dir, filepath.FromSlash(name))
}

// ModelPath returns the extracted model.onnx; model.onnx.data, when there
// is one, lies beside it, where onnxruntime looks for it.
func (p *Package) ModelPath() string { return p.Path(ModelName) }

// Golden returns the bytes of an extracted golden image, e.g. for
// Manifest.Golden[i].File.
func (p *Package) Golden(name string) ([]byte, error) {
	if !IsGoldenName(name) {
		return nil, fmt.Errorf("%w: %q is not a golden image name", ErrUnlisted, name)
	}
	return p.readMember(name)
}

// Report returns the extracted report.json.
func (p *Package) Report() ([]byte, error) { return p.readMember(ReportName) }

func (p *Package) readMember(name string) ([]byte, error) {
	if p.Dir == "" {
		return nil, fmt.Errorf("%w: %s: the package was read without extracting it (ReadOptions.Dir)", ErrMissing, name)
	}
	path := p.Path(name)
	if path == "" {
		return nil, fmt.Errorf("%w: %s is not in the package", ErrMissing, name)
	}
	return os.ReadFile(path)
}

// Remove deletes the extracted members (Dir); a no-op without one.
func (p *Package) Remove() error {
	if p.Dir == "" {
		return nil
	}
	return os.RemoveAll(p.Dir)
}
