package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap/zaptest"

	"github.com/autocv/autocv/controlplane/blob"
)

// streamOnly hides the blob file behind a plain reader, as a remote
// store's readers are (minio's can Seek; only local files are served
// with Range).
type streamOnly struct{ blob.Store }

func (s streamOnly) Get(ctx context.Context, sha string) (io.ReadCloser, int64, error) {
	rc, n, err := s.Store.Get(ctx, sha)
	if err != nil {
		return nil, 0, err
	}
	return struct {
		io.ReadSeeker // like a minio object: seekable, not a file
		io.Closer
	}{rc.(io.ReadSeeker), rc}, n, nil
}

// A blob whose bytes changed on disk is never answered 200 with them: a
// local one is refused and quarantined, a streamed one is cut short, and
// a corrupt cached package is evicted and copied again.
func TestCorruptBlobsAreNotServed(t *testing.T) {
	dir := t.TempDir()
	local, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("a package member "), 20000) // 340 KB: more than the held-back tail
	sha, _, err := local.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "blobs", "blobs", sha[:2], sha)
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.TestMode)
	serve := func(st blob.Store) *httptest.Server {
		s := &Server{blobs: st, log: zaptest.NewLogger(t), opt: Options{DataDir: dir}}
		e := gin.New()
		e.Use(s.recovery)
		e.GET("/b", func(c *gin.Context) { s.sendBlob(c, sha, "application/gzip", "p.tar.gz") })
		srv := httptest.NewServer(e)
		t.Cleanup(srv.Close)
		return srv
	}
	get := func(srv *httptest.Server) (int, []byte, error) {
		resp, err := http.Get(srv.URL + "/b")
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}

	// Intact: served whole, both ways.
	for name, st := range map[string]blob.Store{"local": local, "stream": streamOnly{local}} {
		if code, b, err := get(serve(st)); code != 200 || !bytes.Equal(b, content) || err != nil {
			t.Fatalf("%s, intact: %d, %d bytes, %v", name, code, len(b), err)
		}
	}

	// One byte flipped on disk.
	bad := bytes.Clone(content)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(file, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, b, err := get(serve(streamOnly{local})); err == nil && code == 200 && len(b) == len(content) {
		t.Errorf("streamed corrupt blob answered 200 with all %d bytes", len(b))
	}
	code, b, _ := get(serve(local))
	if code != http.StatusInternalServerError || !strings.Contains(string(b), "corrupt") {
		t.Errorf("local corrupt blob: %d %s, want 500 naming the corruption", code, b)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the corrupt blob is still in the store: %v", err)
	}
	if q, _ := filepath.Glob(filepath.Join(dir, "blobs", "quarantine", sha+".*")); len(q) != 1 {
		t.Errorf("quarantine holds %v", q)
	}

	// The package cache: a corrupt cached copy is evicted and copied again
	// from the (restored) store.
	if _, _, err := local.Put(context.Background(), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	s := &Server{blobs: local, log: zaptest.NewLogger(t), opt: Options{DataDir: dir}}
	p, err := s.packageFile(context.Background(), sha)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = s.packageFile(context.Background(), sha)
	if got, _ := os.ReadFile(p); err != nil || !bytes.Equal(got, content) {
		t.Errorf("corrupt cache copy not replaced: %v", err)
	}
}
