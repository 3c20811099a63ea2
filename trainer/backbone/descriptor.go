// Package backbone describes the pretrained ONNX ImageNet models the trainer
// extracts features with, and finds them on disk.
//
// A backbone is one .onnx file plus a Descriptor: the graph input, how a
// photo becomes that input (modelpkg.Preprocess), and which tensor is the
// pooled feature (and how to dequantise it). The backbones the project
// ships with are built in (Builtin), pinned by sha256; any other backbone
// needs a descriptor file <file>.json beside its model. Offline the files
// live in the folder named by AUTOCV_BACKBONES.
//
// The graph surgery that cuts a backbone at its feature lives in
// trainer/graph; this package only checks that the model has what the
// descriptor promises, so a bad backbone is refused before any work starts.
package backbone

import (
	"fmt"
	"sort"

	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// Descriptor says how to use one backbone model file.
type Descriptor struct {
	ID     string `json:"id"`     // stable id written to manifests, e.g. "mobilenetv2-12-int8"
	File   string `json:"file"`   // file name in the backbone folder
	SHA256 string `json:"sha256"` // lowercase hex of the file; checked by Open
	// Input is the graph input that takes the preprocessed photo batch.
	Input string `json:"input"`
	// InputSize is the side of the square input, e.g. 224.
	InputSize  int                 `json:"input_size"`
	Preprocess modelpkg.Preprocess `json:"preprocess"`
	Feature    FeatureSpec         `json:"feature"`
	// FixedBatch is the only batch size the model takes (e.g. 1), 0 when
	// its batch dimension is dynamic. It must match the model's input.
	FixedBatch int `json:"fixed_batch,omitempty"`
	// Opset is the model's ai.onnx opset version (0: not checked).
	Opset int `json:"opset,omitempty"`
}

// FeatureSpec names the pooled feature tensor: the input of the backbone's
// classifier, one vector of Dim values per image.
type FeatureSpec struct {
	Tensor string `json:"tensor"`
	Dim    int    `json:"dim"`
	// DequantScale and DequantZeroPoint name the scalar initializers that
	// dequantise a quantised (uint8/int8) Tensor: x = (q - zero_point) ·
	// scale. Both are empty when Tensor is already float32.
	DequantScale     string `json:"dequant_scale,omitempty"`
	DequantZeroPoint string `json:"dequant_zero_point,omitempty"`
}

// Quantised reports whether the feature tensor needs dequantising.
func (f FeatureSpec) Quantised() bool { return f.DequantScale != "" }

// Built-in backbone ids.
const (
	MobileNetV2 = "mobilenetv2-12-int8"
	ShuffleNet  = "shufflenet-v2-12-qdq"
)

// imageNet is the eval transform both built-in backbones were trained with.
var imageNet = modelpkg.Preprocess{
	InputSize: 224, ResizeMode: modelpkg.ResizeShorterCrop, Resize: 256, Crop: 224,
	Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
	ChannelOrder: modelpkg.ChannelsRGB, Layout: modelpkg.LayoutNCHW,
}

// builtins are the ONNX Model Zoo files in ../shared/data/backbones (see its
// README for where each feature tensor comes from).
var builtins = map[string]Descriptor{
	MobileNetV2: {
		ID: MobileNetV2, File: "mobilenetv2-12-int8.onnx",
		SHA256: "cc028fe6cae7bc11a4ff53cfc9b79c920e8be65ce33a904ec3e2a8f66d77f95f",
		Input:  "input", InputSize: 224, Preprocess: imageNet,
		// uint8 [N,1280]: the QLinearGlobalAveragePool output, reshaped.
		Feature: FeatureSpec{Tensor: "472_quantized", Dim: 1280, DequantScale: "464_scale", DequantZeroPoint: "464_zero_point"},
		Opset:   12,
	},
	ShuffleNet: {
		ID: ShuffleNet, File: "shufflenet-v2-12-qdq.onnx",
		SHA256: "7c536d02e2f6af9569e5f3c7a4d8282060072119524c93c8da71e63876b4722b",
		Input:  "input", InputSize: 224, Preprocess: imageNet,
		// float32 [1,1024]: ReduceMean over H,W of the conv5 output.
		Feature:    FeatureSpec{Tensor: "611", Dim: 1024},
		FixedBatch: 1, Opset: 12,
	},
}

// Builtin returns the built-in descriptor with this id.
func Builtin(id string) (Descriptor, bool) {
	d, ok := builtins[id]
	return d, ok
}

// BuiltinIDs lists the built-in backbone ids, sorted.
func BuiltinIDs() []string {
	ids := make([]string, 0, len(builtins))
	for id := range builtins {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Validate checks the descriptor's own fields (not the model file).
func (d Descriptor) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: backbone %q: %s", ErrDescriptor, d.ID, fmt.Sprintf(format, args...))
	}
	switch {
	case d.ID == "":
		return bad("id is empty")
	case d.File == "":
		return bad("file is empty")
	case d.Input == "":
		return bad("input is empty")
	case d.InputSize < 1:
		return bad("input_size %d, want > 0", d.InputSize)
	case d.Preprocess.InputSize != d.InputSize:
		return bad("preprocess.input_size %d differs from input_size %d", d.Preprocess.InputSize, d.InputSize)
	case d.Feature.Tensor == "":
		return bad("feature.tensor is empty")
	case d.Feature.Dim < 1:
		return bad("feature.dim %d, want > 0", d.Feature.Dim)
	case (d.Feature.DequantScale == "") != (d.Feature.DequantZeroPoint == ""):
		return bad("feature.dequant_scale and feature.dequant_zero_point go together")
	case d.FixedBatch < 0:
		return bad("fixed_batch %d, want >= 0", d.FixedBatch)
	case d.Opset < 0:
		return bad("opset %d, want >= 0", d.Opset)
	}
	if _, err := preprocess.SpecFrom(d.Preprocess); err != nil {
		return bad("preprocess: %v", err)
	}
	return nil
}
