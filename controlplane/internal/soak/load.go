package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/autocv/autocv/controlplane/internal/rig"
)

// hostileImages are the hostile bodies by name, made in this process.
func hostileImages() map[string][]byte {
	big := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := 0; y < 3000; y += 7 {
		for x := 0; x < 4000; x += 5 {
			big.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var j, p bytes.Buffer
	_ = jpeg.Encode(&j, big, &jpeg.Options{Quality: 80})
	_ = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&p, big)
	small := image.NewGray(image.Rect(0, 0, 8, 8))
	var sj, sp bytes.Buffer
	_ = jpeg.Encode(&sj, small, nil)
	_ = png.Encode(&sp, small)
	garbage := bytes.Repeat([]byte("not an image, 不是图片 "), 4000)
	return map[string][]byte{
		"pixel-heavy jpeg": j.Bytes(),
		"pixel-heavy png":  p.Bytes(),
		"bomb png":         pngBomb(sp.Bytes()),
		"bomb jpeg":        jpegBomb(sj.Bytes()),
		"truncated jpeg":   j.Bytes()[:j.Len()/3],
		"garbage":          garbage,
	}
}

// pngBomb rewrites a small PNG's IHDR to declare 60000×60000 pixels.
func pngBomb(b []byte) []byte {
	out := append([]byte(nil), b...)
	ihdr := out[8+8 : 8+8+13] // after signature, length and type
	binary.BigEndian.PutUint32(ihdr[0:], 60000)
	binary.BigEndian.PutUint32(ihdr[4:], 60000)
	binary.BigEndian.PutUint32(out[8+8+13:], crc32.ChecksumIEEE(out[8+4:8+8+13]))
	return out
}

// jpegBomb rewrites a small JPEG's SOF0 to declare 65000×65000 pixels.
func jpegBomb(b []byte) []byte {
	out := append([]byte(nil), b...)
	if i := bytes.Index(out, []byte{0xFF, 0xC0}); i >= 0 && i+9 < len(out) {
		binary.BigEndian.PutUint16(out[i+5:], 65000)
		binary.BigEndian.PutUint16(out[i+7:], 65000)
	}
	return out
}

// slowPost sends body to rawURL at about 20 bytes a second for at most
// 20 s, then the rest at once, and reads the status line.
func slowPost(rawURL, key string, body []byte) result {
	t0 := time.Now()
	u, err := url.Parse(rawURL)
	if err != nil {
		return result{err: err}
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		return result{err: err}
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		u.Path, u.Host, key, len(body))
	sent := 0
	for sent < len(body) && time.Since(t0) < 20*time.Second {
		if _, err := conn.Write(body[sent : sent+2]); err != nil {
			break // the server may hang up on a slow client: that is fine
		}
		sent += 2
		time.Sleep(100 * time.Millisecond)
	}
	if sent < len(body) {
		_, _ = conn.Write(body[sent:])
	}
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	line := make([]byte, 12)
	n, _ := conn.Read(line)
	status, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(line[:n]), "HTTP/1.1")))
	r := result{status: status, took: time.Since(t0)}
	if status == 0 {
		r.err = fmt.Errorf("no status line (%q)", line[:n])
	}
	return r
}

// children are the pids whose parent is pid and whose command is name.
func children(pid int, name string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm is cut to 15 bytes.
		s := string(stat)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && filepath.Base(exe) == name {
			out = append(out, p)
		}
	}
	return out
}

// killPlugins sends SIGKILL to the server's plugin processes.
func killPlugins(server int) int {
	pids := children(server, "autocv-plugin-onnx")
	for _, pid := range pids {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill() // SIGKILL
		}
	}
	return len(pids)
}

// rssKB is a process's resident set in KiB (0 once it is gone).
func rssKB(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// rssWatch samples the server and its plugins' RSS.
type rssWatch struct {
	server int

	mu                          sync.Mutex
	serverPeak, pluginPeak, sum int64 // KiB; pluginPeak is one plugin's
	window                      int64 // server+plugins peak since resetWindow
	plugins                     map[int]bool
}

func newRSSWatch(server int) *rssWatch {
	return &rssWatch{server: server, plugins: map[int]bool{}}
}

func (w *rssWatch) sample() {
	s := rssKB(w.server)
	total := s
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range children(w.server, "autocv-plugin-onnx") {
		r := rssKB(p)
		w.plugins[p] = true
		w.pluginPeak = max(w.pluginPeak, r)
		total += r
	}
	w.serverPeak = max(w.serverPeak, s)
	w.sum = max(w.sum, total)
	w.window = max(w.window, total)
}

// run samples every 200 ms until ctx ends.
func (w *rssWatch) run(ctx interface{ Done() <-chan struct{} }) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.sample()
		}
	}
}

func (w *rssWatch) resetWindow() {
	w.mu.Lock()
	w.window = 0
	w.mu.Unlock()
}

func (w *rssWatch) windowPeak() int64 {
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.window
}

// stats counts the answers per kind, the faults and what was lost.
type stats struct {
	mu        sync.Mutex
	kinds     map[string]*kindStats
	faults    []string
	lastFault time.Time
	lost      []string
	burstPeak map[string]int64
}

type kindStats struct {
	codes map[string]int
	lat   rig.Latencies
}

func newStats() *stats {
	return &stats{kinds: map[string]*kindStats{}, burstPeak: map[string]int64{}}
}

func (s *stats) add(kind string, r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kinds[kind]
	if k == nil {
		k = &kindStats{codes: map[string]int{}}
		s.kinds[kind] = k
	}
	k.codes[codeClass(r)]++
	k.lat = append(k.lat, r.took)
}

// codeClass is 2xx, 4xx by code, 429, 503, 5xx or "no answer".
func codeClass(r result) string {
	switch {
	case r.status == 0:
		return "no answer"
	case r.status/100 == 2:
		return "2xx"
	case r.status/100 == 4 || r.status == 503:
		return strconv.Itoa(r.status)
	default:
		return "5xx other (" + strconv.Itoa(r.status) + ")"
	}
}

func (s *stats) fault(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, time.Now().UTC().Format("15:04:05")+" "+what)
	s.lastFault = time.Now()
}

func (s *stats) inFault() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.lastFault) < faultGrace
}

func (s *stats) lose(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost = append(s.lost, what)
}

func (s *stats) print(w *rssWatch) {
	kinds := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Printf("%-26s %7s %9s %9s  %s\n", "kind", "n", "p50 ms", "p99 ms", "answers")
	rig.Rule(100)
	for _, name := range kinds {
		k := s.kinds[name]
		sum := k.lat.Summarize()
		codes := make([]string, 0, len(k.codes))
		for c, n := range k.codes {
			codes = append(codes, fmt.Sprintf("%s:%d", c, n))
		}
		sort.Strings(codes)
		fmt.Printf("%-26s %7d %9.1f %9.1f  %s\n", name, sum.N, sum.P50, sum.P99, strings.Join(codes, " "))
	}
	fmt.Println()
	fmt.Printf("RSS peaks: autocv-server %.0f MB, largest autocv-plugin-onnx %.0f MB, server+plugins together %.0f MB (%d plugin processes seen)\n",
		float64(w.serverPeak)/1024, float64(w.pluginPeak)/1024, float64(w.sum)/1024, len(w.plugins))
	for name, kb := range s.burstPeak {
		fmt.Printf("24 concurrent %s: server+plugins peak %.0f MB\n", name, float64(kb)/1024)
	}
	fmt.Printf("faults injected: %d\n", len(s.faults))
	for _, f := range s.faults {
		fmt.Println("  " + f)
	}
	fmt.Printf("lost: %d\n", len(s.lost))
	for _, l := range s.lost {
		fmt.Println("  " + l)
	}
}

// verdict fails when something was lost or an RSS bound was broken.
func (s *stats) verdict(w *rssWatch) error {
	const gb = 1 << 20 // KiB
	switch {
	case len(s.lost) > 0:
		return fmt.Errorf("%d thing(s) lost", len(s.lost))
	case w.sum >= gb:
		return fmt.Errorf("server+plugins RSS peak %d KiB ≥ 1 GB", w.sum)
	}
	return nil
}
