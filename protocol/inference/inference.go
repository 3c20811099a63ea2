// Package inference is the contract between inference plugins and the
// processes that host them.
//
// The agent and the control plane (hosts) launch an inference plugin binary
// (autocv-plugin-onnx) as a child process through hashicorp/go-plugin and
// call it over gRPC. This package holds everything both sides share: the
// handshake, the plugin names, the Go interface (Plugin) and the gRPC
// wrapper that turns protobuf messages into the Go types below at the edge,
// so generated types never spread past this package.
//
// One binary serves every execution provider; the name it is dispensed
// under picks the provider: "onnx-cpu" or "onnx-cuda".
package inference

import (
	"context"
	"errors"
	"time"
)

// APIVersion is the version of this service a plugin speaks; Info reports
// it. A host refuses plugins older than MinAPIVersion and gates newer calls
// on the version the plugin reports.
//
// History:
//
//	1: 2026-11-25 Info, Load, Predict (images or tensors), Health, Unload.
const APIVersion = 1

// MinAPIVersion is the oldest plugin API a host of this build drives.
const MinAPIVersion = 1

// Plugin names. The same autocv-plugin-onnx binary serves both; the name the
// host dispenses picks the execution provider.
const (
	NameONNXCPU  = "onnx-cpu"
	NameONNXCUDA = "onnx-cuda"
)

// Execution providers.
const (
	ProviderCPU  = "cpu"
	ProviderCUDA = "cuda"
	ProviderAuto = "auto" // cuda when it works, else cpu
)

// ProviderFor returns the execution provider a plugin name stands for.
func ProviderFor(name string) (string, bool) {
	switch name {
	case NameONNXCPU:
		return ProviderCPU, true
	case NameONNXCUDA:
		return ProviderCUDA, true
	}
	return "", false
}

// DefaultTopK is the number of labels returned when a caller asks for 0.
const DefaultTopK = 5

// Errors a plugin returns; they survive the gRPC hop (see grpc.go).
var (
	ErrNotLoaded   = errors.New("no model loaded")
	ErrBadRequest  = errors.New("bad request")
	ErrUnavailable = errors.New("execution provider unavailable")
	ErrBadPackage  = errors.New("model package rejected")
)

// Plugin is what an inference plugin does. Implementations must be safe for
// concurrent use: Predict may be called while another Predict runs.
type Plugin interface {
	Info(ctx context.Context) (Info, error)
	Load(ctx context.Context, req LoadRequest) (Model, error)
	Predict(ctx context.Context, req PredictRequest) (PredictResult, error)
	Health(ctx context.Context) (Health, error)
	Unload(ctx context.Context) error
}

// Info describes a plugin process.
type Info struct {
	Kind               string   // the name it serves as, e.g. onnx-cpu
	Version            string   // plugin build version
	APIVersion         int      // APIVersion it speaks
	ExecutionProviders []string // providers the runtime library carries; a GPU is proven only when a cuda model loads
	RuntimeVersion     string   // e.g. "onnxruntime 1.29.0"
}

// LoadRequest asks a plugin to load a model package.
type LoadRequest struct {
	PackagePath  string // a tar.gz the plugin can read, or
	PackageBytes []byte // the package itself
	// TrustedKeys are PEM-encoded ed25519 public keys; the package must be
	// signed by one of them unless AllowUnsigned.
	TrustedKeys       [][]byte
	AllowUnsigned     bool
	ExecutionProvider string // cpu | cuda | auto; "" = the plugin's kind
	IntraOpThreads    int    // 0 = plugin default
	MaxBatch          int    // 0 = plugin default
}

// Model is what Load loaded.
type Model struct {
	ID                string
	Version           int
	Labels            []string
	ExecutionProvider string // the provider actually in use
	LoadTime          time.Duration
	ManifestSHA256    string
}

// PredictRequest is a batch of encoded images (jpg, png, bmp; sniffed by
// content), or a preprocessed float32 batch of TensorCount images laid out
// as the model's input.
type PredictRequest struct {
	Images      [][]byte
	TopK        int
	Tensor      []float32
	TensorCount int
}

// Label is one class with its probability.
type Label struct {
	Label      string
	Confidence float32
}

// Prediction is the answer for one image.
type Prediction struct {
	Labels     []Label // highest confidence first
	Err        string  // set when this image could not be decoded; Labels is empty
	ErrCode    string  // with Err: ImageUnsupportedFormat, ImageCorrupt or ImageTooLarge ("" from older plugins)
	DecodeTime time.Duration
}

// Why an image could not be decoded, as Prediction.ErrCode: the same names
// as the dataset import's skip reasons (protocol/imagerules).
const (
	ImageUnsupportedFormat = "unsupported_format"
	ImageCorrupt           = "corrupt"
	ImageTooLarge          = "too_large"
)

// PredictResult answers a PredictRequest, in request order.
type PredictResult struct {
	Predictions []Prediction
	InferTime   time.Duration // model run for the whole batch
	TotalTime   time.Duration
}

// Health is a plugin's state.
type Health struct {
	Loaded            bool
	ModelID           string
	Version           int
	ExecutionProvider string
	Predictions       uint64
	Errors            uint64
}
