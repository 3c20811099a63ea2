package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

func (a *app) pageFooter(p api.Page) {
	if p.PageSize > 0 && p.Total > p.PageSize {
		pages := (p.Total + p.PageSize - 1) / p.PageSize
		fmt.Fprintf(a.stdout, "page %d of %d (%d in all; --page N for more)\n", p.Page, pages, p.Total)
	}
}

func (a *app) datasetsList(args []string) error {
	fs := a.flagSet("datasets list", a.usage)
	pg := fs.Int("page", 0, "page `N` (from 1)")
	size := fs.Int("page-size", 0, "datasets per page (1–200, default 50)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListDatasets(a.ctx, *pg, *size)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "NAME", "STATUS", "IMAGES", "LABELS", "UPDATED")
		for _, d := range out.Items {
			t.row(d.ID, d.Name, d.Status, d.ImageCount, d.LabelCount, fmtTime(d.UpdatedAt))
		}
		t.flush()
		a.pageFooter(out.Page)
	})
}

func (a *app) datasetsGet(args []string) error {
	fs := a.flagSet("datasets get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	d, err := c.GetDataset(a.ctx, pos[0])
	if err != nil {
		return err
	}
	return a.output(d, func() { a.printDataset(d) })
}

// printDataset shows a dataset, its labels and its last import report.
func (a *app) printDataset(d *api.Dataset) {
	w := a.stdout
	fmt.Fprintf(w, "dataset %s  %q\nstatus   %s (revision %d)\nimages   %d in %d labels\n", d.ID, d.Name, d.Status, d.Revision, d.ImageCount, d.LabelCount)
	if d.Error != "" {
		fmt.Fprintf(w, "error    %s\n", d.Error)
	}
	if len(d.Labels) > 0 {
		fmt.Fprintln(w)
		t := a.table("LABEL", "IMAGES", "TRAINABLE", "NOTE")
		for _, l := range d.Labels {
			t.row(l.Name, l.Count, yesNo(l.Trainable), l.Warning)
		}
		t.flush()
	}
	if r := d.ImportReport; r != nil {
		fmt.Fprintf(w, "\nlast import: %d images added, %d files skipped", r.Added, len(r.Skipped))
		if r.Seconds > 0 {
			fmt.Fprintf(w, " in %.1fs", r.Seconds)
		}
		fmt.Fprintln(w)
		const show = 20
		for i, s := range r.Skipped {
			if i == show {
				fmt.Fprintf(w, "  … and %d more (--json lists them all)\n", len(r.Skipped)-show)
				break
			}
			fmt.Fprintf(w, "  skipped %s: %s", s.Path, s.Reason)
			if s.Detail != "" {
				fmt.Fprintf(w, " (%s)", s.Detail)
			}
			fmt.Fprintln(w)
		}
	}
}

func (a *app) datasetsCreate(args []string) error {
	fs := a.flagSet("datasets create", a.usage)
	name := fs.String("name", "", "dataset `name`")
	zipPath := fs.String("zip", "", "zip `file`: one folder per label")
	wait := fs.Bool("wait", false, "wait until the import ends and show its report")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" || *zipPath == "" {
		return a.usagef("--name and --zip are required")
	}
	d, err := a.sendZip(*zipPath, func(c *client.Client, zip *client.File, uploadID string) (*api.Dataset, error) {
		return c.CreateDataset(a.ctx, *name, zip, uploadID)
	})
	if err != nil {
		return err
	}
	return a.afterImport(d, *wait, "created")
}

func (a *app) datasetsAppend(args []string) error {
	fs := a.flagSet("datasets append", a.usage)
	zipPath := fs.String("zip", "", "zip `file`: one folder per label")
	wait := fs.Bool("wait", false, "wait until the import ends and show its report")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *zipPath == "" {
		return a.usagef("--zip is required")
	}
	d, err := a.sendZip(*zipPath, func(c *client.Client, zip *client.File, uploadID string) (*api.Dataset, error) {
		return c.AppendZip(a.ctx, pos[0], zip, uploadID)
	})
	if err != nil {
		return err
	}
	return a.afterImport(d, *wait, "appending to")
}

// afterImport reports an accepted zip, or waits for its import to end.
func (a *app) afterImport(d *api.Dataset, wait bool, verb string) error {
	if wait {
		return a.waitDataset(d.ID)
	}
	return a.output(d, func() {
		fmt.Fprintf(a.stdout, "%s dataset %s %q: %s (autocv datasets get %s shows when it is ready)\n", verb, d.ID, d.Name, d.Status, d.ID)
	})
}

// waitDataset polls a dataset until its import ends, showing progress.
func (a *app) waitDataset(id string) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	prog := a.newProgress("importing "+id, 0)
	lastLine := ""
	for {
		d, err := c.GetDataset(a.ctx, id)
		if err != nil {
			return err
		}
		if d.Status != api.DatasetProcessing {
			prog.done()
			if err := a.output(d, func() { a.printDataset(d) }); err != nil {
				return err
			}
			if d.Status == api.DatasetFailed {
				return fmt.Errorf("dataset %s: the import failed: %s", id, orDash(d.Error))
			}
			return nil
		}
		if p := d.Progress; p != nil {
			line := p.Stage
			if p.Total > 0 {
				line = fmt.Sprintf("%s %d of %d files", p.Stage, p.Done, p.Total)
			}
			if line != lastLine {
				prog.note(line)
				lastLine = line
			}
		}
		if err := a.sleep(time.Second); err != nil {
			return err
		}
	}
}

func (a *app) datasetsRename(args []string) error {
	fs := a.flagSet("datasets rename", a.usage)
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	d, err := c.RenameDataset(a.ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	return a.output(d, func() { fmt.Fprintf(a.stdout, "dataset %s is now %q\n", d.ID, d.Name) })
}

func (a *app) datasetsDelete(args []string) error {
	return a.deleteOne(args, "datasets delete", "deleted dataset", (*client.Client).DeleteDataset)
}

// deleteOne runs a command that deletes the thing named by its one
// argument.
func (a *app) deleteOne(args []string, name, done string, del func(*client.Client, context.Context, string) error) error {
	fs := a.flagSet(name, a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	if err := del(c, a.ctx, pos[0]); err != nil {
		return err
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, done, pos[0])
	}
	return nil
}

func (a *app) datasetsImages(args []string) error {
	fs := a.flagSet("datasets images", a.usage)
	pg := fs.Int("page", 0, "page `N` (from 1)")
	size := fs.Int("page-size", 0, "images per page (1–200, default 50)")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListImages(a.ctx, pos[0], pos[1], *pg, *size)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "SOURCE", "SIZE", "PIXELS", "ADDED")
		for _, im := range out.Items {
			t.row(im.ID, im.Source, fmtBytes(im.Size), fmt.Sprintf("%d×%d", im.Width, im.Height), fmtTime(im.CreatedAt))
		}
		t.flush()
		a.pageFooter(out.Page)
	})
}

// Single images go up in batches the server accepts in one request.
const (
	imagesPerRequest = 100
	bytesPerRequest  = 48 << 20
)

func (a *app) datasetsAddImages(args []string) error {
	fs := a.flagSet("datasets add-images", a.usage)
	pos, err := a.parse(fs, args, 3, -1)
	if err != nil {
		return err
	}
	id, label, paths := pos[0], pos[1], pos[2:]
	files, err := openImages(paths)
	if err != nil {
		return err
	}
	defer closeAll(files)
	c, err := a.api()
	if err != nil {
		return err
	}
	all := &api.AddImagesResponse{Added: []api.Image{}, Skipped: []api.SkippedFile{}}
	for start := 0; start < len(files); {
		end, size := start, int64(0)
		for end < len(files) && end-start < imagesPerRequest && (end == start || size+files[end].size <= bytesPerRequest) {
			size += files[end].size
			end++
		}
		out, err := c.AddImages(a.ctx, id, label, parts(files[start:end]))
		if err != nil {
			if start > 0 {
				return fmt.Errorf("after %d of %d files were sent: %w", start, len(files), err)
			}
			return err
		}
		all.Added, all.Skipped = append(all.Added, out.Added...), append(all.Skipped, out.Skipped...)
		start = end
	}
	return a.output(all, func() {
		fmt.Fprintf(a.stdout, "added %d images to label %s of dataset %s", len(all.Added), label, id)
		if len(all.Skipped) > 0 {
			fmt.Fprintf(a.stdout, "; skipped %d:", len(all.Skipped))
		}
		fmt.Fprintln(a.stdout)
		for _, s := range all.Skipped {
			fmt.Fprintf(a.stdout, "  %s: %s (%s)\n", orDash(s.Path), s.Reason, s.Detail)
		}
	})
}

// localFile is an opened file to send.
type localFile struct {
	path string
	f    *os.File
	size int64
}

// parts are files to send, named by their base names.
func parts(files []localFile) []client.File {
	out := make([]client.File, len(files))
	for i, f := range files {
		out[i] = client.File{Name: filepath.Base(f.path), Body: f.f, Size: f.size}
	}
	return out
}

// openImages opens files to upload, naming the first that is not a
// readable regular file.
func openImages(paths []string) ([]localFile, error) {
	var out []localFile
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("image: %w", err)
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = fmt.Errorf("image %s is not a regular file", p)
		}
		if err != nil {
			f.Close()
			closeAll(out)
			return nil, err
		}
		out = append(out, localFile{path: p, f: f, size: fi.Size()})
	}
	return out, nil
}

func closeAll(fs []localFile) {
	for _, f := range fs {
		f.f.Close()
	}
}
