package onnx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// extracted is a verified package unpacked into a private folder.
type extracted struct {
	manifest       *modelpkg.Manifest
	dir            string // private temp folder, removed with the model
	members        string // extracted members, inside dir
	modelPath      string
	manifestSHA256 string
}

// openPackage verifies the requested package (signature by a trusted key
// unless AllowUnsigned, every member's hash) and extracts it into a fresh
// temporary folder that the model owns.
func openPackage(req inference.LoadRequest) (*extracted, error) {
	var keys []ed25519.PublicKey
	for i, pemKey := range req.TrustedKeys {
		k, err := modelpkg.ParsePublicKey(pemKey)
		if err != nil {
			return nil, fmt.Errorf("%w: trusted key %d: %v", inference.ErrBadRequest, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 && !req.AllowUnsigned {
		return nil, fmt.Errorf("%w: no trusted key given: the package's signature cannot be checked", inference.ErrBadRequest)
	}
	var r io.Reader
	switch {
	case req.PackagePath != "" && len(req.PackageBytes) > 0:
		return nil, fmt.Errorf("%w: give a package path or package bytes, not both", inference.ErrBadRequest)
	case req.PackagePath != "":
		f, err := os.Open(req.PackagePath)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", inference.ErrBadRequest, err)
		}
		defer f.Close()
		r = f
	case len(req.PackageBytes) > 0:
		r = bytes.NewReader(req.PackageBytes)
	default:
		return nil, fmt.Errorf("%w: no package given", inference.ErrBadRequest)
	}
	parent, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tempPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(parent, "pkg")
	pkg, err := modelpkg.Read(r, modelpkg.ReadOptions{TrustedKeys: keys, Dir: dir})
	if err != nil {
		os.RemoveAll(parent)
		name := req.PackagePath
		if name == "" {
			name = "package"
		}
		return nil, fmt.Errorf("%w: %s: %v", inference.ErrBadPackage, name, err)
	}
	sum := sha256.Sum256(pkg.ManifestJSON)
	return &extracted{
		manifest:       pkg.Manifest,
		dir:            parent,
		members:        pkg.Dir,
		modelPath:      pkg.ModelPath(),
		manifestSHA256: hex.EncodeToString(sum[:]),
	}, nil
}

// tempPrefix starts the name of every folder a plugin extracts a package
// into; the plugin's pid follows, so a new plugin can tell the folders of
// dead ones (a crash, a kill -9) from those of live ones and remove them.
const tempPrefix = "autocv-model-"

// sweepStale removes extracted packages left behind by plugin processes
// that are no longer running.
func sweepStale() {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
	}
}
