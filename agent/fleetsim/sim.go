// Package fleetsim runs many simulated edge agents in one process. Each
// enrols through the control plane's real API, holds its own MQTT client
// on the broker the enrolment names, and speaks protocol/fleet: it reports
// its state, follows the desired state, fetches packages over the MQTT
// transfer (or the signed URL) and checks their sha256. It loads no
// inference runtime: the swap is simulated and only the sha256 is checked,
// not the package signature or manifest. Faults can be given to a fraction
// of the devices (see FaultKind).
package fleetsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/transfer"
	"github.com/autocv/autocv/protocol/fleet"
)

// Config sets up a simulated fleet.
type Config struct {
	Server       string // control plane base URL
	Token        string // enrolment token (reusable, or one per device via Tokens)
	Devices      int
	NamePrefix   string // device names are NamePrefix-0001…; default "sim"
	AgentVersion string // default "0.0.0-sim"
	Faults       []Fault
	Logger       *zap.Logger

	Window            int           // chunks per transfer request; default transfer.DefaultWindow
	ChunkTimeout      time.Duration // wait for a chunk before asking again; default 10s
	SlowDelay         time.Duration // slow-transfer pause per window; default 500ms
	OfflineAfter      time.Duration // offline devices leave this long after connecting; default 1s
	OfflineFor        time.Duration // and stay away this long; default 10s
	FloodEvery        time.Duration // telemetry-flood interval; default 50ms
	EnrollConcurrency int           // parallel enrolments; default 32
}

// Stats counts what the fleet did; read them with Snapshot.
type Stats struct {
	enrolled, healthy, failed, crashed, offline, cuts, stalls, sent atomic.Int64
	bytes                                                           atomic.Int64
}

// Snapshot is a copy of Stats.
type Snapshot struct {
	Enrolled, Healthy, Failed, Crashed, Offline, Cuts, Stalls, Sent, Bytes int64
}

// Sim is a running simulated fleet.
type Sim struct {
	cfg     Config
	http    *http.Client
	devices []*device
	stats   Stats
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Sim, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: 应为控制面地址 / want the control plane's address, e.g. http://127.0.0.1:8080", cfg.Server)
	}
	cfg.Server = u.String()
	if cfg.Token == "" {
		return nil, fmt.Errorf("--token 不能为空 / --token is required (an enrolment token from the console)")
	}
	if cfg.Devices < 1 || cfg.Devices > 100000 {
		return nil, fmt.Errorf("--devices %d: 应在 1 到 100000 之间 / want 1..100000", cfg.Devices)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.NamePrefix, "sim")
	def(&cfg.AgentVersion, "0.0.0-sim")
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&cfg.ChunkTimeout, 10*time.Second)
	dur(&cfg.SlowDelay, 500*time.Millisecond)
	dur(&cfg.OfflineAfter, time.Second)
	dur(&cfg.OfflineFor, 10*time.Second)
	dur(&cfg.FloodEvery, 50*time.Millisecond)
	if cfg.Window <= 0 || cfg.Window > fleet.MaxWindow {
		cfg.Window = transfer.DefaultWindow
	}
	if cfg.EnrollConcurrency <= 0 {
		cfg.EnrollConcurrency = 32
	}
	return &Sim{cfg: cfg, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// Enroll enrols every device through POST fleet.EnrollPath, a few at a time.
func (s *Sim) Enroll(ctx context.Context) error {
	n := s.cfg.Devices
	s.devices = make([]*device, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, s.cfg.EnrollConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("%s-%05d", s.cfg.NamePrefix, i+1)
			resp, err := s.enroll(ctx, name)
			if err != nil {
				errs <- fmt.Errorf("设备 %s 注册失败 / enrolling %s: %w", name, name, err)
				return
			}
			s.devices[i] = &device{sim: s, id: resp.DeviceID, creds: resp.MQTT, faults: assign(s.cfg.Faults, i, n),
				log: s.cfg.Logger.With(zap.String("device", resp.DeviceID))}
			s.stats.enrolled.Add(1)
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // the first error, if any
}

func (s *Sim) enroll(ctx context.Context, name string) (*fleet.EnrollResponse, error) {
	req := fleet.EnrollRequest{Token: s.cfg.Token, Name: name, OS: "linux", Arch: "amd64", AgentVersion: s.cfg.AgentVersion}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	body, _ := json.Marshal(&req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Server+fleet.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := s.http.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if hresp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", hresp.Status, strings.TrimSpace(string(data)))
	}
	var resp fleet.EnrollResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("应答不是注册结果 / the answer is not an enrolment: %w", err)
	}
	if err := resp.Validate(); err != nil {
		return nil, err
	}
	return &resp, nil
}

// DeviceIDs lists the enrolled devices' ids, in name order.
func (s *Sim) DeviceIDs() []string {
	ids := make([]string, 0, len(s.devices))
	for _, d := range s.devices {
		if d != nil {
			ids = append(ids, d.id)
		}
	}
	return ids
}

// Run connects every enrolled device and runs it until ctx ends.
func (s *Sim) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range s.devices {
		if d == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.run(ctx)
		}()
	}
	wg.Wait()
}

// Snapshot reads the counters.
func (s *Sim) Snapshot() Snapshot {
	st := &s.stats
	return Snapshot{Enrolled: st.enrolled.Load(), Healthy: st.healthy.Load(), Failed: st.failed.Load(),
		Crashed: st.crashed.Load(), Offline: st.offline.Load(), Cuts: st.cuts.Load(), Stalls: st.stalls.Load(),
		Sent: st.sent.Load(), Bytes: st.bytes.Load()}
}

// Serving counts the devices serving the model with this sha256.
func (s *Sim) Serving(sha string) int {
	n := 0
	for _, d := range s.devices {
		if d == nil {
			continue
		}
		d.mu.Lock()
		if d.state == fleet.StateServing && d.current != nil && d.current.SHA256 == sha {
			n++
		}
		d.mu.Unlock()
	}
	return n
}
