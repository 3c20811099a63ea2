package backbone

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DirEnv names the environment variable holding the backbone folder.
const DirEnv = "AUTOCV_BACKBONES"

// Backbone is a backbone read from disk and checked against its descriptor.
type Backbone struct {
	Descriptor Descriptor
	Path       string // the .onnx file
	Data       []byte // its bytes, sha256-checked and parsed once
}

// Open reads backbone id from dir (dir "" means $AUTOCV_BACKBONES).
//
// A built-in id uses its built-in descriptor and its pinned sha256. Any other
// id needs the model <dir>/<id>.onnx and beside it <dir>/<id>.onnx.json, a
// Descriptor as JSON (unknown keys are an error) whose id matches and whose
// sha256 pins the model. Either way the file's sha256 is checked and the
// model must have the input and feature tensor the descriptor names.
func Open(dir, id string) (*Backbone, error) {
	if dir == "" {
		dir = os.Getenv(DirEnv)
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: backbone %q: no backbone folder: run `make deps` or `autocv-trainer fetch-backbones`, or set %s", ErrMissing, id, DirEnv)
	}
	d, ok := Builtin(id)
	if !ok {
		var err error
		if d, err = readDescriptor(dir, id); err != nil {
			return nil, err
		}
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, d.File)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: backbone %q: %w: run `make deps` or `autocv-trainer fetch-backbones`, or set %s to a folder holding it",
			ErrMissing, id, err, DirEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("backbone %q: %w", id, err)
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if d.SHA256 == "" {
		return nil, fmt.Errorf("%w: %s: sha256 is empty; pin the model file: %s has sha256 %s",
			ErrDescriptor, filepath.Join(dir, DescriptorFile(d.File)), path, got)
	}
	if got != strings.ToLower(d.SHA256) {
		return nil, fmt.Errorf("%w: %s has sha256 %s, expected %s (a damaged or different file; replace it with the pinned one)",
			ErrChecksum, path, got, d.SHA256)
	}
	m, err := ParseModel(path, data)
	if err != nil {
		return nil, err
	}
	if err := d.CheckModel(path, m); err != nil {
		return nil, err
	}
	return &Backbone{Descriptor: d, Path: path, Data: data}, nil
}

// DescriptorFile is the name of the descriptor beside a model file.
func DescriptorFile(modelFile string) string { return modelFile + ".json" }

// readDescriptor reads <dir>/<id>.onnx.json for a backbone that is not
// built in.
func readDescriptor(dir, id string) (Descriptor, error) {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
		return Descriptor{}, fmt.Errorf("%w: backbone id %q is not a plain name", ErrDescriptor, id)
	}
	path := filepath.Join(dir, DescriptorFile(id+".onnx"))
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Descriptor{}, fmt.Errorf("%w: unknown backbone %q: not built in (%s) and no descriptor %s",
			ErrDescriptor, id, strings.Join(BuiltinIDs(), ", "), path)
	}
	if err != nil {
		return Descriptor{}, err
	}
	d, err := DecodeDescriptor(data)
	if err != nil {
		return Descriptor{}, fmt.Errorf("%s: %w", path, err)
	}
	if d.ID != id || d.File != id+".onnx" {
		return Descriptor{}, fmt.Errorf("%w: %s: id %q and file %q, want %q and %q", ErrDescriptor, path, d.ID, d.File, id, id+".onnx")
	}
	return d, nil
}

// DecodeDescriptor decodes one JSON descriptor strictly: unknown keys and
// trailing data are errors. The file defaults to <id>.onnx.
func DecodeDescriptor(data []byte) (Descriptor, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Descriptor
	if err := dec.Decode(&d); err != nil {
		return Descriptor{}, fmt.Errorf("%w: %v", ErrDescriptor, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Descriptor{}, fmt.Errorf("%w: data after the JSON object", ErrDescriptor)
	}
	if d.File == "" {
		d.File = d.ID + ".onnx"
	}
	if filepath.Base(d.File) != d.File {
		return Descriptor{}, fmt.Errorf("%w: file %q must be a plain name in the backbone folder", ErrDescriptor, d.File)
	}
	return d, d.Validate()
}
