// Command isaspread measures how much the backbones' answers move between
// instruction sets (make bench): each built-in backbone's whole ImageNet
// classifier, as shipped (int8) and as the trainer computes it (in float,
// see trainer/graph.FloatModel), runs the same photos natively and under
// qemu-x86_64 with older CPU models. It prints, per CPU and model, the
// largest and mean change of a softmax probability against the native run,
// the top-1 changes per 100 photos, and the native milliseconds per photo
// of each model (the cost of computing in float).
//
// qemu cannot emulate AVX-512, so the native run is whatever this machine
// has; the table's first line names its instruction sets.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/graph"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "isaspread:", err)
		os.Exit(1)
	}
}

type config struct {
	data, lib, out string
	photos         int
	cpus           string
}

func run() error {
	var c config
	flag.StringVar(&c.data, "data", os.Getenv("AUTOCV_TESTDATA"), "shared test data `folder` (datasets/, backbones/)")
	flag.StringVar(&c.lib, "ort", os.Getenv(engine.LibraryEnv), "onnxruntime library `path`")
	flag.IntVar(&c.photos, "photos", 100, "photos per run (emulated runs take about 5 s per photo)")
	flag.StringVar(&c.cpus, "cpus", "Nehalem,Haswell-v4", "qemu CPU models to compare with the native run (comma-separated)")
	flag.StringVar(&c.out, "child", "", "internal: run the models and write the answers to this `file`")
	flag.Parse()
	if c.data == "" {
		c.data = filepath.Join("..", "shared", "data")
	}
	if err := engine.Init(c.lib); err != nil {
		return err
	}
	if c.out != "" {
		return child(c)
	}
	return parent(c)
}

// models are compared in this order: backbone × {int8, float}.
type model struct {
	name  string
	data  []byte
	fixed bool
}

func models(c config) ([]model, error) {
	var out []model
	for _, id := range backbone.BuiltinIDs() {
		b, err := backbone.Open(filepath.Join(c.data, "backbones"), id)
		if err != nil {
			return nil, err
		}
		f, err := graph.FloatModel(b.Descriptor.File, b.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, model{id + " int8", b.Data, b.Descriptor.FixedBatch > 0}, model{id + " float", f, b.Descriptor.FixedBatch > 0})
	}
	return out, nil
}

// photos returns n preprocessed photos, round-robin over label folders.
func photos(c config) ([][]float32, error) {
	spec := preprocess.ImageNet()
	var folders [][]string
	for _, set := range []string{"hymenoptera/val", "flowers5"} {
		labels, err := filepath.Glob(filepath.Join(c.data, "datasets", set, "*"))
		if err != nil {
			return nil, err
		}
		for _, l := range labels {
			files, _ := filepath.Glob(filepath.Join(l, "*.jpg"))
			if len(files) > 0 {
				folders = append(folders, files)
			}
		}
	}
	if len(folders) == 0 {
		return nil, fmt.Errorf("no photos under %s/datasets", c.data)
	}
	var out [][]float32
	for i := 0; len(out) < c.photos && i/len(folders) < 1000; i++ {
		f := folders[i%len(folders)]
		if i/len(folders) >= len(f) {
			continue
		}
		data, err := os.ReadFile(f[i/len(folders)])
		if err != nil {
			return nil, err
		}
		x := make([]float32, spec.Len())
		if spec.DecodeTensor(data, x) == nil {
			out = append(out, x)
		}
	}
	return out, nil
}

// child writes, per model, the softmax of every photo (float32 LE) and the
// mean milliseconds per photo.
func child(c config) error {
	ms, err := models(c)
	if err != nil {
		return err
	}
	xs, err := photos(c)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "isaspread")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var buf []byte
	for i, m := range ms {
		path := filepath.Join(dir, fmt.Sprintf("%d.onnx", i))
		if err := os.WriteFile(path, m.data, 0o600); err != nil {
			return err
		}
		s, err := engine.NewSession(path, engine.Options{Provider: engine.CPU, IntraOpThreads: 1, Input: "input", Output: "output"})
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		start := time.Now()
		for _, x := range xs {
			y, err := s.Run(x, 1)
			if err != nil {
				s.Close()
				return fmt.Errorf("%s: %w", m.name, err)
			}
			engine.Softmax(y)
			for _, p := range y {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(p))
			}
		}
		s.Close()
		perPhoto := float64(time.Since(start).Microseconds()) / 1000 / float64(len(xs))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(perPhoto))
	}
	return os.WriteFile(c.out, buf, 0o600)
}

// answers is one child's output: per model, per photo, 1000 probabilities.
type answers struct {
	probs [][][]float32
	ms    []float64
}

func read(path string, nModels, nPhotos int) (answers, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return answers{}, err
	}
	const classes = 1000
	if want := nModels * (nPhotos*classes*4 + 8); len(b) != want {
		return answers{}, fmt.Errorf("%s: %d bytes, want %d", path, len(b), want)
	}
	var a answers
	for range nModels {
		var per [][]float32
		for range nPhotos {
			p := make([]float32, classes)
			for k := range p {
				p[k] = math.Float32frombits(binary.LittleEndian.Uint32(b))
				b = b[4:]
			}
			per = append(per, p)
		}
		a.probs = append(a.probs, per)
		a.ms = append(a.ms, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		b = b[8:]
	}
	return a, nil
}

func parent(c config) error {
	ms, err := models(c)
	if err != nil {
		return err
	}
	xs, err := photos(c)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "isaspread")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	runChild := func(name string, argv ...string) (answers, error) {
		out := filepath.Join(dir, name+".bin")
		args := append(argv[1:], "-data", c.data, "-ort", engine.Loaded(), "-photos", fmt.Sprint(c.photos), "-child", out)
		cmd := exec.Command(argv[0], args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		for _, l := range strings.Split(stderr.String(), "\n") {
			// qemu lists every host CPUID bit its TCG cannot emulate
			if l != "" && !strings.HasPrefix(l, "qemu-x86_64: warning:") {
				fmt.Fprintln(os.Stderr, l)
			}
		}
		if err != nil {
			return answers{}, fmt.Errorf("%s run: %w", name, err)
		}
		fmt.Fprintf(os.Stderr, "isaspread: %s run took %s\n", name, time.Since(start).Round(time.Second))
		return read(out, len(ms), len(xs))
	}
	native, err := runChild("native", self)
	if err != nil {
		return err
	}
	fmt.Printf("\nBackbone answers across instruction sets: %d photos, softmax over 1000 ImageNet classes, vs the native run\n", len(xs))
	fmt.Printf("native CPU: %s, %s\n\n", cpuName(), strings.Join(isa(), " "))
	fmt.Println("| CPU (qemu -cpu) | model | max abs Δp | mean abs Δp (top-1 class) | top-1 changes per 100 photos |")
	fmt.Println("|---|---|---|---|---|")
	qemu, qerr := exec.LookPath("qemu-x86_64")
	for _, cpu := range strings.Split(c.cpus, ",") {
		if cpu = strings.TrimSpace(cpu); cpu == "" {
			continue
		}
		if qerr != nil {
			return fmt.Errorf("qemu-x86_64 not found (apt-get install qemu-user): %w", qerr)
		}
		emu, err := runChild(cpu, qemu, "-cpu", cpu, self)
		if err != nil {
			return err
		}
		for mi, m := range ms {
			var maxD, sumTop float64
			changes := 0
			for pi := range xs {
				a, b := native.probs[mi][pi], emu.probs[mi][pi]
				for k := range a {
					maxD = max(maxD, math.Abs(float64(a[k]-b[k])))
				}
				top := top1(a)
				sumTop += math.Abs(float64(a[top] - b[top]))
				if top1(b) != top {
					changes++
				}
			}
			fmt.Printf("| %s | %s | %.2g | %.2g | %.1f |\n", cpu, m.name, maxD, sumTop/float64(len(xs)), 100*float64(changes)/float64(len(xs)))
		}
	}
	fmt.Printf("\n| model (native, 1 thread, batch 1) | ms per photo |\n|---|---|\n")
	for mi, m := range ms {
		fmt.Printf("| %s | %.2f |\n", m.name, native.ms[mi])
	}
	return nil
}

// cpuName and isa read /proc/cpuinfo (Linux); elsewhere they say so.
func cpuName() string {
	for _, l := range cpuinfo() {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func isa() []string {
	for _, l := range cpuinfo() {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "flags" {
			var out []string
			for _, f := range strings.Fields(v) {
				if f == "sse4_2" || f == "avx" || f == "avx2" || f == "fma" || f == "avx512f" || f == "avx512_vnni" || f == "avx_vnni" || f == "amx_int8" {
					out = append(out, f)
				}
			}
			return out
		}
	}
	return nil
}

func cpuinfo() []string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	return strings.Split(string(b), "\n")
}

func top1(v []float32) int { return slices.Index(v, slices.Max(v)) }
