package modelpkg

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"

	"github.com/autocv/autocv/internal/atomicfile"
)

// Resign copies the package from r to w with manifest.sig added, or
// replaced, by a signature with priv. manifest.json and every member keep
// their bytes (the archive is rewritten in Builder's canonical form, so
// resigning a Builder package gives exactly what Builder would have written
// with the key). The old signature is not checked, but every member is
// verified against the manifest while it is copied, so a package whose
// members do not match is never signed. The control plane calls it on
// packages trainer workers upload. On error, w holds no valid package.
func Resign(r io.Reader, w io.Writer, priv ed25519.PrivateKey, lim Limits) (*Manifest, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: signing key is %d bytes, want %d", ErrKey, len(priv), ed25519.PrivateKeySize)
	}
	s, err := newScanner(r, lim, nil)
	if err != nil {
		return nil, err
	}
	aw := newArchiveWriter(w)
	if err := aw.bytes(ManifestName, s.manifestJSON); err != nil {
		return nil, err
	}
	if err := aw.bytes(SignatureName, EncodeSignature(Sign(priv, s.manifestJSON))); err != nil {
		return nil, err
	}
	for {
		mem, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := aw.header(mem.Name, mem.Size); err != nil {
			return nil, err
		}
		if err := s.copyTo(aw, mem); err != nil {
			return nil, err
		}
	}
	if err := aw.close(); err != nil {
		return nil, err
	}
	return s.manifest, nil
}

// ResignFile resigns the package at path in place: the signed copy goes to
// a temp file beside it, synced, and is renamed over path.
func ResignFile(path string, priv ed25519.PrivateKey, lim Limits) (*Manifest, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var m *Manifest
	err = atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		var err error
		m, err = Resign(in, w, priv, lim)
		in.Close() // before the rename: Windows cannot replace an open file
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("resign %s: %w", path, err)
	}
	return m, nil
}
