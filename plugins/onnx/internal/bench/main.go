// Command bench measures the ONNX inference path side by side and prints a
// table (make bench):
//
//   - images/s and p50/p99 latency at batch 1 and 8, onnxruntime called
//     in-process vs the same preprocessed tensors sent through go-plugin to
//     a real autocv-plugin-onnx process (the ratio is the figure to watch);
//   - whole photos through the plugin (decode + preprocess + model);
//   - decode and preprocess time per photo.
//
// In-process and plugin runs alternate in short rounds so that a noisy
// machine slows both alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	bin, data string
	rounds    int
	round     time.Duration
	photos    int
}

func run() error {
	var c config
	flag.StringVar(&c.bin, "bin", "bin", "folder with autocv-plugin-onnx and the onnxruntime library")
	flag.StringVar(&c.data, "data", os.Getenv("AUTOCV_TESTDATA"), "shared test data folder")
	flag.IntVar(&c.rounds, "rounds", 6, "alternating rounds per measurement")
	flag.DurationVar(&c.round, "round", 500*time.Millisecond, "length of one round")
	flag.IntVar(&c.photos, "photos", 64, "photos used")
	flag.Parse()
	if c.data == "" {
		c.data = filepath.Join("..", "shared", "data")
	}
	if os.Getenv(engine.LibraryEnv) == "" {
		os.Setenv(engine.LibraryEnv, filepath.Join(c.bin, engine.LibraryName()))
	}
	if err := engine.Init(""); err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "autocv-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		return err
	}
	pkgPath := filepath.Join(tmp, "mobilenetv2.tar.gz")
	if _, err := demopkg.Build(c.data, demopkg.MobileNetV2, priv, pkgPath); err != nil {
		return err
	}
	photos, err := loadPhotos(c.data, c.photos)
	if err != nil {
		return err
	}

	fmt.Printf("AutoCV inference bench: MobileNetV2-int8, %d photos, onnxruntime %s, %d threads\n\n",
		len(photos), engine.Version(), engine.DefaultThreads())
	decodeRows, tensors, err := benchDecode(photos)
	if err != nil {
		return err
	}

	sess, err := engine.NewSession(filepath.Join(c.data, "backbones", demopkg.MobileNetV2.File),
		engine.Options{Provider: engine.CPU, Input: "input", Output: "output"})
	if err != nil {
		return err
	}
	defer sess.Close()

	ctx := context.Background()
	p, err := host.Start(ctx, host.Config{Binary: filepath.Join(c.bin, host.BinaryName())})
	if err != nil {
		return err
	}
	defer p.Kill()
	pubPEM, err := modelpkg.MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: pkgPath, TrustedKeys: [][]byte{pubPEM}}); err != nil {
		return err
	}

	var rows []row
	ratios := map[int]float64{}
	for _, batch := range []int{1, 8} {
		in := batchOf(tensors, batch)
		local := func() error { _, err := sess.Run(in, batch); return err }
		remote := func() error {
			_, err := p.Predict(ctx, inference.PredictRequest{Tensor: in, TensorCount: batch})
			return err
		}
		ls, rs, err := alternate(c, local, remote)
		if err != nil {
			return err
		}
		l, r := summarize("in-process onnxruntime", batch, ls), summarize("go-plugin (tensor)", batch, rs)
		rows = append(rows, l, r)
		ratios[batch] = r.ips / l.ips
	}
	imgs := make([][]byte, 8)
	for i := range imgs {
		imgs[i] = photos[i%len(photos)]
	}
	_, es, err := alternate(c, nil, func() error {
		_, err := p.Predict(ctx, inference.PredictRequest{Images: imgs})
		return err
	})
	if err != nil {
		return err
	}
	rows = append(rows, summarize("go-plugin (jpeg photos)", 8, es))

	fmt.Printf("%-26s %5s %9s %9s %9s\n", "path", "batch", "img/s", "p50 ms", "p99 ms")
	fmt.Println(strings.Repeat("-", 62))
	for _, r := range rows {
		fmt.Printf("%-26s %5d %9.1f %9.2f %9.2f\n", r.name, r.batch, r.ips, r.p50, r.p99)
	}
	fmt.Println()
	fmt.Printf("%-44s %9s\n", "ratio go-plugin / in-process (img/s)", "")
	for _, b := range []int{1, 8} {
		fmt.Printf("  batch %-36d %9.3f\n", b, ratios[b])
	}
	fmt.Println()
	fmt.Printf("%-32s %9s\n", "decode + preprocess, per photo", "ms")
	fmt.Println(strings.Repeat("-", 42))
	for _, r := range decodeRows {
		fmt.Printf("%-32s %9.2f\n", r.name, r.ms)
	}
	return nil
}

func loadPhotos(data string, n int) ([][]byte, error) {
	var out [][]byte
	for _, dir := range []string{"datasets/hymenoptera/val/ants", "datasets/hymenoptera/val/bees", "datasets/flowers5/daisy"} {
		entries, err := os.ReadDir(filepath.Join(data, dir))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if len(out) >= n {
				return out, nil
			}
			b, err := os.ReadFile(filepath.Join(data, dir, e.Name()))
			if err != nil {
				return nil, err
			}
			if _, err := preprocess.Decode(b); err != nil {
				continue // the rules' test files are in here too
			}
			out = append(out, b)
		}
	}
	return out, nil
}

type decodeRow struct {
	name string
	ms   float64
}

// benchDecode times decoding and preprocessing every photo on one core.
func benchDecode(photos [][]byte) ([]decodeRow, [][]float32, error) {
	spec := preprocess.ImageNet()
	tensors := make([][]float32, len(photos))
	var dec, pre time.Duration
	const reps = 3
	for r := 0; r < reps; r++ {
		for i, b := range photos {
			t0 := time.Now()
			img, err := preprocess.Decode(b)
			if err != nil {
				return nil, nil, err
			}
			t1 := time.Now()
			if tensors[i] == nil {
				tensors[i] = make([]float32, 3*224*224)
			}
			if err := spec.Tensor(img, tensors[i]); err != nil {
				return nil, nil, err
			}
			dec += t1.Sub(t0)
			pre += time.Since(t1)
		}
	}
	n := float64(reps * len(photos))
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / n }
	return []decodeRow{
		{"decode (jpeg, image/jpeg)", ms(dec)},
		{"preprocess (resize+crop+norm)", ms(pre)},
		{"total", ms(dec + pre)},
	}, tensors, nil
}

func batchOf(tensors [][]float32, n int) []float32 {
	out := make([]float32, 0, n*len(tensors[0]))
	for i := range n {
		out = append(out, tensors[i%len(tensors)]...)
	}
	return out
}

// alternate runs a and b (a may be nil) in alternating rounds after a
// warm-up and returns each one's per-call latencies.
func alternate(c config, a, b func() error) ([]time.Duration, []time.Duration, error) {
	var la, lb []time.Duration
	type side struct {
		f   func() error
		lat *[]time.Duration
	}
	sides := []side{{b, &lb}}
	if a != nil {
		sides = []side{{a, &la}, {b, &lb}}
	}
	for range 3 {
		for _, x := range sides {
			if err := x.f(); err != nil {
				return nil, nil, err
			}
		}
	}
	for range c.rounds {
		for _, x := range sides {
			end := time.Now().Add(c.round)
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := x.f(); err != nil {
					return nil, nil, err
				}
				*x.lat = append(*x.lat, time.Since(t0))
			}
		}
	}
	return la, lb, nil
}

type row struct {
	name          string
	batch         int
	ips, p50, p99 float64
}

func summarize(name string, batch int, lat []time.Duration) row {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var total time.Duration
	for _, d := range lat {
		total += d
	}
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	return row{name: name, batch: batch, ips: float64(batch*len(lat)) / total.Seconds(), p50: q(0.50), p99: q(0.99)}
}
