package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/report"
)

type model struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Contact     string        `json:"contact"`
	Description string        `json:"description"`
	CreatedAt   time.Time     `json:"created_at"`
	Versions    []versionInfo `json:"versions"`
}

// versionInfo is GET /models/{id}/versions/{v}.
type versionInfo struct {
	Version  int      `json:"version"`
	ModelID  string   `json:"model_id"`
	AppType  string   `json:"app_type"`
	Target   string   `json:"target"`
	Metric   string   `json:"metric"`
	Status   string   `json:"status"`
	Labels   []string `json:"labels"`
	Progress struct {
		Stage      string  `json:"stage"`
		Percent    float64 `json:"percent"` // 0–100
		ETASeconds float64 `json:"eta_seconds"`
		Message    string  `json:"message"`
	} `json:"progress"`
	Error         string             `json:"error"`
	Metrics       map[string]float64 `json:"metrics"`
	PackageSHA256 string             `json:"package_sha256"`
	Publications  []map[string]any   `json:"publications"`
	CreatedAt     time.Time          `json:"created_at"`
}

// finished reports whether a version's training has ended.
func (v *versionInfo) finished() bool { return v.Status != "queued" && v.Status != "training" }

func (v *versionInfo) metric(name string) string {
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
	var out struct {
		Items []model `json:"items"`
		page
	}
	raw, err := a.get("/models"+pageQuery(*pg, *size), &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "NAME", "VERSIONS", "CREATED")
	for _, m := range out.Items {
		var vs []string
		for _, v := range m.Versions {
			vs = append(vs, fmt.Sprintf("%d:%s", v.Version, v.Status))
		}
		t.row(m.ID, m.Name, orDash(strings.Join(vs, " ")), fmtTime(m.CreatedAt))
	}
	t.flush()
	a.pageFooter(out.page)
	return nil
}

func (a *app) modelsGet(args []string) error {
	fs := a.flagSet("models get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var m model
	raw, err := a.get(apiPath("models", pos[0]), &m)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
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
func (a *app) versionTable(vs []versionInfo) {
	t := a.table("VERSION", "TYPE", "METRIC", "STATUS", "PROGRESS", "ACCURACY", "F1", "PUBLISHED")
	for _, v := range vs {
		prog := "-"
		if !v.finished() {
			prog = fmt.Sprintf("%s %.0f%%", orDash(v.Progress.Stage), v.Progress.Percent)
		}
		t.row(v.Version, v.AppType, v.Metric, v.Status, prog, v.metric("accuracy"), v.metric("f1"), len(v.Publications))
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
	var m model
	raw, err := a.send(http.MethodPost, "/models", map[string]string{"name": *name, "contact": *contact, "description": *desc}, &m)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintf(a.stdout, "created model %s %q\n", m.ID, m.Name)
	return nil
}

func (a *app) modelsDelete(args []string) error {
	fs := a.flagSet("models delete", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := a.call(http.MethodDelete, apiPath("models", pos[0]), nil); err != nil {
		return err
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, "deleted model", pos[0])
	}
	return nil
}

// dataFlag collects --data DATASET_ID:label1,label2 (repeatable).
type dataFlag []map[string]any

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
	*d = append(*d, map[string]any{"dataset_id": id, "labels": ls})
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
	modelID := pos[0]
	var created []versionInfo
	raw, err := a.send(http.MethodPost, apiPath("models", modelID, "versions"),
		map[string]any{"app_types": ts, "metric": *metric, "data": data}, &created)
	if err != nil {
		return err
	}
	if !*wait {
		if a.jsonOut {
			a.emitJSON(raw)
			return nil
		}
		for _, v := range created {
			fmt.Fprintf(a.stdout, "version %d (%s): %s\n", v.Version, v.AppType, v.Status)
		}
		return nil
	}
	return a.waitVersions(modelID, created)
}

// waitVersions polls versions until all have finished, drawing their
// progress on stderr, then prints them; a version that did not succeed
// makes the command fail.
func (a *app) waitVersions(modelID string, vs []versionInfo) error {
	nums := make([]int, len(vs))
	for i, v := range vs {
		nums[i] = v.Version
	}
	prog := a.newProgress("training", 0)
	last := ""
	final := make([]versionInfo, len(nums))
	raws := make([]json.RawMessage, len(nums))
	for {
		done := true
		var parts []string
		for i, n := range nums {
			if final[i].Version != 0 && final[i].finished() {
				continue
			}
			var v versionInfo
			raw, err := a.get(apiPath("models", modelID, "versions", strconv.Itoa(n)), &v)
			if err != nil {
				return err
			}
			final[i], raws[i] = v, raw
			if !v.finished() {
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
	if a.jsonOut {
		b, _ := json.Marshal(raws)
		a.emitJSON(b)
	} else {
		a.versionTable(final)
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
func (a *app) modelVersion(pos []string) (string, string, error) {
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 {
		return "", "", a.usagef("version %q: want a number ≥ 1", pos[1])
	}
	return pos[0], strconv.Itoa(n), nil
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
	var vi versionInfo
	raw, err := a.get(apiPath("models", m, "versions", v), &vi)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	a.printVersion(&vi)
	return nil
}

func (a *app) printVersion(v *versionInfo) {
	w := a.stdout
	fmt.Fprintf(w, "model %s version %d\ntype     %s (%s)\nmetric   %s\nstatus   %s\n", v.ModelID, v.Version, v.AppType, v.Target, v.Metric, v.Status)
	if !v.finished() {
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
		switch p["kind"] {
		case "service":
			fmt.Fprintf(w, "published as service %v at %v (online %v)\n", p["id"], p["path"], p["online"])
		case "sdk":
			fmt.Fprintf(w, "SDK for %v: %v\n", p["platform"], p["status"])
		case "device":
			fmt.Fprintf(w, "desired on %v devices\n", p["devices"])
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
	var vi versionInfo
	raw, err := a.send(http.MethodPost, apiPath("models", m, "versions", v, "stop"), nil, &vi)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintf(a.stdout, "version %d of model %s: %s\n", vi.Version, m, vi.Status)
	return nil
}

// validMetric accepts the canonical metric names and the seed's spellings;
// the server resolves them the same way.
func validMetric(m string) bool { _, ok := report.ParseMetric(m); return ok }
