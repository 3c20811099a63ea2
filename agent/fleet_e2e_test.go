//go:build unix

package agent_test

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/agent/httpapi"
	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// fleetPackages are the packages the fleet test deploys, all signed with
// key except otherKey.
type fleetPackages struct {
	pubPEM    []byte
	v1, v2    []byte // MobileNetV2 v1, ShuffleNet v1
	v1ID      string
	v2ID      string
	otherKey  []byte // v1 signed by another key
	badGolden []byte // v1's model as v3, with a golden expectation the model does not meet
	v4, v5    []byte // v1's model as v4 and v5: good, new bytes
}

var (
	fleetOnce sync.Once
	fleetPkgs *fleetPackages
	fleetErr  error
)

func fleetSetup(t *testing.T) (*fixture, *fleetPackages) {
	t.Helper()
	f := setup(t)
	fleetOnce.Do(func() { fleetPkgs, fleetErr = buildFleetPackages(f) })
	if fleetErr != nil {
		t.Fatal(fleetErr)
	}
	return f, fleetPkgs
}

func buildFleetPackages(f *fixture) (*fleetPackages, error) {
	dir := filepath.Join(f.dir, "fleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pub, priv, err := modelpkg.GenerateKey()
	if err != nil {
		return nil, err
	}
	p := &fleetPackages{}
	if p.pubPEM, err = modelpkg.MarshalPublicKey(pub); err != nil {
		return nil, err
	}
	m1, err := demopkg.Build(f.data, demopkg.MobileNetV2, priv, filepath.Join(dir, "v1.tar.gz"))
	if err != nil {
		return nil, err
	}
	m2, err := demopkg.Build(f.data, demopkg.ShuffleNet, priv, filepath.Join(dir, "v2.tar.gz"))
	if err != nil {
		return nil, err
	}
	p.v1ID, p.v2ID = m1.ModelID, m2.ModelID

	_, otherPriv, _ := modelpkg.GenerateKey()
	other := filepath.Join(dir, "other.tar.gz")
	if err := copyPath(filepath.Join(dir, "v1.tar.gz"), other); err != nil {
		return nil, err
	}
	if _, err := modelpkg.ResignFile(other, otherPriv, modelpkg.Limits{}); err != nil {
		return nil, err
	}

	v1, err := modelpkg.ReadFile(filepath.Join(dir, "v1.tar.gz"), modelpkg.ReadOptions{Dir: filepath.Join(dir, "v1x"), TrustedKeys: []ed25519.PublicKey{pub}})
	if err != nil {
		return nil, err
	}
	golden := map[string][]byte{}
	for _, g := range v1.Manifest.Golden {
		if golden[g.File], err = v1.Golden(g.File); err != nil {
			return nil, err
		}
	}
	variant := func(version int, edit func(m *modelpkg.Manifest)) (string, error) {
		m := *v1.Manifest
		m.Version = version
		m.Golden = append([]modelpkg.Golden(nil), m.Golden...)
		if edit != nil {
			edit(&m)
		}
		path := filepath.Join(dir, "v"+strconv.Itoa(version)+".tar.gz")
		b := modelpkg.Builder{Manifest: m, ModelPath: v1.ModelPath(), Golden: golden, Key: priv}
		_, err := b.WriteFile(path)
		return path, err
	}
	paths := map[string]string{"v1": filepath.Join(dir, "v1.tar.gz"), "v2": filepath.Join(dir, "v2.tar.gz"), "other": other}
	if paths["bad"], err = variant(3, func(m *modelpkg.Manifest) { m.Golden[0].ExpectedTop1 = "bee" }); err != nil {
		return nil, err
	}
	if paths["v4"], err = variant(4, nil); err != nil {
		return nil, err
	}
	if paths["v5"], err = variant(5, nil); err != nil {
		return nil, err
	}
	for name, dst := range map[string]*[]byte{"v1": &p.v1, "v2": &p.v2, "other": &p.otherKey, "bad": &p.badGolden, "v4": &p.v4, "v5": &p.v5} {
		if *dst, err = os.ReadFile(paths[name]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func copyPath(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// enrolServer answers the enrolment endpoint for one device and token.
func enrolServer(t *testing.T, device, password, brokerURL string, pubPEM []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req fleet.EnrollRequest
		if r.Method != http.MethodPost || r.URL.Path != fleet.EnrollPath || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"error":"not found","code":"not_found"}`, http.StatusNotFound)
			return
		}
		if req.Token != "tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"unknown enrolment token","code":"unauthorized"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(fleet.EnrollResponse{
			DeviceID: device, MQTT: fleet.MQTTCredentials{URL: brokerURL, Username: device, Password: password},
			SigningPublicKey: string(pubPEM), ServerURL: "http://" + r.Host,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// predictModel posts the photo and returns the answer; any status but 200
// fails the test.
func predictModel(t *testing.T, a *agentProc, photo []byte) httpapi.PredictResponse {
	t.Helper()
	var got httpapi.PredictResponse
	a.do(t, "POST", "/v1/predict", "image/jpeg", photo, http.StatusOK, &got)
	return got
}

// loadResult is one request of the load loop.
type loadResult struct {
	start  time.Time
	status int
	model  httpapi.ModelRef
	err    error
}

// runLoad sends the photo from workers goroutines until stop is closed (or
// each has sent limit requests) and returns every result.
func runLoad(a *agentProc, photo []byte, workers, limit int, stop <-chan struct{}) func() []loadResult {
	var mu sync.Mutex
	var out []loadResult
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range workers {
		wg.Go(func() {
			for i := 0; i < limit; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := loadResult{start: time.Now()}
				resp, err := client.Post(a.url+"/v1/predict", "image/jpeg", strings.NewReader(string(photo)))
				if err == nil {
					r.status = resp.StatusCode
					var body httpapi.PredictResponse
					r.err = json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					r.model = body.Model
				} else {
					r.err = err
				}
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}
		})
	}
	return func() []loadResult {
		wg.Wait()
		return out
	}
}
