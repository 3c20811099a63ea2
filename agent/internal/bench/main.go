// Command bench measures the agent's HTTP API side by side with calling
// the inference plugin directly, and hot swaps under load; it prints a
// table (make bench). Everything runs on loopback.
//
//   - :8987 vs plugin: images/s and p50/p99 latency of one photo per
//     request at concurrency 1, 4 and 16, through a real autocv-agent
//     (serve mode, its default limits) and through plugins/host straight
//     to a plugin process with the same package. The two run in
//     alternating rounds so a noisy machine slows both alike. Goals: p50
//     at most 1.15× the plugin's, images/s at concurrency 4 at least
//     0.85× the plugin's.
//
//   - Hot swap: an in-process runner and HTTP API under a steady load,
//     swapped between two copies of the package -swaps times (a new
//     plugin process each time, traffic switched, the old one drained).
//     Goal: no failed request.
//
//   - Package transfer: a 5 MB package downloaded into a package store
//     chunked over MQTT (embedded broker on loopback) and by HTTP range
//     download (httptest server), alternating rounds; time and the
//     MQTT/HTTP ratio. No goal: it shows what the MQTT default costs.
//
//     go run ./agent/internal/bench -bin bin -package .cache/demo/package.tar.gz -trust-key .cache/demo/signing.pub
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	bin, pkg, key, data string
	rounds              int
	round               time.Duration
	photos              int
	swaps               int
	swapLoad            int
	maxConcurrent       int
	transferSize        int
	transferRounds      int
	transferOnly        bool
}

func run() error {
	var c config
	flag.StringVar(&c.bin, "bin", "bin", "folder with autocv-agent, autocv-plugin-onnx and the onnxruntime library")
	flag.StringVar(&c.pkg, "package", filepath.Join(".cache", "demo", "package.tar.gz"), "signed model package")
	flag.StringVar(&c.key, "trust-key", "", "public key the package is signed with (default: signing.pub beside it)")
	flag.StringVar(&c.data, "data", os.Getenv("AUTOCV_TESTDATA"), "shared test data folder (photos)")
	flag.IntVar(&c.rounds, "rounds", 3, "alternating rounds per measurement")
	flag.DurationVar(&c.round, "round", time.Second, "length of one round of one side")
	flag.IntVar(&c.photos, "photos", 32, "photos used")
	flag.IntVar(&c.swaps, "swaps", 20, "hot swaps under load")
	flag.IntVar(&c.swapLoad, "swap-load", 4, "concurrent requests during the swaps")
	flag.IntVar(&c.maxConcurrent, "max-concurrent", 16, "the agent's max_concurrent: 16 (the highest concurrency measured) so that the table "+
		"measures the agent's overhead, not its admission limit; 0 for the agent's default (twice the CPUs)")
	flag.IntVar(&c.transferSize, "transfer-size", 5<<20, "package size in bytes for the transfer table (0: skip it)")
	flag.IntVar(&c.transferRounds, "transfer-rounds", 5, "downloads each way for the transfer table")
	flag.BoolVar(&c.transferOnly, "transfer-only", false, "print only the transfer table (needs no plugin, package or photos)")
	flag.Parse()
	if c.transferSize > 0 {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		mq, ht, err := benchTransfer(tctx, c.transferSize, max(c.transferRounds, 1), transfer.DefaultWindow)
		cancel()
		if err != nil {
			return fmt.Errorf("transfer: %w", err)
		}
		printTransfer(c.transferSize, transfer.DefaultWindow, mq, ht)
	}
	if c.transferOnly {
		return nil
	}
	if c.data == "" {
		c.data = filepath.Join("..", "shared", "data")
	}
	if c.key == "" {
		c.key = filepath.Join(filepath.Dir(c.pkg), "signing.pub")
	}
	keyPEM, err := os.ReadFile(c.key)
	if err != nil {
		return err
	}
	if _, err := modelpkg.ParsePublicKey(keyPEM); err != nil {
		return fmt.Errorf("%s: %w", c.key, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	direct, err := host.Start(ctx, host.Config{Binary: filepath.Join(c.bin, host.BinaryName())})
	if err != nil {
		return err
	}
	defer direct.Kill()
	model, err := direct.Load(ctx, inference.LoadRequest{PackagePath: c.pkg, TrustedKeys: [][]byte{keyPEM}})
	if err != nil {
		return err
	}
	photos, err := loadPhotos(ctx, c.data, c.photos, direct)
	if err != nil {
		return err
	}

	agent, err := startAgent(ctx, c)
	if err != nil {
		return err
	}
	defer agent.stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}

	limit := "default"
	if c.maxConcurrent > 0 {
		limit = fmt.Sprint(c.maxConcurrent)
	}
	fmt.Printf("AutoCV agent bench: %s v%d, %d photos, %d rounds × %s per side, %s, %d CPUs, agent max_concurrent %s\n\n",
		model.ID, model.Version, len(photos), c.rounds, c.round, direct.Info().RuntimeVersion, runtime.NumCPU(), limit)

	callDirect := func(img []byte) error {
		res, err := direct.Predict(ctx, inference.PredictRequest{Images: [][]byte{img}, TopK: 5})
		if err == nil && res.Predictions[0].Err != "" {
			err = errors.New(res.Predictions[0].Err)
		}
		return err
	}
	callHTTP := func(img []byte) error {
		resp, err := client.Post(agent.url+"/v1/predict?top_k=5", "application/octet-stream", bytes.NewReader(img))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	}

	type pair struct{ d, h result }
	var pairs []pair
	concurrency := []int{1, 4, 16}
	for _, n := range concurrency {
		var ds, hs []time.Duration
		var dt, ht time.Duration
		for r := 0; r < c.rounds+1; r++ { // round 0 warms up
			d, del, err := load(ctx, n, c.round, photos, callDirect)
			if err != nil {
				return fmt.Errorf("plugin direct: %w", err)
			}
			h, hel, err := load(ctx, n, c.round, photos, callHTTP)
			if err != nil {
				return fmt.Errorf(":8987: %w", err)
			}
			if r > 0 {
				ds, hs, dt, ht = append(ds, d...), append(hs, h...), dt+del, ht+hel
			}
		}
		pairs = append(pairs, pair{summarize(ds, dt), summarize(hs, ht)})
	}

	fmt.Printf("%-16s %5s %9s %9s %9s\n", "path", "conc", "img/s", "p50 ms", "p99 ms")
	fmt.Println(strings.Repeat("-", 52))
	for i, n := range concurrency {
		for _, row := range []struct {
			name string
			r    result
		}{{"plugin direct", pairs[i].d}, {":8987 HTTP", pairs[i].h}} {
			fmt.Printf("%-16s %5d %9.1f %9.2f %9.2f\n", row.name, n, row.r.ips, row.r.p50, row.r.p99)
		}
	}
	fmt.Println()
	fmt.Printf("%-26s %12s %12s\n", "ratio :8987 / plugin", "p50", "img/s")
	fmt.Println(strings.Repeat("-", 52))
	for i, n := range concurrency {
		p50 := pairs[i].h.p50 / pairs[i].d.p50
		ips := pairs[i].h.ips / pairs[i].d.ips
		fmt.Printf("  concurrency %-12d %12s %12s\n", n, verdict(p50, p50 <= 1.15, "≤ 1.15"), verdict(ips, n != 4 || ips >= 0.85, goalIf(n == 4, "≥ 0.85")))
	}
	fmt.Println()
	direct.Kill()
	agent.stop()

	if c.swaps <= 0 {
		return nil
	}
	sw, err := benchSwaps(ctx, c, keyPEM, photos)
	if err != nil {
		return fmt.Errorf("hot swap: %w", err)
	}
	fmt.Printf("hot swap under load (%d concurrent requests)\n", c.swapLoad)
	fmt.Println(strings.Repeat("-", 52))
	fmt.Printf("  %-32s %d\n", "swaps", sw.swaps)
	fmt.Printf("  %-32s %.0f / %.0f / %.0f\n", "swap time p50 / p99 / max, ms", sw.p50, sw.p99, sw.max)
	fmt.Printf("  %-32s %d\n", "requests during the swaps", sw.requests)
	ok := "ok"
	if sw.failed > 0 {
		ok = "MISS"
	}
	fmt.Printf("  %-32s %d %s (goal 0)\n", "failed requests", sw.failed, ok)
	if sw.firstFailure != "" {
		fmt.Printf("  %-32s %s\n", "first failure", sw.firstFailure)
	}
	return nil
}

func goalIf(b bool, goal string) string {
	if b {
		return goal
	}
	return ""
}

// verdict prints v with the goal and whether it was met.
func verdict(v float64, ok bool, goal string) string {
	s := fmt.Sprintf("%.3f", v)
	if goal == "" {
		return s
	}
	if ok {
		return s + " ok"
	}
	return s + " MISS"
}

// loadPhotos reads up to n photos the plugin classifies (the data set
// folders also hold the image rules' test files).
func loadPhotos(ctx context.Context, data string, n int, p *host.Plugin) ([][]byte, error) {
	var out [][]byte
	for _, dir := range []string{"datasets/hymenoptera/val/ants", "datasets/hymenoptera/val/bees", "datasets/flowers5/daisy"} {
		entries, err := os.ReadDir(filepath.Join(data, dir))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if len(out) >= n {
				return out, nil
			}
			b, err := os.ReadFile(filepath.Join(data, dir, e.Name()))
			if err != nil {
				return nil, err
			}
			res, err := p.Predict(ctx, inference.PredictRequest{Images: [][]byte{b}, TopK: 1})
			if err != nil {
				return nil, err
			}
			if res.Predictions[0].Err == "" {
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no photos in %s", data)
	}
	return out, nil
}

// load runs n workers calling call on the photos in turn for d and
// returns each call's latency and the time taken.
func load(ctx context.Context, n int, d time.Duration, photos [][]byte, call func([]byte) error) ([]time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			var mine []time.Duration
			for i := w; time.Now().Before(end) && ctx.Err() == nil; i += n {
				t0 := time.Now()
				if err := call(photos[i%len(photos)]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lat, time.Since(start), firstErr
}

type result struct{ ips, p50, p99 float64 }

func summarize(lat []time.Duration, took time.Duration) result {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{ips: float64(len(lat)) / took.Seconds(), p50: quantile(lat, 0.50), p99: quantile(lat, 0.99)}
}

func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]) / float64(time.Millisecond)
}

// agentProc is a running autocv-agent serve.
type agentProc struct {
	cmd  *exec.Cmd
	url  string
	once sync.Once
}

// startAgent runs the agent binary on a loopback port with its default
// limits and waits until it is healthy.
func startAgent(ctx context.Context, c config) (*agentProc, error) {
	cmd := exec.Command(filepath.Join(c.bin, "autocv-agent"), "serve", "--package", c.pkg, "--trust-key", c.key,
		"--listen", "127.0.0.1:0", "--log-level", "error", "--max-concurrent", fmt.Sprint(c.maxConcurrent))
	cmd.Env = append(os.Environ(), "AUTOCV_PLUGIN_BINARY="+filepath.Join(c.bin, host.BinaryName()))
	cmd.Stderr = os.Stderr // errors only
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	a := &agentProc{cmd: cmd}
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`listening on (\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case x := <-addr:
		a.url = "http://" + x
	case <-time.After(30 * time.Second):
		a.stop()
		return nil, errors.New("the agent did not print its address within 30s")
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(a.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			a.stop()
			return nil, errors.New("the agent did not become healthy within 90s")
		}
	}
}

func (a *agentProc) stop() {
	a.once.Do(func() {
		_ = a.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = a.cmd.Process.Kill()
			<-done
		}
	})
}
