package installers_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
)

// The windows-amd64 SDK under Debian's wine: start.bat starts the agent,
// which starts the plugin, which loads onnxruntime.dll, verifies the
// package and classifies a photo.
func TestWindowsSDKUnderWine(t *testing.T) {
	wine := wineBinary(t)
	p, rt := runtimeDir(t, "windows-amd64")
	dir := unzipSDK(t, p, rt)
	_, env := winePrefix(t, wine)

	port := testenv.FreePort(t)
	// `.\start.bat`, not `start.bat`: wine's cmd reads the latter as its
	// START builtin (Explorer's double-click does not go through cmd's parser).
	cmd := exec.Command(wine, "cmd", "/c", `.\start.bat`)
	cmd.Dir = dir
	cmd.Env = append(env, fmt.Sprintf("AUTOCV_LISTEN=127.0.0.1:%d", port))
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("wine output:\n%s", out.String())
		}
	}()
	waitReady(t, out, exited, 3*time.Minute)
	if !strings.Contains(out.String(), "package verified") {
		t.Errorf("the SDK did not say it verified the package and its golden samples")
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/upload", port)
	got := upload(t, url, testenv.Data(t, beePhoto...))
	if len(got.Predictions) == 0 || got.Predictions[0].Label != "bees" {
		t.Fatalf("POST %s under wine: %+v, want bees first", url, got)
	}
	t.Logf("wine: POST %s: %s %.3f in %.1f ms", url, got.Predictions[0].Label, got.Predictions[0].Confidence, got.LatencyMS)
}

// wineBinary finds Debian's wine (package wine64: /usr/lib/wine/wine64,
// wrapped as /usr/bin/wine by the wine package).
func wineBinary(t *testing.T) string {
	for _, name := range []string{"wine64", "wine"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/lib/wine/wine64"); err == nil {
		return "/usr/lib/wine/wine64"
	}
	missingf(t, "wine is not installed (apt-get install wine64 wine)")
	return filepath.Join("/usr/lib/wine", "wine64")
}

// wineShim puts testdata/wine/bcryptprimitives.dll into the prefix: wine
// 8.0 (Debian 12) has no bcryptprimitives.dll, and Go's Windows runtime
// stops at start without its ProcessPrng ("fatal error:
// bcryptprimitives.dll not found"). Windows 10 and later have it.
func wineShim(t *testing.T, prefix string) {
	cc := testenv.Tool(t, "x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64")
	src := filepath.Join(testenv.RepoRoot(t), "installers", "testdata", "wine", "bcryptprimitives.c")
	dll := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if _, err := os.Stat(dll); err == nil {
		return // a newer wine has its own
	}
	if b, err := exec.Command(cc, "-O2", "-shared", "-o", dll, src, "-ladvapi32").CombinedOutput(); err != nil {
		t.Fatalf("building the bcryptprimitives.dll shim: %v\n%s", err, b)
	}
}

// winePrefix makes a throwaway wine prefix (wineboot) with the
// bcryptprimitives shim and returns it with the environment that uses it.
func winePrefix(t *testing.T, wine string) (string, []string) {
	prefix := t.TempDir()
	env := append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=")
	boot := exec.Command(wine, "wineboot", "--init")
	boot.Env = env
	if out, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	wineShim(t, prefix)
	t.Cleanup(func() {
		k := exec.Command("wineserver", "-k")
		k.Env = env
		_ = k.Run()
	})
	return prefix, env
}

// The MSI under wine: msiexec installs the files and registers the
// service; with a package in C:\ProgramData\AutoCV the service starts and
// classifies on 127.0.0.1:8987; sc stop stops it; uninstalling removes the
// service and the program files and keeps the package.
func TestMSIServiceUnderWine(t *testing.T) {
	wine := wineBinary(t)
	msi := buildMSI(t, testenv.Tool(t, "wixl", "wixl"))
	pkg, pub := trainedPackage(t)
	if c, err := net.DialTimeout("tcp", "127.0.0.1:8987", time.Second); err == nil {
		c.Close()
		t.Skip("127.0.0.1:8987, the service's address, is taken on this machine")
	}
	prefix, env := winePrefix(t, wine)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(wine, args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := run("msiexec", "/i", msi, "/qn"); err != nil {
		t.Fatalf("msiexec /i: %v\n%s", err, out)
	}
	progDir := filepath.Join(prefix, "drive_c", "Program Files", "AutoCV")
	for _, f := range []string{"autocv-agent.exe", "autocv-plugin-onnx.exe", "onnxruntime.dll"} {
		if _, err := os.Stat(filepath.Join(progDir, f)); err != nil {
			t.Errorf("installed: %s missing", f)
		}
	}
	// wine's sc has no qc: the service's registry key says what the SCM holds
	const key = `HKLM\System\CurrentControlSet\Services\autocv-agent`
	if out, _ := run("reg", "query", key); !strings.Contains(out, `autocv-agent.exe serve --package`) || !strings.Contains(out, "LocalSystem") {
		t.Fatalf("reg query %s: the service is not registered:\n%s", key, out)
	}
	data := filepath.Join(prefix, "drive_c", "ProgramData", "AutoCV")
	copyFile(t, pkg, filepath.Join(data, "package.tar.gz"))
	copyFile(t, pub, filepath.Join(data, "signing.pub"))
	// net start waits for the service's "running"; the test asks the API.
	start := exec.Command(wine, "net", "start", "autocv-agent")
	start.Env = env
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = start.Process.Kill(); _ = start.Wait() }()
	var got api.PredictResponse
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if r, ok := tryUpload("http://127.0.0.1:8987/upload", testenv.Data(t, beePhoto...)); ok {
			got = r
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the autocv-agent service did not answer on 127.0.0.1:8987 within 3 minutes")
		}
		time.Sleep(2 * time.Second)
	}
	if len(got.Predictions) == 0 || got.Predictions[0].Label != "bees" {
		t.Fatalf("the service answered %+v, want bees first", got)
	}
	t.Logf("service: bees %.3f", got.Predictions[0].Confidence)
	// The stop request reaches the agent through the SCM (agent/service);
	// wine's sc exits 1 while the service is still stop-pending, so the
	// proof is the port closing.
	out, err := run("sc", "stop", "autocv-agent")
	t.Logf("sc stop: %v %s", err, strings.TrimSpace(out))
	stopBy := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:8987", time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(stopBy) {
			t.Fatal("the service still answers a minute after sc stop")
		}
		time.Sleep(time.Second)
	}
	if out, err := run("msiexec", "/x", msi, "/qn"); err != nil {
		t.Fatalf("msiexec /x: %v\n%s", err, out)
	}
	if _, err := os.Stat(progDir); !os.IsNotExist(err) {
		t.Errorf("after uninstalling, %s is still there", progDir)
	}
	if out, _ := run("reg", "query", key); strings.Contains(out, "autocv-agent.exe") {
		t.Errorf("after uninstalling, the service is still registered:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "package.tar.gz")); err != nil {
		t.Errorf("uninstalling removed the user's package: %v", err)
	}
}
