package modelpkg

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/autocv/autocv/internal/atomicfile"
)

// Builder writes a model package. Fill in the fields and call Build or
// WriteFile; the trainer is the usual caller.
type Builder struct {
	// Manifest describes the model. Members is ignored and replaced by the
	// list Build computes; Schema 0 means SchemaVersion.
	Manifest Manifest
	// ModelPath is the exported model.onnx on disk (required). It is read
	// twice, to hash it and to copy it, and must not change meanwhile.
	ModelPath string
	// ModelDataPath is model.onnx.data, the ONNX external data file, when the
	// graph keeps its weights outside model.onnx. Empty when it does not.
	ModelDataPath string
	// Report is the content of report.json; nil leaves it out.
	Report []byte
	// Golden maps member names ("golden/0.jpg") to image bytes. The files
	// Manifest.Golden refers to must be here.
	Golden map[string][]byte
	// Key signs manifest.json when set. Nil writes an unsigned package, as
	// trainer workers do; the control plane signs it later with Resign.
	Key ed25519.PrivateKey
}

// source is one member's content: a file on disk or bytes in memory.
type source struct {
	name string
	path string
	data []byte
}

// Build writes the package to w and returns the manifest it wrote (with
// Members filled in). Members follow manifest.json and manifest.sig in
// this order: model.onnx, model.onnx.data, report.json, golden images by
// name. On error, what was written to w is not a valid package.
func (b *Builder) Build(w io.Writer) (*Manifest, error) {
	if b.Key != nil && len(b.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: signing key is %d bytes, want %d", ErrKey, len(b.Key), ed25519.PrivateKeySize)
	}
	if b.ModelPath == "" {
		return nil, fmt.Errorf("%w: Builder.ModelPath is empty; %s is required", ErrInvalid, ModelName)
	}
	sources := []source{{name: ModelName, path: b.ModelPath}}
	if b.ModelDataPath != "" {
		sources = append(sources, source{name: ModelDataName, path: b.ModelDataPath})
	}
	if b.Report != nil {
		sources = append(sources, source{name: ReportName, data: b.Report})
	}
	names := make([]string, 0, len(b.Golden))
	for name := range b.Golden {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sources = append(sources, source{name: name, data: b.Golden[name]})
	}

	m := b.Manifest
	if m.Schema == 0 {
		m.Schema = SchemaVersion
	}
	m.Members = make([]Member, 0, len(sources))
	for _, src := range sources {
		mem, err := src.member()
		if err != nil {
			return nil, err
		}
		m.Members = append(m.Members, mem)
	}
	manifestJSON, err := EncodeManifest(&m)
	if err != nil {
		return nil, err
	}

	aw := newArchiveWriter(w)
	if err := aw.bytes(ManifestName, manifestJSON); err != nil {
		return nil, err
	}
	if b.Key != nil {
		if err := aw.bytes(SignatureName, EncodeSignature(Sign(b.Key, manifestJSON))); err != nil {
			return nil, err
		}
	}
	for i, src := range sources {
		if err := src.copyTo(aw, m.Members[i]); err != nil {
			return nil, err
		}
	}
	if err := aw.close(); err != nil {
		return nil, err
	}
	return &m, nil
}

// WriteFile builds the package into path: a temp file in the same folder,
// synced, then renamed, so path never holds a partial package.
func (b *Builder) WriteFile(path string) (*Manifest, error) {
	var m *Manifest
	err := atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		var err error
		m, err = b.Build(w)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (s source) open() (io.ReadCloser, error) {
	if s.path == "" {
		return io.NopCloser(bytes.NewReader(s.data)), nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return f, nil
}

// member hashes the source.
func (s source) member() (Member, error) {
	rc, err := s.open()
	if err != nil {
		return Member{}, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return Member{}, fmt.Errorf("read %s: %w", s.name, err)
	}
	return Member{Name: s.name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// copyTo writes the source as the next entry, checking that it still has
// the size and hash it had when it was listed.
func (s source) copyTo(aw *archiveWriter, mem Member) error {
	rc, err := s.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := aw.header(mem.Name, mem.Size); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(aw, h), io.LimitReader(rc, mem.Size))
	if err != nil {
		return fmt.Errorf("write %s: %w", mem.Name, err)
	}
	if n != mem.Size || hex.EncodeToString(h.Sum(nil)) != mem.SHA256 {
		return fmt.Errorf("%w: %s changed while the package was being written", ErrHash, mem.Name)
	}
	return nil
}
