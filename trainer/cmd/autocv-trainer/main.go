// Command autocv-trainer trains image classifiers.
//
//	autocv-trainer train --data DIR --out DIR [--type general|high-accuracy|high-performance]
//	                     [--metric top1|top5|precision|recall|f1] [--device cpu|cuda|auto]
//	                     [--signing-key FILE] [--test-data DIR]
//	autocv-trainer worker --server URL --token T
//	autocv-trainer fetch-backbones [--dest DIR] [--from FOLDER|ARCHIVE]
//	autocv-trainer version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/autocv/autocv/internal/buildinfo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "autocv-trainer:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  autocv-trainer train --data DIR --out DIR [flags]   train a model from one folder per label
  autocv-trainer worker --server URL --token T        work the control plane's training queue
  autocv-trainer fetch-backbones [--dest DIR]         fetch the pretrained backbones (sha256-pinned)
  autocv-trainer version
Run a command with -h for its flags.`

func run() error {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		return errors.New("no command given")
	}
	ctx, stop := signalContext()
	defer stop()
	switch os.Args[1] {
	case "train":
		return trainCmd(ctx, os.Args[2:])
	case "worker":
		return workerCmd(ctx, os.Args[2:])
	case "fetch-backbones":
		return fetchBackbonesCmd(ctx, os.Args[2:])
	case "version":
		fmt.Println("autocv-trainer", buildinfo.String())
		return nil
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", os.Args[1], usage)
}

// signalContext is cancelled by the first SIGINT/SIGTERM; a second one
// exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
			fmt.Fprintln(os.Stderr, "stopping (again to force)")
			cancel()
		case <-ctx.Done():
			return
		}
		<-ch
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// envDefault returns $name or def, for flag defaults: flags win over the
// environment, the environment over built-in defaults.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage of autocv-trainer %s (every flag also reads AUTOCV_<NAME>):\n", name)
		fs.PrintDefaults()
	}
	return fs
}
