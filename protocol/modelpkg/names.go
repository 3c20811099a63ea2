package modelpkg

import (
	"archive/tar"
	"fmt"
	"strings"
)

// Size limits. Readers enforce them while reading, never trusting a header.
const (
	// DefaultMaxModelSize bounds model.onnx and model.onnx.data each.
	DefaultMaxModelSize int64 = 2 << 30
	// DefaultMaxMetaSize bounds manifest.json, report.json and each golden
	// image.
	DefaultMaxMetaSize int64 = 16 << 20
	// MaxGolden is the most golden images a package may carry.
	MaxGolden = 64

	maxSignatureSize = 4 << 10 // manifest.sig is ~90 bytes
	maxTrailingZeros = 1 << 20 // tar record padding after the end marker
	maxGoldenStem    = 64
)

// Limits bounds what a reader accepts. Zero fields take the defaults.
type Limits struct {
	// MaxModelSize bounds model.onnx and model.onnx.data, each
	// (default DefaultMaxModelSize, 2 GiB).
	MaxModelSize int64
	// MaxMetaSize bounds manifest.json, report.json and each golden image
	// (default DefaultMaxMetaSize, 16 MiB).
	MaxMetaSize int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxModelSize <= 0 {
		l.MaxModelSize = DefaultMaxModelSize
	}
	if l.MaxMetaSize <= 0 {
		l.MaxMetaSize = DefaultMaxMetaSize
	}
	return l
}

// limitFor returns the size limit of a member and the option that sets it.
func (l Limits) limitFor(name string) (int64, string) {
	if name == ModelName || name == ModelDataName {
		return l.MaxModelSize, "Limits.MaxModelSize"
	}
	return l.MaxMetaSize, "Limits.MaxMetaSize"
}

// IsMemberName reports whether name may be listed in Manifest.Members:
// model.onnx, model.onnx.data, report.json or a golden image.
func IsMemberName(name string) bool {
	switch name {
	case ModelName, ModelDataName, ReportName:
		return true
	}
	return IsGoldenName(name)
}

// IsGoldenName reports whether name is a golden image member name:
// "golden/" + a stem of 1 to 64 ASCII letters, digits, '_' or '-' + one of
// the lowercase extensions .jpg .jpeg .png .bmp (e.g. "golden/3.jpg"). A
// Windows device name (CON, NUL, COM1, ...) is not a valid stem, so every
// package extracts on every platform.
func IsGoldenName(name string) bool {
	rest, ok := strings.CutPrefix(name, GoldenDir)
	if !ok {
		return false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 1 || dot > maxGoldenStem {
		return false
	}
	stem := rest[:dot]
	for _, c := range []byte(stem) {
		if !isNameByte(c) {
			return false
		}
	}
	if isWindowsDevice(stem) {
		return false
	}
	switch rest[dot+1:] {
	case "jpg", "jpeg", "png", "bmp":
		return true
	}
	return false
}

func isWindowsDevice(stem string) bool {
	switch strings.ToUpper(stem) {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(stem) == 4 {
		prefix := strings.ToUpper(stem[:3])
		return (prefix == "COM" || prefix == "LPT") && '0' <= stem[3] && stem[3] <= '9'
	}
	return false
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// checkPath refuses entry names that could land outside the directory they
// are extracted into, on any platform. A single trailing slash (a directory
// entry) is left for the type check to refuse with a clearer message.
func checkPath(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: entry %q: %s", ErrUnsafePath, name, why)
	}
	switch {
	case name == "":
		return bad("empty name")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case strings.ContainsAny(name, "\\"):
		return bad("backslash in name")
	case strings.ContainsAny(name, ":"):
		return bad("colon in name (drive letter or stream)")
	case strings.IndexByte(name, 0) >= 0:
		return bad("NUL in name")
	}
	for _, elem := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		switch elem {
		case "":
			return bad("empty path element")
		case ".", "..":
			return bad(fmt.Sprintf("%q path element", elem))
		}
	}
	return nil
}

// checkEntry refuses unsafe names and anything that is not a regular file.
func checkEntry(h *tar.Header) error {
	if err := checkPath(h.Name); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: entry %q is a %s; only regular files are allowed",
			ErrUnsafePath, h.Name, typeName(h.Typeflag))
	}
	return nil
}

func typeName(flag byte) string {
	switch flag {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeDir:
		return "directory"
	case tar.TypeFifo:
		return "fifo"
	case tar.TypeCont:
		return "contiguous file"
	case tar.TypeXGlobalHeader:
		return "global PAX header"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("non-regular entry (type %q)", flag)
}
