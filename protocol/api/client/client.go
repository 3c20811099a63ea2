// Package client is a typed Go client of the control plane's REST API
// (/api/v1): one method per route of the server's table that people and
// scripts call, with the request and answer types of protocol/api. (The
// trainer's job API has its own client, trainer/worker; Call and Do reach
// any route.) The autocv CLI is built on it.
//
//	c := client.New("http://127.0.0.1:8080", apiKey)
//	ds, err := c.ListDatasets(ctx, 1, 50)
//
// A non-2xx answer is an *Error (HTTP status and the api.Error body), a
// request that got no answer a *ConnError.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

// Client calls one control plane with one set of credentials. Its fields
// may be changed between calls, not during them.
type Client struct {
	BaseURL   string        // the server, e.g. http://127.0.0.1:8080 (without /api/v1)
	Token     string        // bearer token: session token, API key or trainer token; "" sends none
	HTTP      *http.Client  // nil: http.DefaultClient
	UserAgent string        // "" leaves net/http's
	Timeout   time.Duration // bounds each JSON call; streamed bodies (files, chunks, downloads) are not bounded; 0: none
}

// New returns a client of the server at baseURL sending token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, UserAgent: "autocv-client"}
}

// Error is a non-2xx answer: its HTTP status and error body. An answer
// that is not the API's error shape (a proxy in between, or not AutoCV)
// gets the request path and the start of the body as Message and
// "http_<status>" as Code.
type Error struct {
	Status int
	Body   api.Error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Body.Message, e.Body.Code, e.Status)
}

// ConnError is a request that got no answer: the server is down or
// unreachable, or the link broke.
type ConnError struct {
	Server string
	Err    error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("cannot reach the server at %s: %v", e.Server, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// maxAnswer bounds a JSON answer read into memory.
const maxAnswer = 256 << 20

// Path joins escaped path segments: Path("datasets", id) is
// /datasets/{id}, for Do and Call.
func Path(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// withQuery adds q to path when it has values.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// Do sends method to /api/v1+path (escaped, with any query) and returns
// the response when its status is 2xx; the caller closes its body. size is
// body's length, -1 when net/http is to work it out (or send it chunked).
// A non-2xx answer is an *Error, no answer a *ConnError, a cancelled ctx
// its own error.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	if body != nil && size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+"/api/v1"+path, body)
	if err != nil {
		return nil, err
	}
	maps.Copy(req.Header, header)
	if body != nil && size > 0 {
		req.ContentLength = size
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &ConnError{Server: c.BaseURL, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

func readError(resp *http.Response) *Error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(raw, &e.Body) != nil || e.Body.Message == "" {
		msg := []rune(strings.TrimSpace(string(raw)))
		if len(msg) > 200 {
			msg = append(msg[:200], '…')
		}
		if len(msg) == 0 {
			msg = []rune(http.StatusText(resp.StatusCode))
		}
		e.Body = api.Error{Message: resp.Request.URL.Path + ": " + string(msg)}
	}
	if e.Body.Code == "" {
		e.Body.Code = api.Code(fmt.Sprintf("http_%d", resp.StatusCode))
	}
	return e
}

// Call sends in as JSON (nil: no body) and decodes the answer into out
// (nil: read and dropped), within c.Timeout.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	var body io.Reader
	var h http.Header
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, h = bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.Do(ctx, method, path, body, -1, h)
	if err != nil {
		return err
	}
	return decode(resp, out)
}

// decode reads a 2xx answer into out (nil: dropped) and closes it.
func decode(resp *http.Response, out any) error {
	defer resp.Body.Close()
	where := resp.Request.Method + " " + resp.Request.URL.Path
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", where, err)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the answer to %s does not decode (%v); is the server the same version as this client?", where, err)
	}
	return nil
}

// call is Call decoding into a new T.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (*T, error) {
	var v T
	if err := c.Call(ctx, method, path, in, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// File is a file to send: the name the server sees, its contents and their
// exact length (-1: unknown, the request goes chunked).
type File struct {
	Name string
	Body io.Reader
	Size int64
}

// multipartBody lays out a multipart/form-data body of fields and "file"
// parts without reading the files: a reader over the part headers, the
// contents and the closing boundary, its exact length (so the server can
// refuse an oversize upload before it is sent; -1 if a file's is unknown)
// and its content type.
func multipartBody(fields [][2]string, files []File) (io.Reader, int64, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1]) // writes to a bytes.Buffer cannot fail
	}
	var readers []io.Reader
	var size int64
	for _, f := range files {
		_, _ = mw.CreateFormFile("file", f.Name)
		head := bytes.Clone(buf.Bytes())
		buf.Reset()
		readers = append(readers, bytes.NewReader(head), f.Body)
		if size >= 0 && f.Size >= 0 {
			size += int64(len(head)) + f.Size
		} else {
			size = -1
		}
	}
	_ = mw.Close()
	readers = append(readers, bytes.NewReader(bytes.Clone(buf.Bytes())))
	if size >= 0 {
		size += int64(buf.Len())
	}
	return io.MultiReader(readers...), size, mw.FormDataContentType()
}

// stream sends body (size bytes, -1: unknown) with header and decodes
// the answer into a new T. It has no deadline but ctx's.
func stream[T any](ctx context.Context, c *Client, method, path string, body io.Reader, size int64, header http.Header) (*T, error) {
	resp, err := c.Do(ctx, method, path, body, size, header)
	if err != nil {
		return nil, err
	}
	var v T
	if err := decode(resp, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// upload posts fields and files as multipart/form-data and decodes the
// answer into a new T.
func upload[T any](ctx context.Context, c *Client, path string, fields [][2]string, files []File) (*T, error) {
	body, n, ctype := multipartBody(fields, files)
	return stream[T](ctx, c, http.MethodPost, path, body, n, http.Header{"Content-Type": {ctype}})
}
