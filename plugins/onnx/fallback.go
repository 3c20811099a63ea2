package onnx

import (
	"fmt"

	"github.com/autocv/autocv/plugins/onnx/engine"
)

// logFallback says on stderr why a session asked for auto (cuda when it
// works) runs on the CPU: a GPU build on a machine without a usable NVIDIA
// GPU, driver or CUDA/cuDNN. go-plugin hands "[WARN] " lines to the
// agent's log at warn level (plain lines only at debug).
func logFallback(sess *engine.Session) {
	if why := sess.Fallback(); why != "" {
		fmt.Fprintf(engine.LogOut(), "[WARN] onnx: no CUDA session, running on the CPU instead / 无法使用 CUDA，改用 CPU 推理: %s\n", why)
	}
}
