package bus

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/fleet"
)

// mosquitto is a real Mosquitto broker started by a test, configured as
// EXTERNAL_BROKER.md says.
type mosquitto struct {
	url   string
	users [2][2]string // the control plane's two replica users
}

func startMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	bin, passwd := tool(t, "mosquitto"), tool(t, "mosquitto_passwd")
	dir := t.TempDir()
	m := &mosquitto{users: [2][2]string{{"cp-1", "cp-pw-1-0123456789"}, {"cp-2", "cp-pw-2-0123456789"}}}
	pwFile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pwFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range [][2]string{m.users[0], m.users[1], {"dev-a", testDevices["dev-a"]}} {
		if out, err := exec.Command(passwd, "-b", pwFile, u[0], u[1]).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	// dev-b's line comes from MosquittoPasswordLine: Mosquitto accepting
	// dev-b's login proves the format
	line, err := MosquittoPasswordLine("dev-b", testDevices["dev-b"])
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(pwFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, line)
	f.Close()
	aclFile := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclFile, []byte(MosquittoACL("cp-1", "cp-2")), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(MosquittoConfig(fmt.Sprintf("127.0.0.1:%d", port), pwFile, aclFile)+
		"user root\nlog_dest stderr\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("mosquitto log:\n%s", b)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, 5*time.Second, "mosquitto listening on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	m.url = "tcp://" + addr
	return m
}

func TestMosquittoIsolation(t *testing.T) {
	m := startMosquitto(t)
	checkIsolation(t, m.url, m.users[0][0], m.users[0][1], false)
}

func TestMosquittoTransfer(t *testing.T) {
	m := startMosquitto(t)
	checkTransfer(t, m.url, m.users)
}

// TestMosquittoClients checks the embedded broker with Mosquitto's own
// command-line clients.
func TestMosquittoClients(t *testing.T) {
	sub, pub := tool(t, "mosquitto_sub"), tool(t, "mosquitto_pub")
	b, pw := startEmbedded(t)
	rec := newRecorder()
	bus := busFor(t, b.URL(), DefaultInternalUsername, pw, "cp-cli", nil, rec)
	host, port, _ := net.SplitHostPort(b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := bus.PublishDesired(ctx, "dev-a", &fleet.Desired{Header: fleet.Header{ID: "d-cli"}}); err != nil {
		t.Fatal(err)
	}
	run := func(bin, id, pass string, args ...string) (string, error) {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		args = append([]string{"-h", host, "-p", port, "-i", id, "-u", id, "-P", pass, "-q", "1"}, args...)
		out, err := exec.CommandContext(c, bin, args...).CombinedOutput()
		return string(out), err
	}

	out, err := run(sub, "dev-a", testDevices["dev-a"], "-t", topic(t, "dev-a", fleet.KindDesired), "-C", "1", "-W", "5")
	if err != nil || !strings.Contains(out, `"id":"d-cli"`) {
		t.Errorf("mosquitto_sub of dev-a's desired: %v: %q, want the retained d-cli", err, out)
	}
	out, err = run(sub, "dev-a", testDevices["dev-a"], "-t", topic(t, "dev-b", fleet.KindDesired), "-C", "1", "-W", "3")
	// mosquitto_sub 2.0 says so and exits 0
	if !strings.Contains(out, "All subscription requests were denied") {
		t.Errorf("mosquitto_sub of dev-b's desired as dev-a: %v: %q, want a denied subscription", err, out)
	}
	out, err = run(sub, "dev-a", "wrong-password", "-t", topic(t, "dev-a", fleet.KindDesired), "-C", "1", "-W", "3")
	if err == nil || !strings.Contains(strings.ToLower(out), "not authorised") {
		t.Errorf("mosquitto_sub with a wrong password: %v: %q, want refused", err, out)
	}

	ev := string(encode(t, &fleet.Event{Header: fleet.Header{ID: "e-cli"}, Kind: fleet.EventAck, Ref: "d-cli"}))
	if out, err := run(pub, "dev-a", testDevices["dev-a"], "-t", topic(t, "dev-b", fleet.KindEvents), "-m", ev); err != nil {
		t.Logf("mosquitto_pub to dev-b's events as dev-a: %v: %q", err, out)
	}
	if out, err := run(pub, "dev-a", testDevices["dev-a"], "-t", topic(t, "dev-a", fleet.KindEvents), "-m", ev); err != nil {
		t.Fatalf("mosquitto_pub to dev-a's events: %v: %q", err, out)
	}
	waitFor(t, 3*time.Second, "dev-a's event via mosquitto_pub", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.events["dev-a"]) == 1
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events["dev-b"]) != 0 {
		t.Error("dev-a's mosquitto_pub to dev-b's events reached the control plane")
	}
}
