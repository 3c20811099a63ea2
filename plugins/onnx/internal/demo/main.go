// Command demo writes the demo model package that `make run` serves: the
// ImageNet MobileNetV2 backbone from the shared test data wrapped as a
// signed package, with its public key beside it.
//
//	go run ./plugins/onnx/internal/demo -data ../shared/data -out .cache/demo
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	data := flag.String("data", filepath.Join("..", "shared", "data"), "shared data folder (backbones/, datasets/)")
	out := flag.String("out", filepath.Join(".cache", "demo"), "output folder")
	flag.Parse()
	pkgPath := filepath.Join(*out, "package.tar.gz")
	if _, err := os.Stat(pkgPath); err == nil {
		return nil // already built
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		return err
	}
	if err := modelpkg.WritePublicKey(filepath.Join(*out, "signing.pub"), pub); err != nil {
		return err
	}
	if _, err := demopkg.Build(*data, demopkg.MobileNetV2, priv, pkgPath); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "demo package %s (key %s)\n", pkgPath, modelpkg.KeyID(pub))
	return nil
}
