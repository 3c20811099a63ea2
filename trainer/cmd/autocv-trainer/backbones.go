package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/autocv/autocv/internal/backbones"
)

// backboneCandidates are the folders the trainer looks in when neither
// --backbones nor AUTOCV_BACKBONES names one, in order: beside the binary,
// the checkout's .cache/backbones (where `make deps` puts them; seen from
// bin/ and from the working folder), then the shared test data.
func backboneCandidates() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "backbones"),
			filepath.Join(filepath.Dir(exe), "..", ".cache", "backbones"))
	}
	return append(dirs, filepath.Join(".cache", "backbones"), filepath.Join("..", "shared", "data", "backbones"))
}

// defaultBackbones is the first candidate folder holding every backbone
// file, else "" (the trainer then says none was found, and where it
// looked).
func defaultBackbones() string {
	for _, dir := range backboneCandidates() {
		if backbones.Complete(dir, backbones.Pinned) {
			return dir
		}
	}
	return ""
}

func fetchBackbonesCmd(ctx context.Context, args []string) error {
	fs := newFlagSet("fetch-backbones")
	dest := fs.String("dest", envDefault("AUTOCV_BACKBONES", filepath.Join(".cache", "backbones")), "`folder` the backbones land in")
	from := fs.String("from", envDefault("AUTOCV_BACKBONES_FROM", ""), "offline: a `folder or archive` (.tar.gz, .zip) holding the files; no network is used")
	mirror := fs.String("mirror", envDefault("AUTOCV_BACKBONES_MIRROR", filepath.Join(envDefault("AUTOCV_TESTDATA", filepath.Join("..", "shared", "data")), "backbones")),
		"`folder` copied from when a download fails (ignored when missing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !isDir(*mirror) {
		*mirror = ""
	}
	err := backbones.Fetch(ctx, backbones.Options{Dest: *dest, From: *from, Mirror: *mirror,
		Log: func(s string) { fmt.Fprintln(os.Stderr, s) }})
	if errors.Is(err, backbones.ErrOffline) {
		return fmt.Errorf("%w\n(the trainer waits without them and the console says what is missing)", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "backbones ready in %s (%s)\n", *dest, strings.Join(backbones.Names(backbones.Pinned), ", "))
	return nil
}
