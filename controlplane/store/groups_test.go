package store_test

import (
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store"
)

// Groups are objects with names in any script; an enrolment token's group
// exists once the token does; counts follow the devices.
func TestGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		must(t, s.CreateGroup(ctx, &store.Group{Name: "车间A", Description: "一号车间的相机"}))
		wantErr(t, s.CreateGroup(ctx, &store.Group{Name: "车间A"}), store.ErrConflict)
		for _, bad := range []string{"", "a/b", " lead", string(make([]byte, 65))} {
			if err := s.CreateGroup(ctx, &store.Group{Name: bad}); err == nil {
				t.Errorf("group %q accepted", bad)
			}
		}
		must(t, s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Hash: sum("t1"), Group: "line 2", UsesLeft: 2, ExpiresAt: e.clock.Now().Add(time.Hour)}))
		must(t, s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Hash: sum("t2"), Group: "车间A", UsesLeft: 1, ExpiresAt: e.clock.Now().Add(time.Hour)}))
		d := &store.Device{Name: "cam", OS: "linux", Arch: "arm64", AgentVersion: "1", MQTTPasswordHash: sum("pw")}
		must(t, s.Enroll(ctx, sum("t2"), d))
		must(t, s.SetDeviceSeen(ctx, d.ID, true, e.clock.Now(), nil))
		gs, err := s.Groups(ctx)
		must(t, err)
		if len(gs) != 2 || gs[0].Name != "line 2" || gs[1].Name != "车间A" || gs[1].Devices != 1 || gs[1].Online != 1 || gs[0].Devices != 0 {
			t.Fatalf("groups: %+v", gs)
		}
		g, err := s.Group(ctx, "车间A")
		must(t, err)
		if g.Description != "一号车间的相机" || g.Devices != 1 {
			t.Errorf("group: %+v", g)
		}
		_, err = s.Group(ctx, "nope")
		wantErr(t, err, store.ErrNotFound)
	})
}
