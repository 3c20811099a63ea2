package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// logOut is the process's stderr as it was at start: go-plugin's Serve
// later points os.Stderr at its stdio stream, which the agent discards,
// while it turns lines on the original stderr into the agent's log.
var logOut = os.Stderr

// warnCUDA says on stderr why a library shipped with the CUDA provider
// beside it (the GPU SDK) cannot use it here: no NVIDIA GPU, driver, CUDA
// 12 or cuDNN 9. The plugin then runs on the CPU. go-plugin hands "[WARN] "
// lines to the agent's log at warn level. A CPU-only library stays quiet.
func warnCUDA(err error) {
	lib := Loaded()
	if lib == "" {
		return
	}
	for _, name := range []string{"libonnxruntime_providers_cuda.so", "onnxruntime_providers_cuda.dll"} {
		if _, statErr := os.Stat(filepath.Join(filepath.Dir(lib), name)); statErr == nil {
			fmt.Fprintf(logOut, "[WARN] onnx: %s is here but CUDA does not work, running on the CPU instead "+
				"/ 无法使用 CUDA，改用 CPU 推理 (needs an NVIDIA GPU and driver, CUDA 13 and cuDNN 9): %v\n", name, err)
			return
		}
	}
}

// LogOut returns logOut, for the plugin's other warnings.
func LogOut() io.Writer { return logOut }
