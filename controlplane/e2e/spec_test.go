package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	cpserver "github.com/autocv/autocv/controlplane/server"
)

// specCheck validates every answer the suite gets from a server's /api/v1
// against the OpenAPI document (kin-openapi's openapi3filter): status
// documented for the operation, body matching its schema. It wraps
// http.DefaultTransport, which every client of the suite uses; startServer
// fails a test whose server answered off the contract.
type specCheck struct {
	base   http.RoundTripper
	router routers.Router

	mu        sync.Mutex
	bad       map[string][]string // by host
	checked   int
	unmatched map[string]int // method + path of answers no operation covers (404s of made-up paths)
}

var spec = sync.OnceValues(func() (*specCheck, error) {
	doc, err := cpserver.OpenAPIDocument("")
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("loading the OpenAPI document: %w", err)
	}
	if err := t.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document does not validate: %w", err)
	}
	t.Servers = nil // any host: the suite's servers listen on free ports
	r, err := gorillamux.NewRouter(t)
	if err != nil {
		return nil, err
	}
	for _, ct := range []string{"image/*", "image/jpeg", "image/png", "image/bmp", "application/gzip", "application/zip"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	sc := &specCheck{base: http.DefaultTransport, router: r, bad: map[string][]string{}, unmatched: map[string]int{}}
	http.DefaultTransport = sc
	return sc, nil
})

func (sc *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := sc.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/api/v1/") || req.URL.Path == "/api/v1/openapi.json" {
		return resp, err
	}
	match := req
	if rest, ok := strings.CutPrefix(req.URL.Path, "/api/v1/infer/"); ok {
		// {path} holds slashes ("insects/ants"); the router matches one
		// segment, so it is matched as one.
		match = req.Clone(req.Context())
		match.URL.Path = "/api/v1/infer/" + strings.ReplaceAll(rest, "/", "_")
	}
	route, params, ferr := sc.router.FindRoute(match)
	if ferr != nil {
		sc.mu.Lock()
		sc.unmatched[req.Method+" "+req.URL.Path]++
		if strings.HasPrefix(req.URL.Path, "/api/v1/infer/") && req.Method == http.MethodPost {
			sc.bad[req.URL.Host] = append(sc.bad[req.URL.Host], req.Method+" "+req.URL.Path+": no operation matches a cloud inference call")
		}
		sc.mu.Unlock()
		return resp, nil
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // the test sees the short body; nothing to validate
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: match, PathParams: params, Route: route, Options: opts},
		Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	}
	verr := openapi3filter.ValidateResponse(context.Background(), in)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.checked++
	if verr != nil {
		msg := fmt.Sprintf("%s %s → %d %s: %v", req.Method, req.URL.Path, resp.StatusCode, tail(string(body), 300), verr)
		sc.bad[req.URL.Host] = append(sc.bad[req.URL.Host], msg)
	}
	return resp, nil
}

// summary says how many answers were validated, and which paths no
// operation covers (requests the tests make up on purpose).
func (sc *specCheck) summary(w io.Writer) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	fmt.Fprintf(w, "OpenAPI contract: %d answers validated; %d answers to %d paths no operation covers\n",
		sc.checked, sum(sc.unmatched), len(sc.unmatched))
}

func sum(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}

// expect fails t for each answer from host that broke the contract.
func (sc *specCheck) expect(t *testing.T, host string) {
	sc.mu.Lock()
	bad := sc.bad[host]
	delete(sc.bad, host)
	sc.mu.Unlock()
	for _, b := range bad {
		t.Errorf("answer off the OpenAPI contract: %s", b)
	}
}

func specFor(t *testing.T) *specCheck {
	t.Helper()
	sc, err := spec()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The check itself: an answer the document does not allow is caught.
func TestSpecCheckCatchesDrift(t *testing.T) {
	sc := specFor(t)
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/me":
			_, _ = io.WriteString(w, `{"id":"u1","username":"a","admin":"yes","created_at":"2026-12-07T00:00:00Z"}`)
		default:
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, `{"error":"x","code":"internal"}`)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	host := ln.Addr().String()
	for _, p := range []string{"/api/v1/me", "/api/v1/datasets"} {
		resp, err := http.Get("http://" + host + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	sc.mu.Lock()
	bad := sc.bad[host]
	delete(sc.bad, host)
	sc.mu.Unlock()
	if len(bad) != 2 || !strings.Contains(bad[0], "admin") || !strings.Contains(bad[1], "418") {
		t.Errorf("want the wrong admin type and the undocumented 418 caught, got %q", bad)
	}
}
