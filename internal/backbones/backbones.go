// Package backbones fetches the trainer's pretrained backbones (two ONNX
// Model Zoo classifiers and the ImageNet class names) into a folder, each
// file pinned by size and sha256: from their canonical public URLs, from a
// folder or archive given for offline machines, or, when the network
// fails, from a local mirror folder. A file lands under its name only once
// it matched its pin; nothing half-written stays. `make deps` and
// `autocv-trainer fetch-backbones` use it.
package backbones

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is one pinned file.
type File struct {
	Name   string
	Size   int64
	SHA256 string
	URL    string // canonical public source
}

// The canonical sources: the ONNX Model Zoo's Git LFS files at a fixed
// commit (served by media.githubusercontent.com, which resolves LFS
// pointers) and pytorch/hub's class list at a fixed commit.
const (
	onnxModels = "https://media.githubusercontent.com/media/onnx/models/b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d/validated/vision/classification/"
	pytorchHub = "https://raw.githubusercontent.com/pytorch/hub/c7895df70c7767403e36f82786d6b611b7984557/"
)

// Pinned lists the files the trainer needs (sizes and sha256 as in
// ../shared/data/backbones/README.md; the models' hashes are those of the
// zoo's LFS pointers).
var Pinned = []File{
	{Name: "mobilenetv2-12-int8.onnx", Size: 3655033,
		SHA256: "cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f",
		URL:    onnxModels + "mobilenet/model/mobilenetv2-12-int8.onnx"},
	{Name: "shufflenet-v2-12-qdq.onnx", Size: 2415805,
		SHA256: "7c536d02e2f6af9569e5f3c7a4d8282060072119524c93c8da71e63876b4722b",
		URL:    onnxModels + "shufflenet/model/shufflenet-v2-12-qdq.onnx"},
	{Name: "imagenet_classes.txt", Size: 10472,
		SHA256: "1f386e0d1cb6e28b9c2dac651c3dea6801e98ad1b41a14ce6bb1a093d72069f5",
		URL:    pytorchHub + "imagenet_classes.txt"},
}

// Names returns the files' names, for messages.
func Names(files []File) []string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	return names
}

// Complete reports whether dir holds every file at its pinned size (the
// trainer checks each model's sha256 when it opens it).
func Complete(dir string, files []File) bool {
	if dir == "" {
		return false
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || !st.Mode().IsRegular() || st.Size() != f.Size {
			return false
		}
	}
	return true
}

// pinError says how a file's bytes differ from its pin.
func pinError(src string, f File, size int64, sum string) error {
	if size != f.Size {
		return fmt.Errorf("%s: %s is %d bytes, want %d; refusing it (nothing was written)", src, f.Name, size, f.Size)
	}
	return fmt.Errorf("%s: %s has sha256 %s, want %s; refusing it (nothing was written)", src, f.Name, sum, f.SHA256)
}
