package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/fleetsim"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/fleet"
)

// TestFleetsimRollouts drives rollouts on the real control plane through
// fleetsim's simulated agents (real enrolment, real MQTT on the embedded
// broker): a canary that meets failing self-tests stops and rolls its
// devices back without touching the rest of the group, a healthy group
// takes a version in waves, and a device that was away catches up.
func TestFleetsimRollouts(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 2})
	c := s.admin(t)
	ctx := t.Context()

	// Two offline versions, trained side by side: v1 runs before, v2 is
	// rolled out.
	d := c.createDataset("ants-bees", zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"))
	m, err := c.CreateModel(ctx, api.CreateModelRequest{Name: "fleetsim"})
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	var nums []int
	for range 2 {
		vs, err := c.Train(ctx, m.ID, api.CreateVersionsRequest{AppTypes: []string{"offline-high-performance"},
			Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}})
		if err != nil || len(vs) != 1 {
			t.Fatalf("train: %v %+v", err, vs)
		}
		nums = append(nums, vs[0].Version)
	}
	var shas []string
	for _, n := range nums {
		v := c.waitVersion(m.ID, n, 3*time.Minute)
		if v.Status != api.VersionSucceeded || v.PackageSHA256 == "" {
			t.Fatalf("version %d: %s %s (package sha256 %q)", n, v.Status, v.Error, v.PackageSHA256)
		}
		shas = append(shas, v.PackageSHA256)
	}
	if shas[0] == shas[1] {
		t.Fatalf("the two versions have one package sha256 %s; the rollback check would prove nothing", shas[0])
	}
	v1, v2, sha1, sha2 := nums[0], nums[1], shas[0], shas[1]

	t.Run("canary-fails", func(t *testing.T) {
		const n, faulty = 12, 3
		sim := startSim(t, s, c, "canary-组", n, fleetsim.Fault{Kind: fleetsim.FailSelfTest, Fraction: float64(faulty) / n})
		ids := sim.DeviceIDs()
		bad := ids[n-faulty:] // faults are given from the end of the name order
		// v1 everywhere first, so that a rollback has something to go back to.
		for _, id := range ids {
			if _, err := c.SetDesired(ctx, id, api.DesiredRequest{ModelID: m.ID, Version: v1}); err != nil {
				t.Fatalf("set desired v1 on %s: %v", id, err)
			}
		}
		waitFor(t, 30*time.Second, "v1 on the healthy devices, failed on the faulty", func() (bool, string) {
			snap := sim.Snapshot()
			return sim.Serving(sha1) == n-faulty && snap.Failed == faulty, fmt.Sprintf("serving v1 %d, %+v", sim.Serving(sha1), snap)
		})

		// The server takes a rollout's devices in id order (random ids, not
		// name order), so the canary is sized to reach the first faulty one
		// and the first healthy one (at most 10 of 12: some stay outside).
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		isBad := func(id string) bool { return slices.Contains(bad, id) }
		canary := 1 + max(slices.IndexFunc(sorted, isBad), slices.IndexFunc(sorted, func(id string) bool { return !isBad(id) }))
		inCanary := map[string]bool{}
		for _, id := range sorted[:canary] {
			inCanary[id] = true
		}
		r, err := c.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: m.ID, Version: v2, Group: "canary-组",
			Strategy: api.RolloutStrategy{Type: "canary", Canary: canary, HealthTimeoutSeconds: 60}})
		if err != nil {
			t.Fatalf("create rollout: %v", err)
		}
		if r.Waves != 2 {
			t.Fatalf("canary of %d in %d devices: %d waves, want 2: %s", canary, n, r.Waves, jsonOf(r))
		}
		waitFor(t, 45*time.Second, "canary rollout stopped", func() (bool, string) {
			if r, err = c.GetRollout(ctx, r.ID); err != nil {
				return false, err.Error()
			}
			return r.Status != api.RolloutRunning, jsonOf(r)
		})
		if r.Status != api.RolloutFailed && r.Status != api.RolloutRolledBack {
			t.Fatalf("canary with a failing device ended %s, want failed or rolled_back: %s", r.Status, jsonOf(r))
		}
		if r.Wave != 0 {
			t.Errorf("the rollout went past the canary (wave %d): %s", r.Wave, jsonOf(r))
		}
		for _, mb := range r.Members {
			switch {
			case inCanary[mb.DeviceID] && mb.State != api.DeviceRolledBack &&
				!(slices.Contains(bad, mb.DeviceID) && mb.State == api.DeviceFailed):
				// a device that failed its self-test may keep its failed
				// state (it never ran the new version); the others are
				// rolled back
				t.Errorf("canary device %s: %s (%s), want rolled_back", mb.DeviceID, mb.State, mb.Reason)
			case !inCanary[mb.DeviceID] && (mb.State != api.DevicePending || mb.Wave == 0):
				t.Errorf("device %s outside the canary: wave %d %s, want a later wave, pending", mb.DeviceID, mb.Wave, mb.State)
			}
		}
		// Every device is told v1 again (or never told v2), and the healthy
		// ones serve v1; none serves v2.
		waitFor(t, 30*time.Second, "the healthy devices back on v1", func() (bool, string) {
			return sim.Serving(sha1) == n-faulty && sim.Serving(sha2) == 0,
				fmt.Sprintf("serving v1 %d, v2 %d, %+v", sim.Serving(sha1), sim.Serving(sha2), sim.Snapshot())
		})
		for _, id := range ids {
			dev, err := c.GetDevice(ctx, id)
			if err != nil {
				t.Fatalf("device %s: %v", id, err)
			}
			if dev.Desired == nil || dev.Desired.Version != v1 {
				t.Errorf("device %s (canary %v) is told %s, want v%d", id, inCanary[id], jsonOf(dev.Desired), v1)
			}
			if !inCanary[id] && dev.Reported != nil && dev.Reported.Model != nil && dev.Reported.Model.Version == v2 {
				t.Errorf("device %s outside the canary reported serving v%d", id, v2)
			}
		}
		// Only canary devices applied anything after v1: each applied v2
		// (or failed it) and then v1 again, at most.
		faultyIn := 0
		for _, id := range bad {
			if inCanary[id] {
				faultyIn++
			}
		}
		snap := sim.Snapshot()
		if snap.Healthy > int64(n-faulty+2*(canary-faultyIn)) || snap.Failed > int64(faulty+2*faultyIn) {
			t.Errorf("fleet %+v: more applies than the %d canary device(s) (%d faulty) account for", snap, canary, faultyIn)
		}
		t.Logf("canary of %d (%d faulty): %s (%s); fleet %+v", canary, faultyIn, r.Status, r.Error, snap)
	})

	t.Run("waves-succeed", func(t *testing.T) {
		const n = 8
		sim := startSim(t, s, c, "waves", n)
		waitOnline(t, c, "waves", n)
		r, err := c.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: m.ID, Version: v2, Group: "waves",
			Strategy: api.RolloutStrategy{Type: "waves", WaveSize: 3, HealthTimeoutSeconds: 60}})
		if err != nil {
			t.Fatalf("create rollout: %v", err)
		}
		if r.Waves != 3 {
			t.Errorf("8 devices in waves of 3: %d waves, want 3", r.Waves)
		}
		waitFor(t, 45*time.Second, "waves rollout succeeded", func() (bool, string) {
			if r, err = c.GetRollout(ctx, r.ID); err != nil {
				return false, err.Error()
			}
			return r.Status != api.RolloutRunning, jsonOf(r)
		})
		if r.Status != api.RolloutSucceeded || r.Devices[api.DeviceHealthy] != n {
			t.Fatalf("waves rollout: %s", jsonOf(r))
		}
		waitFor(t, 10*time.Second, "every device serving v2", func() (bool, string) {
			return sim.Serving(sha2) == n, fmt.Sprintf("serving %d, %+v", sim.Serving(sha2), sim.Snapshot())
		})
	})

	t.Run("offline-catches-up", func(t *testing.T) {
		const n = 2
		sim := startSimWith(t, s, c, "away", n, func(cfg *fleetsim.Config) {
			cfg.Faults = []fleetsim.Fault{{Kind: fleetsim.Offline, Fraction: 0.5}}
			cfg.OfflineAfter, cfg.OfflineFor = 300*time.Millisecond, 6*time.Second
		})
		waitFor(t, 20*time.Second, "one device away", func() (bool, string) {
			return sim.Snapshot().Offline == 1, fmt.Sprintf("%+v", sim.Snapshot())
		})
		away := sim.DeviceIDs()[n-1]
		r, err := c.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: m.ID, Version: v2, Group: "away",
			Strategy: api.RolloutStrategy{Type: "all", HealthTimeoutSeconds: 60}})
		if err != nil {
			t.Fatalf("create rollout: %v", err)
		}
		start := time.Now()
		waitFor(t, 40*time.Second, "both devices serving v2 and the rollout succeeded", func() (bool, string) {
			if r, err = c.GetRollout(ctx, r.ID); err != nil {
				return false, err.Error()
			}
			return r.Status == api.RolloutSucceeded && sim.Serving(sha2) == n,
				fmt.Sprintf("serving %d, rollout %s", sim.Serving(sha2), jsonOf(r))
		})
		var dev *api.Device
		waitFor(t, 10*time.Second, "the returning device reports v2", func() (bool, string) {
			if dev, err = c.GetDevice(ctx, away); err != nil {
				return false, err.Error()
			}
			rep := dev.Reported
			return dev.Online && rep != nil && rep.State == fleet.StateServing && rep.Model != nil && rep.Model.Version == v2, jsonOf(dev)
		})
		t.Logf("the away device caught up %s after the rollout started; members %s", time.Since(start).Round(100*time.Millisecond), jsonOf(r.Members))
	})
}

// startSim enrols n simulated devices into a new group (with faults) and
// runs them until the test ends.
func startSim(t *testing.T, s *server, c *client, group string, n int, faults ...fleetsim.Fault) *fleetsim.Sim {
	return startSimWith(t, s, c, group, n, func(cfg *fleetsim.Config) { cfg.Faults = faults })
}

func startSimWith(t *testing.T, s *server, c *client, group string, n int, tune func(*fleetsim.Config)) *fleetsim.Sim {
	t.Helper()
	ctx := t.Context()
	if _, err := c.CreateGroup(ctx, api.CreateGroupRequest{Name: group}); err != nil {
		t.Fatalf("create group %s: %v", group, err)
	}
	tok, err := c.CreateEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: group, Uses: n, ExpiresIn: 600})
	if err != nil {
		t.Fatalf("enrolment token for %s: %v", group, err)
	}
	cfg := fleetsim.Config{Server: s.URL, Token: tok.Token, Devices: n, NamePrefix: "sim-" + group,
		ChunkTimeout: 3 * time.Second}
	tune(&cfg)
	sim, err := fleetsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Enroll(ctx); err != nil {
		t.Fatalf("enrolling %d devices into %s: %v", n, group, err)
	}
	if got := len(sim.DeviceIDs()); got != n {
		t.Fatalf("%d of %d devices enrolled", got, n)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sim.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return sim
}

// waitOnline waits until the server sees n devices of group online.
func waitOnline(t *testing.T, c *client, group string, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, "devices of "+group+" online", func() (bool, string) {
		list, err := c.ListDevices(t.Context(), group)
		if err != nil {
			return false, err.Error()
		}
		on := 0
		for _, d := range list.Items {
			if d.Online {
				on++
			}
		}
		return on == n, fmt.Sprintf("%d of %d online", on, len(list.Items))
	})
}
