package installers_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
)

// lintianSuppressed are the lintian tags the agent .deb carries (lintian
// 2.116, Debian 12), each for a reason (README, "Installers and SDKs"):
var lintianSuppressed = []string{
	// The agent's self-update swaps its binary in place, so it lives in
	// /opt/autocv/bin (a folder of its own), not /usr/bin.
	"dir-or-file-in-opt",
	// Built from a Go module, not a Debian source package.
	"no-changelog",
	// The agent is a static Go binary (CGO_ENABLED=0); the plugin is linked
	// by Go's internal linker (the GLIBC 2.28 floor), which makes neither
	// PIE nor RELRO binaries.
	"statically-linked-binary",
	"hardening-no-pie",
	"hardening-no-relro",
	// onnxruntime ships as Microsoft's binary (it carries curl and mbedtls
	// inside), beside the plugin that loads it by path.
	"embedded-library",
	// The scripts only reload systemd and stop the service on removal;
	// debhelper's snippets are for packages built with debhelper.
	"maintainer-script-calls-systemctl",
	// The repository has no licence yet, so the copyright file names none.
	"copyright-without-copyright-notice",
}

// nfpmVersion is the nfpm that dist.sh pins.
func nfpmModule(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "installers", "dist.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^NFPM=(\S+@v[0-9.]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("installers/dist.sh pins no NFPM=module@version")
	}
	return string(m[1])
}

// buildPackage builds the autocv-agent package for amd64 with nfpm, as
// dist.sh does, and returns its path.
func buildPackage(t *testing.T, packager string) string {
	t.Helper()
	_, rt := runtimeDir(t, "linux-amd64")
	out := t.TempDir()
	cmd := exec.Command("go", "run", nfpmModule(t), "package", "--config", "installers/nfpm/autocv-agent.yaml",
		"--packager", packager, "--target", out+"/")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "ARCH=amd64", "VERSION=0.1.0", "BIN="+rt, "SOURCE_DATE_EPOCH=1765152000")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpm %s: %v\n%s", packager, err, b)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*."+packager))
	if len(files) != 1 {
		t.Fatalf("nfpm wrote %v", files)
	}
	return files[0]
}

var agentFiles = []string{
	"/etc/autocv/agent.yaml",
	"/opt/autocv/bin/autocv-agent",
	"/opt/autocv/bin/autocv-plugin-onnx",
	"/opt/autocv/bin/libonnxruntime.so.1",
}

// The .deb unpacked into a throwaway root: its files, its unit, its
// maintainer scripts, and lintian.
func TestAgentDeb(t *testing.T) {
	testenv.Tool(t, "dpkg-deb", "dpkg")
	lintian := testenv.Tool(t, "lintian", "lintian")
	deb := buildPackage(t, "deb")
	root := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, b)
	}
	for _, f := range append(agentFiles, "/lib/systemd/system/autocv-agent.service", "/usr/share/doc/autocv-agent/copyright") {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the .deb lacks %s", f)
		}
	}
	if st, err := os.Stat(filepath.Join(root, "var/lib/autocv")); err != nil || !st.IsDir() {
		t.Errorf("the .deb lacks the state folder /var/lib/autocv")
	}
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/autocv-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=autocv-agent", "ExecStart=/opt/autocv/bin/autocv-agent serve --config /etc/autocv/agent.yaml",
		"StateDirectory=autocv", "Type=notify", "WantedBy=multi-user.target"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// the unpacked agent runs, and the config file it is given is one it accepts
	cfg := filepath.Join(root, "etc/autocv/agent.yaml")
	help := exec.Command(filepath.Join(root, "opt/autocv/bin/autocv-agent"), "serve", "--config", cfg, "--help")
	if b, err := help.CombinedOutput(); err != nil && !strings.Contains(string(b), "Usage") {
		t.Errorf("the packaged agent with /etc/autocv/agent.yaml: %v\n%s", err, b)
	}
	ctrl := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-e", deb, ctrl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, b)
	}
	conffiles, _ := os.ReadFile(filepath.Join(ctrl, "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/autocv/agent.yaml" {
		t.Errorf("conffiles %q, want /etc/autocv/agent.yaml", conffiles)
	}
	for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
		if _, err := os.Stat(filepath.Join(ctrl, s)); err != nil {
			t.Errorf("the .deb lacks its %s script", s)
		}
	}
	preinst, _ := os.ReadFile(filepath.Join(ctrl, "preinst"))
	if !strings.Contains(string(preinst), "adduser --system") {
		t.Errorf("preinst does not create the autocv-agent user")
	}

	out, err := exec.Command(lintian, "--tag-display-limit", "0", "--suppress-tags", strings.Join(lintianSuppressed, ","),
		"--fail-on", "error,warning", deb).CombinedOutput()
	t.Logf("lintian (suppressed: %s):\n%s", strings.Join(lintianSuppressed, ", "), out)
	if err != nil {
		t.Errorf("lintian: %v", err)
	}
}

// The .rpm's file list and scripts, read with rpm.
func TestAgentRPM(t *testing.T) {
	rpm := testenv.Tool(t, "rpm", "rpm")
	pkg := buildPackage(t, "rpm")
	b, err := exec.Command(rpm, "-qlp", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("rpm -qlp: %v\n%s", err, b)
	}
	files := strings.Fields(string(b))
	for _, f := range append(agentFiles, "/usr/lib/systemd/system/autocv-agent.service") {
		if !slices.Contains(files, f) {
			t.Errorf("the .rpm lacks %s (it has %v)", f, files)
		}
	}
	b, err = exec.Command(rpm, "-qp", "--scripts", pkg).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "useradd --system") {
		t.Errorf("rpm scripts (%v) do not create the user:\n%s", err, b)
	}
	b, _ = exec.Command(rpm, "-qcp", pkg).CombinedOutput()
	if strings.TrimSpace(string(b)) != "/etc/autocv/agent.yaml" {
		t.Errorf("rpm config files %q, want /etc/autocv/agent.yaml", b)
	}
}

// The MSI built with wixl from installers/windows: the files, and the
// service registered, stopped and removed on uninstall.
func TestMSI(t *testing.T) {
	wixl := testenv.Tool(t, "wixl", "wixl")
	msiinfo := testenv.Tool(t, "msiinfo", "msitools")
	msi := buildMSI(t, wixl)
	table := func(name string) string {
		b, err := exec.Command(msiinfo, "export", msi, name).CombinedOutput()
		if err != nil {
			t.Fatalf("msiinfo export %s: %v\n%s", name, err, b)
		}
		return string(b)
	}
	svc := table("ServiceInstall")
	if !regexp.MustCompile(`(?m)^AgentService\tautocv-agent\tAutoCV Agent\t16\t3\t1\t.*\tLocalSystem\t\tserve --package "\[CommonAppDataFolder\]AutoCV\\package.tar.gz" --listen 127.0.0.1:8987\tAgent\t`).MatchString(svc) {
		t.Errorf("ServiceInstall: want the autocv-agent service (own process, on demand, LocalSystem):\n%s", svc)
	}
	// 162 = stop on install (an upgrade) + stop and delete on uninstall
	if ctl := table("ServiceControl"); !strings.Contains(ctl, "AgentServiceControl\tautocv-agent\t162\t") {
		t.Errorf("ServiceControl: want stop and remove on uninstall:\n%s", ctl)
	}
	files := table("File")
	for _, f := range []string{"autocv-agent.exe", "autocv-plugin-onnx.exe", "onnxruntime.dll", "README.txt"} {
		if !strings.Contains(files, "\t"+f+"\t") {
			t.Errorf("File table lacks %s:\n%s", f, files)
		}
	}
	seq := table("InstallExecuteSequence")
	for _, a := range []string{"InstallServices", "StopServices", "DeleteServices"} {
		if !strings.Contains(seq, a) {
			t.Errorf("InstallExecuteSequence lacks %s", a)
		}
	}
	if props := table("Property"); !strings.Contains(props, "ProductVersion\t0.1.7") || !strings.Contains(props, "UpgradeCode\t{E9BD7F74-B9DA-43D2-B5D8-089F1585A24A}") {
		t.Errorf("Property: want ProductVersion 0.1.7 and the fixed UpgradeCode:\n%s", props)
	}
}

// buildMSI builds the agent MSI (version 0.1.7) with wixl as dist.sh does.
func buildMSI(t *testing.T, wixl string) string {
	t.Helper()
	p, rt := runtimeDir(t, "windows-amd64")
	stage := t.TempDir()
	for _, f := range p.RuntimeFiles() {
		copyFile(t, filepath.Join(rt, f), filepath.Join(stage, f))
	}
	repo := testenv.RepoRoot(t)
	copyFile(t, filepath.Join(repo, "installers", "windows", "README.txt"), filepath.Join(stage, "README.txt"))
	msi := filepath.Join(stage, "autocv-agent.msi")
	cmd := exec.Command(wixl, "-a", "x64", "-D", "Version=0.1.7", "-o", msi, filepath.Join(repo, "installers", "windows", "autocv-agent.wxs"))
	cmd.Dir = stage
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wixl: %v\n%s", err, b)
	}
	return msi
}
