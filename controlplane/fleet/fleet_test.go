package fleet_test

import (
	"crypto/ed25519"
	"context"
	"errors"
	"os"
	"path/filepath"
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

// The fleet's rules on a real SQLite store, without HTTP or a broker:
// enrolment tokens and their uses, device logins, desired state only for
// trained versions, package URLs and transfers only for the desired
// package, the broker password file, and removal.
func TestFleet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pkg := filepath.Join(dir, "pkg.tar.gz")
	if err := os.WriteFile(pkg, []byte("a package"), 0o600); err != nil {
		t.Fatal(err)
	}
	pwfile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pwfile, []byte("operator:$7$keep\ndev_gone:$7$old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := modelpkg.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	f := fleet.New(ctx, fleet.Config{Store: st, Log: zaptest.NewLogger(t), PublicURL: "http://cp.example:8080",
		MQTTURL: "tcp://cp.example:1883", SigningPublicKey: pem, URLKey: []byte("key"),
		PackageFile: func(context.Context, string) (string, error) { return pkg, nil },
		PackageSize: func(context.Context, string) (int64, error) { return 9, nil },
		PasswordFile: pwfile, BrokerUser: "_cp", BrokerPasswd: "cp-secret"})

	for _, bad := range []api.EnrollmentTokenRequest{{Group: "a/b"}, {Uses: -1}, {ExpiresIn: 10}} {
		if _, _, err := f.NewEnrollmentToken(ctx, bad, "u1"); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("token %+v: %v, want ErrInvalid", bad, err)
		}
	}
	// Groups are named in any script; a token for "车间A" (the console's
	// own placeholder) once answered 500.
	if g, err := f.CreateGroup(ctx, api.CreateGroupRequest{Name: "车间A", Description: "一号车间"}); err != nil || g.Name != "车间A" {
		t.Fatalf("group 车间A: %+v %v", g, err)
	}
	if _, err := f.CreateGroup(ctx, api.CreateGroupRequest{Name: "a/b"}); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("group a/b: %v, want ErrInvalid", err)
	}
	if _, err := f.CreateGroup(ctx, api.CreateGroupRequest{Name: "车间A"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("group 车间A again: %v, want ErrConflict", err)
	}
	if _, _, err := f.NewEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: "车间A"}, "u1"); err != nil {
		t.Errorf("token for 车间A: %v", err)
	}
	tok, secret, err := f.NewEnrollmentToken(ctx, api.EnrollmentTokenRequest{Group: "line-1"}, "u1")
	if err != nil || tok.UsesLeft != 1 || tok.Group != "line-1" || !strings.HasPrefix(secret, "acve_") {
		t.Fatalf("token: %+v %q %v", tok, secret, err)
	}
	if cmd := f.EnrollCommand(secret); !strings.Contains(cmd, "--server http://cp.example:8080 --token "+secret) {
		t.Errorf("command %q", cmd)
	}
	req := api.EnrollRequest{EnrollRequest: pfleet.EnrollRequest{Token: secret, OS: "linux", Arch: "amd64"}, Hostname: "cam-7"}
	resp, err := f.Enroll(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.DeviceID, "dev_") || resp.MQTT.URL != "tcp://cp.example:1883" || resp.MQTT.Password == "" {
		t.Errorf("enrolled: %+v", resp)
	}
	if _, err := f.Enroll(ctx, req); !errors.Is(err, fleet.ErrBadToken) {
		t.Errorf("token used up: %v, want ErrBadToken", err)
	}
	req.Token = ""
	if _, err := f.Enroll(ctx, req); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("no token: %v, want ErrInvalid", err)
	}
	if !f.Login(resp.DeviceID, resp.MQTT.Password) || f.Login(resp.DeviceID, "wrong") || f.Login("dev_nobody", resp.MQTT.Password) {
		t.Error("device login accepts only the device's own password")
	}
	d, err := st.Device(ctx, resp.DeviceID)
	if err != nil || d.Name != "cam-7" || d.Group != "line-1" {
		t.Fatalf("device: %+v %v", d, err)
	}

	// The password file: the control plane's line, the device's, the
	// operator's kept, the removed device's gone.
	pw, _ := os.ReadFile(pwfile)
	for _, want := range []string{"_cp:", resp.DeviceID + ":", "operator:$7$keep"} {
		if !strings.Contains(string(pw), want) {
			t.Errorf("password file lacks %q:\n%s", want, pw)
		}
	}
	if strings.Contains(string(pw), "dev_gone") {
		t.Errorf("password file keeps a device the database does not know:\n%s", pw)
	}

	// Desired state: only a trained version, and only its package moves.
	m := &store.Model{OwnerID: "u1", Name: "ants"}
	if err := st.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	job := jobs.Job{AppType: jobs.OfflineGeneral, Metric: "f1", Labels: []string{"a", "b"}}
	if _, err := st.CreateVersions(ctx, m.ID, []store.Version{{AppType: jobs.OfflineGeneral, Metric: "f1", Status: store.VersionQueued}}, []jobs.Job{job}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetDesired(ctx, resp.DeviceID, m.ID, 1); !errors.Is(err, fleet.ErrNotTrained) {
		t.Errorf("untrained version: %v, want ErrNotTrained", err)
	}
	if _, err := f.SetDesired(ctx, resp.DeviceID, m.ID, 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no such version: %v, want ErrNotFound", err)
	}
	lease, err := st.Lease(ctx, "w1", time.Minute, 3)
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("ab", 32)
	if err := st.CompleteJob(ctx, lease.ID, lease.LeaseID, sha, strings.Repeat("cd", 32), map[string]float64{"f1": 0.9}); err != nil {
		t.Fatal(err)
	}
	if f.Desires(ctx, resp.DeviceID, sha) {
		t.Error("a package is desired before SetDesired")
	}
	if _, err := f.Transfer(ctx, resp.DeviceID, sha); !errors.Is(err, fleet.ErrNotDesired) {
		t.Errorf("transfer before SetDesired: %v", err)
	}
	d, err = f.SetDesired(ctx, resp.DeviceID, m.ID, 1)
	if err != nil || d.DesiredModelID != m.ID || d.DesiredVersion != 1 || d.DesiredID == "" {
		t.Fatalf("set desired: %+v %v", d, err)
	}
	if !f.Desires(ctx, resp.DeviceID, sha) || f.Desires(ctx, resp.DeviceID, strings.Repeat("ef", 32)) {
		t.Error("only the desired package is allowed")
	}
	src, err := f.Transfer(ctx, resp.DeviceID, sha)
	if err != nil || src.Size() != 9 {
		t.Fatalf("transfer: %v", err)
	}
	if c, ok := src.(interface{ Close() error }); ok {
		c.Close()
	}
	u := f.PackageURL(resp.DeviceID, sha)
	sig := u[strings.Index(u, "sig=")+4:]
	if !strings.HasPrefix(u, "http://cp.example:8080/api/v1/device-packages/"+sha+"?") ||
		!f.ValidURL(resp.DeviceID, sha, sig) || f.ValidURL("dev_other", sha, sig) {
		t.Errorf("package URL %s: signature checks wrong", u)
	}

	if err := f.Remove(ctx, resp.DeviceID); err != nil {
		t.Fatal(err)
	}
	if f.Login(resp.DeviceID, resp.MQTT.Password) {
		t.Error("a removed device still logs in")
	}
	if pw, _ := os.ReadFile(pwfile); strings.Contains(string(pw), resp.DeviceID) {
		t.Errorf("a removed device keeps its broker line:\n%s", pw)
	}

	noMQTT := fleet.New(ctx, fleet.Config{Store: st})
	if _, err := noMQTT.Enroll(ctx, api.EnrollRequest{EnrollRequest: pfleet.EnrollRequest{Token: secret, Name: "x", OS: "linux", Arch: "amd64"}}); !errors.Is(err, fleet.ErrNoMQTT) {
		t.Errorf("without MQTT: %v, want ErrNoMQTT", err)
	}
}
