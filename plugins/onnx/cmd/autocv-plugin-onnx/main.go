// Command autocv-plugin-onnx is the ONNX inference plugin. Hosts (agent,
// control plane) launch it through go-plugin as onnx-cpu or onnx-cuda; it is
// not meant to be run by hand. AUTOCV_DECODE_BUDGET_MB in its environment
// bounds the memory its image decoding takes (see onnx.DecodeBudgetEnv).
package main

import "github.com/autocv/autocv/plugins/onnx"

func main() { onnx.Serve() }
