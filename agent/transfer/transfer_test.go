package transfer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/protocol/fleet"
)

// sender plays the control plane's side of a chunked transfer: it answers
// each request with the window's chunks, which drop may hold back.
type sender struct {
	t        *testing.T
	id       string
	data     []byte
	cs       int
	out      chan *fleet.TransferChunk
	reqs     chan *fleet.TransferRequest
	drop     func(index, sent int) bool // sent: how often index was sent before
	mu       sync.Mutex
	seen     []fleet.TransferRequest
	sentByIx map[int]int
}

func newSender(t *testing.T, data []byte, cs int) *sender {
	s := &sender{t: t, id: "t-1", data: data, cs: cs, out: make(chan *fleet.TransferChunk, 2*fleet.MaxWindow),
		reqs: make(chan *fleet.TransferRequest, 16), sentByIx: map[int]int{}}
	done := make(chan struct{})
	go func() { // owned by the test: ends when reqs is closed
		defer close(done)
		for r := range s.reqs {
			s.answer(r)
		}
	}()
	t.Cleanup(func() { close(s.reqs); <-done })
	return s
}

func (s *sender) answer(r *fleet.TransferRequest) {
	total := fleet.ChunkCount(int64(len(s.data)), s.cs)
	for i := r.FromChunk; i < min(r.FromChunk+r.Window, total); i++ {
		s.mu.Lock()
		n := s.sentByIx[i]
		s.sentByIx[i]++
		s.mu.Unlock()
		if s.drop != nil && s.drop(i, n) {
			continue
		}
		end := min((i+1)*s.cs, len(s.data))
		s.out <- fleet.NewChunk(s.id, i, total, s.data[i*s.cs:end])
	}
}

func (s *sender) publish(_ context.Context, m fleet.Message) error {
	r := m.(*fleet.TransferRequest)
	if err := r.Validate(); err != nil {
		s.t.Errorf("invalid request: %v", err)
	}
	s.mu.Lock()
	s.seen = append(s.seen, *r)
	s.mu.Unlock()
	s.reqs <- r
	return nil
}

func (s *sender) requests() []fleet.TransferRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fleet.TransferRequest(nil), s.seen...)
}

func (s *sender) mqtt(reconnect func() <-chan struct{}) *MQTT {
	if reconnect == nil {
		never := make(chan struct{})
		reconnect = func() <-chan struct{} { return never }
	}
	return &MQTT{Publish: s.publish, Chunks: s.out, NextConnect: reconnect, Window: 4, Timeout: 200 * time.Millisecond}
}

func randomData(t *testing.T, n int) ([]byte, Source) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	sum := sha256.Sum256(b)
	return b, Source{SHA256: hex.EncodeToString(sum[:]), Size: int64(n), TransferID: "t-1"}
}

func TestMQTTFetch(t *testing.T) {
	data, src := randomData(t, 10*1000+123) // 11 chunks of 1000
	for _, tc := range []struct {
		name   string
		drop   func(index, sent int) bool
		resent bool // some chunk must have been asked for twice
	}{
		{"clean", nil, false},
		{"lost chunk re-requested", func(i, n int) bool { return i == 5 && n == 0 }, true},
		{"lost last chunk", func(i, n int) bool { return i == 10 && n < 2 }, true},
		{"lost first chunk", func(i, n int) bool { return i == 0 && n == 0 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := store.Open(t.TempDir(), 0)
			s := newSender(t, data, 1000)
			s.drop = tc.drop
			f := &Fetcher{Store: st, MQTT: s.mqtt(nil)}
			var last atomic.Int64
			path, err := f.Fetch(context.Background(), src, func(done, total int64) { last.Store(done) })
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Fatal("stored file differs")
			}
			if last.Load() != src.Size {
				t.Errorf("progress ended at %d", last.Load())
			}
			reqs := s.requests()
			for _, r := range reqs {
				if r.Window > 4 {
					t.Errorf("window %d over the configured 4", r.Window)
				}
			}
			if resent := len(reqs) > 3; resent != tc.resent {
				t.Errorf("%d requests (%+v); want re-requests: %v", len(reqs), reqs, tc.resent)
			}
		})
	}
}

func TestMQTTFetchResumes(t *testing.T) {
	data, src := randomData(t, 9000) // 9 chunks of 1000
	st, _ := store.Open(t.TempDir(), 0)
	s := newSender(t, data, 1000)
	var cut atomic.Bool
	s.drop = func(i, _ int) bool { return cut.Load() || i >= 6 }
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fetcher{Store: st, MQTT: s.mqtt(nil)}
	go func() {
		for !bytes.Contains(partialBytes(t, st, src), data[5000:6000]) {
			time.Sleep(5 * time.Millisecond)
		}
		cut.Store(true)
		cancel() // the agent stops with 6 chunks stored
	}()
	if _, err := f.Fetch(ctx, src, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("first fetch: %v, want context.Canceled", err)
	}

	// A new fetcher (a restarted agent) asks from chunk 6 on.
	s2 := newSender(t, data, 1000)
	f2 := &Fetcher{Store: st, MQTT: s2.mqtt(nil)}
	path, err := f2.Fetch(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	if first := s2.requests()[0]; first.FromChunk != 6 {
		t.Errorf("resumed from chunk %d, want 6", first.FromChunk)
	}
}

// partialBytes reads the download in progress.
func partialBytes(t *testing.T, st *store.Store, src Source) []byte {
	dir := filepath.Dir(st.Path(src.SHA256))
	matches, _ := filepath.Glob(filepath.Join(dir, "partial", src.SHA256+".*.part"))
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		return b
	}
	return nil
}

func TestMQTTFetchReconnect(t *testing.T) {
	data, src := randomData(t, 3000)
	st, _ := store.Open(t.TempDir(), 0)
	s := newSender(t, data, 1000)
	var mu sync.Mutex
	conn := make(chan struct{})
	next := func() <-chan struct{} { mu.Lock(); defer mu.Unlock(); return conn }
	var dropped atomic.Bool
	s.drop = func(i, n int) bool {
		if i == 1 && n == 0 { // lost with the connection; reconnect
			dropped.Store(true)
			return true
		}
		return false
	}
	m := s.mqtt(next)
	m.Timeout = time.Hour // only the reconnection can unstick it
	go func() {
		for !dropped.Load() {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		close(conn)
		conn = make(chan struct{})
		mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := (&Fetcher{Store: st, MQTT: m}).Fetch(ctx, src, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMQTTFetchDiskFull(t *testing.T) {
	data, src := randomData(t, 5000)
	st, _ := store.Open(t.TempDir(), 2500)
	s := newSender(t, data, 1000)
	_, err := (&Fetcher{Store: st, MQTT: s.mqtt(nil)}).Fetch(context.Background(), src, nil)
	if !errors.Is(err, store.ErrDiskFull) {
		t.Fatalf("err = %v, want ErrDiskFull", err)
	}
}

func TestMQTTFetchWrongWholeHash(t *testing.T) {
	data, src := randomData(t, 2500)
	src.SHA256 = hex.EncodeToString(make([]byte, 32)) // chunks fine, whole file not
	st, _ := store.Open(t.TempDir(), 0)
	s := newSender(t, data, 1000)
	_, err := (&Fetcher{Store: st, MQTT: s.mqtt(nil)}).Fetch(context.Background(), src, nil)
	if !errors.Is(err, store.ErrMismatch) || st.Has(src.SHA256) {
		t.Fatalf("err = %v, want ErrMismatch and nothing stored", err)
	}
}

// TestHTTPFetchResumes cuts the first download half way; the second asks
// for the rest with a Range header.
func TestHTTPFetchResumes(t *testing.T) {
	data, src := randomData(t, 300_000)
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first { // promise everything, send 100 000 bytes, hang up
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data[:100_000])
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "p.tar.gz", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	src.URL, src.TransferID = srv.URL+"/p.tar.gz", ""
	st, _ := store.Open(t.TempDir(), 0)
	f := &Fetcher{Store: st, HTTP: &HTTP{Client: srv.Client()}}
	path, err := f.Fetch(context.Background(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes=100000-" {
		t.Errorf("Range headers %q, want none then bytes=100000-", ranges)
	}
}

func TestHTTPFallsBackToMQTT(t *testing.T) {
	data, src := randomData(t, 2500)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	src.URL = srv.URL + "/gone"
	st, _ := store.Open(t.TempDir(), 0)
	s := newSender(t, data, 1000)
	f := &Fetcher{Store: st, HTTP: &HTTP{Client: srv.Client()}, MQTT: s.mqtt(nil)}
	if _, err := f.Fetch(context.Background(), src, nil); err != nil {
		t.Fatal(err)
	}
	if len(s.requests()) == 0 {
		t.Error("no MQTT request after the HTTP 404")
	}
	src.TransferID = ""
	_, src2 := randomData(t, 10)
	src2.URL, src2.TransferID = src.URL, ""
	if _, err := f.Fetch(context.Background(), src2, nil); !errors.Is(err, errPermanent) {
		t.Errorf("HTTP 404 without a transfer id: %v", err)
	}
}
