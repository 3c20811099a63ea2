package main

import (
	"errors"
	"time"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

// callTimeout bounds one JSON call. Publishing a service loads the model
// before it answers, so this is generous; streaming up- and downloads
// have no deadline.
const callTimeout = 5 * time.Minute

// api returns a client of the server with the token, as resolved from the
// flags, the environment and the saved login.
func (a *app) api() (*client.Client, error) {
	if err := a.resolve(); err != nil {
		return nil, err
	}
	c := client.New(a.server, a.token)
	c.HTTP, c.UserAgent, c.Timeout = a.hc, "autocv-cli", callTimeout
	return c, nil
}

// explain is a failed command's error for people, with what to do about
// the usual causes.
func (a *app) explain(err error) string {
	s := err.Error()
	var ce *client.ConnError
	var ae *client.Error
	switch {
	case errors.As(err, &ce):
		s += " (check --server or AUTOCV_SERVER)"
	case errors.As(err, &ae) && ae.Body.Code == api.CodeUnauthorized && a.token == "":
		s += "\nnot logged in: run `autocv login --server URL --username NAME` or set AUTOCV_TOKEN"
	}
	return s
}
