package onnx

import (
	"os"

	"github.com/autocv/autocv/protocol/inference"
)

// Serve runs this process as the ONNX inference plugin, under the name the
// host launched it as, with its memory bounded as the environment says
// (see DecodeBudgetEnv). It is the whole body of autocv-plugin-onnx's main.
func Serve() {
	inference.Serve(func(name string) (inference.Plugin, error) {
		s, err := parseMemorySettings(os.Getenv)
		if err != nil {
			return nil, err
		}
		configureMemory(s)
		return New(name)
	})
}
