package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/autocv/autocv/internal/atomicfile"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
	"github.com/autocv/autocv/protocol/report"
)

// download streams the answer of get into the file out ("-": stdout),
// written to a temp name and renamed so a broken download leaves no half
// file. The server names blobs by sha256 in the ETag; a body that does not
// match it is refused.
func (a *app) download(out string, get func(*client.Client, context.Context) (*http.Response, error)) (int64, string, error) {
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return 0, "", &usageError{msg: fmt.Sprintf("--out %s is a folder; give a file name", out), usage: a.usage}
	}
	c, err := a.api()
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	resp, err := get(c, ctx)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	path := resp.Request.URL.Path
	want := strings.Trim(resp.Header.Get("ETag"), `"`)
	h := sha256.New()
	var n int64
	copyBody := func(w io.Writer) error {
		var cerr error
		n, cerr = io.Copy(io.MultiWriter(w, h), resp.Body)
		if cerr != nil {
			return fmt.Errorf("downloading %s: %w", path, cerr)
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return fmt.Errorf("downloading %s: got %d of %d bytes", path, n, resp.ContentLength)
		}
		if got := hex.EncodeToString(h.Sum(nil)); len(want) == 64 && got != want {
			return fmt.Errorf("downloading %s: the data's sha256 %s is not the %s the server announced", path, got, want)
		}
		return nil
	}
	if out == "-" {
		err = copyBody(a.stdout)
	} else {
		err = atomicfile.WriteFunc(out, 0o644, copyBody)
	}
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func (a *app) versionsPackage(args []string) error {
	fs := a.flagSet("versions package", a.usage)
	out := fs.String("out", "", "`file` to write the package (tar.gz) to; - for stdout")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if *out == "" {
		return a.usagef("--out FILE is required")
	}
	m, v, err := a.modelVersion(pos)
	if err != nil {
		return err
	}
	n, sha, err := a.download(*out, func(c *client.Client, ctx context.Context) (*http.Response, error) {
		return c.Package(ctx, m, v)
	})
	if err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(a.stderr, "wrote %s (%s, sha256 %s)\n", *out, fmtBytes(n), sha)
	}
	return nil
}

func (a *app) versionsReport(args []string) error {
	fs := a.flagSet("versions report", a.usage)
	out := fs.String("out", "", "write the report JSON to `file`")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	m, v, err := a.modelVersion(pos)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	if *out != "" {
		// the server's bytes, as stored: a newer report schema is saved too
		raw, err := c.ReportJSON(a.ctx, m, v)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(*out, raw, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "wrote %s (%s)\n", *out, fmtBytes(int64(len(raw))))
		return nil
	}
	rep, err := c.Report(a.ctx, m, v)
	if err != nil {
		return err
	}
	return a.output(rep, func() { a.printReport(rep) })
}

// printReport shows the parts of the evaluation report people read first.
func (a *app) printReport(r *report.Report) {
	w := a.stdout
	if r.Verdict.EN != "" {
		fmt.Fprintf(w, "verdict: %s\n", r.Verdict.EN)
	}
	if r.Verdict.ZH != "" {
		fmt.Fprintf(w, "结论: %s\n", r.Verdict.ZH)
	}
	s := r.Metrics
	fmt.Fprintf(w, "\ntest split (%d images; train %d, validation %d):\n", r.Split.Test, r.Split.Train, r.Split.Validation)
	fmt.Fprintf(w, "  accuracy %.3f  precision %.3f  recall %.3f  f1 %.3f  auc %.3f  kappa %.3f\n",
		s.Accuracy, s.Precision, s.Recall, s.F1, s.AUC, s.Kappa)
	if len(s.TopK) > 0 {
		var ks []string
		for i, x := range s.TopK {
			ks = append(ks, fmt.Sprintf("top%d %.3f", i+1, x))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(ks, "  "))
	}
	if len(r.PerLabel) > 0 {
		fmt.Fprintln(w)
		t := a.table("LABEL", "PRECISION", "RECALL", "F1", "SUPPORT")
		for _, l := range r.PerLabel {
			t.row(l.Label, fmt.Sprintf("%.3f", l.Precision), fmt.Sprintf("%.3f", l.Recall), fmt.Sprintf("%.3f", l.F1), l.Support)
		}
		t.flush()
	}
	if c := r.Confusion; len(c.Labels) > 0 && len(c.Labels) <= 20 {
		fmt.Fprintln(w, "\nconfusion (rows: true label, columns: predicted):")
		t := a.table(append([]string{""}, c.Labels...)...)
		for i, row := range c.Matrix {
			cols := []any{c.Labels[i]}
			for _, x := range row {
				cols = append(cols, x)
			}
			t.row(cols...)
		}
		t.flush()
	}
	if len(r.Misclassified) > 0 {
		fmt.Fprintf(w, "\n%d misclassified test images (--json lists them)\n", len(r.Misclassified))
	}
}

func (a *app) printSDK(s *api.SDKBuild) {
	fmt.Fprintf(a.stdout, "SDK %s: %s\n", s.Platform, s.Status)
	if s.Error != "" {
		fmt.Fprintf(a.stdout, "error: %s\n", s.Error)
	}
}

func (a *app) sdkRequest(args []string) error {
	fs := a.flagSet("sdk request", a.usage)
	platform := fs.String("platform", "", "`platform`: linux-amd64, windows-amd64 or linux-arm64")
	wait := fs.Bool("wait", false, "wait until the build ends")
	pos, err := a.parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if *platform == "" {
		return a.usagef("--platform is required")
	}
	m, v, err := a.modelVersion(pos)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	st, err := c.RequestSDK(a.ctx, m, v, *platform)
	if err != nil {
		return err
	}
	for *wait && st.Status == "building" {
		if err := a.sleep(time.Second); err != nil {
			return err
		}
		if st, err = c.GetSDK(a.ctx, m, v, *platform); err != nil {
			return err
		}
	}
	if err := a.output(st, func() { a.printSDK(st) }); err != nil {
		return err
	}
	if st.Status == "failed" {
		return fmt.Errorf("the %s SDK build failed: %s", *platform, orDash(st.Error))
	}
	return nil
}

func (a *app) sdkGet(args []string) error {
	fs := a.flagSet("sdk get", a.usage)
	pos, err := a.parse(fs, args, 3, 3)
	if err != nil {
		return err
	}
	m, v, err := a.modelVersion(pos)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	st, err := c.GetSDK(a.ctx, m, v, pos[2])
	if err != nil {
		return err
	}
	return a.output(st, func() { a.printSDK(st) })
}

func (a *app) sdkDownload(args []string) error {
	fs := a.flagSet("sdk download", a.usage)
	out := fs.String("out", "", "`file` to write the SDK zip to; - for stdout")
	pos, err := a.parse(fs, args, 3, 3)
	if err != nil {
		return err
	}
	if *out == "" {
		return a.usagef("--out FILE is required")
	}
	m, v, err := a.modelVersion(pos)
	if err != nil {
		return err
	}
	n, sha, err := a.download(*out, func(c *client.Client, ctx context.Context) (*http.Response, error) {
		return c.DownloadSDK(ctx, m, v, pos[2])
	})
	if err != nil {
		return err
	}
	if *out != "-" {
		fmt.Fprintf(a.stderr, "wrote %s (%s, sha256 %s)\n", *out, fmtBytes(n), sha)
	}
	return nil
}
