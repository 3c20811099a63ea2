package reconcile

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fakeSession stands in for the MQTT session.
type fakeSession struct {
	desired chan *fleet.Desired
	conn    chan struct{}
	mu      sync.Mutex
	sent    []fleet.Message
}

func newFakeSession() *fakeSession {
	return &fakeSession{desired: make(chan *fleet.Desired, 1), conn: make(chan struct{})}
}

func (s *fakeSession) Desired() <-chan *fleet.Desired { return s.desired }
func (s *fakeSession) NextConnect() <-chan struct{}   { return s.conn }
func (s *fakeSession) Send(m fleet.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}
func (s *fakeSession) Publish(_ context.Context, m fleet.Message) error { return s.Send(m) }

// last returns the latest reported state and the events so far.
func (s *fakeSession) last() (*fleet.Reported, []*fleet.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep *fleet.Reported
	var evs []*fleet.Event
	for _, m := range s.sent {
		switch m := m.(type) {
		case *fleet.Reported:
			rep = m
		case *fleet.Event:
			evs = append(evs, m)
		}
	}
	return rep, evs
}

// fakeServer records what the reconciler asks of the runner.
type fakeServer struct {
	mu       sync.Mutex
	calls    []string // "start <file>" / "swap <file>"
	fail     map[string]error
	unhealth bool           // Health fails
	status   *runner.Status // what Status says; nil: it fails
}

func (f *fakeServer) do(op string, pkg runner.Package) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := filepath.Base(pkg.Path)
	f.calls = append(f.calls, op+" "+name)
	return f.fail[name]
}

func (f *fakeServer) StartPackage(_ context.Context, pkg runner.Package) error {
	return f.do("start", pkg)
}
func (f *fakeServer) Swap(_ context.Context, pkg runner.Package) error { return f.do("swap", pkg) }
func (f *fakeServer) Health(context.Context) (runner.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unhealth {
		return runner.Status{}, errors.New("plugin does not answer")
	}
	return runner.Status{}, nil
}

func (f *fakeServer) Status() (runner.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != nil {
		return *f.status, nil
	}
	return runner.Status{}, errors.New("fake: no status")
}

func (f *fakeServer) history() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ", ")
}

// fakeFetcher stores packages it knows straight into the store; block
// makes a fetch wait for its context.
type fakeFetcher struct {
	st    *store.Store
	files map[string][]byte // sha256 → bytes
	block map[string]bool
}

func (f *fakeFetcher) Fetch(ctx context.Context, src transfer.Source, _ transfer.Progress) (string, error) {
	if f.block[src.SHA256] {
		<-ctx.Done()
		return "", ctx.Err()
	}
	p, err := f.st.Partial(src.SHA256, src.Size)
	if err != nil {
		return "", err
	}
	if err := p.Write(f.files[src.SHA256]); err != nil {
		p.Discard()
		return "", err
	}
	return p.Commit()
}

// world is a reconciler wired to fakes, with packages signed by key.
type world struct {
	t     *testing.T
	dir   *state.Dir
	st    *store.Store
	sess  *fakeSession
	srv   *fakeServer
	fetch *fakeFetcher
	key   ed25519.PrivateKey
	rec   *Reconciler
}

func newWorld(t *testing.T, storeLimit int64) *world {
	t.Helper()
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir.Packages(), storeLimit)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := modelpkg.GenerateKey()
	pubPEM, _ := modelpkg.MarshalPublicKey(pub)
	w := &world{t: t, dir: dir, st: st, sess: newFakeSession(), srv: &fakeServer{fail: map[string]error{}}, key: priv}
	w.fetch = &fakeFetcher{st: st, files: map[string][]byte{}, block: map[string]bool{}}
	w.rec = New(Config{State: dir, Store: st, Session: w.sess, Fetcher: w.fetch, Server: w.srv,
		TrustKey: pub, TrustPEM: pubPEM, Plugin: "onnx-cpu", AgentVersion: "1.0.0",
		TelemetryInterval: time.Hour, HealthGrace: 50 * time.Millisecond})
	return w
}

// run runs the reconciler until the test ends.
func (w *world) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.rec.Run(ctx) }()
	w.t.Cleanup(func() { cancel(); <-done })
}

// pkg builds a signed package of model "m" at version, signed with key
// (nil: the world's key), and returns a desired target for it.
func (w *world) pkg(version int, key ed25519.PrivateKey) *fleet.ModelTarget {
	w.t.Helper()
	if key == nil {
		key = w.key
	}
	dir := w.t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(model, []byte("fake onnx graph"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	b := modelpkg.Builder{Manifest: testManifest(version), ModelPath: model, Key: key,
		Golden: map[string][]byte{"golden/0.jpg": []byte("\xff\xd8\xff fake jpeg")}}
	var buf bytes.Buffer
	if _, err := b.Build(&buf); err != nil {
		w.t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	s := hex.EncodeToString(sum[:])
	w.fetch.files[s] = buf.Bytes()
	return &fleet.ModelTarget{ID: "m", Version: version, SHA256: s, Size: int64(buf.Len()), TransferID: "t" + s[:8]}
}

func testManifest(version int) modelpkg.Manifest {
	return modelpkg.Manifest{
		ModelID: "m", Version: version, CreatedAt: "2026-11-25T10:00:00Z", Labels: []string{"ant", "bee"},
		Backbone: "mobilenetv2-12", AppType: "offline-general",
		Preprocess: modelpkg.Preprocess{InputSize: 224, ResizeMode: modelpkg.ResizeShorterCrop, Resize: 256, Crop: 224,
			Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
			ChannelOrder: modelpkg.ChannelsRGB, Layout: modelpkg.LayoutNCHW},
		IO:         modelpkg.IO{Input: "input", Output: "probabilities", OutputKind: modelpkg.OutputProbabilities, FixedBatch: 1},
		Runtime:    modelpkg.Runtime{Opset: 17, ExecutionProviders: []string{"cpu"}},
		Thresholds: modelpkg.Thresholds{Global: 0.5},
		Golden:     []modelpkg.Golden{{File: "golden/0.jpg", ExpectedTop1: "ant", Probabilities: []float32{0.9, 0.1}}},
	}
}

// waitFor polls cond for up to 5s.
func (w *world) waitFor(what string, cond func(rep *fleet.Reported, evs []*fleet.Event) bool) {
	w.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		rep, evs := w.sess.last()
		if rep != nil && cond(rep, evs) {
			return
		}
	}
	rep, evs := w.sess.last()
	w.t.Fatalf("timed out waiting for %s; reported %+v; %d events; server calls: %s", what, rep, len(evs), w.srv.history())
}

// event returns the first event of kind about ref, or nil.
func event(evs []*fleet.Event, kind fleet.EventKind, ref string) *fleet.Event {
	for _, e := range evs {
		if e.Kind == kind && e.Ref == ref {
			return e
		}
	}
	return nil
}

func sourceOf(m *fleet.ModelTarget) transfer.Source {
	return transfer.Source{SHA256: m.SHA256, Size: m.Size, TransferID: m.TransferID, URL: m.URL}
}
