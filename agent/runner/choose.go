package runner

import (
	"context"
	"fmt"
	"slices"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
)

// Choice is the plugin the agent runs and how it loads packages into it,
// decided once at start and kept for every restart and swap.
type Choice struct {
	Plugin            string // inference.NameONNXCPU or inference.NameONNXCUDA
	ExecutionProvider string // Config.ExecutionProvider: "" or inference.ProviderAuto
	// Providers are the execution providers the onnxruntime library
	// carries, as the plugin's Info said; nil when no plugin was asked.
	Providers []string
	Reason    string // why this plugin, in words for the log
}

// ChooseAuto picks the plugin for the "auto" setting. It starts onnx-cuda
// once and asks its Info: when the onnxruntime library carries the CUDA
// provider the agent runs onnx-cuda and loads with inference.ProviderAuto
// (the plugin uses the GPU when a cuda session works, else cpu; the loaded
// model says which), otherwise onnx-cpu. hc is the host configuration;
// its Name is ignored.
func ChooseAuto(ctx context.Context, hc host.Config) Choice {
	providers, err := Probe(ctx, inference.NameONNXCUDA, hc)
	switch {
	case err != nil:
		return Choice{Plugin: inference.NameONNXCPU,
			Reason: fmt.Sprintf("cuda unavailable: the %s plugin did not start (%v); using %s", inference.NameONNXCUDA, err, inference.NameONNXCPU)}
	case !slices.Contains(providers, inference.ProviderCUDA):
		return Choice{Plugin: inference.NameONNXCPU, Providers: providers,
			Reason: "cuda unavailable: the onnxruntime library has no CUDA provider that works here (a CPU-only build, " +
				"or no usable NVIDIA GPU, driver, CUDA or cuDNN: the plugin's warning says which); using " + inference.NameONNXCPU}
	}
	return Choice{Plugin: inference.NameONNXCUDA, ExecutionProvider: inference.ProviderAuto, Providers: providers,
		Reason: "the onnxruntime library carries the CUDA provider; using " + inference.NameONNXCUDA +
			", which runs on the GPU when a cuda session works and falls back to cpu otherwise"}
}

// Probe starts the plugin name once, returns the execution providers its
// onnxruntime library carries (Info) and stops it.
func Probe(ctx context.Context, name string, hc host.Config) ([]string, error) {
	hc.Name = name
	p, err := host.Start(ctx, hc)
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	return p.Info().ExecutionProviders, nil
}

// Available returns the plugin names a device whose onnxruntime library
// carries providers can run: onnx-cpu always (with a library at all),
// onnx-cuda when it carries cuda.
func Available(providers []string) []string {
	var out []string
	if slices.Contains(providers, inference.ProviderCPU) {
		out = append(out, inference.NameONNXCPU)
	}
	if slices.Contains(providers, inference.ProviderCUDA) {
		out = append(out, inference.NameONNXCUDA)
	}
	return out
}
