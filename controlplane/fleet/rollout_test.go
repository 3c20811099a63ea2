package fleet_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/fleet"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	pfleet "github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// rolloutEnv is a fleet on SQLite with a group of devices and a model with
// two trained versions.
type rolloutEnv struct {
	st      store.Store
	f       *fleet.Fleet
	model   string
	devices []string
}

func newRolloutEnv(t *testing.T, n int) *rolloutEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pub, _, _ := ed25519.GenerateKey(nil)
	pem, _ := modelpkg.MarshalPublicKey(pub)
	f := fleet.New(ctx, fleet.Config{Store: st, Log: zaptest.NewLogger(t), PublicURL: "http://cp:8080", MQTTURL: "tcp://cp:1883",
		SigningPublicKey: pem, URLKey: []byte("k"),
		PackageFile: func(context.Context, string) (string, error) { return "", errors.New("no files here") },
		PackageSize: func(context.Context, string) (int64, error) { return 1000, nil }})
	e := &rolloutEnv{st: st, f: f}
	_, secret, err := f.NewEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: "车间A", Uses: n}, "u1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		resp, err := f.Enroll(ctx, api.EnrollRequest{EnrollRequest: pfleet.EnrollRequest{Token: secret, Name: fmt.Sprint("cam-", i), OS: "linux", Arch: "arm64"}})
		if err != nil {
			t.Fatal(err)
		}
		e.devices = append(e.devices, resp.DeviceID)
		if err := st.SetDeviceSeen(ctx, resp.DeviceID, true, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(e.devices) // a rollout waves devices in id order
	m := &store.Model{OwnerID: "u1", Name: "ants"}
	if err := st.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	e.model = m.ID
	for v := 1; v <= 2; v++ {
		job := jobs.Job{AppType: jobs.OfflineGeneral, Metric: "f1", Labels: []string{"a", "b"}}
		if _, err := st.CreateVersions(ctx, m.ID, []store.Version{{AppType: jobs.OfflineGeneral, Metric: "f1", Status: store.VersionQueued}}, []jobs.Job{job}); err != nil {
			t.Fatal(err)
		}
		lease, err := st.Lease(ctx, "w1", time.Minute, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CompleteJob(ctx, lease.ID, lease.LeaseID, strings.Repeat(fmt.Sprint(v), 64), strings.Repeat("c", 64), nil); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// step drives the rollout once, as its lease holder.
func (e *rolloutEnv) step(t *testing.T, id string) (*store.Rollout, map[string]store.RolloutDevice) {
	t.Helper()
	if err := e.f.Step(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	r, devs, err := e.st.Rollout(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]store.RolloutDevice{}
	for _, d := range devs {
		byID[d.DeviceID] = d
	}
	return r, byID
}

// event is what an agent sends about the desired state it was given.
func (e *rolloutEnv) event(t *testing.T, dev string, d store.RolloutDevice, kind pfleet.EventKind, msg string) {
	t.Helper()
	if d.DesiredID == "" {
		t.Fatalf("device %s was not told anything", dev)
	}
	e.f.OnEvent(dev, &pfleet.Event{Kind: kind, Ref: d.DesiredID, Message: msg})
}

// A canary whose version fails its self-test on a device stops at the
// canary and rolls the canary back; the rest of the group is never told.
func TestCanaryFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	e := newRolloutEnv(t, 5)
	// Everyone runs v1 first, all at once.
	r1, err := e.f.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: e.model, Version: 1, Group: "车间A"}, "u1")
	if err != nil {
		t.Fatal(err)
	}
	_, devs := e.step(t, r1.ID)
	for _, id := range e.devices {
		e.event(t, id, devs[id], pfleet.EventApplied, "")
	}
	if r, _ := e.step(t, r1.ID); r.Status != api.RolloutSucceeded {
		t.Fatalf("v1 rollout: %s %s", r.Status, r.Error)
	}

	r2, err := e.f.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "车间A",
		Strategy: api.RolloutStrategy{Type: "canary", Canary: 2}}, "u1")
	if err != nil || r2.Waves != 2 {
		t.Fatalf("canary: %+v %v", r2, err)
	}
	_, devs = e.step(t, r2.ID)
	canary := e.devices[:2] // devices are waved in id order
	for _, id := range e.devices {
		want := api.DevicePending
		if id == canary[0] || id == canary[1] {
			want = api.DeviceDeploying
		}
		if devs[id].State != want {
			t.Errorf("device %s: %s, want %s", id, devs[id].State, want)
		}
	}
	e.f.OnEvent(canary[0], &pfleet.Event{Kind: pfleet.EventProgress, Ref: devs[canary[0]].DesiredID, Stage: string(pfleet.StateDownloading), Percent: 40})
	_, devs2 := e.step(t, r2.ID)
	if d := devs2[canary[0]]; d.State != api.DeviceTransferring || d.Percent != 40 {
		t.Errorf("progress: %+v", d)
	}
	e.event(t, canary[0], devs[canary[0]], pfleet.EventApplied, "")
	e.event(t, canary[1], devs[canary[1]], pfleet.EventRolledBack, "model v2 failed its golden samples; back to v1")
	r, devs := e.step(t, r2.ID)
	if r.Status != api.RolloutFailed || !strings.Contains(r.Error, "failure budget") {
		t.Fatalf("after a failed canary: %s %q", r.Status, r.Error)
	}
	for _, id := range canary {
		if devs[id].State != api.DeviceRolledBack {
			t.Errorf("canary %s: %s %q, want rolled_back", id, devs[id].State, devs[id].Reason)
		}
		d, _ := e.st.Device(ctx, id)
		if d.DesiredVersion != 1 {
			t.Errorf("canary %s desired v%d after the rollback, want v1", id, d.DesiredVersion)
		}
	}
	for _, id := range e.devices[2:] {
		if devs[id].State != api.DevicePending || devs[id].DesiredID != "" {
			t.Errorf("device %s outside the canary was touched: %+v", id, devs[id])
		}
	}
	if err := e.f.RolloutAction(ctx, r2.ID, "resume"); !errors.Is(err, fleet.ErrState) {
		t.Errorf("resuming a failed rollout: %v, want ErrState", err)
	}
}

// Waves advance only when the wave before is healthy; an offline device
// does not hold the rollout up and catches up (healthy) when it reports
// the desired state applied; pause and resume hold and free it.
func TestWavesAndOfflineDevice(t *testing.T) {
	ctx := context.Background()
	e := newRolloutEnv(t, 5)
	offline := e.devices[4]
	if err := e.st.SetDeviceSeen(ctx, offline, false, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	r, err := e.f.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "车间A",
		Strategy: api.RolloutStrategy{Type: "waves", WaveSize: 2}}, "u1")
	if err != nil || r.Waves != 3 {
		t.Fatalf("waves: %+v %v", r, err)
	}
	_, devs := e.step(t, r.ID)
	e.event(t, e.devices[0], devs[e.devices[0]], pfleet.EventApplied, "")
	if got, _ := e.step(t, r.ID); got.Wave != 0 {
		t.Fatalf("wave advanced with one device of two healthy: wave %d", got.Wave)
	}
	if err := e.f.RolloutAction(ctx, r.ID, "pause"); err != nil {
		t.Fatal(err)
	}
	e.event(t, e.devices[1], devs[e.devices[1]], pfleet.EventApplied, "")
	if got, _ := e.step(t, r.ID); got.Wave != 0 || got.Status != api.RolloutPaused {
		t.Fatalf("paused rollout moved: wave %d %s", got.Wave, got.Status)
	}
	if err := e.f.RolloutAction(ctx, r.ID, "resume"); err != nil {
		t.Fatal(err)
	}
	got, _ := e.step(t, r.ID)
	if got.Wave != 1 {
		t.Fatalf("wave 0 healthy: now wave %d, want 1", got.Wave)
	}
	_, devs = e.step(t, r.ID) // wave 1 deployed
	for _, id := range e.devices[2:4] {
		e.event(t, id, devs[id], pfleet.EventApplied, "")
	}
	e.step(t, r.ID)
	got, devs = e.step(t, r.ID) // wave 2: only the offline device, told (retained)
	if d := devs[offline]; d.State != api.DeviceDeploying || d.DesiredID == "" {
		t.Fatalf("offline device: %+v", d)
	}
	// A wave of offline devices proves nothing: the rollout waits for it
	// rather than calling the version healthy (and the health clock does
	// not run while the device is away).
	if got.Status != api.RolloutRunning || got.Wave != 2 {
		t.Fatalf("rollout with only an offline device left: %s (wave %d), want running", got.Status, got.Wave)
	}
	// It reconnects and reports the desired state applied (retained, so
	// even without the event).
	e.f.OnReported(offline, &pfleet.Reported{State: pfleet.StateServing, AppliedDesiredID: devs[offline].DesiredID}, []byte(`{}`))
	got, devs = e.step(t, r.ID)
	if devs[offline].State != api.DeviceHealthy || got.Status != api.RolloutSucceeded {
		t.Errorf("after the offline device caught up: device %s, rollout %s", devs[offline].State, got.Status)
	}
}

// One rollout at a time per group, and a rollback undoes only what its
// rollout set: a device told something newer since keeps it.
func TestRolloutOverlap(t *testing.T) {
	ctx := context.Background()
	e := newRolloutEnv(t, 2)
	r1, err := e.f.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: e.model, Version: 1, Group: "车间A"}, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "车间A"}, "u1"); !errors.Is(err, fleet.ErrState) {
		t.Errorf("second rollout on a busy group: %v, want ErrState", err)
	}
	_, devs := e.step(t, r1.ID)
	for _, id := range e.devices {
		e.event(t, id, devs[id], pfleet.EventApplied, "")
	}
	if r, _ := e.step(t, r1.ID); r.Status != api.RolloutSucceeded {
		t.Fatalf("v1: %s", r.Status)
	}
	// Someone sets one device to v2 by hand; rolling r1 back leaves it.
	if _, err := e.f.SetDesired(ctx, e.devices[0], e.model, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.f.RolloutAction(ctx, r1.ID, "rollback"); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.st.Device(ctx, e.devices[0]); d.DesiredVersion != 2 {
		t.Errorf("rollback undid a newer desired state: v%d", d.DesiredVersion)
	}
}

// One replica at a time holds a rollout; another gets it when the lease
// runs out, and a new Fleet (a restarted server) carries on from the
// database.
func TestRolloutLease(t *testing.T) {
	ctx := context.Background()
	e := newRolloutEnv(t, 2)
	r, err := e.f.CreateRollout(ctx, api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "车间A"}, "u1")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.st.ClaimRollouts(ctx, "replica-a", 200*time.Millisecond)
	b, _ := e.st.ClaimRollouts(ctx, "replica-b", 200*time.Millisecond)
	if len(a) != 1 || a[0] != r.ID || len(b) != 0 {
		t.Fatalf("claims: a %v, b %v", a, b)
	}
	time.Sleep(300 * time.Millisecond)
	if b, _ = e.st.ClaimRollouts(ctx, "replica-b", time.Minute); len(b) != 1 {
		t.Fatalf("b after a's lease ran out: %v", b)
	}
	if a, _ = e.st.ClaimRollouts(ctx, "replica-a", time.Minute); len(a) != 0 {
		t.Fatalf("a took b's live lease: %v", a)
	}
	_, devs := e.step(t, r.ID)
	restarted := fleet.New(ctx, fleet.Config{Store: e.st, Log: zaptest.NewLogger(t),
		PackageSize: func(context.Context, string) (int64, error) { return 1000, nil }})
	for _, id := range e.devices {
		restarted.OnEvent(id, &pfleet.Event{Kind: pfleet.EventApplied, Ref: devs[id].DesiredID})
	}
	if err := restarted.Step(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := e.st.Rollout(ctx, r.ID); got.Status != api.RolloutSucceeded {
		t.Errorf("after the restart: %s", got.Status)
	}
}

func TestRolloutRefusals(t *testing.T) {
	ctx := context.Background()
	e := newRolloutEnv(t, 1)
	for _, tc := range []struct {
		req  api.CreateRolloutRequest
		want error
	}{
		{api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "车间A", Strategy: api.RolloutStrategy{Type: "big-bang"}}, fleet.ErrInvalid},
		{api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "车间A", Strategy: api.RolloutStrategy{Type: "canary"}}, fleet.ErrInvalid},
		{api.CreateRolloutRequest{ModelID: e.model, Version: 9, Group: "车间A"}, store.ErrNotFound},
		{api.CreateRolloutRequest{ModelID: e.model, Version: 2, Group: "nowhere"}, store.ErrNotFound},
	} {
		if _, err := e.f.CreateRollout(ctx, tc.req, "u1"); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.req, err, tc.want)
		}
	}
}
