package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// dataset is GET /datasets/{id}, as far as the tables need it.
type dataset struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Status     string    `json:"status"`
	Error      string    `json:"error"`
	Revision   int       `json:"revision"`
	ImageCount int       `json:"image_count"`
	LabelCount int       `json:"label_count"`
	UpdatedAt  time.Time `json:"updated_at"`
	Labels     []struct {
		Name      string `json:"name"`
		Count     int    `json:"count"`
		Trainable bool   `json:"trainable"`
		Warning   string `json:"warning"`
	} `json:"labels"`
	ImportReport *struct {
		Accepted map[string]int `json:"accepted"`
		Skipped  []struct {
			Path   string `json:"path"`
			Reason string `json:"reason"`
			Detail string `json:"detail"`
		} `json:"skipped"`
		Added   int     `json:"added"`
		Seconds float64 `json:"seconds"`
	} `json:"import_report"`
	Progress *struct {
		Stage string `json:"stage"`
		Done  int    `json:"done"`
		Total int    `json:"total"`
	} `json:"progress"`
}

type page struct {
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
}

func (a *app) pageFooter(p page) {
	if p.PageSize > 0 && p.Total > p.PageSize {
		pages := (p.Total + p.PageSize - 1) / p.PageSize
		fmt.Fprintf(a.stdout, "page %d of %d (%d in all; --page N for more)\n", p.Page, pages, p.Total)
	}
}

func pageQuery(pg, size int) string {
	q := url.Values{}
	if pg > 0 {
		q.Set("page", strconv.Itoa(pg))
	}
	if size > 0 {
		q.Set("page_size", strconv.Itoa(size))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func (a *app) datasetsList(args []string) error {
	fs := a.flagSet("datasets list", a.usage)
	pg := fs.Int("page", 0, "page `N` (from 1)")
	size := fs.Int("page-size", 0, "datasets per page (1–200, default 50)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	var out struct {
		Items []dataset `json:"items"`
		page
	}
	raw, err := a.get("/datasets"+pageQuery(*pg, *size), &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "NAME", "STATUS", "IMAGES", "LABELS", "UPDATED")
	for _, d := range out.Items {
		t.row(d.ID, d.Name, d.Status, d.ImageCount, d.LabelCount, fmtTime(d.UpdatedAt))
	}
	t.flush()
	a.pageFooter(out.page)
	return nil
}

func (a *app) datasetsGet(args []string) error {
	fs := a.flagSet("datasets get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var d dataset
	raw, err := a.get(apiPath("datasets", pos[0]), &d)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	a.printDataset(&d)
	return nil
}

// printDataset shows a dataset, its labels and its last import report.
func (a *app) printDataset(d *dataset) {
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
	raw, err := a.sendZip("/datasets", [][2]string{{"name", *name}}, *zipPath)
	if err != nil {
		return err
	}
	return a.afterImport(raw, *wait, "created")
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
	raw, err := a.sendZip(apiPath("datasets", pos[0], "zips"), nil, *zipPath)
	if err != nil {
		return err
	}
	return a.afterImport(raw, *wait, "appending to")
}

// afterImport reports an accepted zip, or waits for its import to end.
func (a *app) afterImport(raw []byte, wait bool, verb string) error {
	var d dataset
	if err := decode(raw, &d, "/datasets"); err != nil {
		return err
	}
	if !wait {
		if a.jsonOut {
			a.emitJSON(raw)
			return nil
		}
		fmt.Fprintf(a.stdout, "%s dataset %s %q: %s (autocv datasets get %s shows when it is ready)\n", verb, d.ID, d.Name, d.Status, d.ID)
		return nil
	}
	return a.waitDataset(d.ID)
}

// waitDataset polls a dataset until its import ends, showing progress.
func (a *app) waitDataset(id string) error {
	prog := a.newProgress("importing "+id, 0)
	lastLine := ""
	for {
		var d dataset
		raw, err := a.get(apiPath("datasets", id), &d)
		if err != nil {
			return err
		}
		if d.Status != "processing" {
			prog.done()
			if a.jsonOut {
				a.emitJSON(raw)
			} else {
				a.printDataset(&d)
			}
			if d.Status == "failed" {
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
	var d dataset
	raw, err := a.send(http.MethodPatch, apiPath("datasets", pos[0]), map[string]string{"name": pos[1]}, &d)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintf(a.stdout, "dataset %s is now %q\n", d.ID, d.Name)
	return nil
}

func (a *app) datasetsDelete(args []string) error {
	fs := a.flagSet("datasets delete", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := a.call(http.MethodDelete, apiPath("datasets", pos[0]), nil); err != nil {
		return err
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, "deleted dataset", pos[0])
	}
	return nil
}

type imageRow struct {
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Size      int64     `json:"size"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *app) datasetsImages(args []string) error {
	fs := a.flagSet("datasets images", a.usage)
	pg := fs.Int("page", 0, "page `N` (from 1)")
	size := fs.Int("page-size", 0, "images per page (1–200, default 50)")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	var out struct {
		Items []imageRow `json:"items"`
		page
	}
	raw, err := a.get(apiPath("datasets", pos[0], "labels", pos[1], "images")+pageQuery(*pg, *size), &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "SOURCE", "SIZE", "PIXELS", "ADDED")
	for _, im := range out.Items {
		t.row(im.ID, im.Source, fmtBytes(im.Size), fmt.Sprintf("%d×%d", im.Width, im.Height), fmtTime(im.CreatedAt))
	}
	t.flush()
	a.pageFooter(out.page)
	return nil
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
	var added, skipped []json.RawMessage
	for start := 0; start < len(files); {
		end, size := start, int64(0)
		for end < len(files) && end-start < imagesPerRequest && (end == start || size+files[end].size <= bytesPerRequest) {
			size += files[end].size
			end++
		}
		var out struct {
			Added   []json.RawMessage `json:"added"`
			Skipped []json.RawMessage `json:"skipped"`
		}
		if _, err := a.postFiles(apiPath("datasets", id, "labels", label, "images"), files[start:end], &out); err != nil {
			if start > 0 {
				return fmt.Errorf("after %d of %d files were sent: %w", start, len(files), err)
			}
			return err
		}
		added, skipped = append(added, out.Added...), append(skipped, out.Skipped...)
		start = end
	}
	if a.jsonOut {
		b, _ := json.Marshal(map[string]any{"added": nonNil(added), "skipped": nonNil(skipped)})
		a.emitJSON(b)
		return nil
	}
	fmt.Fprintf(a.stdout, "added %d images to label %s of dataset %s", len(added), label, id)
	if len(skipped) > 0 {
		fmt.Fprintf(a.stdout, "; skipped %d:", len(skipped))
	}
	fmt.Fprintln(a.stdout)
	for _, s := range skipped {
		var sk struct{ File, Reason, Detail string }
		_ = json.Unmarshal(s, &sk)
		fmt.Fprintf(a.stdout, "  %s: %s (%s)\n", orDash(sk.File), sk.Reason, sk.Detail)
	}
	return nil
}

func nonNil(xs []json.RawMessage) []json.RawMessage {
	if xs == nil {
		return []json.RawMessage{}
	}
	return xs
}

// localFile is an opened file to send.
type localFile struct {
	path string
	f    *os.File
	size int64
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

// postFiles sends files as multipart "file" parts to path and returns the
// answer, decoded into out as well.
func (a *app) postFiles(path string, files []localFile, out any) ([]byte, error) {
	parts := make([]filePart, len(files))
	for i, f := range files {
		parts[i] = filePart{name: filepath.Base(f.path), r: f.f, size: f.size}
	}
	body, n, ctype := multipartBody(nil, parts)
	resp, err := a.request(a.ctx, http.MethodPost, path, body, n, http.Header{"Content-Type": {ctype}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: reading the answer: %w", path, err)
	}
	return raw, decode(raw, out, path)
}
