package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/protocol/report"
	"github.com/autocv/autocv/trainer"
	"github.com/autocv/autocv/trainer/dataset"
)

func trainCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("train")
	data := fs.String("data", envDefault("AUTOCV_DATA", ""), "training photos: a `folder` with one sub-folder per label")
	testData := fs.String("test-data", envDefault("AUTOCV_TEST_DATA", ""), "optional held-out `folder` (same labels) used as the test split instead of carving one out of --data")
	out := fs.String("out", envDefault("AUTOCV_OUT", ""), "output `folder` (must not exist): package.tar.gz, report.json, signing.pub")
	typ := fs.String("type", envDefault("AUTOCV_TYPE", jobs.RecipeGeneral), "general, high-accuracy or high-performance")
	metric := fs.String("metric", envDefault("AUTOCV_METRIC", report.MetricF1), "metric the best candidate is chosen on: top1, top5, precision, recall or f1")
	keyPath := fs.String("signing-key", envDefault("AUTOCV_SIGNING_KEY", ""), "ed25519 private key `FILE` (PEM); default: one kept in the user's config folder")
	modelID := fs.String("model-id", envDefault("AUTOCV_MODEL_ID", ""), "model id written to the package (default: from the data folder's name)")
	seed := fs.Uint64("seed", 1, "seed of the split and the training")
	opts := trainerFlags(fs)
	logLevel := fs.String("log-level", envDefault("AUTOCV_LOG_LEVEL", "warn"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		fs.Usage()
		return errors.New("--data and --out are required")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("--out %s already exists; choose a new folder", *out)
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	defer log.Sync()
	if opts.BackbonesDir == "" {
		opts.BackbonesDir = defaultBackbones()
	}
	key, pub, err := signingKey(*keyPath)
	if err != nil {
		return err
	}

	in, err := input(ctx, *data, *testData, *seed)
	if err != nil {
		return err
	}
	if m, ok := report.ParseMetric(*metric); ok {
		*metric = m // Top1, f1_score, … name the canonical metrics
	}
	in.AppType, in.Metric, in.Version = *typ, *metric, 1
	in.ModelID = *modelID
	if in.ModelID == "" {
		in.ModelID = idFrom(*data)
	}
	opts.Key, opts.Logger = key, log
	opts.LeaveOutUndecodable = true // the scan read headers only
	opts.Progress = progressPrinter()
	res, err := trainer.Train(ctx, *in, *out, *opts)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	rep := res.Report
	fmt.Printf("accuracy %.3f  precision %.3f  recall %.3f  f1 %.3f  (test split: %d images)\n",
		rep.Metrics.Accuracy, rep.Metrics.Precision, rep.Metrics.Recall, rep.Metrics.F1, rep.Split.Test)
	fmt.Println(rep.Verdict.ZH)
	fmt.Println(rep.Verdict.EN)
	fmt.Printf("package %s\nreport  %s\nkey     %s (id %s)\n", res.PackagePath, res.ReportPath,
		filepath.Join(*out, "signing.pub"), modelpkg.KeyID(pub))
	return nil
}

// input scans the folders and splits them.
func input(ctx context.Context, data, testData string, seed uint64) (*trainer.Input, error) {
	ds, err := dataset.ScanContext(ctx, data)
	if err != nil {
		return nil, scanError(data, ds, err)
	}
	var sp dataset.Splits
	if testData != "" {
		ts, err := dataset.ScanContext(ctx, testData)
		if err != nil {
			return nil, scanError(testData, ts, err)
		}
		if sp, err = dataset.SplitWithTest(ds.Images, ts.Images, seed, dataset.DefaultValFraction); err != nil {
			return nil, err
		}
	} else if sp, err = dataset.Split(ds.Images, seed, dataset.DefaultFractions()); err != nil {
		return nil, err
	}
	in := &trainer.Input{Labels: ds.Labels, Seed: seed}
	source := filepath.Base(filepath.Clean(data))
	for _, part := range []struct {
		split  string
		images []dataset.Image
	}{{jobs.SplitTrain, sp.Train}, {jobs.SplitValidation, sp.Val}, {jobs.SplitTest, sp.Test}} {
		for _, im := range part.images {
			in.Items = append(in.Items, trainer.Item{ID: im.ID, Label: im.Label, Split: part.split, Path: im.Path, SHA256: im.SHA256, Source: source})
		}
	}
	for _, s := range ds.Skipped {
		in.Skipped = append(in.Skipped, report.Skipped{Path: s.ID, Reason: string(s.Reason), Message: dataset.Message(s.Reason, "en")})
	}
	for _, d := range ds.Duplicates {
		label := strings.SplitN(d.Kept, "/", 2)[0]
		in.Checks.Duplicates = append(in.Checks.Duplicates, report.DuplicateGroup{SHA256: d.SHA256,
			Paths: []string{d.Kept, d.Dropped}, Labels: []string{label, label}})
	}
	for _, c := range ds.Conflicts {
		g := report.DuplicateGroup{SHA256: c.SHA256, Paths: c.IDs}
		for _, id := range c.IDs {
			g.Labels = append(g.Labels, strings.SplitN(id, "/", 2)[0])
		}
		in.Checks.CrossLabel = append(in.Checks.CrossLabel, g)
	}
	return in, nil
}

// scanError says what was wrong with a folder, with the files left out.
func scanError(dir string, ds *dataset.Dataset, err error) error {
	if ds != nil && len(ds.Skipped) > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d file(s) left out:\n", dir, len(ds.Skipped))
		for i, s := range ds.Skipped {
			if i == 20 {
				fmt.Fprintf(os.Stderr, "  … and %d more\n", len(ds.Skipped)-20)
				break
			}
			fmt.Fprintf(os.Stderr, "  %s: %s\n", s.ID, dataset.Message(s.Reason, "en"))
		}
	}
	return fmt.Errorf("%s: %w", dir, err)
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// idFrom makes a model id from a folder name.
func idFrom(dir string) string {
	id := strings.Trim(idUnsafe.ReplaceAllString(filepath.Base(filepath.Clean(dir)), "-"), "-._")
	if id == "" {
		return "model"
	}
	return id
}

// signingKey reads the key at path, or the user's default key, creating it
// on first use.
func signingKey(path string) (ed25519.PrivateKey, ed25519.PublicKey, error) {
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, nil, fmt.Errorf("no --signing-key and no user config folder: %w", err)
		}
		path = filepath.Join(dir, "autocv", "signing.key")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, nil, err
			}
			_, priv, err := modelpkg.GenerateKey()
			if err != nil {
				return nil, nil, err
			}
			if err := modelpkg.WritePrivateKey(path, priv); err != nil {
				return nil, nil, err
			}
			fmt.Fprintf(os.Stderr, "created signing key %s\n", path)
		}
	}
	priv, err := modelpkg.ReadPrivateKey(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--signing-key: %w", err)
	}
	return priv, priv.Public().(ed25519.PublicKey), nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// progressPrinter shows progress on one terminal line.
func progressPrinter() func(jobs.Progress) {
	last := ""
	return func(p jobs.Progress) {
		line := fmt.Sprintf("%-9s %3.0f%%  ETA %ds", p.Stage, p.Percent, p.ETASeconds)
		if line != last {
			fmt.Fprintf(os.Stderr, "\r%s   ", line)
			last = line
		}
	}
}
