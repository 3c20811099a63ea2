package modelpkg

import (
	"archive/tar"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// scanner walks a package archive entry by entry and enforces every rule
// Read and Resign share. newScanner reads manifest.json and manifest.sig;
// next and copyTo then hand out the members one at a time, each checked
// against the manifest before and while it is read.
type scanner struct {
	gz  *gzip.Reader
	tr  *tar.Reader
	lim Limits

	manifest     *Manifest
	manifestJSON []byte
	sig          []byte // raw signature; nil when the archive has none
	keyID        string // the trusted key that verified sig; "" if none

	pending *tar.Header // the entry after the manifest (and signature)
	eof     bool        // tar end reached while reading ahead
	open    *Member     // member returned by next and not yet copied
	seen    map[string]bool
}

// corruptReader marks read errors of the archive stream with ErrCorrupt, so
// they stay distinct from errors writing a member out.
type corruptReader struct{ r io.Reader }

func (c corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = corrupt(err)
	}
	return n, err
}

func corrupt(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// newScanner reads manifest.json and manifest.sig. With keys, the
// signature must verify with one of them before the manifest is parsed.
func newScanner(r io.Reader, lim Limits, keys []ed25519.PublicKey) (*scanner, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: not a gzip stream: %v", ErrCorrupt, err)
	}
	s := &scanner{
		gz:   gz,
		tr:   tar.NewReader(corruptReader{gz}),
		lim:  lim.withDefaults(),
		seen: map[string]bool{ManifestName: true},
	}
	h, err := s.nextHeader()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: the archive is empty; %s must be its first entry", ErrMissing, ManifestName)
	}
	if err != nil {
		return nil, err
	}
	if h.Name != ManifestName {
		return nil, fmt.Errorf("%w: %s must be the first entry, found %q", ErrMissing, ManifestName, clip(h.Name))
	}
	s.manifestJSON, err = s.readSmall(h, s.lim.MaxMetaSize, "Limits.MaxMetaSize")
	if err != nil {
		return nil, err
	}
	h, err = s.nextHeader()
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		return nil, err
	case h.Name == SignatureName:
		s.seen[SignatureName] = true
		data, err := s.readSmall(h, maxSignatureSize, "manifest.sig limit")
		if err != nil {
			return nil, err
		}
		if s.sig, err = DecodeSignature(data); err != nil {
			return nil, err
		}
	default:
		s.pending = h
	}

	// Only a manifest that comes from a trusted key is parsed at all.
	if err := s.checkSignature(keys); err != nil {
		return nil, err
	}
	if s.manifest, err = ParseManifest(s.manifestJSON); err != nil {
		return nil, err
	}
	for _, mem := range s.manifest.Members {
		if limit, opt := s.lim.limitFor(mem.Name); mem.Size > limit {
			return nil, fmt.Errorf("%w: manifest lists %s at %d bytes, over the limit of %d (%s)",
				ErrTooLarge, mem.Name, mem.Size, limit, opt)
		}
	}
	return s, nil
}

// checkSignature requires a signature by one of keys, when there are any.
func (s *scanner) checkSignature(keys []ed25519.PublicKey) error {
	if len(keys) == 0 {
		return nil
	}
	if s.sig == nil {
		return fmt.Errorf("%w: the package is unsigned (no %s) and a trusted key is required", ErrSignature, SignatureName)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		if Verify(k, s.manifestJSON, s.sig) == nil {
			s.keyID = KeyID(k)
			return nil
		}
		ids[i] = KeyID(k)
	}
	return fmt.Errorf("%w: %s does not verify with trusted key %s (wrong key, or the manifest was changed)",
		ErrSignature, SignatureName, strings.Join(ids, ", "))
}

// nextHeader returns the next entry's header after the checks every entry
// gets: a safe name and a regular file.
func (s *scanner) nextHeader() (*tar.Header, error) {
	h, err := s.tr.Next()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, corrupt(err)
	}
	if err := checkEntry(h); err != nil {
		return nil, err
	}
	return h, nil
}

// readSmall reads a whole entry that must fit in memory.
func (s *scanner) readSmall(h *tar.Header, limit int64, opt string) ([]byte, error) {
	if h.Size > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the limit of %d (%s)", ErrTooLarge, h.Name, h.Size, limit, opt)
	}
	data, err := io.ReadAll(io.LimitReader(s.tr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h.Name, corrupt(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is over the limit of %d bytes (%s)", ErrTooLarge, h.Name, limit, opt)
	}
	return data, nil
}

// next returns the next member, checked against the manifest: listed,
// not seen before, of the listed size. The caller must copy it with copyTo
// before calling next again. At the end of the archive next checks that
// every listed member was present and nothing but padding follows, and
// returns io.EOF.
func (s *scanner) next() (*Member, error) {
	if s.open != nil {
		return nil, fmt.Errorf("modelpkg: internal error: %s was not read", s.open.Name)
	}
	h := s.pending
	s.pending = nil
	if h == nil && !s.eof {
		var err error
		if h, err = s.nextHeader(); err == io.EOF {
			s.eof = true
		} else if err != nil {
			return nil, err
		}
	}
	if h == nil {
		if err := s.finish(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	name := h.Name
	switch {
	case s.seen[name]:
		return nil, fmt.Errorf("%w: entry %q appears twice", ErrDuplicate, clip(name))
	case name == SignatureName:
		return nil, fmt.Errorf("%w: %s must directly follow %s", ErrUnlisted, SignatureName, ManifestName)
	case !IsMemberName(name):
		return nil, fmt.Errorf("%w: entry %q is not a package member (allowed: model.onnx, model.onnx.data, report.json, golden/<name>.<jpg|jpeg|png|bmp>)",
			ErrUnlisted, clip(name))
	}
	s.seen[name] = true
	mem, ok := s.manifest.Member(name)
	if !ok {
		return nil, fmt.Errorf("%w: entry %q is not listed in %s", ErrUnlisted, name, ManifestName)
	}
	if h.Size != mem.Size {
		return nil, fmt.Errorf("%w: %s is %d bytes, manifest says %d", ErrHash, name, h.Size, mem.Size)
	}
	s.open = &mem
	return &mem, nil
}

// copyTo copies the member next returned into w while hashing it, reading
// at most one byte more than its listed size, and checks size and sha256.
// Errors reading the archive wrap ErrCorrupt; errors from w are returned
// as they are.
func (s *scanner) copyTo(w io.Writer, mem *Member) error {
	s.open = nil
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(corruptReader{s.tr}, mem.Size+1))
	if err != nil {
		return fmt.Errorf("%s: %w", mem.Name, err)
	}
	if n != mem.Size {
		return fmt.Errorf("%w: %s has %d bytes or more, manifest says %d", ErrHash, mem.Name, n, mem.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mem.SHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, manifest says %s", ErrHash, mem.Name, got, mem.SHA256)
	}
	return nil
}

// finish runs at the end of the tar stream: every listed member must have
// been seen, and only zero padding may follow up to a clean gzip end.
func (s *scanner) finish() error {
	var missing []string
	for _, mem := range s.manifest.Members {
		if !s.seen[mem.Name] {
			missing = append(missing, mem.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: listed in %s but not in the archive: %s",
			ErrMissing, ManifestName, strings.Join(missing, ", "))
	}
	n, err := io.Copy(zeroWriter{}, io.LimitReader(corruptReader{s.gz}, maxTrailingZeros+1))
	if err != nil {
		if errors.Is(err, errNonZero) {
			return fmt.Errorf("%w: data after the end of the archive", ErrCorrupt)
		}
		return err
	}
	if n > maxTrailingZeros {
		return fmt.Errorf("%w: over %d bytes of padding after the end of the archive", ErrCorrupt, maxTrailingZeros)
	}
	return nil
}

var errNonZero = errors.New("non-zero byte")

// zeroWriter accepts only zero bytes.
type zeroWriter struct{}

func (zeroWriter) Write(p []byte) (int, error) {
	for i, b := range p {
		if b != 0 {
			return i, errNonZero
		}
	}
	return len(p), nil
}
