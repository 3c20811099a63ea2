package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// device is one row of GET /devices.
type device struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Group        string    `json:"group"`
	OS           string    `json:"os"`
	Arch         string    `json:"arch"`
	AgentVersion string    `json:"agent_version"`
	Online       bool      `json:"online"`
	LastSeen     time.Time `json:"last_seen"`
	Desired      *struct {
		ModelID string `json:"model_id"`
		Version int    `json:"version"`
	} `json:"desired"`
}

func (a *app) devicesList(args []string) error {
	fs := a.flagSet("devices list", a.usage)
	group := fs.String("group", "", "only the devices of `group`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	path := "/devices"
	if *group != "" {
		path += "?group=" + url.QueryEscape(*group)
	}
	var out struct {
		Items []device `json:"items"`
	}
	raw, err := a.get(path, &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "NAME", "GROUP", "PLATFORM", "AGENT", "ONLINE", "LAST SEEN", "DESIRED")
	for _, d := range out.Items {
		desired := "-"
		if d.Desired != nil {
			desired = d.Desired.ModelID + " v" + strconv.Itoa(d.Desired.Version)
		}
		t.row(d.ID, d.Name, d.Group, d.OS+"-"+d.Arch, d.AgentVersion, yesNo(d.Online), fmtTime(d.LastSeen), desired)
	}
	t.flush()
	return nil
}

func (a *app) devicesDesired(args []string) error {
	fs := a.flagSet("devices desired", a.usage)
	modelID := fs.String("model", "", "model `ID`")
	version := fs.Int("version", 0, "version `V`")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *modelID == "" || *version < 1 {
		return a.usagef("--model and --version are required")
	}
	raw, err := a.send(http.MethodPut, apiPath("devices", pos[0], "desired"), map[string]any{"model_id": *modelID, "version": *version}, nil)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintf(a.stdout, "device %s should now run model %s version %d\n", pos[0], *modelID, *version)
	return nil
}

func (a *app) enrollmentTokensCreate(args []string) error {
	fs := a.flagSet("enrollment-tokens create", a.usage)
	group := fs.String("group", "", "device `group` the enrolled devices join")
	uses := fs.Int("uses", 1, "how many devices may enrol with it")
	expires := fs.Duration("expires-in", 24*time.Hour, "how long it is valid (1m to 8760h)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	switch {
	case *group == "":
		return a.usagef("--group is required")
	case *uses < 1:
		return a.usagef("--uses must be at least 1")
	case *expires < time.Minute || *expires > 365*24*time.Hour:
		return a.usagef("--expires-in must be 1m to 8760h")
	}
	var out struct {
		ID        string    `json:"id"`
		Token     string    `json:"token"`
		Group     string    `json:"group"`
		ExpiresAt time.Time `json:"expires_at"`
		Command   string    `json:"command"`
	}
	raw, err := a.send(http.MethodPost, "/enrollment-tokens",
		map[string]any{"group": *group, "uses": *uses, "expires_in": int(expires.Seconds())}, &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	fmt.Fprintln(a.stdout, out.Token)
	fmt.Fprintf(a.stderr, "enrolment token for group %s, %d use(s), valid until %s; on a device run:\n  %s\n", out.Group, *uses, fmtTime(out.ExpiresAt), out.Command)
	return nil
}

func (a *app) enrollmentTokensList(args []string) error {
	fs := a.flagSet("enrollment-tokens list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	var out struct {
		Items []struct {
			ID        string    `json:"id"`
			Group     string    `json:"group"`
			UsesLeft  int       `json:"uses_left"`
			ExpiresAt time.Time `json:"expires_at"`
			Expired   bool      `json:"expired"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"items"`
	}
	raw, err := a.get("/enrollment-tokens", &out)
	if err != nil {
		return err
	}
	if a.jsonOut {
		a.emitJSON(raw)
		return nil
	}
	t := a.table("ID", "GROUP", "USES LEFT", "EXPIRES", "EXPIRED", "CREATED")
	for _, e := range out.Items {
		t.row(e.ID, e.Group, strconv.Itoa(e.UsesLeft), fmtTime(e.ExpiresAt), yesNo(e.Expired), fmtTime(e.CreatedAt))
	}
	t.flush()
	return nil
}

func (a *app) enrollmentTokensDelete(args []string) error {
	fs := a.flagSet("enrollment-tokens delete", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := a.call(http.MethodDelete, apiPath("enrollment-tokens", pos[0]), nil); err != nil {
		return err
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, "revoked enrolment token", pos[0])
	}
	return nil
}
