package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

func (a *app) devicesList(args []string) error {
	fs := a.flagSet("devices list", a.usage)
	group := fs.String("group", "", "only the devices of `group`")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListDevices(a.ctx, *group)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "NAME", "GROUP", "PLATFORM", "AGENT", "ONLINE", "LAST SEEN", "DESIRED")
		for _, d := range out.Items {
			desired := "-"
			if d.Desired != nil {
				desired = d.Desired.ModelID + " v" + strconv.Itoa(d.Desired.Version)
			}
			t.row(d.ID, d.Name, d.Group, d.OS+"-"+d.Arch, d.AgentVersion, yesNo(d.Online), fmtWhen(d.LastSeen), desired)
		}
		t.flush()
	})
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
	c, err := a.api()
	if err != nil {
		return err
	}
	d, err := c.SetDesired(a.ctx, pos[0], api.DesiredRequest{ModelID: *modelID, Version: *version})
	if err != nil {
		return err
	}
	return a.output(d, func() {
		fmt.Fprintf(a.stdout, "device %s should now run model %s version %d\n", pos[0], *modelID, *version)
	})
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
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.CreateEnrollmentToken(a.ctx, api.EnrollmentTokenRequest{Group: *group, Uses: *uses, ExpiresIn: int(expires.Seconds())})
	if err != nil {
		return err
	}
	return a.output(out, func() {
		fmt.Fprintln(a.stdout, out.Token)
		fmt.Fprintf(a.stderr, "enrolment token for group %s, %d use(s), valid until %s; on a device run:\n  %s\n", out.Group, out.UsesLeft, fmtTime(out.ExpiresAt), out.Command)
	})
}

func (a *app) enrollmentTokensList(args []string) error {
	fs := a.flagSet("enrollment-tokens list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListEnrollmentTokens(a.ctx)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "GROUP", "USES LEFT", "EXPIRES", "EXPIRED", "CREATED")
		for _, e := range out.Items {
			t.row(e.ID, e.Group, strconv.Itoa(e.UsesLeft), fmtTime(e.ExpiresAt), yesNo(e.Expired), fmtTime(e.CreatedAt))
		}
		t.flush()
	})
}

func (a *app) enrollmentTokensDelete(args []string) error {
	return a.deleteOne(args, "enrollment-tokens delete", "revoked enrolment token", (*client.Client).DeleteEnrollmentToken)
}

func (a *app) groupsList(args []string) error {
	fs := a.flagSet("groups list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListGroups(a.ctx)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("GROUP", "DEVICES", "ONLINE", "DESCRIPTION")
		for _, g := range out.Items {
			t.row(g.Name, g.Devices, g.Online, g.Description)
		}
		t.flush()
	})
}

func (a *app) groupsCreate(args []string) error {
	fs := a.flagSet("groups create", a.usage)
	desc := fs.String("description", "", "what the group is, for people")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	g, err := c.CreateGroup(a.ctx, api.CreateGroupRequest{Name: pos[0], Description: *desc})
	if err != nil {
		return err
	}
	return a.output(g, func() { fmt.Fprintf(a.stdout, "group %s created\n", g.Name) })
}

func (a *app) groupsGet(args []string) error {
	fs := a.flagSet("groups get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	g, err := c.GetGroup(a.ctx, pos[0])
	if err != nil {
		return err
	}
	return a.output(g, func() {
		fmt.Fprintf(a.stdout, "group %s: %d devices, %d online\n", g.Name, g.Devices, g.Online)
		if g.Description != "" {
			fmt.Fprintln(a.stdout, g.Description)
		}
		if len(g.Members) > 0 {
			fmt.Fprintln(a.stdout)
			t := a.table("ID", "NAME", "PLATFORM", "ONLINE", "LAST SEEN")
			for _, d := range g.Members {
				t.row(d.ID, d.Name, d.OS+"-"+d.Arch, yesNo(d.Online), fmtWhen(d.LastSeen))
			}
			t.flush()
		}
	})
}
