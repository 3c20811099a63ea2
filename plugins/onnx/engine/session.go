package engine

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Execution providers.
const (
	CPU  = "cpu"
	CUDA = "cuda"
	Auto = "auto" // CUDA when it works, otherwise CPU
)

// ErrProvider means the requested execution provider cannot run here.
var ErrProvider = errors.New("execution provider unavailable")

// Options configure a Session.
type Options struct {
	Provider string // CPU, CUDA or Auto; "" = CPU
	// IntraOpThreads is onnxruntime's thread count for one run; 0 picks
	// DefaultThreads().
	IntraOpThreads int
	Input, Output  string // graph input and output names
	// CUDADevice is the GPU ordinal for CUDA.
	CUDADevice int
}

// DefaultThreads is the intra-op thread count used when none is set: every
// core this process may use (GOMAXPROCS follows cgroup CPU limits) on small
// machines, capped at 16 on big ones where more threads stop paying for one
// image batch.
func DefaultThreads() int {
	n := runtime.GOMAXPROCS(0)
	if n > 16 {
		n = 16
	}
	return n
}

// Session runs one model. Run is safe for concurrent use; runs are
// serialised, since one run already uses every intra-op thread.
type Session struct {
	mu       sync.Mutex
	s        *ort.DynamicAdvancedSession
	provider string
	fallback string // why Auto runs on the CPU
	in, out  string
	inShape  ort.Shape // as declared; -1 for dynamic dimensions
	outShape ort.Shape
}

// NewSession opens the model at path. It returns the execution provider in
// use, which differs from the one asked for only with Auto.
func NewSession(path string, o Options) (*Session, error) {
	if err := Init(""); err != nil {
		return nil, err
	}
	inputs, outputs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("reading model %s: %w", path, err)
	}
	inInfo, err := find(inputs, o.Input, "input")
	if err != nil {
		return nil, err
	}
	outInfo, err := find(outputs, o.Output, "output")
	if err != nil {
		return nil, err
	}
	// A batch dimension first, then fixed item dimensions: anything else
	// (a scalar, an unknown rank, dynamic image sizes) is refused here
	// rather than failing later in the middle of a request.
	if err := checkShape("input", inInfo, 2); err != nil {
		return nil, err
	}
	if err := checkShape("output", outInfo, 2); err != nil {
		return nil, err
	}
	s := &Session{in: inInfo.Name, out: outInfo.Name, inShape: inInfo.Dimensions, outShape: outInfo.Dimensions}

	provider := o.Provider
	if provider == "" {
		provider = CPU
	}
	switch provider {
	case CPU:
		s.s, err = open(path, s, o, false)
	case CUDA:
		s.s, err = open(path, s, o, true)
	case Auto:
		provider = CUDA
		s.s, err = open(path, s, o, true)
		if errors.Is(err, ErrProvider) {
			provider, s.fallback = CPU, err.Error()
			s.s, err = open(path, s, o, false)
		}
	default:
		return nil, fmt.Errorf("%w: unknown execution provider %q (cpu, cuda, auto)", ErrProvider, o.Provider)
	}
	if err != nil {
		return nil, err
	}
	s.provider = provider
	return s, nil
}

func find(infos []ort.InputOutputInfo, name, what string) (ort.InputOutputInfo, error) {
	var names []string
	for _, i := range infos {
		if i.Name == name || (name == "" && len(infos) == 1) {
			if i.DataType != ort.TensorElementDataTypeFloat {
				return i, fmt.Errorf("model %s %q is %v, want float32", what, i.Name, i.DataType)
			}
			return i, nil
		}
		names = append(names, i.Name)
	}
	return ort.InputOutputInfo{}, fmt.Errorf("model has no %s %q (it has %q)", what, name, names)
}

func checkShape(what string, info ort.InputOutputInfo, minRank int) error {
	d := info.Dimensions
	if len(d) < minRank {
		return fmt.Errorf("model %s %q has shape %v: want a batch dimension and at least %d more", what, info.Name, d, minRank-1)
	}
	if what == "input" {
		for _, x := range d[1:] {
			if x <= 0 {
				return fmt.Errorf("model input %q has shape %v: only the batch dimension may be dynamic", info.Name, d)
			}
		}
	}
	return nil
}

func open(path string, s *Session, o Options, cuda bool) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	threads := o.IntraOpThreads
	if threads <= 0 {
		threads = DefaultThreads()
	}
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	// Don't let idle worker threads spin between runs: the plugin decodes
	// photos on the same cores while the model is not running.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return nil, err
	}
	if cuda {
		if err := appendCUDA(opts, o.CUDADevice); err != nil {
			return nil, err
		}
	}
	sess, err := ort.NewDynamicAdvancedSession(path, []string{s.in}, []string{s.out}, opts)
	if err != nil {
		if cuda {
			return nil, fmt.Errorf("%w: cuda: onnxruntime could not start a CUDA session (no usable NVIDIA GPU, driver or CUDA/cuDNN libraries?): %v", ErrProvider, err)
		}
		return nil, fmt.Errorf("opening model %s: %w", path, err)
	}
	return sess, nil
}

func appendCUDA(opts *ort.SessionOptions, device int) error {
	co, err := ort.NewCUDAProviderOptions()
	if err == nil {
		defer co.Destroy()
		err = co.Update(map[string]string{"device_id": fmt.Sprint(device)})
	}
	if err == nil {
		err = opts.AppendExecutionProviderCUDA(co)
	}
	if err != nil {
		return fmt.Errorf("%w: cuda: the onnxruntime library %s cannot load its CUDA execution provider "+
			"(a CPU-only build, or libonnxruntime_providers_cuda missing beside it); use onnx-cpu, "+
			"or point %s at a CUDA-enabled build: %v", ErrProvider, Loaded(), LibraryEnv, err)
	}
	return nil
}

// Provider returns the execution provider the session runs on.
func (s *Session) Provider() string { return s.provider }

// Fallback says why an Auto session runs on the CPU ("" when it runs on
// the GPU or was not Auto).
func (s *Session) Fallback() string { return s.fallback }

// InputShape returns the declared input shape; dynamic dimensions are -1.
func (s *Session) InputShape() []int64 { return append([]int64(nil), s.inShape...) }

// FixedBatch returns the batch size the model insists on, or 0 when the
// batch dimension is dynamic.
func (s *Session) FixedBatch() int {
	if len(s.inShape) > 0 && s.inShape[0] > 0 {
		return int(s.inShape[0])
	}
	return 0
}

// Outputs returns the number of values per item in the output (e.g. the
// number of classes), or 0 when unknown before a run.
func (s *Session) Outputs() int {
	n := int64(1)
	for _, d := range s.outShape[1:] {
		if d <= 0 {
			return 0
		}
		n *= d
	}
	return int(n)
}

// Run feeds n items laid out back to back in input (each of the model's
// input shape without the batch dimension) and returns the output, n items
// back to back. A model with a fixed batch is run once per chunk of that
// size.
func (s *Session) Run(input []float32, n int) ([]float32, error) {
	if n <= 0 || len(input)%n != 0 {
		return nil, fmt.Errorf("engine: %d values do not split into %d items", len(input), n)
	}
	per := len(input) / n
	if want := s.itemSize(); want > 0 && per != want {
		return nil, fmt.Errorf("engine: %d values per item, model input %v takes %d", per, s.inShape, want)
	}
	step := n
	fb := s.FixedBatch()
	if fb > 0 {
		step = fb
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return nil, errors.New("engine: session is closed")
	}
	var out []float32
	var err error
	for i := 0; i < n; i += step {
		k := min(step, n-i)
		chunk := input[i*per : (i+k)*per]
		if fb > 0 && k < fb {
			// a model with a fixed batch gets the last chunk padded with
			// zeros; the padding's outputs are dropped
			chunk = append(append(make([]float32, 0, fb*per), chunk...), make([]float32, (fb-k)*per)...)
		}
		out, err = s.run(out, chunk, max(k, fb), k)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Session) itemSize() int {
	n := 1
	for _, d := range s.inShape[1:] {
		if d <= 0 {
			return 0
		}
		n *= int(d)
	}
	return n
}

// run feeds n items and appends the outputs of the first keep to dst.
func (s *Session) run(dst, input []float32, n, keep int) ([]float32, error) {
	shape := append(ort.Shape{int64(n)}, s.inShape[1:]...)
	in, err := ort.NewTensor(shape, input)
	if err != nil {
		return nil, fmt.Errorf("engine: input tensor %v: %w", shape, err)
	}
	defer in.Destroy()
	outputs := []ort.Value{nil}
	if err := s.s.Run([]ort.Value{in}, outputs); err != nil {
		return nil, fmt.Errorf("engine: run: %w", err)
	}
	defer outputs[0].Destroy()
	t, ok := outputs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("engine: output %q is not a float32 tensor", s.out)
	}
	data := t.GetData()
	return append(dst, data[:len(data)/n*keep]...), nil
}

// Close frees the session.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}

var (
	providersOnce sync.Once
	providers     []string
)

// Providers lists the execution providers this process can use: cpu always,
// cuda when the loaded library carries the CUDA provider. (A GPU is only
// proven when a CUDA session opens.)
func Providers() []string {
	providersOnce.Do(func() {
		providers = []string{CPU}
		if Init("") != nil {
			return
		}
		opts, err := ort.NewSessionOptions()
		if err != nil {
			return
		}
		defer opts.Destroy()
		if err := appendCUDA(opts, 0); err != nil {
			warnCUDA(err)
		} else {
			providers = append(providers, CUDA)
		}
	})
	return providers
}
