package backbones

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/autocv/autocv/internal/atomicfile"
)

// Options says where Fetch puts the files and where it may take them from.
type Options struct {
	Dest string // folder the files land in; made when missing
	// From, when set, is the only source: a folder or an archive (.tar,
	// .tar.gz, .tgz, .zip) holding the files under their names (in any
	// sub-folder). No network is used.
	From string
	// Mirror is a folder tried when a download fails (e.g.
	// ../shared/data/backbones offline); "" for none.
	Mirror string
	Files  []File       // default Pinned
	Client *http.Client // default: 30 s to connect and to the first byte, 10 min in all
	Log    func(string) // progress lines; default none
}

// ErrOffline wraps a failure to download when no other source had the
// file; its message says how to fetch offline.
var ErrOffline = errors.New("backbones could not be fetched")

// Fetch makes opt.Dest hold every file at its pin. Files already there and
// intact are kept; each missing or different one is fetched, checked and
// renamed into place (a wrong size or sha256 is refused and removed).
func Fetch(ctx context.Context, opt Options) error {
	if opt.Files == nil {
		opt.Files = Pinned
	}
	if opt.Client == nil {
		opt.Client = defaultClient()
	}
	if opt.Log == nil {
		opt.Log = func(string) {}
	}
	if err := os.MkdirAll(opt.Dest, 0o755); err != nil {
		return fmt.Errorf("backbone folder: %w", err)
	}
	var src source
	if opt.From != "" {
		var err error
		if src, err = openSource(opt.From); err != nil {
			return err
		}
		defer src.Close()
	}
	var netErr error // after one download failed, the rest go to the mirror
	for _, f := range opt.Files {
		dest := filepath.Join(opt.Dest, f.Name)
		if intact(dest, f) {
			continue
		}
		if src != nil {
			if err := copyPinned(dest, f, opt.From, func() (io.ReadCloser, error) { return src.Open(f.Name) }); err != nil {
				return err
			}
			opt.Log(fmt.Sprintf("%s: copied from %s", f.Name, opt.From))
			continue
		}
		why := "the network failed before"
		if netErr == nil {
			opt.Log(fmt.Sprintf("%s: fetching %s from %s", f.Name, size(f.Size), f.URL))
			err := copyPinned(dest, f, f.URL, func() (io.ReadCloser, error) { return get(ctx, opt.Client, f.URL) })
			if err == nil {
				continue
			}
			var pe *pinMismatch
			if errors.As(err, &pe) || ctx.Err() != nil {
				return err // the source answered with other bytes: no fallback hides that
			}
			netErr = err
			why = fmt.Sprintf("download failed: %v", err)
		}
		mirror := filepath.Join(opt.Mirror, f.Name)
		if opt.Mirror == "" || !regular(mirror) {
			return fmt.Errorf("%w: %v\noffline, set AUTOCV_BACKBONES_FROM to a folder or archive (.tar.gz, .zip) holding %s and run `make deps` again (or `autocv-trainer fetch-backbones --from PATH`)",
				ErrOffline, netErr, strings.Join(Names(opt.Files), ", "))
		}
		if err := copyPinned(dest, f, mirror, func() (io.ReadCloser, error) { return os.Open(mirror) }); err != nil {
			return err
		}
		opt.Log(fmt.Sprintf("%s: copied from %s instead (%s)", f.Name, opt.Mirror, why))
	}
	return nil
}

// size is a byte count for people: "3.7 MB", "10 kB".
func size(n int64) string {
	if n >= 1e6 {
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d kB", (n+999)/1000)
}

func defaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr, Timeout: 10 * time.Minute}
}

// get starts a download; any answer but 200 is an error naming the URL.
func get(ctx context.Context, c *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err // *url.Error names the URL
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Body, nil
}

// pinMismatch is a source whose bytes differ from the pin.
type pinMismatch struct{ err error }

func (e *pinMismatch) Error() string { return e.err.Error() }

// copyPinned writes what open gives to dest through a temp file, keeping it
// only when its size and sha256 match f. what names the source in errors.
func copyPinned(dest string, f File, what string, open func() (io.ReadCloser, error)) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	return atomicfile.WriteFunc(dest, 0o644, func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, f.Size+1))
		if err != nil {
			return fmt.Errorf("%s: %w (nothing was written)", what, err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
			return &pinMismatch{pinError(what, f, n, sum)}
		}
		return nil
	})
}

// intact reports whether path holds f's exact bytes.
func intact(path string, f File) bool {
	r, err := os.Open(path)
	if err != nil {
		return false
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, f.Size+1))
	return err == nil && n == f.Size && hex.EncodeToString(h.Sum(nil)) == f.SHA256
}

func regular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// source is an offline source of files by name.
type source interface {
	Open(name string) (io.ReadCloser, error)
	Close() error
}

// openSource opens a folder or an archive.
func openSource(p string) (source, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("backbone source: %w", err)
	}
	lower := strings.ToLower(p)
	switch {
	case st.IsDir():
		return dirSource(p), nil
	case strings.HasSuffix(lower, ".zip"):
		z, err := zip.OpenReader(p)
		if err != nil {
			return nil, fmt.Errorf("backbone source %s: %w", p, err)
		}
		return zipSource{p, z}, nil
	case strings.HasSuffix(lower, ".tar"), strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		return tarSource(p), nil
	}
	return nil, fmt.Errorf("backbone source %s: want a folder or a .tar, .tar.gz, .tgz or .zip archive", p)
}

type dirSource string

func (d dirSource) Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(string(d), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("backbone source %s has no %s", string(d), name)
	}
	return f, err
}
func (dirSource) Close() error { return nil }

type zipSource struct {
	path string
	z    *zip.ReadCloser
}

func (s zipSource) Open(name string) (io.ReadCloser, error) {
	for _, f := range s.z.File {
		if path.Base(f.Name) == name && !f.FileInfo().IsDir() {
			return f.Open()
		}
	}
	return nil, fmt.Errorf("backbone archive %s has no %s", s.path, name)
}
func (s zipSource) Close() error { return s.z.Close() }

// tarSource reads the archive once per file: three small files.
type tarSource string

func (t tarSource) Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(string(t))
	if err != nil {
		return nil, err
	}
	var r io.Reader = f
	if !strings.HasSuffix(strings.ToLower(string(t)), ".tar") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("backbone archive %s: %w", string(t), err)
		}
		r = gz
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			f.Close()
			return nil, fmt.Errorf("backbone archive %s has no %s", string(t), name)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("backbone archive %s: %w", string(t), err)
		}
		if h.Typeflag == tar.TypeReg && path.Base(h.Name) == name {
			return struct {
				io.Reader
				io.Closer
			}{tr, f}, nil
		}
	}
}
func (tarSource) Close() error { return nil }
