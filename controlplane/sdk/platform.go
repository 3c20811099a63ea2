// Package sdk assembles offline SDKs (离线 SDK): one zip per platform
// holding the agent in standalone mode, the onnx plugin, the onnxruntime
// libraries, a signed model package, its public key, a start script and a
// README in zh-CN and English.
//
// The control plane builds an SDK when a user asks for one (its sdk
// routes); `make dist` uses the same code to pack the per-platform runtime
// sets it ships (installers/cmd/autocv-dist). Zips are reproducible: sorted
// entries, fixed modes and every mtime set to the build's source date.
package sdk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Platform is one SDK flavour.
type Platform struct {
	Name  string   // linux-amd64, linux-amd64-gpu, linux-arm64, windows-amd64
	GOOS  string   // the agent's and plugin's GOOS
	Arch  string   // the agent's and plugin's GOARCH
	Libs  []string // onnxruntime files beside the plugin
	GPU   bool     // carries onnxruntime's CUDA provider
	Start string   // start.sh or start.bat
}

// Platforms lists every SDK flavour, in the order the console offers them.
var Platforms = []Platform{
	{Name: "linux-amd64", GOOS: "linux", Arch: "amd64", Libs: []string{"libonnxruntime.so.1"}, Start: "start.sh"},
	{Name: "linux-amd64-gpu", GOOS: "linux", Arch: "amd64", GPU: true, Start: "start.sh",
		Libs: []string{"libonnxruntime.so.1", "libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"}},
	{Name: "linux-arm64", GOOS: "linux", Arch: "arm64", Libs: []string{"libonnxruntime.so.1"}, Start: "start.sh"},
	{Name: "windows-amd64", GOOS: "windows", Arch: "amd64", Libs: []string{"onnxruntime.dll"}, Start: "start.bat"},
}

// ErrUnknownPlatform is returned for a platform name not in Platforms.
var ErrUnknownPlatform = errors.New("unknown SDK platform")

// Lookup returns the platform called name.
func Lookup(name string) (Platform, error) {
	for _, p := range Platforms {
		if p.Name == name {
			return p, nil
		}
	}
	return Platform{}, fmt.Errorf("%w %q: want %s", ErrUnknownPlatform, name, strings.Join(Names(), ", "))
}

// Names returns the platform names.
func Names() []string {
	var out []string
	for _, p := range Platforms {
		out = append(out, p.Name)
	}
	return out
}

func (p Platform) exe() string {
	if p.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// Agent is the agent's file name on p.
func (p Platform) Agent() string { return "autocv-agent" + p.exe() }

// Plugin is the onnx plugin's file name on p.
func (p Platform) Plugin() string { return "autocv-plugin-onnx" + p.exe() }

// RuntimeFiles are the files a runtime folder for p must hold.
func (p Platform) RuntimeFiles() []string {
	return append([]string{p.Agent(), p.Plugin()}, p.Libs...)
}

// Listen is the address start.sh or start.bat serves on by default: every
// interface on Linux (a device others reach), loopback on Windows (a
// desktop), as the product doc says.
func (p Platform) Listen() string {
	if p.GOOS == "windows" {
		return "127.0.0.1:8987"
	}
	return "0.0.0.0:8987"
}

// SearchDirs returns the folders that may hold p's runtime files, in the
// order FindRuntime tries them: the configured folder (<sdkDir>/<platform>)
// first, then where the packages, `make dist` and `make build` put them
// relative to the running binary exe:
//
//	<exe dir>/../share/autocv/runtimes/<platform>   (.deb/.rpm: /opt/autocv/share/autocv/runtimes)
//	<exe dir>/runtimes/<platform>
//	<exe dir>/../dist/runtimes/<platform>           (bin/autocv-server in a checkout after make dist)
//	<exe dir>                                       (make build: bin/, for the host's own platform)
func (p Platform) SearchDirs(sdkDir, exe string) []string {
	var dirs []string
	if sdkDir != "" {
		dirs = append(dirs, filepath.Join(sdkDir, p.Name))
	}
	if exe != "" {
		d := filepath.Dir(exe)
		dirs = append(dirs,
			filepath.Join(d, "..", "share", "autocv", "runtimes", p.Name),
			filepath.Join(d, "runtimes", p.Name),
			filepath.Join(d, "..", "dist", "runtimes", p.Name))
	}
	// Never the working directory: a server started from a folder others
	// can write to would put their files into the SDKs it hands out.
	if exe != "" && !p.GPU && p.GOOS == runtime.GOOS && p.Arch == runtime.GOARCH {
		dirs = append(dirs, filepath.Dir(exe))
	}
	return dirs
}

// FindRuntime returns the first of dirs that holds every runtime file of
// p, or an error naming what each folder lacks.
func (p Platform) FindRuntime(dirs []string) (string, error) {
	var why []string
	for _, d := range dirs {
		var missing []string
		for _, f := range p.RuntimeFiles() {
			if st, err := os.Stat(filepath.Join(d, f)); err != nil || !st.Mode().IsRegular() {
				missing = append(missing, f)
			}
		}
		if len(missing) == 0 {
			return d, nil
		}
		why = append(why, fmt.Sprintf("%s lacks %s", d, strings.Join(missing, ", ")))
	}
	hint := "install the autocv-server package, which puts it under /opt/autocv/share/autocv/runtimes/" + p.Name
	if p.GPU {
		hint = "unzip the " + p.Name + " runtime zip of `make dist` into /opt/autocv/share/autocv/runtimes/" + p.Name +
			" (the server package leaves the 200 MB CUDA provider out)"
	}
	return "", fmt.Errorf("the %s SDK runtime is not installed on this server (%s); run `make dist` in a checkout, or %s",
		p.Name, strings.Join(why, "; "), hint)
}
