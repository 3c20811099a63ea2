package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/plugins/host"
)

type swapResult struct {
	swaps, failed, requests int
	p50, p99, max           float64 // swap time, ms
	firstFailure            string
}

// benchSwaps serves the package through an in-process runner and HTTP API
// on loopback while c.swapLoad clients send photos, swaps c.swaps times
// between two copies of the package (each swap starts a new plugin
// process, switches traffic and drains the old one), and counts the
// requests that failed.
func benchSwaps(ctx context.Context, c config, keyPEM []byte, photos [][]byte) (swapResult, error) {
	tmp, err := os.MkdirTemp("", "autocv-swap-bench-")
	if err != nil {
		return swapResult{}, err
	}
	defer os.RemoveAll(tmp)
	pkgs := []string{filepath.Join(tmp, "a.tar.gz"), filepath.Join(tmp, "b.tar.gz")}
	data, err := os.ReadFile(c.pkg)
	if err != nil {
		return swapResult{}, err
	}
	for _, p := range pkgs {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return swapResult{}, err
		}
	}
	run := runner.New(runner.Config{
		Package: runner.Package{Path: pkgs[0], TrustedKeys: [][]byte{keyPEM}},
		Host:    host.Config{Binary: filepath.Join(c.bin, host.BinaryName())},
	})
	defer run.Close()
	if err := run.Start(ctx); err != nil {
		return swapResult{}, err
	}
	api := httpapi.New(httpapi.Config{Runner: run})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return swapResult{}, err
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/v1/predict"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}

	var requests, failed atomic.Int64
	var firstFailure atomic.Pointer[string]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range c.swapLoad {
		wg.Go(func() {
			for i := w; ; i += c.swapLoad {
				select {
				case <-stop:
					return
				default:
				}
				requests.Add(1)
				resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(photos[i%len(photos)]))
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
					}
				}
				if err != nil {
					failed.Add(1)
					s := err.Error()
					firstFailure.CompareAndSwap(nil, &s)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // load running before the first swap
	before := requests.Load()
	var took []time.Duration
	lastPid := 0
	if st, err := run.Status(); err == nil {
		lastPid = st.Pid
	}
	for i := range c.swaps {
		t0 := time.Now()
		if err := run.Swap(ctx, runner.Package{Path: pkgs[(i+1)%2], TrustedKeys: [][]byte{keyPEM}}); err != nil {
			close(stop)
			wg.Wait()
			return swapResult{}, err
		}
		took = append(took, time.Since(t0))
		st, err := run.Status()
		if err != nil || st.Pid == lastPid {
			close(stop)
			wg.Wait()
			return swapResult{}, fmt.Errorf("swap %d did not switch to a new plugin process (%v)", i+1, err)
		}
		lastPid = st.Pid
		time.Sleep(100 * time.Millisecond) // served by the new process a moment
	}
	close(stop)
	wg.Wait()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	r := swapResult{swaps: len(took), failed: int(failed.Load()), requests: int(requests.Load() - before),
		p50: quantile(took, 0.5), p99: quantile(took, 0.99), max: float64(took[len(took)-1]) / float64(time.Millisecond)}
	if f := firstFailure.Load(); f != nil {
		r.firstFailure = *f
	}
	return r, nil
}
