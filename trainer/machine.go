package trainer

import (
	"runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/report"
)

// kernelFeatures are the instruction sets onnxruntime picks its CPU kernels
// by, named as the report spells them.
var kernelFeatures = []struct {
	id   cpuid.FeatureID
	name string
}{
	{cpuid.SSE42, "sse4.2"}, {cpuid.AVX, "avx"}, {cpuid.AVX2, "avx2"}, {cpuid.FMA3, "fma"},
	{cpuid.AVX512F, "avx512f"}, {cpuid.AVX512BW, "avx512bw"}, {cpuid.AVX512VNNI, "avx512vnni"},
	{cpuid.AVXVNNI, "avxvnni"}, {cpuid.AMXINT8, "amx-int8"},
	{cpuid.ASIMD, "asimd"}, {cpuid.ASIMDDP, "asimddp"}, {cpuid.SVE, "sve"},
}

// thisMachine describes the computer the trainer runs on, for the report.
func thisMachine(provider string) *report.Machine {
	m := &report.Machine{CPU: strings.TrimSpace(cpuid.CPU.BrandName), Arch: runtime.GOARCH, Provider: provider, CPUFeatures: []string{}}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	for _, f := range kernelFeatures {
		if cpuid.CPU.Supports(f.id) {
			m.CPUFeatures = append(m.CPUFeatures, f.name)
		}
	}
	// a warm feature cache may have spared every session so far; the
	// export loads the library anyway
	if err := engine.Init(""); err == nil {
		m.Runtime = "onnxruntime " + engine.Version()
	}
	return m
}
