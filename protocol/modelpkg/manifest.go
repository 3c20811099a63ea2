package modelpkg

// SchemaVersion is the manifest schema this code writes. Readers accept
// exactly the versions listed in supportedSchemas and refuse the rest with
// ErrSchema, so an old agent never half-understands a newer package.
//
// History:
//
//	1: 2026-11-25 first version.
const SchemaVersion = 1

var supportedSchemas = map[int]bool{1: true}

// Member names inside a package archive. Nothing else may appear in one.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
	ModelName     = "model.onnx"
	ModelDataName = "model.onnx.data" // ONNX external data, optional
	ReportName    = "report.json"
	GoldenDir     = "golden/"
)

// Manifest describes a model package. It is signed as the exact bytes of
// manifest.json; every other member is bound to it by sha256 and size.
type Manifest struct {
	Schema     int        `json:"schema"`
	ModelID    string     `json:"model_id"`
	Version    int        `json:"version"`
	CreatedAt  string     `json:"created_at,omitempty"` // RFC 3339
	Labels     []string   `json:"labels"`
	Backbone   string     `json:"backbone"`
	AppType    string     `json:"app_type,omitempty"`
	Preprocess Preprocess `json:"preprocess"`
	IO         IO         `json:"io"`
	Runtime    Runtime    `json:"runtime"`
	// Members lists every other member of the archive (not manifest.json or
	// manifest.sig) with its sha256 and size.
	Members    []Member   `json:"members"`
	Thresholds Thresholds `json:"thresholds"`
	Golden     []Golden   `json:"golden,omitempty"`
	Metrics    Metrics    `json:"metrics"`
}

// Resize modes.
const (
	// ResizeShorterCrop scales the shorter side to Preprocess.Resize and then
	// takes a centred square of Preprocess.Crop (the ImageNet eval transform).
	ResizeShorterCrop = "shorter-side+center-crop"
	// ResizeStretch scales the whole image to Crop×Crop ignoring aspect ratio.
	ResizeStretch = "stretch"
)

// Preprocess says how a decoded photo becomes the model's input tensor.
type Preprocess struct {
	InputSize    int        `json:"input_size"`  // the square side the model takes, e.g. 224
	ResizeMode   string     `json:"resize_mode"` // ResizeShorterCrop or ResizeStretch
	Resize       int        `json:"resize"`      // shorter side before cropping, e.g. 256
	Crop         int        `json:"crop"`        // crop side, equal to InputSize
	Mean         [3]float32 `json:"mean"`        // per channel in ChannelOrder (BGR: Mean[0] is blue), after scaling to 0..1
	Std          [3]float32 `json:"std"`
	ChannelOrder string     `json:"channel_order"` // "RGB" or "BGR"
	Layout       string     `json:"layout"`        // "NCHW" or "NHWC"
}

// Channel orders.
const (
	ChannelsRGB = "RGB"
	ChannelsBGR = "BGR"
)

// Tensor layouts.
const (
	LayoutNCHW = "NCHW"
	LayoutNHWC = "NHWC"
)

// Output kinds.
const (
	OutputProbabilities = "probabilities" // the graph ends in Softmax
	OutputLogits        = "logits"        // the runtime applies softmax
)

// IO names the graph's input and output tensors.
type IO struct {
	Input      string `json:"input"`
	Output     string `json:"output"`
	OutputKind string `json:"output_kind"` // OutputProbabilities or OutputLogits
	// FixedBatch is set when the graph only takes this batch size (e.g. 1).
	FixedBatch int `json:"fixed_batch,omitempty"`
}

// Runtime lists what the model needs from the inference runtime.
type Runtime struct {
	Opset int `json:"opset"`
	// ExecutionProviders the package was tested on, e.g. ["cpu"].
	ExecutionProviders []string `json:"execution_providers"`
}

// Member is one archive member bound to the manifest.
type Member struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"` // lowercase hex
	Size   int64  `json:"size"`
}

// Thresholds are confidence thresholds chosen on the validation split.
type Thresholds struct {
	Global   float64            `json:"global"`
	PerLabel map[string]float64 `json:"per_label,omitempty"`
}

// GoldenTolerance is how far a golden sample's probabilities may move from
// the recorded ones on any machine that runs the package. Trainers compute
// quantised backbones in float, so what moves between instruction sets is
// summation order: the ISA spread bench (trainer/internal/isaspread)
// measured ≤ 2e-6 between AVX-512, AVX2 and SSE4.2 — the tolerance keeps a
// margin of hundreds for other runtimes' float kernels.
const GoldenTolerance = 1e-3

// Golden is a sample image shipped in the package with the output the
// exported model must reproduce, within GoldenTolerance; agents self-test
// a new model with them.
type Golden struct {
	File          string    `json:"file"` // member name, golden/<n>.<ext>
	ExpectedTop1  string    `json:"expected_top1"`
	Probabilities []float32 `json:"probabilities"` // in Labels order
}

// Metrics is the headline of the evaluation report (fractions in [0, 1]).
type Metrics struct {
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Metric    string  `json:"metric,omitempty"` // the metric the version was selected on
}

// Member returns the listed member called name.
func (m *Manifest) Member(name string) (Member, bool) {
	for _, mem := range m.Members {
		if mem.Name == name {
			return mem, true
		}
	}
	return Member{}, false
}
