// Package engine runs ONNX models with onnxruntime (through
// yalue/onnxruntime_go, so it needs cgo). It loads the onnxruntime library
// once per process, picks the execution provider and runs float32 batches.
//
// It knows nothing of photos or packages: plugins/onnx and the trainer feed
// it tensors made by plugins/onnx/preprocess.
package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv names the environment variable that points at the onnxruntime
// shared library; it wins over the copy beside the executable.
const LibraryEnv = "ONNXRUNTIME_LIB"

// LibraryName is the file name of onnxruntime's shared library on this OS.
func LibraryName() string {
	switch runtime.GOOS {
	case "windows":
		return "onnxruntime.dll"
	case "darwin":
		return "libonnxruntime.dylib"
	}
	return "libonnxruntime.so.1"
}

// LibraryPath says where the library is looked for: $ONNXRUNTIME_LIB, then
// beside the running executable (where `make build` and the installers put
// it), then the system's library search path.
func LibraryPath() string {
	if p := os.Getenv(LibraryEnv); p != "" {
		return p
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		p := filepath.Join(filepath.Dir(exe), LibraryName())
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return LibraryName()
}

// ErrLibrary means onnxruntime's shared library could not be loaded.
var ErrLibrary = errors.New("onnxruntime library not loaded")

var (
	initOnce sync.Once
	initErr  error
	initPath string
)

// Init loads the onnxruntime library (from LibraryPath when path is empty)
// and creates its environment. Only the first call does anything: the
// library is loaded once per process; later calls return the first result.
func Init(path string) error {
	initOnce.Do(func() {
		where := path
		if path == "" {
			path = LibraryPath()
			where = fmt.Sprintf("%s (looked at $%s, beside the executable, then the system library path)", path, LibraryEnv)
		}
		initPath = path
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("%w from %s: set %s to the library's path or run `make deps`: %v", ErrLibrary, where, LibraryEnv, err)
			return
		}
		_ = ort.DisableTelemetry()
	})
	return initErr
}

// Loaded returns the path the library was loaded from, or "" before Init.
func Loaded() string {
	if !ort.IsInitialized() {
		return ""
	}
	return initPath
}

// Version returns onnxruntime's version, e.g. "1.29.0".
func Version() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}
