// Package console serves the AutoCV web console: a single-page app built
// from web/ by Vite (`npm ci` and `npm run build` in web/, which `make`
// runs) into dist/app and embedded into autocv-server.
//
// The server mounts Handler at "/" beside the API under /api/v1. Files are
// served from the build; any other path without a file extension gets
// index.html, so the app's client-side routes load on a refresh. Hashed
// files under /assets/ are cached for a year; index.html is revalidated on
// every load so a new server version is picked up at once. A binary built
// without the console (a plain `go build` or `go test`) serves a short
// bilingual page that says how to build it instead of failing.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var embedded embed.FS

// appDir is where the Vite build lands inside dist.
const appDir = "app"

// Content security policy of the app: everything from the server itself;
// blob: and data: images for the validation previews; inline styles for
// the few element styles the app sets (progress widths, matrix colours).
const csp = "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"

// Handler serves the embedded console build. The file map (contents and
// ETags) is built once, on first use.
func Handler() http.Handler { return built() }

var built = sync.OnceValue(func() http.Handler { return newHandler(embedded, "dist") })

// Built reports whether the console build was embedded into this binary,
// so the server can warn at start-up when it was not.
func Built() bool {
	_, err := fs.Stat(embedded, path.Join("dist", appDir, "index.html"))
	return err == nil
}

// file is one served file, read once: the build is small and immutable.
type file struct {
	body        []byte
	contentType string
	etag        string
}

type handler struct {
	files    map[string]*file // by URL path without the leading "/"
	index    *file            // nil when the console is not built
	notBuilt *file
}

// newHandler serves the Vite build found under root/app in fsys. It takes
// the file system as an argument so tests can hand in a fstest.MapFS.
func newHandler(fsys fs.FS, root string) http.Handler {
	h := &handler{files: map[string]*file{}, notBuilt: newFile("index.html", []byte(notBuiltPage))}
	app, err := fs.Sub(fsys, path.Join(root, appDir))
	if err == nil {
		err = fs.WalkDir(app, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(app, p)
			if err != nil {
				return err
			}
			h.files[p] = newFile(p, b)
			return nil
		})
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// An embedded FS cannot fail to read; a broken test FS should be loud.
		panic(fmt.Sprintf("console: reading the build: %v", err))
	}
	h.index = h.files["index.html"]
	return h
}

func newFile(name string, body []byte) *file {
	sum := sha256.Sum256(body)
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ct = "text/javascript; charset=utf-8" // whatever the host's mime.types says
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	case ".json", ".map":
		ct = "application/json"
	}
	if ct == "" {
		ct = http.DetectContentType(body)
	}
	return &file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if p == "api" || strings.HasPrefix(p, "api/") {
		// The API has its own routes; an unknown API path must not turn
		// into the console's HTML, which a script would choke on.
		http.Error(w, `{"error":"no such API endpoint","code":"not_found"}`, http.StatusNotFound)
		return
	}
	if h.index == nil {
		w.Header().Set("Cache-Control", "no-store")
		h.serve(w, r, h.notBuilt)
		return
	}
	if p == "" || p == "." || p == "index.html" {
		h.serveIndex(w, r)
		return
	}
	if f, ok := h.files[p]; ok {
		if strings.HasPrefix(p, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		h.serve(w, r, f)
		return
	}
	// A missing asset or any other file name is a 404, not the app: a
	// stale hashed script must fail visibly, not load HTML as JavaScript.
	if strings.HasPrefix(p, "assets/") || path.Ext(p) != "" {
		http.NotFound(w, r)
		return
	}
	h.serveIndex(w, r)
}

// serveIndex answers with the app's index.html, revalidated on every load.
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", csp)
	h.serve(w, r, h.index)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("ETag", f.etag)
	// ServeContent answers If-None-Match and Range, and writes no body for HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// notBuiltPage is served when the binary carries no console build.
const notBuiltPage = `<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>AutoCV 控制台尚未构建 / console not built</title>
<style>body{font-family:system-ui,sans-serif;max-width:640px;margin:12vh auto;padding:0 20px;color:#1f2937}
code{background:#f1f5f9;padding:2px 6px;border-radius:4px}</style></head>
<body>
<h1>控制台尚未构建</h1>
<p>这个 autocv-server 构建时没有包含网页控制台。请在代码仓库中运行 <code>make build</code> 后重新启动服务器。API 位于 <code>/api/v1</code>，仍可正常使用。</p>
<h1 lang="en">The console is not built</h1>
<p lang="en">This autocv-server was built without the web console. Run <code>make build</code> in the repository and start the server again. The API under <code>/api/v1</code> works as usual.</p>
</body>
</html>
`
