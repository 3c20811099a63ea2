package e2e_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/autocv/autocv/controlplane/bus"
	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
)

// TestExternalMosquitto runs the control plane on Debian's Mosquitto
// instead of its embedded broker, configured as controlplane/bus's
// EXTERNAL_BROKER.md says, with the server keeping Mosquitto's password
// file: a real agent enrols, gets its desired version and the package
// itself (MQTT chunks from the server's transfer responder, no HTTP URL)
// through Mosquitto, and serves it.
func TestExternalMosquitto(t *testing.T) {
	mq := startMosquitto(t, "_autocv-cp-e2e")
	addr, pwFile, pidFile := mq.addr, mq.pwFile, mq.pidFile
	const cpUser, cpPassword = "_autocv-cp-e2e", mosquittoPassword
	s := startServer(t, serverOpts{trainers: 1, extra: []string{"--mqtt-url", "tcp://" + addr,
		"--mqtt-username", cpUser, "--mqtt-password", cpPassword,
		"--mosquitto-password-file", pwFile, "--mosquitto-pid-file", pidFile,
		// Packages travel as MQTT chunks through Mosquitto (no HTTP URL).
		"--device-http-downloads=false"}})
	c := s.admin(t)
	ctx := t.Context()
	d := c.createDataset("ants-bees", zipDir(t, testenv.Data(t, "datasets", "hymenoptera", "train"), "hymenoptera"))
	m, err := c.CreateModel(ctx, api.CreateModelRequest{Name: "edge"})
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	vs, err := c.Train(ctx, m.ID, api.CreateVersionsRequest{AppTypes: []string{"offline-high-performance"},
		Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("train: %v %+v", err, vs)
	}
	if v := c.waitVersion(m.ID, vs[0].Version, 3*time.Minute); v.Status != api.VersionSucceeded {
		t.Fatalf("version: %s %s", v.Status, v.Error)
	}
	deploy(t, s, m.ID, vs[0].Version)
	if n := packageDownloads(t, s); n != 0 {
		t.Errorf("%d HTTP package downloads with --device-http-downloads=false: the package did not come as MQTT chunks", n)
	}
}

// mosquitto is a Debian mosquitto started for a test, set up as
// EXTERNAL_BROKER.md says, with a pid file for SIGHUP.
type mosquitto struct {
	addr, pwFile, pidFile string
}

// mosquittoPassword is every control plane user's password in these tests.
const mosquittoPassword = "e2e-control-plane-password"

func startMosquitto(t *testing.T, cpUsers ...string) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("mosquitto not installed (apt-get install mosquitto)")
			}
			t.Skip("mosquitto not installed")
		}
	}
	dir := t.TempDir()
	var lines string
	for _, u := range cpUsers {
		line, err := bus.MosquittoPasswordLine(u, mosquittoPassword)
		if err != nil {
			t.Fatal(err)
		}
		lines += line + "\n"
	}
	m := &mosquitto{addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), pwFile: filepath.Join(dir, "passwd"), pidFile: filepath.Join(dir, "mosquitto.pid")}
	aclFile := filepath.Join(dir, "acl")
	for name, body := range map[string]string{
		m.pwFile:                             lines,
		aclFile:                              bus.MosquittoACL(cpUsers...),
		filepath.Join(dir, "mosquitto.conf"): bus.MosquittoConfig(m.addr, m.pwFile, aclFile) + "user root\npid_file " + m.pidFile + "\nlog_dest stderr\n",
	} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mlog := &testenv.LockedBuffer{}
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "mosquitto.conf"))
	cmd.Stdout, cmd.Stderr = mlog, mlog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", tail(mlog.String(), 4000))
		}
	})
	waitFor(t, 5*time.Second, "mosquitto listening", func() (bool, string) {
		c, err := net.DialTimeout("tcp", m.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		_, perr := os.Stat(m.pidFile)
		return err == nil && perr == nil, fmt.Sprint(err)
	})
	return m
}
