// Package worker is `autocv-trainer worker`: it leases training jobs from
// the control plane over the job API (protocol/jobs), trains them and
// uploads the results. Any number of workers on any machines may work one
// queue; a worker that dies loses its lease and the job is re-queued.
package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
)

// ErrLeaseLost means the control plane no longer holds the job for this
// worker (it expired, or the job was stopped or deleted).
var ErrLeaseLost = errors.New("job lease lost")

// Transient-error retries for image downloads and artifact uploads: this
// many tries in all, waiting retryDelay before the second and twice as long
// before each one after.
const (
	retryTries = 3
	retryDelay = 500 * time.Millisecond
)

// transientError marks an error that may go away if the call is tried again
// later: a network error, a timeout, or an HTTP 5xx or 429 reply.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error) error {
	if err == nil || IsTransient(err) {
		return err
	}
	return &transientError{err}
}

// IsTransient reports whether err is a network error, a timeout or an HTTP
// 5xx or 429 reply: the job itself is not at fault, and failing it would be
// wrong. Any other error (another 4xx, a sha256 mismatch, a training error)
// is permanent.
func IsTransient(err error) bool {
	var t *transientError
	return errors.As(err, &t)
}

// retry calls f until it succeeds, returns a permanent error, ctx ends, or
// retryTries tries have failed, waiting longer after each failure.
func retry(ctx context.Context, f func() error) error {
	delay := retryDelay
	for try := 1; ; try++ {
		err := f()
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			return err
		}
		if try >= retryTries {
			return fmt.Errorf("%w (gave up after %d tries)", err, try)
		}
		sleep(ctx, delay)
		if ctx.Err() != nil {
			return err
		}
		delay *= 2
	}
}

// transientReader marks errors reading a reply body (a dropped connection,
// a body cut short) as transient.
type transientReader struct{ r io.Reader }

func (t transientReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = transient(err)
	}
	return n, err
}

// Client calls the job API.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client for the control plane at server, using a
// trainer token.
func NewClient(server, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http(s) URL such as http://127.0.0.1:8080", server)
	}
	if token == "" {
		return nil, errors.New("--token is empty: create a trainer token in the control plane (POST /api/v1/trainer-tokens)")
	}
	return &Client{base: u, token: token, http: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// Lease asks for a job; it returns nil, nil when the queue is empty. The
// job is not validated here: a lease on a job the worker cannot train must
// still be answered with Fail, or the job would come back to every worker.
func (c *Client) Lease(ctx context.Context, req jobs.LeaseRequest) (*jobs.Lease, error) {
	var l jobs.Lease
	status, err := c.do(ctx, http.MethodPost, jobs.PathLease, "", req, &l)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNoContent {
		return nil, nil
	}
	return &l, nil
}

// Heartbeat renews the lease and reports progress.
func (c *Client) Heartbeat(ctx context.Context, jobID string, hb jobs.Heartbeat) (jobs.HeartbeatReply, error) {
	var r jobs.HeartbeatReply
	_, err := c.do(ctx, http.MethodPost, jobs.JobPath(url.PathEscape(jobID), "heartbeat"), hb.LeaseID, hb, &r)
	return r, err
}

// Image downloads one image of the job into path and checks its sha256,
// trying again after a transient error.
func (c *Client) Image(ctx context.Context, jobID, leaseID string, im jobs.Image, path string) error {
	return retry(ctx, func() error { return c.image(ctx, jobID, leaseID, im, path) })
}

func (c *Client) image(ctx context.Context, jobID, leaseID string, im jobs.Image, path string) error {
	req, err := c.request(ctx, http.MethodGet, jobs.JobPath(url.PathEscape(jobID), "images", url.PathEscape(im.ID)), leaseID, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("image %s: %w", im.ID, transient(err))
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return fmt.Errorf("image %s: %w", im.ID, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(transientReader{resp.Body}, 64<<20))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("image %s: %w", im.ID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != im.SHA256 {
		return fmt.Errorf("image %s: sha256 %s, the job says %s", im.ID, got, im.SHA256)
	}
	return nil
}

// Upload sends an artifact file, trying again after a transient error.
func (c *Client) Upload(ctx context.Context, jobID, leaseID, name, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	err = retry(ctx, func() error { return c.upload(ctx, jobID, leaseID, name, hexSum, data) })
	return hexSum, err
}

func (c *Client) upload(ctx context.Context, jobID, leaseID, name, hexSum string, data []byte) error {
	req, err := c.request(ctx, http.MethodPut, jobs.JobPath(url.PathEscape(jobID), "artifacts", name), leaseID, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set(jobs.SHA256Header, hexSum)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("artifact %s: %w", name, transient(err))
	}
	defer resp.Body.Close()
	return statusError(resp)
}

// Complete ends the job with its results.
func (c *Client) Complete(ctx context.Context, jobID string, done jobs.Complete) error {
	_, err := c.do(ctx, http.MethodPost, jobs.JobPath(url.PathEscape(jobID), "complete"), done.LeaseID, done, nil)
	return err
}

// Fail ends the job with an error the user will read.
func (c *Client) Fail(ctx context.Context, jobID string, f jobs.Fail) error {
	_, err := c.do(ctx, http.MethodPost, jobs.JobPath(url.PathEscape(jobID), "fail"), f.LeaseID, f, nil)
	return err
}

func (c *Client) request(ctx context.Context, method, path, leaseID string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if leaseID != "" {
		req.Header.Set(jobs.LeaseHeader, leaseID)
	}
	return req, nil
}

func (c *Client) do(ctx context.Context, method, path, leaseID string, in, out any) (int, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	req, err := c.request(ctx, method, path, leaseID, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, transient(err)
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: bad reply: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// statusError turns a non-2xx reply into an error with the server's words:
// ErrLeaseLost for 409 and 410, transient for 5xx and 429.
func statusError(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(msg, &e) == nil && e.Error != "" {
		msg = []byte(e.Error)
	}
	err := fmt.Errorf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusConflict {
		return fmt.Errorf("%w: %v", ErrLeaseLost, err)
	}
	if resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests {
		return transient(err)
	}
	return err
}
