package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/autocv/autocv/protocol/api"
)

// seen is one request as the server got it.
type seen struct {
	method, path, query string
	header              http.Header
	length              int64 // Content-Length; -1 chunked
	body                []byte
}

// fakeServer answers every request with status and body, and keeps what
// it got.
func fakeServer(t *testing.T, status int, body string) (*Client, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header, length: r.ContentLength, body: b}
		if strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL+"/", "acvk_test"), got
}

func TestCalls(t *testing.T) {
	ctx := context.Background()
	t.Run("login", func(t *testing.T) {
		c, got := fakeServer(t, 200, `{"token":"acvs_1","csrf_token":"x","expires_at":"2030-01-02T03:04:05Z","user":{"id":"usr_1","username":"alice","admin":true}}`)
		out, err := c.Login(ctx, api.LoginRequest{Username: "alice", Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		if got.method != "POST" || got.path != "/api/v1/auth/login" || string(got.body) != `{"username":"alice","password":"pw"}` ||
			got.header.Get("Content-Type") != "application/json" || got.header.Get("Authorization") != "Bearer acvk_test" {
			t.Errorf("request %+v", got)
		}
		if out.Token != "acvs_1" || !out.User.Admin || out.User.Username != "alice" || out.ExpiresAt.Year() != 2030 {
			t.Errorf("answer %+v", out)
		}
	})
	t.Run("escaped path and page", func(t *testing.T) {
		c, got := fakeServer(t, 200, `{"items":[{"id":"img_1","label":"蚂蚁","size":3}],"total":7,"page":2,"page_size":1}`)
		out, err := c.ListImages(ctx, "ds/1", "蚂蚁 a", 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got.method != "GET" || got.path != "/api/v1/datasets/ds%2F1/labels/%E8%9A%82%E8%9A%81%20a/images" || got.query != "page=2&page_size=1" || len(got.body) != 0 {
			t.Errorf("request %+v", got)
		}
		if len(out.Items) != 1 || out.Items[0].Label != "蚂蚁" || out.Total != 7 || out.Page.Page != 2 {
			t.Errorf("answer %+v", out)
		}
	})
	t.Run("train answers an array", func(t *testing.T) {
		c, got := fakeServer(t, 202, `[{"version":1,"model_id":"m","app_type":"cloud-general","status":"queued"},{"version":2,"status":"queued"}]`)
		vs, err := c.Train(ctx, "m", api.CreateVersionsRequest{AppTypes: []string{"cloud-general", "offline-general"},
			Data: []api.TrainingData{{DatasetID: "ds_1", Labels: []string{"a", "b"}}}})
		if err != nil {
			t.Fatal(err)
		}
		var req api.CreateVersionsRequest
		if got.method != "POST" || got.path != "/api/v1/models/m/versions" || json.Unmarshal(got.body, &req) != nil || len(req.AppTypes) != 2 || req.Data[0].DatasetID != "ds_1" {
			t.Errorf("request %+v", got)
		}
		if len(vs) != 2 || vs[0].AppType != "cloud-general" || vs[1].Version != 2 {
			t.Errorf("answer %+v", vs)
		}
	})
	t.Run("delete: 204", func(t *testing.T) {
		c, got := fakeServer(t, 204, "")
		if err := c.DeleteService(ctx, "svc_1"); err != nil {
			t.Fatal(err)
		}
		if got.method != "DELETE" || got.path != "/api/v1/services/svc_1" {
			t.Errorf("request %+v", got)
		}
	})
	t.Run("upload chunk", func(t *testing.T) {
		c, got := fakeServer(t, 200, `{"id":"up_1","size":10,"offset":7}`)
		up, err := c.AppendUpload(ctx, "up_1", 4, strings.NewReader("abc"), 3)
		if err != nil {
			t.Fatal(err)
		}
		if got.method != "PATCH" || got.path != "/api/v1/uploads/up_1" || got.header.Get("Upload-Offset") != "4" || string(got.body) != "abc" {
			t.Errorf("request %+v", got)
		}
		if up.Offset != 7 {
			t.Errorf("answer %+v", up)
		}
	})
	t.Run("dataset from an upload", func(t *testing.T) {
		c, got := fakeServer(t, 202, `{"id":"ds_1","name":"n","status":"processing"}`)
		d, err := c.CreateDataset(ctx, "n", nil, "up_1")
		if err != nil {
			t.Fatal(err)
		}
		if parts := formParts(t, got); got.path != "/api/v1/datasets" || !reflect.DeepEqual(parts, []string{"name=n", "upload_id=up_1"}) || got.length != int64(len(got.body)) {
			t.Errorf("request %s %v, length %d of %d", got.path, parts, got.length, len(got.body))
		}
		if d.ID != "ds_1" || d.Status != api.DatasetProcessing {
			t.Errorf("answer %+v", d)
		}
	})
	t.Run("infer one image: raw body", func(t *testing.T) {
		c, got := fakeServer(t, 200, `{"model":{"id":"m","version":1},"predictions":[{"label":"ants","confidence":0.9}],"latency_ms":3}`)
		ans, err := c.Infer(ctx, "/insects/ants b/", []File{{Name: "x.jpg", Body: strings.NewReader("JPEG"), Size: 4}}, api.PredictQuery{TopK: 3, Threshold: 0.25})
		if err != nil {
			t.Fatal(err)
		}
		if got.path != "/api/v1/infer/insects/ants%20b" || got.query != "threshold=0.25&top_k=3" || string(got.body) != "JPEG" ||
			got.header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("request %+v", got)
		}
		if ans.Batch != nil || ans.One == nil || ans.One.Predictions[0].Label != "ants" || ans.One.Model.ID != "m" {
			t.Errorf("answer %+v", ans)
		}
	})
	t.Run("infer several: multipart, batch answer", func(t *testing.T) {
		c, got := fakeServer(t, 200, `{"model":{"id":"m","version":1},"results":[{"file":"a.jpg","predictions":[]},{"file":"b.jpg","predictions":null,"error":"bad","code":"corrupt"}],"latency_ms":3}`)
		ans, err := c.Infer(ctx, "ants", []File{{Name: "a.jpg", Body: strings.NewReader("A"), Size: 1}, {Name: "b.jpg", Body: strings.NewReader("B"), Size: 1}}, api.PredictQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if parts := formParts(t, got); got.query != "" || !reflect.DeepEqual(parts, []string{"file=a.jpg:A", "file=b.jpg:B"}) {
			t.Errorf("request %q %v", got.query, parts)
		}
		if ans.One != nil || ans.Batch == nil || len(ans.Batch.Results) != 2 || ans.Batch.Results[1].Code != api.CodeCorrupt {
			t.Fatalf("answer %+v", ans)
		}
		// It encodes as the server's JSON.
		b, _ := json.Marshal(ans)
		if !strings.HasPrefix(string(b), `{"model":{"id":"m","version":1},"results":[{"file":"a.jpg"`) {
			t.Errorf("re-encoded: %s", b)
		}
	})
}

// formParts lists a multipart body's parts as name=value or
// name=filename:contents.
func formParts(t *testing.T, got *seen) []string {
	t.Helper()
	_, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
	var out []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if p.FileName() != "" {
			out = append(out, fmt.Sprintf("%s=%s:%s", p.FormName(), p.FileName(), b))
		} else {
			out = append(out, p.FormName()+"="+string(b))
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := fakeServer(t, 404, `{"error":"dataset ds_x not found","code":"not_found"}`)
	_, err := c.GetDataset(ctx, "ds_x")
	var e *Error
	if !errors.As(err, &e) || e.Status != 404 || e.Body.Code != api.CodeNotFound || e.Body.Message != "dataset ds_x not found" ||
		err.Error() != "dataset ds_x not found (not_found, HTTP 404)" {
		t.Errorf("API error: %#v", err)
	}

	// A proxy's page: the path and the start of the body.
	c, _ = fakeServer(t, 502, "<html>"+strings.Repeat("网关", 150)+"</html>")
	_, err = c.Me(ctx)
	if !errors.As(err, &e) || e.Status != 502 || e.Body.Code != "http_502" || !strings.HasPrefix(e.Body.Message, "/api/v1/me: <html>网关") ||
		len([]rune(e.Body.Message)) != len("/api/v1/me: ")+201 {
		t.Errorf("proxy error: %#v", err)
	}

	// No answer at all.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c = New(srv.URL, "")
	_, err = c.ListServices(ctx)
	var ce *ConnError
	if !errors.As(err, &ce) || ce.Server != srv.URL || !strings.Contains(err.Error(), "cannot reach the server at "+srv.URL) {
		t.Errorf("transport error: %#v", err)
	}
}

// The multipart body is laid out without reading the files: its declared
// length must be exact and the standard parser must read back every field
// and file.
func TestMultipartBody(t *testing.T) {
	files := []File{
		{Name: "a.jpg", Body: strings.NewReader("first file"), Size: 10},
		{Name: "蜜蜂.png", Body: strings.NewReader(""), Size: 0},
		{Name: "c.bin", Body: bytes.NewReader(bytes.Repeat([]byte{0, 1, 2}, 5000)), Size: 15000},
	}
	body, n, ctype := multipartBody([][2]string{{"name", "蚂蚁和蜜蜂"}, {"upload_id", "up_x"}}, files)
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(raw)) != n {
		t.Fatalf("declared length %d, body is %d bytes", n, len(raw))
	}
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		// The field or file's length and its first bytes.
		got = append(got, fmt.Sprintf("%s|%s|%d|%q", p.FormName(), p.FileName(), len(b), b[:min(len(b), 15)]))
	}
	want := []string{`name||15|"蚂蚁和蜜蜂"`, `upload_id||4|"up_x"`, `file|a.jpg|10|"first file"`, `file|蜜蜂.png|0|""`,
		`file|c.bin|15000|"\x00\x01\x02\x00\x01\x02\x00\x01\x02\x00\x01\x02\x00\x01\x02"`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parts\n%q\nwant\n%q", got, want)
	}
	if _, n, _ := multipartBody(nil, []File{{Name: "x", Body: strings.NewReader("x"), Size: -1}}); n != -1 {
		t.Errorf("a file of unknown size: length %d, want -1", n)
	}
}
