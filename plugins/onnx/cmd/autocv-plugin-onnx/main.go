// Command autocv-plugin-onnx is the ONNX inference plugin. Hosts (agent,
// control plane) launch it through go-plugin as onnx-cpu or onnx-cuda; it is
// not meant to be run by hand.
package main

import (
	"github.com/autocv/autocv/plugins/onnx"
	"github.com/autocv/autocv/protocol/inference"
)

func main() {
	inference.Serve(func(name string) (inference.Plugin, error) { return onnx.New(name) })
}
