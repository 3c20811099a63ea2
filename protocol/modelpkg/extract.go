package modelpkg

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"

	"github.com/autocv/autocv/internal/atomicfile"
)

// extract streams the scanner's members into a temp directory beside dir
// and renames it to dir once all of them checked out. On error the temp
// directory is removed, so nothing is left behind.
func extract(s *scanner, dir string) (err error) {
	parent, base := filepath.Split(filepath.Clean(dir))
	if parent == "" {
		parent = "."
	}
	staging, err := os.MkdirTemp(parent, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("extract model package: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(staging)
		}
	}()
	// os.Root keeps every file operation inside staging, whatever a name
	// says; checkPath and the member name rules already refuse escapes.
	root, err := os.OpenRoot(staging)
	if err != nil {
		return fmt.Errorf("extract model package: %w", err)
	}
	defer root.Close()
	for {
		mem, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := writeMember(root, s, mem); err != nil {
			return err
		}
	}
	if err := root.Close(); err != nil {
		return fmt.Errorf("extract model package: %w", err)
	}
	if err := os.Chmod(staging, 0o755); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("extract model package: %w", err)
	}
	atomicfile.SyncDir(staging)
	if err := os.Rename(staging, dir); err != nil {
		return fmt.Errorf("extract model package: %w", err)
	}
	atomicfile.SyncDir(parent)
	return nil
}

// writeMember creates one member's file under root and copies it in.
func writeMember(root *os.Root, s *scanner, mem *Member) (err error) {
	if sub := path.Dir(mem.Name); sub != "." {
		if err := root.Mkdir(filepath.FromSlash(sub), 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("extract %s: %w", mem.Name, err)
		}
	}
	f, err := root.OpenFile(filepath.FromSlash(mem.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("extract %s: %w", mem.Name, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("extract %s: %w", mem.Name, cerr)
		}
	}()
	if err := s.copyTo(f, mem); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("extract %s: %w", mem.Name, err)
	}
	return nil
}
