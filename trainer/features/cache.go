package features

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
)

// ErrCorrupt marks a cache entry that is damaged (short, bad header or
// checksum); the caller recomputes it and Store overwrites it.
var ErrCorrupt = errors.New("feature cache entry corrupt")

// Cache stores features on disk, content-addressed. One file holds every
// view computed so far of one image under one backbone namespace:
//
//	<dir>/<namespace>/<sha256[:2]>/<sha256>.f32
//
// so a lookup of all of an image's views is one small read. The file is
// little-endian:
//
//	"ACVF"  u16 version (1)  u16 views  u32 dim
//	per view: u8 name length, name
//	views × dim float32, in the order of the names
//	u32 CRC-32C of everything before it
//
// Files are written to a temporary name in the same folder and renamed
// over the old one, so readers (other goroutines, other trainer processes
// on the machine) see the old file or the new one, never a mix. They are
// not fsynced: after a crash a file may be short or zero, which the
// checksum catches and the next run recomputes. Two processes adding
// different views to one file at once may lose one's addition; it is
// recomputed next time. Cache is safe for concurrent use.
type Cache struct {
	dir   string
	locks [64]sync.Mutex // striped by file, serialising read-merge-write in this process
}

// DefaultCacheDir is <user cache dir>/autocv/features, e.g.
// ~/.cache/autocv/features on Linux, %LocalAppData%\autocv\features on Windows.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("features: no user cache folder (choose one explicitly): %w", err)
	}
	return filepath.Join(d, "autocv", "features"), nil
}

// OpenCache opens (creating it if needed) a cache in dir; "" means
// DefaultCacheDir.
func OpenCache(dir string) (*Cache, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("features: cache folder: %w", err)
	}
	return &Cache{dir: dir}, nil
}

// Dir returns the cache's folder.
func (c *Cache) Dir() string { return c.dir }

const (
	magic     = "ACVF"
	version   = 1
	headerLen = 12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// path is the file of one image under one namespace. A namespace that is
// not a plain file name is sanitised and tagged with a hash of the
// original, so distinct namespaces never share a folder.
func (c *Cache) path(namespace, sum string) (string, error) {
	if len(sum) != 64 || strings.ToLower(sum) != sum {
		return "", fmt.Errorf("features: cache key %q is not a lower-case hex sha256", sum)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", fmt.Errorf("features: cache key %q is not a lower-case hex sha256", sum)
	}
	ns := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, namespace)
	if ns != namespace || ns == "" || strings.Trim(ns, ".") == "" {
		h := sha256.Sum256([]byte(namespace))
		ns += "-" + hex.EncodeToString(h[:4])
	}
	return filepath.Join(c.dir, ns, sum[:2], sum+".f32"), nil
}

func (c *Cache) lock(p string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(p))
	return &c.locks[h.Sum32()%uint32(len(c.locks))]
}

// Load returns the views of image sum (hex sha256) cached under
// namespace with dim values each. A missing file, or one written with
// another dim, is a miss: (nil, nil). A damaged file returns ErrCorrupt.
func (c *Cache) Load(namespace, sum string, dim int) (map[View][]float32, error) {
	p, err := c.path(namespace, sum)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("features: cache read: %w", err)
	}
	return decode(b, dim, p)
}

func decode(b []byte, dim int, p string) (map[View][]float32, error) {
	bad := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrCorrupt, p, why) }
	if len(b) < headerLen+4 || string(b[:4]) != magic {
		return nil, bad("no header")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, bad("checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != version {
		return nil, bad(fmt.Sprintf("version %d", v))
	}
	n, d := int(binary.LittleEndian.Uint16(b[6:])), int(binary.LittleEndian.Uint32(b[8:]))
	if d != dim {
		return nil, nil // another feature width: stale, not damaged
	}
	names, rest := make([]View, n), body[headerLen:]
	for i := range names {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return nil, bad("short name table")
		}
		names[i], rest = View(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	}
	if len(rest) != 4*n*d {
		return nil, bad(fmt.Sprintf("%d bytes of features, want %d", len(rest), 4*n*d))
	}
	all := make([]float32, n*d)
	for i := range all {
		all[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
	}
	out := make(map[View][]float32, n)
	for i, v := range names {
		out[v] = all[i*d : (i+1)*d : (i+1)*d]
	}
	return out, nil
}

// Store adds views of image sum (each dim values) to its file under
// namespace, keeping the views already there (a damaged or other-dim file
// is replaced).
func (c *Cache) Store(namespace, sum string, dim int, views map[View][]float32) error {
	p, err := c.path(namespace, sum)
	if err != nil {
		return err
	}
	for v, f := range views {
		if len(f) != dim || len(v) == 0 || len(v) > 255 {
			return fmt.Errorf("features: cache store %s: view %q has %d values, want %d", sum, v, len(f), dim)
		}
	}
	mu := c.lock(p)
	mu.Lock()
	defer mu.Unlock()
	merged, _ := c.Load(namespace, sum, dim) // damaged or missing: start afresh
	if merged == nil {
		merged = map[View][]float32{}
	}
	for v, f := range views {
		merged[v] = f
	}
	if len(merged) > math.MaxUint16 {
		return fmt.Errorf("features: cache store %s: %d views", sum, len(merged))
	}
	return writeAtomic(p, encode(merged, dim))
}

func encode(views map[View][]float32, dim int) []byte {
	names := slices.Sorted(func(yield func(View) bool) {
		for v := range views {
			if !yield(v) {
				return
			}
		}
	})
	b := make([]byte, 0, headerLen+len(names)*(9+4*dim)+4)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, version)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(names)))
	b = binary.LittleEndian.AppendUint32(b, uint32(dim))
	for _, v := range names {
		b = append(append(b, byte(len(v))), v...)
	}
	for _, v := range names {
		for _, x := range views[v] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// writeAtomic writes b to a temporary file beside p and renames it over p.
func writeAtomic(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("features: cache write: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("features: cache write: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("features: cache write: %w", err)
	}
	return nil
}

// undecodable is the namespace of photos that failed to decode: the
// verdict is remembered beside the features, so a retraining neither
// decodes a broken photo again nor mistakes it for a cache miss.
var undecodable = fmt.Sprintf("undecodable@p%d", preprocess.Version)

// MarkUndecodable remembers that photo sum (hex sha256) cannot be decoded,
// and why.
func (c *Cache) MarkUndecodable(sum, reason string) error {
	p, err := c.path(undecodable, sum)
	if err != nil {
		return err
	}
	mu := c.lock(p)
	mu.Lock()
	defer mu.Unlock()
	return writeAtomic(p, []byte(reason))
}

// Undecodable returns the reason photo sum failed to decode, if it did.
func (c *Cache) Undecodable(sum string) (string, bool) {
	p, err := c.path(undecodable, sum)
	if err != nil {
		return "", false
	}
	b, err := os.ReadFile(p)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}
