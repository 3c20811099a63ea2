// Command autocv-dist writes the zips `make dist` ships, with the same code
// the control plane uses for offline SDKs (controlplane/sdk):
//
//	autocv-dist runtime -platform P -dir DIR -out FILE
//	    the runtime set of P (agent, plugin, onnxruntime) from DIR, for a
//	    server to unpack into <runtimes>/<platform>/
//	autocv-dist sdk -platform P -runtime DIR -package FILE -key FILE -id ID -version N -out FILE
//	    an offline SDK for one signed package, as the console builds it
//
// Entries are sorted and dated SOURCE_DATE_EPOCH (else the commit time).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/autocv/autocv/controlplane/sdk"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "autocv-dist:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: autocv-dist runtime|sdk FLAGS (see the package doc)")
	}
	fs := flag.NewFlagSet("autocv-dist "+args[0], flag.ContinueOnError)
	platform := fs.String("platform", "", "SDK platform")
	out := fs.String("out", "", "zip `FILE` to write")
	switch args[0] {
	case "runtime":
		dir := fs.String("dir", "", "runtime `DIR` holding the platform's files")
		if err := parse(fs, args[1:], "platform", "out", "dir"); err != nil {
			return err
		}
		p, err := sdk.Lookup(*platform)
		if err != nil {
			return err
		}
		if _, err := p.FindRuntime([]string{*dir}); err != nil {
			return err
		}
		root := fmt.Sprintf("autocv-runtime-%s/", p.Name)
		return writeAtomic(*out, func(w io.Writer) error { return sdk.WriteRuntime(w, p, *dir, root, sdk.SourceDate()) })
	case "sdk":
		dir := fs.String("runtime", "", "runtime `DIR` holding the platform's files")
		pkg := fs.String("package", "", "signed package.tar.gz")
		key := fs.String("key", "", "public key (PEM) that signed the package")
		id := fs.String("id", "", "model id")
		version := fs.Int("version", 1, "model version")
		if err := parse(fs, args[1:], "platform", "out", "runtime", "package", "key", "id"); err != nil {
			return err
		}
		p, err := sdk.Lookup(*platform)
		if err != nil {
			return err
		}
		if _, err := p.FindRuntime([]string{*dir}); err != nil {
			return err
		}
		pub, err := os.ReadFile(*key)
		if err != nil {
			return err
		}
		if _, err := os.Stat(*pkg); err != nil {
			return err
		}
		o := sdk.Options{Platform: p, RuntimeDir: *dir,
			Model: sdk.Model{ID: *id, Version: *version, Package: *pkg, PublicKey: pub}}
		return writeAtomic(*out, func(w io.Writer) error { return sdk.Write(w, o) })
	}
	return fmt.Errorf("unknown command %q: want runtime or sdk", args[0])
}

// parse parses args and insists on every flag named in required.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var missing []string
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			missing = append(missing, "-"+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %s", fs.Name(), strings.Join(missing, ", "))
	}
	return nil
}

// writeAtomic writes path through a temp file in its folder.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".autocv-dist-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
