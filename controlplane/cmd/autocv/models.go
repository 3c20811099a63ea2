package main

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
)

// finished reports whether a version's training has ended.
func finished(v *api.Version) bool {
	return v.Status != api.VersionQueued && v.Status != api.VersionTraining && v.Status != api.VersionStopping
}

func fmtMetric(v *api.Version, name string) string {
	if x, ok := v.Metrics[name]; ok {
		return fmt.Sprintf("%.3f", x)
	}
	return "-"
}

func (a *app) modelsList(args []string) error {
	fs := a.flagSet("models list", a.usage)
	pg := fs.Int("page", 0, "page `N` (from 1)")
	size := fs.Int("page-size", 0, "models per page (1–200, default 50)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListModels(a.ctx, *pg, *size)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "NAME", "VERSIONS", "CREATED")
		for _, m := range out.Items {
			var vs []string
			for _, v := range m.Versions {
				vs = append(vs, fmt.Sprintf("%d:%s", v.Version, v.Status))
			}
			t.row(m.ID, m.Name, orDash(strings.Join(vs, " ")), fmtTime(m.CreatedAt))
		}
		t.flush()
		a.pageFooter(out.Page)
	})
}

func (a *app) modelsGet(args []string) error {
	fs := a.flagSet("models get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	m, err := c.GetModel(a.ctx, pos[0])
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.emitJSON(m)
	}
	fmt.Fprintf(a.stdout, "model %s  %q\ncontact  %s\ncreated  %s\n", m.ID, m.Name, orDash(m.Contact), fmtTime(m.CreatedAt))
	if m.Description != "" {
		fmt.Fprintf(a.stdout, "about    %s\n", m.Description)
	}
	if len(m.Versions) == 0 {
		fmt.Fprintf(a.stdout, "\nno versions yet: autocv train %s --type cloud-general --data DATASET_ID:label1,label2\n", m.ID)
		return nil
	}
	fmt.Fprintln(a.stdout)
	a.versionTable(m.Versions)
	return nil
}

// versionTable lists versions with their state and headline metrics.
func (a *app) versionTable(vs []api.Version) {
	t := a.table("VERSION", "TYPE", "METRIC", "STATUS", "PROGRESS", "ACCURACY", "F1", "PUBLISHED")
	for _, v := range vs {
		prog := "-"
		if !finished(&v) {
			prog = fmt.Sprintf("%s %.0f%%", orDash(v.Progress.Stage), v.Progress.Percent)
		}
		t.row(v.Version, v.AppType, v.Metric, v.Status, prog, fmtMetric(&v, "accuracy"), fmtMetric(&v, "f1"), len(v.Publications))
	}
	t.flush()
	for _, v := range vs {
		if v.Error != "" {
			fmt.Fprintf(a.stdout, "version %d: %s\n", v.Version, v.Error)
		}
	}
}

func (a *app) modelsCreate(args []string) error {
	fs := a.flagSet("models create", a.usage)
	name := fs.String("name", "", "model `name`")
	contact := fs.String("contact", "", "who to ask about it")
	desc := fs.String("description", "", "what it recognises")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" {
		return a.usagef("--name is required")
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	m, err := c.CreateModel(a.ctx, api.CreateModelRequest{Name: *name, Contact: *contact, Description: *desc})
	if err != nil {
		return err
	}
	return a.output(m, func() { fmt.Fprintf(a.stdout, "created model %s %q\n", m.ID, m.Name) })
}

func (a *app) modelsDelete(args []string) error {
	return a.deleteOne(args, "models delete", "deleted model", (*client.Client).DeleteModel)
}

// dataFlag collects --data DATASET_ID:label1,label2 (repeatable).
type dataFlag []api.TrainingData

func (d *dataFlag) String() string { return "" }

func (d *dataFlag) Set(s string) error {
	id, labels, ok := strings.Cut(s, ":")
	id = strings.TrimSpace(id)
	if !ok || id == "" || labels == "" {
		return fmt.Errorf("want DATASET_ID:label1,label2, got %q", s)
	}
	var ls []string
	for _, l := range strings.Split(labels, ",") {
		if l = strings.TrimSpace(l); l == "" {
			return fmt.Errorf("%q has an empty label", s)
		}
		if slices.Contains(ls, l) {
			return fmt.Errorf("%q names label %s twice", s, l)
		}
		ls = append(ls, l)
	}
	*d = append(*d, api.TrainingData{DatasetID: id, Labels: ls})
	return nil
}

var appTypes = []string{jobs.CloudGeneral, jobs.CloudHighAccuracy, jobs.OfflineGeneral, jobs.OfflineHighPerformance}

func (a *app) train(args []string) error {
	fs := a.flagSet("train", a.usage)
	types := fs.String("type", "", "application `types`, comma-separated: "+strings.Join(appTypes, ", "))
	metric := fs.String("metric", "f1", "metric to select the model on: "+strings.Join(jobs.Metrics, ", "))
	var data dataFlag
	fs.Var(&data, "data", "`DATASET_ID:label1,label2` to train on (repeat for several datasets)")
	wait := fs.Bool("wait", false, "wait until training ends, showing progress; exit 1 if a version did not succeed")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var ts []string
	for _, t := range strings.Split(*types, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if _, ok := jobs.RecipeFor(t); !ok {
			return a.usagef("--type %s: unknown; want %s", t, strings.Join(appTypes, ", "))
		}
		ts = append(ts, t)
	}
	switch {
	case len(ts) == 0:
		return a.usagef("--type is required (e.g. --type cloud-general)")
	case !validMetric(*metric):
		return a.usagef("--metric %s: unknown; want %s (or Top1, Top5, f1_score)", *metric, strings.Join(jobs.Metrics, ", "))
	case len(data) == 0:
		return a.usagef("--data DATASET_ID:label1,label2 is required")
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	created, err := c.Train(a.ctx, pos[0], api.CreateVersionsRequest{AppTypes: ts, Metric: *metric, Data: data})
	if err != nil {
		return err
	}
	if *wait {
		return a.waitVersions(c, pos[0], created)
	}
	return a.output(created, func() {
		for _, v := range created {
			fmt.Fprintf(a.stdout, "version %d (%s): %s\n", v.Version, v.AppType, v.Status)
		}
	})
}

// waitVersions polls versions until all have finished, drawing their
// progress on stderr, then prints them; a version that did not succeed
// makes the command fail.
func (a *app) waitVersions(c *client.Client, modelID string, vs []api.Version) error {
	nums := make([]int, len(vs))
	for i, v := range vs {
		nums[i] = v.Version
	}
	prog := a.newProgress("training", 0)
	last := ""
	final := make([]api.Version, len(nums))
	for {
		done := true
		var parts []string
		for i, n := range nums {
			if final[i].Version != 0 && finished(&final[i]) {
				continue
			}
			v, err := c.GetVersion(a.ctx, modelID, n)
			if err != nil {
				return err
			}
			final[i] = *v
			if !finished(v) {
				done = false
				p := fmt.Sprintf("v%d %s %.0f%%", n, v.Progress.Stage, v.Progress.Percent)
				if v.Status == "queued" {
					p = fmt.Sprintf("v%d queued", n)
				} else if v.Progress.Stage == "" {
					p = fmt.Sprintf("v%d starting", n)
				} else if v.Progress.ETASeconds > 0 {
					p += fmt.Sprintf(" ETA %s", (time.Duration(v.Progress.ETASeconds) * time.Second).String())
				}
				parts = append(parts, p)
			}
		}
		if done {
			break
		}
		if line := strings.Join(parts, " | "); line != last {
			prog.note(line)
			last = line
		}
		if err := a.sleep(time.Second); err != nil {
			return err
		}
	}
	prog.done()
	if err := a.output(final, func() { a.versionTable(final) }); err != nil {
		return err
	}
	var bad []string
	for _, v := range final {
		if v.Status != "succeeded" {
			bad = append(bad, fmt.Sprintf("version %d %s", v.Version, v.Status))
		}
	}
	if bad != nil {
		return fmt.Errorf("training did not succeed: %s", strings.Join(bad, ", "))
	}
	return nil
}

// modelVersion reads MODEL V arguments.
func (a *app) modelVersion(pos []string) (string, int, error) {
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 {
		return "", 0, a.usagef("version %q: want a number ≥ 1", pos[1])
	}
	return pos[0], n, nil
}

func (a *app) versionsGet(args []string) error {
	fs := a.flagSet("versions get", a.usage)
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
	vi, err := c.GetVersion(a.ctx, m, v)
	if err != nil {
		return err
	}
	return a.output(vi, func() { a.printVersion(vi) })
}

func (a *app) printVersion(v *api.Version) {
	w := a.stdout
	fmt.Fprintf(w, "model %s version %d\ntype     %s (%s)\nmetric   %s\nstatus   %s\n", v.ModelID, v.Version, v.AppType, v.Target, v.Metric, v.Status)
	if !finished(v) {
		fmt.Fprintf(w, "progress %s %.0f%%", orDash(v.Progress.Stage), v.Progress.Percent)
		if v.Progress.ETASeconds > 0 {
			fmt.Fprintf(w, ", ETA %s", time.Duration(v.Progress.ETASeconds)*time.Second)
		}
		fmt.Fprintln(w)
	}
	if v.Error != "" {
		fmt.Fprintf(w, "error    %s\n", v.Error)
	}
	fmt.Fprintf(w, "labels   %s\n", strings.Join(v.Labels, ", "))
	if len(v.Metrics) > 0 {
		names := make([]string, 0, len(v.Metrics))
		for k := range v.Metrics {
			names = append(names, k)
		}
		sort.Strings(names)
		var ms []string
		for _, k := range names {
			ms = append(ms, fmt.Sprintf("%s %.3f", k, v.Metrics[k]))
		}
		fmt.Fprintf(w, "metrics  %s\n", strings.Join(ms, ", "))
	}
	for _, p := range v.Publications {
		switch p.Kind {
		case "service":
			fmt.Fprintf(w, "published as service %s at %s (online %v)\n", p.ID, p.Path, p.Online != nil && *p.Online)
		case "sdk":
			fmt.Fprintf(w, "SDK for %s: %s\n", p.Platform, p.Status)
		case "device":
			fmt.Fprintf(w, "desired on %d devices\n", p.Devices)
		}
	}
}

func (a *app) versionsStop(args []string) error {
	fs := a.flagSet("versions stop", a.usage)
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
	vi, err := c.StopVersion(a.ctx, m, v)
	if err != nil {
		return err
	}
	return a.output(vi, func() { fmt.Fprintf(a.stdout, "version %d of model %s: %s\n", vi.Version, m, vi.Status) })
}

// validMetric accepts the canonical metric names and the seed's spellings;
// the server resolves them the same way.
func validMetric(m string) bool { _, ok := report.ParseMetric(m); return ok }
