package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

func (a *app) servicesList(args []string) error {
	fs := a.flagSet("services list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListServices(a.ctx)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "NAME", "PATH", "MODEL", "VERSION", "STATE", "CALLS", "ERRORS", "P50 MS")
		for _, s := range out.Items {
			t.row(s.ID, s.Name, s.Path, s.ModelID, s.Version, s.State, s.Stats.Calls, s.Stats.Errors, fmt.Sprintf("%.1f", s.Stats.P50MS))
		}
		t.flush()
	})
}

func (a *app) printService(s *api.Service) {
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
	c, err := a.api()
	if err != nil {
		return err
	}
	s, err := c.GetService(a.ctx, pos[0])
	if err != nil {
		return err
	}
	return a.output(s, func() { a.printService(s) })
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
	c, err := a.api()
	if err != nil {
		return err
	}
	s, err := c.CreateService(a.ctx, api.CreateServiceRequest{Name: *name, Path: *path, ModelID: *modelID, Version: *version})
	if err != nil {
		return err
	}
	return a.output(s, func() { a.printService(s) })
}

// patchService sends PATCH /services/{id} and shows the result.
func (a *app) patchService(args []string, name string, body func() (api.UpdateServiceRequest, error), extra func(*flag.FlagSet)) error {
	fs := a.flagSet(name, a.usage)
	if extra != nil {
		extra(fs)
	}
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	req, err := body()
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	s, err := c.UpdateService(a.ctx, pos[0], req)
	if err != nil {
		return err
	}
	return a.output(s, func() {
		fmt.Fprintf(a.stdout, "service %s (%s): model %s version %d, %s\n", s.ID, s.Path, s.ModelID, s.Version, s.State)
	})
}

// setOnline is the body that switches a service on or off.
func setOnline(on bool) func() (api.UpdateServiceRequest, error) {
	return func() (api.UpdateServiceRequest, error) { return api.UpdateServiceRequest{Online: &on}, nil }
}

func (a *app) servicesOnline(args []string) error {
	return a.patchService(args, "services online", setOnline(true), nil)
}

func (a *app) servicesOffline(args []string) error {
	return a.patchService(args, "services offline", setOnline(false), nil)
}

func (a *app) servicesSwitch(args []string) error {
	var version *int
	return a.patchService(args, "services switch", func() (api.UpdateServiceRequest, error) {
		if *version < 1 {
			return api.UpdateServiceRequest{}, a.usagef("--version V is required")
		}
		return api.UpdateServiceRequest{Version: version}, nil
	}, func(fs *flag.FlagSet) { version = fs.Int("version", 0, "version `V` to serve instead (no downtime)") })
}

func (a *app) servicesDelete(args []string) error {
	return a.deleteOne(args, "services delete", "deleted service", (*client.Client).DeleteService)
}

func (a *app) apikeysList(args []string) error {
	fs := a.flagSet("apikeys list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.APIKeys(a.ctx)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "NAME", "SCOPES", "CREATED", "LAST USED")
		for _, k := range out.Items {
			scopes := strings.Join(k.Scopes, ",")
			if len(k.Services) > 0 {
				scopes += " (" + strings.Join(k.Services, ", ") + ")"
			}
			t.row(k.ID, k.Name, scopes, fmtTime(k.CreatedAt), fmtWhen(k.LastUsed))
		}
		t.flush()
	})
}

// createSecret makes an API key or trainer token. The secret alone goes
// to stdout, so `KEY=$(autocv apikeys create ci)` works; the note goes to
// stderr.
func (a *app) createSecret(args []string, name, what string, create func(*client.Client, context.Context, api.TokenRequest) (*api.Token, error)) error {
	fs := a.flagSet(name, a.usage)
	var scopes, services string
	if what == "API key" {
		fs.StringVar(&scopes, "scopes", "", "what the key may do, comma-separated: infer (default: the cloud APIs), full (everything but credentials), keys (manage keys, tokens, users)")
		fs.StringVar(&services, "services", "", "for an infer key: the only service paths it may call, comma-separated")
	}
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	req := api.TokenRequest{Name: pos[0], Scopes: splitList(scopes), Services: splitList(services)}
	k, err := create(c, a.ctx, req)
	if err != nil {
		return err
	}
	return a.output(k, func() {
		fmt.Fprintln(a.stdout, firstOf(k.Key, k.Token))
		fmt.Fprintf(a.stderr, "%s %s (%s) created; it is shown only this once, keep it safe\n", what, k.ID, k.Name)
	})
}

// splitList reads a comma-separated flag; "" is none.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (a *app) apikeysCreate(args []string) error {
	return a.createSecret(args, "apikeys create", "API key", (*client.Client).CreateAPIKey)
}

func (a *app) trainerTokensCreate(args []string) error {
	return a.createSecret(args, "trainer-tokens create", "trainer token", func(c *client.Client, ctx context.Context, req api.TokenRequest) (*api.Token, error) {
		return c.CreateTrainerToken(ctx, req.Name)
	})
}

func (a *app) apikeysDelete(args []string) error {
	return a.deleteOne(args, "apikeys delete", "revoked API key", (*client.Client).DeleteAPIKey)
}
