package rig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"time"

	"github.com/autocv/autocv/protocol/api"
)

// Client calls the REST API with one bearer token (a session token or an
// API key) over one keep-alive connection pool.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient is a client without a token for the server at base
// (http://host:port).
func NewClient(base string) *Client {
	return &Client{base: base, http: &http.Client{Timeout: 2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}}}
}

// Login logs in as admin and keeps the session token.
func (c *Client) Login() error {
	var out api.LoginResponse
	if err := c.JSON("POST", "/api/v1/auth/login", api.LoginRequest{Username: "admin", Password: AdminPassword}, &out); err != nil {
		return err
	}
	if out.Token == "" {
		return fmt.Errorf("login: no token in the answer")
	}
	c.token = out.Token
	return nil
}

// WithToken is a client for the same server with another token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Base is the server's base URL (http://host:port).
func (c *Client) Base() string { return c.base }

// Token is the bearer token the client sends ("" before Login).
func (c *Client) Token() string { return c.token }

// HTTPClient is the client's keep-alive HTTP client, for requests Do
// does not make (e.g. reading a non-2xx answer's status).
func (c *Client) HTTPClient() *http.Client { return c.http }

// JSON sends body as JSON (nil: no body), wants a 2xx and decodes the
// answer into out (nil: discarded).
func (c *Client) JSON(method, path string, body, out any) error {
	var r io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r, ctype = bytes.NewReader(b), "application/json"
	}
	raw, err := c.Do(method, path, ctype, r)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decoding the answer: %v", method, path, err)
		}
	}
	return nil
}

// Do sends one request and returns the body of a 2xx answer; any other
// status is an error carrying the server's message.
func (c *Client) Do(method, path, ctype string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		if len(raw) > 500 {
			raw = raw[:500]
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	return raw, nil
}

// UploadDataset streams the zip at path as POST /datasets (multipart name
// and file) and returns the new dataset's id once the server answered 202.
func (c *Client) UploadDataset(name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := mw.WriteField("name", name)
		if err == nil {
			var w io.Writer
			if w, err = mw.CreateFormFile("file", "dataset.zip"); err == nil {
				_, err = io.Copy(w, f)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	raw, err := c.Do("POST", "/api/v1/datasets", mw.FormDataContentType(), pr)
	pr.Close() // ends the writer goroutine if the server answered early
	if err != nil {
		return "", err
	}
	var d api.Dataset
	if err := json.Unmarshal(raw, &d); err != nil || d.ID == "" {
		return "", fmt.Errorf("POST /api/v1/datasets: no dataset id in %q", raw)
	}
	return d.ID, nil
}

// WaitDataset polls the dataset every poll until its import ends and
// returns its state; a failed import is an error.
func (c *Client) WaitDataset(id string, poll, limit time.Duration) (api.Dataset, error) {
	deadline := time.Now().Add(limit)
	for {
		var d api.Dataset
		if err := c.JSON("GET", "/api/v1/datasets/"+id, nil, &d); err != nil {
			return d, err
		}
		switch d.Status {
		case "ready":
			if d.ImportReport == nil {
				d.ImportReport = &api.ImportReport{}
			}
			return d, nil
		case "failed":
			return d, fmt.Errorf("dataset %s import failed: %s", id, d.Error)
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("dataset %s still %q after %s", id, d.Status, limit)
		}
		time.Sleep(poll)
	}
}
