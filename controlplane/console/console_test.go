package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	testIndex = `<!doctype html><html><head><script type="module" src="/assets/index-AbC123.js"></script></head><body><div id="app"></div></body></html>`
	testJS    = `console.log("app")`
	testCSS   = `body{margin:0}`
)

func builtFS() fstest.MapFS {
	return fstest.MapFS{
		"dist/.gitkeep":                    {},
		"dist/app/index.html":              {Data: []byte(testIndex)},
		"dist/app/assets/index-AbC123.js":  {Data: []byte(testJS)},
		"dist/app/assets/index-Def456.css": {Data: []byte(testCSS)},
		"dist/app/logo.svg":                {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
	}
}

func do(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesBuild(t *testing.T) {
	h := newHandler(builtFS(), "dist")
	cases := []struct {
		name, method, path string
		status             int
		contentType        string // prefix
		cache              string
		body               string // exact, when set
		csp                bool
	}{
		{"root is index", "GET", "/", 200, "text/html; charset=utf-8", "no-cache", testIndex, true},
		{"index by name", "GET", "/index.html", 200, "text/html", "no-cache", testIndex, true},
		{"client route gets index", "GET", "/datasets/42", 200, "text/html", "no-cache", testIndex, true},
		{"chinese client route", "GET", "/models/%E6%A8%A1%E5%9E%8B", 200, "text/html", "no-cache", testIndex, true},
		{"hashed script", "GET", "/assets/index-AbC123.js", 200, "text/javascript", "public, max-age=31536000, immutable", testJS, false},
		{"hashed style", "GET", "/assets/index-Def456.css", 200, "text/css", "public, max-age=31536000, immutable", testCSS, false},
		{"unhashed file", "GET", "/logo.svg", 200, "image/svg+xml", "no-cache", "", false},
		{"missing asset is 404", "GET", "/assets/index-Old999.js", 404, "text/plain", "", "", false},
		{"missing file is 404", "GET", "/favicon.ico", 404, "text/plain", "", "", false},
		{"unknown API path is not the app", "GET", "/api/v1/nothing", 404, "", "", "", false},
		{"traversal stays inside", "GET", "/../../etc/passwd", 200, "text/html", "no-cache", testIndex, true},
		{"head has headers only", "HEAD", "/", 200, "text/html", "no-cache", "", true},
		{"post is refused", "POST", "/", 405, "text/plain", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, h, tc.method, tc.path, nil)
			got := body(t, res)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tc.status, got)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type %q, want prefix %q", ct, tc.contentType)
			}
			if cc := res.Header.Get("Cache-Control"); cc != tc.cache {
				t.Errorf("Cache-Control %q, want %q", cc, tc.cache)
			}
			if tc.body != "" && got != tc.body {
				t.Errorf("body %q, want %q", got, tc.body)
			}
			if tc.method == "HEAD" && got != "" {
				t.Errorf("HEAD answered with a body: %q", got)
			}
			if has := res.Header.Get("Content-Security-Policy") != ""; has != tc.csp {
				t.Errorf("Content-Security-Policy present = %v, want %v", has, tc.csp)
			}
			if tc.status == 404 && strings.Contains(got, "<html") {
				t.Errorf("404 answered with HTML: %q", got)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := newHandler(builtFS(), "dist")
	for _, p := range []string{"/", "/assets/index-AbC123.js"} {
		first := do(t, h, "GET", p, nil)
		etag := first.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		again := do(t, h, "GET", p, map[string]string{"If-None-Match": etag})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: status %d, want 304", p, again.StatusCode)
		}
		other := do(t, h, "GET", p, map[string]string{"If-None-Match": `"stale"`})
		if other.StatusCode != http.StatusOK {
			t.Errorf("%s with a stale ETag: status %d, want 200", p, other.StatusCode)
		}
	}
	if a, b := do(t, h, "GET", "/", nil).Header.Get("ETag"), do(t, h, "GET", "/assets/index-AbC123.js", nil).Header.Get("ETag"); a == b {
		t.Errorf("different files share ETag %s", a)
	}
}

func TestHandlerNotBuilt(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"only .gitkeep": {"dist/.gitkeep": {}},
		"empty app":     {"dist/.gitkeep": {}, "dist/app/assets/x.js": {Data: []byte(testJS)}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHandler(fsys, "dist")
			for _, p := range []string{"/", "/datasets", "/assets/x.js"} {
				res := do(t, h, "GET", p, nil)
				got := body(t, res)
				if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("%s: status %d, Content-Type %q", p, res.StatusCode, res.Header.Get("Content-Type"))
				}
				for _, want := range []string{"控制台尚未构建", "The console is not built", "make build"} {
					if !strings.Contains(got, want) {
						t.Errorf("%s: page lacks %q", p, want)
					}
				}
				if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control %q, want no-store", p, cc)
				}
			}
			if res := do(t, h, "GET", "/api/v1/models", nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("API path: status %d, want 404", res.StatusCode)
			}
		})
	}
}

// TestEmbeddedBuild checks the real embedded files: with a Vite build in
// dist/app, index.html must load and every script and style it names must
// be served with the right type; without one, the not-built page.
func TestEmbeddedBuild(t *testing.T) {
	h := Handler()
	res := do(t, h, "GET", "/", nil)
	index := body(t, res)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /: status %d", res.StatusCode)
	}
	if !Built() {
		if !strings.Contains(index, "The console is not built") {
			t.Fatalf("no build embedded, but / is not the not-built page: %q", index)
		}
		t.Log("no console build embedded (run npm run build in controlplane/console/web); checked the not-built page")
		return
	}
	refs := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+\.(js|css))"`).FindAllStringSubmatch(index, -1)
	if len(refs) == 0 {
		t.Fatalf("index.html names no /assets/ script or style: %q", index)
	}
	for _, ref := range refs {
		res := do(t, h, "GET", ref[1], nil)
		want := map[string]string{"js": "text/javascript", "css": "text/css"}[ref[2]]
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), want) {
			t.Errorf("%s: status %d, Content-Type %q", ref[1], res.StatusCode, res.Header.Get("Content-Type"))
		}
		if len(body(t, res)) == 0 {
			t.Errorf("%s is empty", ref[1])
		}
	}
}
