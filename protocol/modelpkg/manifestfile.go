package modelpkg

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// maxManifest bounds the manifest.json ReadManifestFile reads.
const maxManifest = 16 << 20

// ReadManifestFile reads manifest.json, the first member of the package
// file at path, without reading the rest. With wantSHA set (lowercase hex,
// as a plugin reports it after verifying the package) the manifest must
// have that sha256: the file may have been replaced since it was loaded.
// It does not verify the signature; the loader that reported wantSHA did.
func ReadManifestFile(path, wantSHA string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if h.Name != ManifestName {
		return nil, fmt.Errorf("%s: first member is %q, want %s", path, h.Name, ManifestName)
	}
	data, err := io.ReadAll(io.LimitReader(tr, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxManifest {
		return nil, fmt.Errorf("%s: %s is over %d bytes", path, ManifestName, maxManifest)
	}
	if sum := sha256.Sum256(data); wantSHA != "" && hex.EncodeToString(sum[:]) != wantSHA {
		return nil, fmt.Errorf("%s: the package file changed since the model was loaded (manifest sha256 %x, loaded %s)",
			path, sum[:6], wantSHA[:min(12, len(wantSHA))])
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
