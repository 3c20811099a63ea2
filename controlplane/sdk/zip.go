package sdk

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"time"
)

// Model is the signed package an SDK serves.
type Model struct {
	ID        string // model id, for the zip's folder name
	Version   int
	Package   string // path of package.tar.gz
	PublicKey []byte // PEM of the key that signed it
}

// Options describe one SDK zip.
type Options struct {
	Platform   Platform
	RuntimeDir string // holds Platform.RuntimeFiles()
	Model      Model
	// Modified is every entry's mtime; zero means SourceDate().
	Modified time.Time
}

// Root is the folder every entry of the SDK zip sits in.
func (o Options) Root() string {
	return fmt.Sprintf("autocv-sdk-%s-v%d-%s/", o.Model.ID, o.Model.Version, o.Platform.Name)
}

// Write writes the SDK zip to w.
func Write(w io.Writer, o Options) error {
	p := o.Platform
	if o.Model.Package == "" || len(o.Model.PublicKey) == 0 {
		return fmt.Errorf("sdk: a package and its public key are needed")
	}
	z := newZip(w, o.Root(), o.Modified)
	for _, f := range p.RuntimeFiles() {
		z.file(f, filepath.Join(o.RuntimeDir, f), 0o755)
	}
	z.file("package.tar.gz", o.Model.Package, 0o644)
	z.bytes("signing.pub", o.Model.PublicKey, 0o644)
	z.bytes(p.Start, []byte(StartScript(p)), 0o755)
	z.bytes("README.txt", []byte(Readme(p)), 0o644)
	return z.close()
}

// WriteRuntime writes the runtime set of p (agent, plugin, onnxruntime)
// from dir as a zip under root/: what `make dist` ships for servers that
// build SDKs, unpacked into <runtimes>/<platform>/.
func WriteRuntime(w io.Writer, p Platform, dir, root string, modified time.Time) error {
	z := newZip(w, root, modified)
	for _, f := range p.RuntimeFiles() {
		z.file(f, filepath.Join(dir, f), 0o755)
	}
	return z.close()
}

// SourceDate is the build's source date: SOURCE_DATE_EPOCH when set, else
// the commit time Go stamped into this binary (vcs.time), else 1980-01-01,
// the earliest time a zip holds.
func SourceDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t.UTC()
				}
			}
		}
	}
	return time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
}

// zipWriter collects entries and writes them sorted by name on close, so
// the same inputs give the same bytes.
type zipWriter struct {
	zw      *zip.Writer
	root    string
	mtime   time.Time
	entries []entry
}

type entry struct {
	name string
	mode os.FileMode
	path string // a file to copy, or
	body []byte // the bytes themselves
}

func newZip(w io.Writer, root string, mtime time.Time) *zipWriter {
	if mtime.IsZero() {
		mtime = SourceDate()
	}
	return &zipWriter{zw: zip.NewWriter(w), root: root, mtime: mtime.UTC().Truncate(2 * time.Second)}
}

func (z *zipWriter) file(name, path string, mode os.FileMode) {
	z.entries = append(z.entries, entry{name: name, path: path, mode: mode})
}

func (z *zipWriter) bytes(name string, body []byte, mode os.FileMode) {
	z.entries = append(z.entries, entry{name: name, body: body, mode: mode})
}

func (z *zipWriter) close() error {
	sort.Slice(z.entries, func(i, j int) bool { return z.entries[i].name < z.entries[j].name })
	for _, e := range z.entries {
		if err := z.write(e); err != nil {
			return fmt.Errorf("sdk: %s: %w", e.name, err)
		}
	}
	return z.zw.Close()
}

func (z *zipWriter) write(e entry) error {
	h := &zip.FileHeader{Name: z.root + e.name, Method: zip.Deflate, Modified: z.mtime}
	h.SetMode(e.mode)
	w, err := z.zw.CreateHeader(h)
	if err != nil {
		return err
	}
	if e.path == "" {
		_, err = w.Write(e.body)
		return err
	}
	f, err := os.Open(e.path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
