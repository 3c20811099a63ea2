package main

import (
	"flag"
	"fmt"
	"net/http"
	"time"
)

// service is GET /services/{id}.
type service struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Path    string `json:"path"`
	ModelID string `json:"model_id"`
	Version int    `json:"version"`
	Online  bool   `json:"online"`
	State   string `json:"state"`
	URL     string `json:"url"`
	Stats   struct {
		Calls  int64   `json:"calls"`
		Errors int64   `json:"errors"`
		P50MS  float64 `json:"p50_ms"`
		P90MS  float64 `json:"p90_ms"`
		P99MS  float64 `json:"p99_ms"`
	} `json:"stats"`
	Example struct {
		Curl         string `json:"curl"`
		CurlMultiple string `json:"curl_multiple"`
	} `json:"example"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *app) servicesList(args []string) error {
	fs := a.flagSet("services list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	var out struct {
		Items []service `json:"items"`
	}
	raw, err := a.get("/services", &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "NAME", "PATH", "MODEL", "VERSION", "STATE", "CALLS", "ERRORS", "P50 MS")
	for _, s := range out.Items {
		t.row(s.ID, s.Name, s.Path, s.ModelID, s.Version, s.State, s.Stats.Calls, s.Stats.Errors, fmt.Sprintf("%.1f", s.Stats.P50MS))
	}
	t.flush()
	return nil
}

func (a *app) printService(s *service) {
	w := a.stdout
	fmt.Fprintf(w, "service %s  %q\nurl      %s\nserves   model %s version %d\nstate    %s (online %v)\n", s.ID, s.Name, s.URL, s.ModelID, s.Version, s.State, s.Online)
	fmt.Fprintf(w, "calls    %d (%d errors), latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms\n", s.Stats.Calls, s.Stats.Errors, s.Stats.P50MS, s.Stats.P90MS, s.Stats.P99MS)
	if s.Example.Curl != "" {
		fmt.Fprintf(w, "\ncall it:\n  %s\n  %s\n  autocv infer %s photo.jpg\n", s.Example.Curl, s.Example.CurlMultiple, s.Path)
	}
}

func (a *app) servicesGet(args []string) error {
	fs := a.flagSet("services get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var s service
	raw, err := a.get(apiPath("services", pos[0]), &s)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	a.printService(&s)
	return nil
}

func (a *app) servicesCreate(args []string) error {
	fs := a.flagSet("services create", a.usage)
	name := fs.String("name", "", "service `name`")
	path := fs.String("path", "", "endpoint `path` under /api/v1/infer/, e.g. factory/defects")
	modelID := fs.String("model", "", "model `ID`")
	version := fs.Int("version", 0, "version `V` (a cloud version that succeeded)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *name == "" || *path == "" || *modelID == "" || *version < 1 {
		return a.usagef("--name, --path, --model and --version are required")
	}
	var s service
	raw, err := a.send(http.MethodPost, "/services", map[string]any{"name": *name, "path": *path, "model_id": *modelID, "version": *version}, &s)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	a.printService(&s)
	return nil
}

// patchService sends PATCH /services/{id} and shows the result.
func (a *app) patchService(args []string, name string, body func() (map[string]any, error), extra func(*flag.FlagSet)) error {
	fs := a.flagSet(name, a.usage)
	if extra != nil {
		extra(fs)
	}
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	b, err := body()
	if err != nil {
		return err
	}
	var s service
	raw, err := a.send(http.MethodPatch, apiPath("services", pos[0]), b, &s)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintf(a.stdout, "service %s (%s): model %s version %d, %s\n", s.ID, s.Path, s.ModelID, s.Version, s.State)
	return nil
}

func (a *app) servicesOnline(args []string) error {
	return a.patchService(args, "services online", func() (map[string]any, error) { return map[string]any{"online": true}, nil }, nil)
}

func (a *app) servicesOffline(args []string) error {
	return a.patchService(args, "services offline", func() (map[string]any, error) { return map[string]any{"online": false}, nil }, nil)
}

func (a *app) servicesSwitch(args []string) error {
	var version *int
	return a.patchService(args, "services switch", func() (map[string]any, error) {
		if *version < 1 {
			return nil, a.usagef("--version V is required")
		}
		return map[string]any{"version": *version}, nil
	}, func(fs *flag.FlagSet) { version = fs.Int("version", 0, "version `V` to serve instead (no downtime)") })
}

func (a *app) servicesDelete(args []string) error {
	fs := a.flagSet("services delete", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := a.call(http.MethodDelete, apiPath("services", pos[0]), nil); err != nil {
		return err
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, "deleted service", pos[0])
	}
	return nil
}

type tokenRow struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Key       string    `json:"key"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
}

func (a *app) apikeysList(args []string) error {
	fs := a.flagSet("apikeys list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	var out struct {
		Items []tokenRow `json:"items"`
	}
	raw, err := a.get("/apikeys", &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "NAME", "CREATED", "LAST USED")
	for _, k := range out.Items {
		t.row(k.ID, k.Name, fmtTime(k.CreatedAt), fmtTime(k.LastUsed))
	}
	t.flush()
	return nil
}

// createSecret makes an API key or trainer token. The secret alone goes
// to stdout, so `KEY=$(autocv apikeys create ci)` works; the note goes to
// stderr.
func (a *app) createSecret(args []string, name, path, what string) error {
	fs := a.flagSet(name, a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var k tokenRow
	raw, err := a.send(http.MethodPost, path, map[string]string{"name": pos[0]}, &k)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintln(a.stdout, firstOf(k.Key, k.Token))
	fmt.Fprintf(a.stderr, "%s %s (%s) created; it is shown only this once, keep it safe\n", what, k.ID, k.Name)
	return nil
}

func (a *app) apikeysCreate(args []string) error {
	return a.createSecret(args, "apikeys create", "/apikeys", "API key")
}

func (a *app) trainerTokensCreate(args []string) error {
	return a.createSecret(args, "trainer-tokens create", "/trainer-tokens", "trainer token")
}

func (a *app) apikeysDelete(args []string) error {
	fs := a.flagSet("apikeys delete", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := a.call(http.MethodDelete, apiPath("apikeys", pos[0]), nil); err != nil {
		return err
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, "revoked API key", pos[0])
	}
	return nil
}
