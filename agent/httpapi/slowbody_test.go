//go:build unix

package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
)

// TestSlowBodies: 80 clients that send a predict body a byte a second,
// reconnecting when answered, hold no worker: a normal predict on the
// real plugin meanwhile takes about as long as on an idle agent, and the
// slow clients are cut off (504 timeout) or turned away (429 busy).
func TestSlowBodies(t *testing.T) {
	const (
		slowClients = 80
		samples     = 9
		tolerance   = 100 * time.Millisecond
	)
	// Fewer workers and places in the queue than slow clients, as on a
	// small machine.
	a := newPluginAPI(t, Config{MaxConcurrent: 4, MaxQueue: 16})
	photo, err := os.ReadFile(testenv.Data(t, "datasets", "hymenoptera", "val", "ants", "10308379_1b6c72e180.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	predict := func() (time.Duration, error) {
		start := time.Now()
		resp, err := a.Client().Post(a.URL+"/v1/predict?top_k=1", "image/jpeg", bytes.NewReader(photo))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return time.Since(start), nil
	}
	p50 := func(what string, pause time.Duration) time.Duration {
		var took []time.Duration
		for range samples {
			d, err := predict()
			if err != nil {
				t.Errorf("predict %s: %v", what, err)
				continue
			}
			took = append(took, d)
			time.Sleep(pause)
		}
		if len(took) == 0 {
			return 0
		}
		slices.Sort(took)
		t.Logf("predict %s: p50 %s of %v", what, took[len(took)/2], took)
		return took[len(took)/2]
	}
	if _, err := predict(); err != nil { // warm up
		t.Fatal(err)
	}
	idle := p50("on the idle agent", 0)

	// The whole attack is bounded: at most 25s, then every client stops.
	attack := time.Now()
	ctx, stop := context.WithTimeout(context.Background(), 25*time.Second)
	defer stop()
	var (
		wg        sync.WaitGroup
		sending   atomic.Int32 // clients that sent headers and a first byte
		mu        sync.Mutex
		answers   []slowAnswer
		maxSlots  atomic.Int32 // most workers seen busy at once
		answered  = make([]atomic.Bool, slowClients)
		allAnswer = func() bool {
			for i := range answered {
				if !answered[i].Load() {
					return false
				}
			}
			return true
		}
	)
	for i := range slowClients {
		wg.Go(func() {
			first := true
			slowClient(ctx, a.Listener.Addr().String(), photo, func() {
				if first {
					first = false
					sending.Add(1)
				}
			}, func(ans slowAnswer) {
				answered[i].Store(true)
				mu.Lock()
				answers = append(answers, ans)
				mu.Unlock()
			})
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			if n := int32(len(a.srv.slots)); n > maxSlots.Load() {
				maxSlots.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	})
	for sending.Load() < slowClients && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // every slow client is sending its body
	// Samples spread over the first cut-off of the slow clients and their
	// reconnecting.
	busy := p50("with 80 slow clients", 400*time.Millisecond)
	for !allAnswer() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()

	if busy == 0 || busy > idle+tolerance {
		t.Errorf("predict p50 with %d slow clients is %s, on the idle agent %s: want at most %s more",
			slowClients, busy, idle, tolerance)
	}
	if n := maxSlots.Load(); n > 1 {
		t.Errorf("%d workers were busy at once; only the measured predict should have held one", n)
	}
	if !allAnswer() {
		t.Errorf("some slow clients were never answered within the test's 25s")
	}
	for _, ans := range answers {
		if !(ans.status == 504 && ans.code == CodeTimeout) && !(ans.status == 429 && ans.code == CodeBusy) {
			t.Errorf("a slow client got %d %q %s after %s, want 504 timeout or 429 busy", ans.status, ans.code, ans.err, ans.after)
		}
	}
	byStatus := map[int]int{}
	var longest time.Duration
	for _, ans := range answers {
		byStatus[ans.status]++
		longest = max(longest, ans.after)
	}
	t.Logf("attack ran %s; slow clients got %d answers (by status %v), the longest after %s",
		time.Since(attack).Round(time.Millisecond), len(answers), byStatus, longest)
}

// slowAnswer is what a slow client got, after how long.
type slowAnswer struct {
	status int
	code   api.Code
	err    string // no answer: why
	after  time.Duration
}

// slowClient sends a predict request announcing body's length, then the
// body a byte a second until it is answered; then, a second later, again,
// until ctx ends. It calls sent after each byte and answered with each
// answer.
func slowClient(ctx context.Context, addr string, body []byte, sent func(), answered func(slowAnswer)) {
	for ctx.Err() == nil {
		if ans, ok := slowRequest(ctx, addr, body, sent); ok {
			answered(ans)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// slowRequest makes one slow request; ok is false when ctx ended first.
func slowRequest(ctx context.Context, addr string, body []byte, sent func()) (ans slowAnswer, ok bool) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return slowAnswer{}, false
	}
	start := time.Now()
	got := make(chan slowAnswer, 1)
	go func() { // ends when the answer is read or the connection closes
		defer close(got)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			got <- slowAnswer{err: err.Error(), after: time.Since(start).Round(time.Millisecond)}
			return
		}
		var e ErrorResponse
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		got <- slowAnswer{status: resp.StatusCode, code: e.Code, after: time.Since(start).Round(time.Millisecond)}
	}()
	defer func() {
		conn.Close()
		for range got {
		}
	}()
	_, err = fmt.Fprintf(conn, "POST /v1/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n",
		addr, len(body))
	for i := 0; err == nil && i < len(body); i++ {
		if _, err = conn.Write(body[i : i+1]); err != nil {
			break
		}
		sent()
		select {
		case ans := <-got:
			return ans, true
		case <-ctx.Done():
			return slowAnswer{}, false
		case <-time.After(time.Second):
		}
	}
	select { // the server stopped reading: it answers or closes
	case ans := <-got:
		return ans, true
	case <-ctx.Done():
		return slowAnswer{}, false
	}
}
