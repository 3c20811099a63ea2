package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// copyPhotos copies the first n files (sorted by name; all for n < 0) of
// src into dst. Tests never write into the shared data.
func copyPhotos(t *testing.T, src, dst string, n int) {
	t.Helper()
	names := photoNames(t, src)
	if n >= 0 {
		names = names[:n]
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dst, name), b)
	}
}

func photoNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func firstName(t *testing.T, dir string) string { return photoNames(t, dir)[0] }

func firstPhoto(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, firstName(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
