package modelpkg

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"time"
)

// archiveTime is the modification time of every entry a writer emits, so
// that the same inputs give the same bytes.
var archiveTime = time.Unix(0, 0)

// archiveWriter writes the canonical form of a package archive: gzip (no
// name, no mtime) around a tar of regular files, mode 0644, owned by 0:0
// with no owner names, all dated archiveTime.
type archiveWriter struct {
	gz *gzip.Writer
	tw *tar.Writer
}

func newArchiveWriter(w io.Writer) *archiveWriter {
	gz := gzip.NewWriter(w)
	return &archiveWriter{gz: gz, tw: tar.NewWriter(gz)}
}

// header starts an entry of the given size; its content follows through w.
func (a *archiveWriter) header(name string, size int64) error {
	err := a.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  archiveTime,
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func (a *archiveWriter) bytes(name string, data []byte) error {
	if err := a.header(name, int64(len(data))); err != nil {
		return err
	}
	if _, err := a.tw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Write lets a member's content be copied into the current entry.
func (a *archiveWriter) Write(p []byte) (int, error) { return a.tw.Write(p) }

func (a *archiveWriter) close() error {
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	if err := a.gz.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	return nil
}
