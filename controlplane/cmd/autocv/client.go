package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// callTimeout bounds one JSON call. Publishing a service loads the model
// before it answers, so this is generous; streaming up- and downloads
// have no deadline.
const callTimeout = 5 * time.Minute

// apiError is the server's answer outside 2xx: {error, code}.
type apiError struct {
	Status  int
	Code    string
	Message string
	hint    string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
	if e.hint != "" {
		s += "\n" + e.hint
	}
	return s
}

// apiPath joins escaped path segments under /api/v1.
func apiPath(segs ...string) string {
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// request sends method to /api/v1+path with the token and returns the
// response when its status is 2xx; anything else becomes an *apiError.
// size is the body's length when the reader cannot tell (-1: as
// net/http works it out). The caller closes the body.
func (a *app) request(ctx context.Context, method, path string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	if err := a.resolve(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, a.server+"/api/v1"+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("User-Agent", "autocv-cli")
	if body != nil && size >= 0 {
		req.ContentLength = size
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connError{server: a.server, err: unwrapURL(err)}
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, a.readError(resp)
}

// connError is a request that got no answer: the server is down or
// unreachable, or the link broke.
type connError struct {
	server string
	err    error
}

func (e *connError) Error() string {
	return fmt.Sprintf("cannot reach the server at %s: %v (check --server or AUTOCV_SERVER)", e.server, e.err)
}

func (e *connError) Unwrap() error { return e.err }

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readError turns a non-2xx answer into an *apiError.
func (a *app) readError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &apiError{Status: resp.StatusCode}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Message, e.Code = body.Error, body.Code
	} else {
		// Not the API's error shape: a proxy in between, or not AutoCV.
		e.Message = strings.TrimSpace(string(raw))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(resp.StatusCode)
		}
		e.Message = resp.Request.URL.Path + ": " + e.Message
	}
	if e.Code == "" {
		e.Code = "http_" + fmt.Sprint(resp.StatusCode)
	}
	if e.Code == "unauthenticated" && a.token == "" {
		e.hint = "not logged in: run `autocv login --server URL --username NAME` or set AUTOCV_TOKEN"
	}
	return e
}

// call sends a JSON body (nil: none) and returns the answer's bytes.
func (a *app) call(method, path string, in any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(a.ctx, callTimeout)
	defer cancel()
	var body io.Reader
	h := http.Header{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	resp, err := a.request(ctx, method, path, body, -1, h)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return raw, nil
}

// get is call("GET", path) decoded into out (nil: not decoded).
func (a *app) get(path string, out any) ([]byte, error) {
	raw, err := a.call(http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return raw, decode(raw, out, path)
}

// send is call with a JSON body, decoded into out (nil: not decoded).
func (a *app) send(method, path string, in, out any) ([]byte, error) {
	raw, err := a.call(method, path, in)
	if err != nil {
		return nil, err
	}
	return raw, decode(raw, out, path)
}

func decode(raw []byte, out any, path string) error {
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the server's answer to %s is not what this autocv understands (%v); is the server the same version?", path, err)
	}
	return nil
}
