// Command bench measures the trainer side by side in one run and prints
// tables (make bench), with the targets next to the figures:
//
//   - hymenoptera (train folder, tested on its val folder) and flowers5
//     (every 5th photo per label, sorted by name, held out as the test
//     split) × each application type: test accuracy, macro F1, wall time
//     per stage, and the same training again on its now warm feature cache;
//     every row starts from its own empty cache, so "cold" is honest;
//   - feature extraction images/s (the trainer's extractor, no cache) vs
//     onnxruntime alone on the same photos already preprocessed, in the
//     same batches, with the ratio;
//   - about 1000 photos (flowers5 + hymenoptera train and val, 7 labels)
//     from folder to signed package with the general type, cold and warm,
//     scan included.
//
// Packages, reports and caches go to a temporary folder removed at the end.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	bin, data string
	quick     bool
	cores     int
	photos    int
	seed      uint64
	sections  string // comma list of recipes, extract, e2e
	types     string // comma list of application types in the recipes table
	tmp       string // removed at the end
	backbones string
}

func run() error {
	var c config
	flag.StringVar(&c.bin, "bin", "bin", "`folder` with the onnxruntime library ("+engine.LibraryName()+")")
	flag.StringVar(&c.data, "data", os.Getenv("AUTOCV_TESTDATA"), "shared test data `folder` (datasets/, backbones/); default $AUTOCV_TESTDATA or ../shared/data")
	flag.BoolVar(&c.quick, "quick", false, "a small run (30 photos per label, 16 photos for extraction) to check the program works; its figures mean nothing")
	flag.IntVar(&c.cores, "cores", 2, "cores to use (GOMAXPROCS, onnxruntime threads); the targets are for 2; 0 = all")
	flag.IntVar(&c.photos, "photos", 64, "photos in the extraction comparison")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the splits and the training")
	flag.StringVar(&c.sections, "sections", "recipes,extract,e2e", "which tables to make: `list` of recipes, extract, e2e")
	flag.StringVar(&c.types, "types", strings.Join(recipeNames, ","), "application `types` in the recipes table")
	flag.Parse()
	if c.data == "" {
		c.data = filepath.Join("..", "shared", "data")
	}
	c.backbones = filepath.Join(c.data, "backbones")
	if c.quick {
		c.photos = min(c.photos, 16)
	}
	if c.cores > 0 {
		runtime.GOMAXPROCS(c.cores)
	}
	if err := engine.Init(filepath.Join(c.bin, engine.LibraryName())); err != nil {
		return fmt.Errorf("onnxruntime from -bin %s: %w", c.bin, err)
	}
	tmp, err := os.MkdirTemp("", "autocv-trainer-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	c.tmp = tmp
	_, key, err := modelpkg.GenerateKey()
	if err != nil {
		return err
	}

	mode := ""
	if c.quick {
		mode = " (-quick: subsets, figures are not the real ones)"
	}
	fmt.Printf("AutoCV trainer bench%s: onnxruntime %s, %d cores (GOMAXPROCS; %d on the machine), seed %d%s\n\n",
		mode, engine.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), c.seed, loadAverage())
	defer func() { fmt.Printf("\nfinished%s\n", loadAverage()) }()

	want := strings.Split(c.sections, ",")
	if slices.Contains(want, "recipes") {
		sets, err := loadSets(c)
		if err != nil {
			return err
		}
		rows, err := benchRecipes(c, sets, key)
		if err != nil {
			return err
		}
		printRecipes(rows)
	}
	if slices.Contains(want, "extract") {
		ext, err := benchExtract(c)
		if err != nil {
			return err
		}
		printExtract(ext)
	}
	if slices.Contains(want, "e2e") {
		e2e, err := benchEndToEnd(c, key)
		if err != nil {
			return err
		}
		printEndToEnd(e2e)
	}
	return nil
}

// loadAverage reports the machine's load (Linux), since other work on it
// slows every figure: ", load average 0.12 0.30 0.25", or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return ", load average " + strings.Join(f[:3], " ")
}
