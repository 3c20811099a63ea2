package backbone

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

func sharedDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.DataDir(t), "backbones")
}

func TestOpenBuiltins(t *testing.T) {
	for _, id := range BuiltinIDs() {
		t.Run(id, func(t *testing.T) {
			bb, err := Open(sharedDir(t), id)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Builtin(id)
			if bb.Descriptor != want || filepath.Base(bb.Path) != want.File || len(bb.Data) == 0 {
				t.Fatalf("got %+v at %s", bb.Descriptor, bb.Path)
			}
		})
	}
	t.Setenv(DirEnv, sharedDir(t))
	if _, err := Open("", MobileNetV2); err != nil {
		t.Fatalf("Open with %s: %v", DirEnv, err)
	}
	t.Setenv(DirEnv, "")
	if _, err := Open("", MobileNetV2); err == nil || !strings.Contains(err.Error(), DirEnv) {
		t.Fatalf("no folder: error %v does not name %s", err, DirEnv)
	}
}

// copyFile copies a shared backbone into dir under name (possibly changed).
func copyFile(t *testing.T, dir, from, to string, change func([]byte)) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedDir(t), from))
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(data)
	}
	if err := os.WriteFile(filepath.Join(dir, to), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestOpenChecksum(t *testing.T) {
	dir := t.TempDir()
	d, _ := Builtin(ShuffleNet)
	data := copyFile(t, dir, d.File, d.File, func(b []byte) { b[len(b)/2] ^= 1 })
	_, err := Open(dir, ShuffleNet)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("error %v is not ErrChecksum", err)
	}
	for _, w := range []string{filepath.Join(dir, d.File), d.SHA256, sum(data)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	if _, err := Open(t.TempDir(), ShuffleNet); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// custom writes <id>.onnx (from a shared backbone, or raw bytes) and its
// descriptor, edited by edit.
func custom(t *testing.T, dir, id string, data []byte, edit func(map[string]any)) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, id+".onnx"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	d, _ := Builtin(MobileNetV2)
	d.ID, d.File, d.SHA256 = id, id+".onnx", sum(data)
	b, _ := json.Marshal(d)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	b, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, DescriptorFile(id+".onnx")), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCustom(t *testing.T) {
	dir := t.TempDir()
	mb := copyFile(t, dir, "mobilenetv2-12-int8.onnx", "scratch.onnx", nil)
	custom(t, dir, "mine", mb, nil)
	bb, err := Open(dir, "mine")
	if err != nil {
		t.Fatal(err)
	}
	if bb.Descriptor.ID != "mine" || bb.Descriptor.Feature.Tensor != "472_quantized" {
		t.Fatalf("descriptor %+v", bb.Descriptor)
	}

	cases := []struct {
		name string
		data []byte
		edit func(map[string]any)
		is   error
		want []string
	}{
		{"unknown key", mb, func(m map[string]any) { m["mean"] = 0.5 }, ErrDescriptor, []string{`unknown field "mean"`, "mine.onnx.json"}},
		{"no sha256", mb, func(m map[string]any) { delete(m, "sha256") }, ErrDescriptor, []string{"sha256 is empty", sum(mb)}},
		{"wrong id", mb, func(m map[string]any) { m["id"] = "theirs" }, ErrDescriptor, []string{`"theirs"`}},
		{"no feature dim", mb, func(m map[string]any) { m["feature"].(map[string]any)["dim"] = 0 }, ErrDescriptor, []string{"feature.dim 0"}},
		{"missing feature tensor", mb, func(m map[string]any) { m["feature"].(map[string]any)["tensor"] = "pooled" }, ErrNoFeature, []string{`"pooled"`, "mine.onnx"}},
		{"not ONNX", []byte("GIF89a not a model at all"), nil, ErrNotONNX, []string{"mine.onnx is not an ONNX model"}},
		{"bad preprocessing", mb, func(m map[string]any) { m["preprocess"].(map[string]any)["layout"] = "CHW" }, ErrDescriptor, []string{"layout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			custom(t, dir, "mine", tc.data, tc.edit)
			_, err := Open(dir, "mine")
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := Open(dir, "unknown"); !errors.Is(err, ErrDescriptor) || !strings.Contains(err.Error(), MobileNetV2) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := Open(dir, "../mine"); !errors.Is(err, ErrDescriptor) {
		t.Errorf("path as id: %v", err)
	}
}

func TestDecodeDescriptorTrailingData(t *testing.T) {
	d, _ := Builtin(ShuffleNet)
	b, _ := json.Marshal(d)
	if _, err := DecodeDescriptor(b); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeDescriptor(append(b, []byte(`{}`)...)); !errors.Is(err, ErrDescriptor) {
		t.Fatalf("trailing object: %v", err)
	}
}
