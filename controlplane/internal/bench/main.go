// Command bench measures the control plane through a real autocv-server
// on loopback and prints one table per section (make bench):
//
//  1. Dataset import: a zip of the shared test photos (flowers5 +
//     hymenoptera, up to 1000; the data folder holds 998 files) uploaded
//     with POST /datasets until the dataset is ready: upload time, then
//     images/s and MB/s over upload + import.
//  2. List endpoints with 10k images stored: p50/p99 of GET /datasets,
//     GET /models, GET /datasets/{id} and a label's image pages. The 10k
//     images are generated 64×64 JPEGs (distinct and valid, so the import
//     stores each one as it would a photo): there are not 10k real photos,
//     and this section measures metadata, not decoding.
//
// Sections 1 and 2 run on SQLite (the embedded default) and on a
// PostgreSQL the bench starts from the local installation (skipped, with
// a note, when there is none).
//
//  3. Cloud inference: a cloud-general version trained by the server's own
//     trainer (--trainers 1, hymenoptera train photos), published as a
//     cloud API; POST /api/v1/infer/{path} with an API key vs
//     controlplane/infer's Pool.Predict in this process on the same
//     package, photo and thread setting, in alternating rounds, with the
//     ratio.
//
// Everything runs in a temporary folder removed at the end.
//
//	go run ./controlplane/internal/bench [-bin bin] [-data ../shared/data] [-quick]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/autocv/autocv/controlplane/internal/rig"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	bin, data   string
	quick       bool
	postgres    bool
	threads     int
	photos      int
	synthImages int
	synthLabels int
	models      int
	calls       int
	inferN      int
}

func run() error {
	var c config
	flag.StringVar(&c.bin, "bin", "", "`folder` with autocv-server, autocv-trainer, autocv-plugin-onnx and "+rig.ORTName+
		" (make build's bin/); empty: build them into a temporary folder (run from the repository root)")
	flag.StringVar(&c.data, "data", os.Getenv("AUTOCV_TESTDATA"), "shared test data `folder` (datasets/, backbones/); default $AUTOCV_TESTDATA or ../shared/data")
	flag.BoolVar(&c.quick, "quick", false, "a small run (200 photos, 2000 synthetic images, 50 calls) to check the program works; its figures mean little")
	flag.BoolVar(&c.postgres, "postgres", true, "also run sections 1 and 2 on a PostgreSQL started from the local installation")
	flag.IntVar(&c.threads, "threads", 0, "intra-op threads of the model in both inference paths (0: the plugin's default)")
	flag.IntVar(&c.photos, "photos", 1000, "most photos in the import zip")
	flag.IntVar(&c.synthImages, "images", 10000, "synthetic images stored for the list benchmark")
	flag.IntVar(&c.calls, "calls", 300, "calls per list endpoint")
	flag.IntVar(&c.inferN, "n", 200, "inference calls per path")
	flag.Parse()
	c.synthLabels, c.models = 10, 20
	if c.quick {
		c.photos, c.synthImages, c.calls, c.inferN, c.models = min(c.photos, 200), min(c.synthImages, 2000), min(c.calls, 50), min(c.inferN, 40), 5
	}
	switch {
	case c.photos < 1:
		return errors.New("-photos must be at least 1")
	case c.synthImages < c.synthLabels:
		return fmt.Errorf("-images must be at least %d (one per label)", c.synthLabels)
	case c.calls < 1 || c.inferN < 4:
		return errors.New("-calls must be at least 1 and -n at least 4")
	case c.threads < 0:
		return errors.New("-threads must be 0 or more")
	}
	if c.data == "" {
		c.data = filepath.Join("..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(c.data, "backbones")); err != nil {
		return fmt.Errorf("test data: %w (set -data or AUTOCV_TESTDATA)", err)
	}
	tmp, err := os.MkdirTemp("", "autocv-cp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if c.bin == "" {
		c.bin = filepath.Join(tmp, "bin")
		lib := os.Getenv("ONNXRUNTIME_LIB")
		if lib == "" {
			lib = filepath.Join(".cache", "onnxruntime", runtime.GOOS+"-"+runtime.GOARCH, rig.ORTName)
		}
		progress("building the binaries into %s", c.bin)
		if err := rig.BuildBinaries(c.bin, lib); err != nil {
			return err
		}
	} else if err := rig.CheckBinaries(c.bin); err != nil {
		return err
	}
	if c.bin, err = filepath.Abs(c.bin); err != nil {
		return err
	}
	if c.data, err = filepath.Abs(c.data); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	photoZip, synthZip := filepath.Join(tmp, "photos.zip"), filepath.Join(tmp, "synthetic.zip")
	pz, err := rig.WritePhotoZip(c.data, photoZip, c.photos)
	if err != nil {
		return err
	}
	sz, err := rig.WriteSyntheticZip(synthZip, c.synthImages, c.synthLabels)
	if err != nil {
		return err
	}

	env := []string{"AUTOCV_BACKBONES=" + filepath.Join(c.data, "backbones"), "ONNXRUNTIME_LIB=" + filepath.Join(c.bin, rig.ORTName)}
	sqlite := &rig.ServerProc{Bin: c.bin, DataDir: filepath.Join(tmp, "sqlite"), Threads: c.threads, Env: env}
	progress("SQLite: importing %d photos and %d synthetic images, then the list calls", pz.Entries, sz.Entries)
	if err := sqlite.Start(); err != nil {
		return err
	}
	defer sqlite.Stop()
	results := []backendResult{}
	r, err := benchBackend("sqlite", sqlite, c, photoZip, synthZip, pz, sz)
	if err != nil {
		return err
	}
	results = append(results, r)
	sqlite.Stop()

	pgNote := ""
	if c.postgres {
		r, err := benchPostgres(c, env, tmp, photoZip, synthZip, pz, sz)
		switch {
		case errors.Is(err, errNoPostgres):
			pgNote = "PostgreSQL skipped: " + err.Error()
		case err != nil:
			return err
		default:
			results = append(results, r)
		}
	} else {
		pgNote = "PostgreSQL skipped (-postgres=false)"
	}

	progress("section 3: training a cloud-general version with the server's trainer, then %d /infer and %d in-process calls", c.inferN, c.inferN)
	sqlite.Trainers = 1
	if err := sqlite.Restart(); err != nil {
		return err
	}
	ir, err := benchInfer(ctx, sqlite, c, tmp)
	if err != nil {
		return fmt.Errorf("section 3: %w\nautocv-server output:\n%s", err, sqlite.Output())
	}
	sqlite.Stop()

	fmt.Printf("AutoCV control plane bench: %s/%s, %s, %d CPUs, GOMAXPROCS %d (bench process; the server and plugins use their own defaults)%s\n\n",
		runtime.GOOS, runtime.GOARCH, cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), quickNote(c.quick))
	printImports(results, photoNote(c, results[0].photos))
	printLists(results, c)
	if pgNote != "" {
		fmt.Println("   " + pgNote)
		fmt.Println()
	}
	printInfer(ir, c)
	return nil
}

// benchPostgres runs sections 1 and 2 on a fresh PostgreSQL.
func benchPostgres(c config, env []string, tmp, photoZip, synthZip string, pz, sz rig.ZipStats) (backendResult, error) {
	pg, err := startPostgres()
	if err != nil {
		return backendResult{}, err
	}
	defer pg.stop()
	progress("PostgreSQL: the same imports and list calls")
	srv := &rig.ServerProc{Bin: c.bin, DataDir: filepath.Join(tmp, "postgres"), DSN: pg.dsn("autocv"), Threads: c.threads, Env: env}
	if err := srv.Start(); err != nil {
		return backendResult{}, err
	}
	defer srv.Stop()
	return benchBackend("postgres", srv, c, photoZip, synthZip, pz, sz)
}

// photoNote says how many photos the import zip could hold.
func photoNote(c config, im importResult) string {
	if im.zip.Entries < c.photos {
		return fmt.Sprintf("only %d photo files exist in the data folder (fewer than %d): the zip holds all of them; "+
			"the import accepted %d and skipped %d (image rules, duplicates)", im.zip.Entries, c.photos, im.accepted, im.skipped)
	}
	return fmt.Sprintf("%d real photos; the import accepted %d and skipped %d (image rules, duplicates)", im.zip.Entries, im.accepted, im.skipped)
}

func quickNote(quick bool) string {
	if quick {
		return "\n-quick: a small run to check the program works; its figures mean little"
	}
	return ""
}

// cpuModel is the CPU's name from /proc/cpuinfo, or "CPU model unknown".
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "CPU model unknown"
}

// progress tells the person waiting what runs now (stderr; the tables go
// to stdout at the end).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
