package store_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/fleet"
)

func TestServicesAndSDKs(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		m, vs := jobsQueued(t, e, 2)

		svc := &store.Service{OwnerID: "usr_a", Name: "花卉识别", Path: "flowers/v1", ModelID: m.ID, Version: vs[0].Number, Online: true}
		must(t, s.CreateService(ctx, svc))
		wantErr(t, s.CreateService(ctx, &store.Service{OwnerID: "usr_b", Name: "other", Path: "flowers/v1", ModelID: m.ID, Version: vs[1].Number}), store.ErrConflict)
		wantErr(t, s.CreateService(ctx, &store.Service{OwnerID: "usr_a", Name: "ghost", Path: "ghost", ModelID: m.ID, Version: 99}), store.ErrNotFound)
		for _, p := range []string{"", "/abs", "a/../b", "a//b", "a b", "trailing/", "中文"} {
			if err := s.CreateService(ctx, &store.Service{OwnerID: "usr_a", Name: "x", Path: p, ModelID: m.ID, Version: 1}); err == nil {
				t.Errorf("path %q accepted", p)
			}
		}
		got, err := s.ServiceByPath(ctx, "flowers/v1")
		must(t, err)
		if got.ID != svc.ID || !got.Online || got.Name != "花卉识别" {
			t.Fatalf("ServiceByPath = %+v", got)
		}
		_, err = s.ServiceByPath(ctx, "nope")
		wantErr(t, err, store.ErrNotFound)

		e.clock.Advance(time.Second)
		svc.Online, svc.Version = false, vs[1].Number
		must(t, s.UpdateService(ctx, svc))
		got, _ = s.Service(ctx, svc.ID)
		if got.Online || got.Version != vs[1].Number || !got.UpdatedAt.After(got.CreatedAt) {
			t.Fatalf("after update: %+v", got)
		}
		wantErr(t, s.UpdateService(ctx, &store.Service{ID: "svc_nope", ModelID: m.ID, Version: 1}), store.ErrNotFound)
		if list, _ := s.Services(ctx, "usr_a"); len(list) != 1 {
			t.Fatalf("Services(usr_a) = %+v", list)
		}
		if list, _ := s.Services(ctx, "usr_b"); len(list) != 0 {
			t.Fatalf("Services(usr_b) = %+v", list)
		}

		// A published model cannot be deleted; neither can one training.
		wantErr(t, s.DeleteModel(ctx, m.ID), store.ErrConflict)
		must(t, s.DeleteService(ctx, svc.ID))
		wantErr(t, s.DeleteService(ctx, svc.ID), store.ErrNotFound)
		wantErr(t, s.DeleteModel(ctx, m.ID), store.ErrConflict) // versions still queued

		// SDK rows: insert, replace (CreatedAt kept), list, bad input.
		r := &store.SDKRequest{ModelID: m.ID, Version: vs[0].Number, Platform: "linux-amd64", Status: store.SDKBuilding}
		must(t, s.PutSDK(ctx, r))
		created := r.CreatedAt
		e.clock.Advance(time.Minute)
		r.Status, r.SHA256 = store.SDKReady, sum("zip")
		must(t, s.PutSDK(ctx, r))
		must(t, s.PutSDK(ctx, &store.SDKRequest{ModelID: m.ID, Version: vs[0].Number, Platform: "windows-amd64", Status: store.SDKFailed, Error: "no onnxruntime for windows"}))
		one, err := s.SDK(ctx, m.ID, vs[0].Number, "linux-amd64")
		must(t, err)
		if one.Status != store.SDKReady || one.SHA256 != sum("zip") || !one.CreatedAt.Equal(created) || !one.UpdatedAt.After(created) {
			t.Fatalf("SDK after replace = %+v (created %v)", one, created)
		}
		list, err := s.SDKs(ctx, m.ID, vs[0].Number)
		must(t, err)
		if len(list) != 2 || list[0].Platform != "linux-amd64" || list[1].Error == "" {
			t.Fatalf("SDKs = %+v", list)
		}
		_, err = s.SDK(ctx, m.ID, vs[0].Number, "linux-arm64")
		wantErr(t, err, store.ErrNotFound)
		if err := s.PutSDK(ctx, &store.SDKRequest{ModelID: m.ID, Version: 1, Platform: "darwin-arm64", Status: store.SDKBuilding}); err == nil {
			t.Fatal("unknown platform accepted")
		}
		wantErr(t, s.PutSDK(ctx, &store.SDKRequest{ModelID: m.ID, Version: 42, Platform: "linux-amd64", Status: store.SDKBuilding}), store.ErrNotFound)

		// Once nothing trains and nothing is published, the model goes
		// with its versions, jobs and SDK rows.
		must(t, s.StopVersion(ctx, m.ID, vs[0].Number))
		must(t, s.StopVersion(ctx, m.ID, vs[1].Number))
		must(t, s.DeleteModel(ctx, m.ID))
		_, err = s.Model(ctx, m.ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.Job(ctx, vs[0].JobID)
		wantErr(t, err, store.ErrNotFound)
		_, err = s.SDK(ctx, m.ID, vs[0].Number, "linux-amd64")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, s.DeleteModel(ctx, m.ID), store.ErrNotFound)
	})
}

func TestModelsList(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		for i := 0; i < 5; i++ {
			e.clock.Advance(time.Second)
			must(t, e.S.CreateModel(ctx, &store.Model{OwnerID: fmt.Sprint("usr_", i%2), Name: fmt.Sprint("m", i)}))
		}
		if err := e.S.CreateModel(ctx, &store.Model{OwnerID: "usr_0"}); err == nil {
			t.Fatal("model without a name accepted")
		}
		ms, total, err := e.S.Models(ctx, "usr_0", store.Page{Offset: 1, Limit: 1})
		must(t, err)
		if total != 3 || len(ms) != 1 || ms[0].Name != "m2" {
			t.Fatalf("Models(usr_0, page 2 of 1) = %+v, total %d", ms, total)
		}
		if _, total, _ := e.S.Models(ctx, "", store.Page{}); total != 5 {
			t.Fatalf("all models: %d", total)
		}
	})
}

func TestEnrolment(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		tok := &store.EnrollmentToken{Hash: sum("enrol-1"), Group: "shop-1", UsesLeft: 3, ExpiresAt: e.clock.Now().Add(time.Hour), CreatedBy: "usr_admin"}
		must(t, s.CreateEnrollmentToken(ctx, tok))
		wantErr(t, s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Hash: sum("enrol-1"), Group: "g", UsesLeft: 1}), store.ErrConflict)
		for _, bad := range []store.EnrollmentToken{
			{Hash: sum("x"), Group: "bad/group", UsesLeft: 1},
			{Hash: sum("x"), Group: "g", UsesLeft: 0},
			{Hash: "nothex", Group: "g", UsesLeft: 1},
		} {
			if err := s.CreateEnrollmentToken(ctx, &bad); err == nil {
				t.Errorf("token %+v accepted", bad)
			}
		}

		// Five devices race for three uses: exactly three get in.
		var wg sync.WaitGroup
		results := make([]error, 5)
		devs := make([]*store.Device, 5)
		for i := range devs {
			devs[i] = &store.Device{Name: fmt.Sprint("till ", i), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", MQTTPasswordHash: sum(fmt.Sprint("pw", i)),
				BrokerCredential: fmt.Sprintf("till-%d:$7$101$c2FsdA==$aGFzaA==", i)}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = s.Enroll(ctx, sum("enrol-1"), devs[i])
			}()
		}
		wg.Wait()
		ok := 0
		for i, err := range results {
			switch {
			case err == nil:
				ok++
				if devs[i].Group != "shop-1" || fleet.ValidateDeviceID(devs[i].ID) != nil || devs[i].EnrolledAt.IsZero() {
					t.Fatalf("enrolled device %+v", devs[i])
				}
				if got, err := s.Device(ctx, devs[i].ID); err != nil || got.BrokerCredential != devs[i].BrokerCredential {
					t.Fatalf("device %s read back with broker credential %q (%v), want %q", devs[i].ID, got.BrokerCredential, err, devs[i].BrokerCredential)
				}
			default:
				wantErr(t, err, store.ErrNotFound)
			}
		}
		if ok != 3 {
			t.Fatalf("%d devices enrolled with a 3-use token", ok)
		}

		// Expired tokens and unknown ones enrol nobody; a failed insert
		// (taken id) gives the use back.
		must(t, s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Hash: sum("enrol-2"), Group: "shop-2", UsesLeft: 1, ExpiresAt: e.clock.Now().Add(time.Minute)}))
		taken := &store.Device{ID: devs[firstOK(results)].ID, MQTTPasswordHash: sum("x")}
		wantErr(t, s.Enroll(ctx, sum("enrol-2"), taken), store.ErrConflict)
		fresh := &store.Device{ID: "dev-fixed-1", MQTTPasswordHash: sum("y")}
		must(t, s.Enroll(ctx, sum("enrol-2"), fresh)) // the use came back
		must(t, s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Hash: sum("enrol-3"), Group: "shop-3", UsesLeft: 5, ExpiresAt: e.clock.Now().Add(time.Minute)}))
		e.clock.Advance(time.Minute)
		wantErr(t, s.Enroll(ctx, sum("enrol-3"), &store.Device{MQTTPasswordHash: sum("z")}), store.ErrNotFound)
		wantErr(t, s.Enroll(ctx, sum("never-made"), &store.Device{MQTTPasswordHash: sum("z")}), store.ErrNotFound)
		if err := s.Enroll(ctx, sum("enrol-1"), &store.Device{ID: "bad/id", MQTTPasswordHash: sum("z")}); err == nil {
			t.Fatal("device id with a slash accepted")
		}

		// Listing shows what is left of each token; a deleted
		// token enrols nobody.
		list, err := s.EnrollmentTokens(ctx)
		must(t, err)
		found := false
		for _, x := range list {
			if x.ID == tok.ID {
				found = x.UsesLeft == 0 && x.Group == "shop-1"
			}
		}
		if len(list) != 3 || !found {
			t.Fatalf("enrolment tokens: %+v", list)
		}
		must(t, s.DeleteEnrollmentToken(ctx, list[0].ID))
		wantErr(t, s.DeleteEnrollmentToken(ctx, list[0].ID), store.ErrNotFound)
		if after, _ := s.EnrollmentTokens(ctx); len(after) != 2 {
			t.Fatalf("%d tokens after deleting one", len(after))
		}
	})
}

func firstOK(errs []error) int {
	for i, err := range errs {
		if err == nil {
			return i
		}
	}
	return -1
}

func TestDevicesSeenAndDesired(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		s := e.S
		for _, g := range []string{"north", "south"} {
			must(t, s.CreateEnrollmentToken(ctx, &store.EnrollmentToken{Hash: sum(g), Group: g, UsesLeft: 10}))
		}
		for i, g := range []string{"north", "south", "north"} {
			must(t, s.Enroll(ctx, sum(g), &store.Device{ID: fmt.Sprint("dev-", i), MQTTPasswordHash: sum(fmt.Sprint(i))}))
		}
		north, err := s.Devices(ctx, "north")
		must(t, err)
		all, _ := s.Devices(ctx, "")
		if len(north) != 2 || north[0].ID != "dev-0" || north[1].ID != "dev-2" || len(all) != 3 {
			t.Fatalf("Devices(north) = %v, all %d", north, len(all))
		}

		at := e.clock.Now().Add(5 * time.Second)
		reported := json.RawMessage(`{"schema":"reported/1","id":"r1","model":{"id":"m_1","version":2}}`)
		must(t, s.SetDeviceSeen(ctx, "dev-0", true, at, reported))
		must(t, s.SetDeviceSeen(ctx, "dev-0", false, at.Add(time.Minute), nil)) // last will: keeps reported
		d, err := s.Device(ctx, "dev-0")
		must(t, err)
		if d.Online || !d.LastSeen.Equal(at.Add(time.Minute)) || string(d.Reported) != string(reported) {
			t.Fatalf("device after seen = %+v", d)
		}
		if err := s.SetDeviceSeen(ctx, "dev-0", true, at, json.RawMessage(`{"half`)); err == nil {
			t.Fatal("broken reported JSON accepted")
		}
		wantErr(t, s.SetDeviceSeen(ctx, "dev-9", true, at, nil), store.ErrNotFound)

		desired := json.RawMessage(`{"schema":"desired/1","id":"d1","model":{"id":"m_1","version":3}}`)
		must(t, s.SetDesired(ctx, "dev-1", "m_1", 3, "d1", desired))
		d, _ = s.Device(ctx, "dev-1")
		if d.DesiredModelID != "m_1" || d.DesiredVersion != 3 || d.DesiredID != "d1" || string(d.Desired) != string(desired) || d.Group != "south" {
			t.Fatalf("device after SetDesired = %+v", d)
		}
		if err := s.SetDesired(ctx, "dev-1", "m_1", 0, "d2", desired); err == nil {
			t.Fatal("model without version accepted")
		}
		wantErr(t, s.SetDesired(ctx, "dev-9", "m_1", 1, "d", desired), store.ErrNotFound)

		must(t, s.DeleteDevice(ctx, "dev-1"))
		wantErr(t, s.DeleteDevice(ctx, "dev-1"), store.ErrNotFound)
		_, err = s.Device(ctx, "dev-1")
		wantErr(t, err, store.ErrNotFound)
	})
}
