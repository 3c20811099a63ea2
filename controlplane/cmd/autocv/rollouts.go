package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

func (a *app) rolloutsCreate(args []string) error {
	fs := a.flagSet("rollouts create", a.usage)
	model := fs.String("model", "", "model `ID`")
	version := fs.Int("version", 0, "version `V` (trained)")
	group := fs.String("group", "", "device `group`")
	var s api.RolloutStrategy
	fs.StringVar(&s.Type, "strategy", "all", "all, canary or waves")
	fs.IntVar(&s.Canary, "canary", 0, "canary: devices in the first wave")
	fs.Float64Var(&s.CanaryPercent, "canary-percent", 0, "canary: or this share of the group")
	fs.IntVar(&s.WaveSize, "wave-size", 0, "waves (and after a canary): devices per wave")
	pause := fs.Duration("pause", 0, "wait between waves")
	fs.IntVar(&s.FailureBudget, "failure-budget", 0, "failed devices tolerated before it stops and rolls back")
	health := fs.Duration("health-timeout", 0, "how long a device may take to become healthy (default 10m)")
	wait := fs.Bool("wait", false, "follow it until it ends")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *model == "" || *version < 1 || *group == "" {
		return a.usagef("--model, --version and --group are required")
	}
	s.PauseSeconds, s.HealthTimeoutSeconds = int(pause.Seconds()), int(health.Seconds())
	c, err := a.api()
	if err != nil {
		return err
	}
	r, err := c.CreateRollout(a.ctx, api.CreateRolloutRequest{ModelID: *model, Version: *version, Group: *group, Strategy: s})
	if err != nil {
		return err
	}
	if !*wait {
		return a.output(r, func() { a.printRollout(r) })
	}
	fmt.Fprintf(a.stderr, "rollout %s started: %d waves\n", r.ID, r.Waves)
	last := ""
	for r.Status == api.RolloutRunning || r.Status == api.RolloutPaused {
		time.Sleep(time.Second)
		if r, err = c.GetRollout(a.ctx, r.ID); err != nil {
			return err
		}
		if line := rolloutLine(r); line != last {
			fmt.Fprintln(a.stderr, line)
			last = line
		}
	}
	if err := a.output(r, func() { a.printRollout(r) }); err != nil {
		return err
	}
	if r.Status != api.RolloutSucceeded {
		return fmt.Errorf("rollout %s %s: %s", r.ID, r.Status, r.Error)
	}
	return nil
}

// rolloutLine is a rollout's progress on one line.
func rolloutLine(r *api.Rollout) string {
	states := make([]string, 0, len(r.Devices))
	for st, n := range r.Devices {
		states = append(states, fmt.Sprintf("%s %d", st, n))
	}
	slices.Sort(states)
	return fmt.Sprintf("%s  wave %d/%d  %s", r.Status, r.Wave+1, r.Waves, strings.Join(states, ", "))
}

func (a *app) printRollout(r *api.Rollout) {
	fmt.Fprintf(a.stdout, "rollout %s: model %s v%d to group %s (%s)\n%s\n", r.ID, r.ModelID, r.Version, r.Group, r.Strategy.Type, rolloutLine(r))
	if r.Error != "" {
		fmt.Fprintln(a.stdout, r.Error)
	}
	if len(r.Members) > 0 {
		fmt.Fprintln(a.stdout)
		t := a.table("DEVICE", "WAVE", "STATE", "PERCENT", "REASON")
		for _, d := range r.Members {
			t.row(d.DeviceID, d.Wave, d.State, fmt.Sprintf("%.0f", d.Percent), d.Reason)
		}
		t.flush()
	}
}

func (a *app) rolloutsList(args []string) error {
	fs := a.flagSet("rollouts list", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.ListRollouts(a.ctx)
	if err != nil {
		return err
	}
	return a.output(out, func() {
		t := a.table("ID", "MODEL", "VERSION", "GROUP", "STATUS", "WAVE", "CREATED")
		for _, r := range out.Items {
			t.row(r.ID, r.ModelID, r.Version, r.Group, r.Status, fmt.Sprintf("%d/%d", r.Wave+1, r.Waves), fmtTime(r.CreatedAt))
		}
		t.flush()
	})
}

func (a *app) rolloutsGet(args []string) error {
	fs := a.flagSet("rollouts get", a.usage)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	r, err := c.GetRollout(a.ctx, pos[0])
	if err != nil {
		return err
	}
	return a.output(r, func() { a.printRollout(r) })
}

// rolloutsAction is rollouts pause|resume|abort|rollback ID.
func rolloutsAction(action string) func(*app, []string) error {
	return func(a *app, args []string) error {
		fs := a.flagSet("rollouts "+action, a.usage)
		pos, err := a.parse(fs, args, 1, 1)
		if err != nil {
			return err
		}
		c, err := a.api()
		if err != nil {
			return err
		}
		r, err := c.RolloutAction(a.ctx, pos[0], action)
		if err != nil {
			return err
		}
		return a.output(r, func() { a.printRollout(r) })
	}
}
