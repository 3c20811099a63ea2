//go:build autocv_testhooks && unix

package main

// This file is only in agents built with -tags autocv_testhooks, for the
// self-update end-to-end tests (agent/selfupdate_e2e_test.go): it lets a
// test trigger in serve mode the update that the desired agent version
// triggers in run mode. On SIGUSR1 the agent reads the request in the
// JSON file named by AUTOCV_TEST_UPDATE_REQUEST, applies it through the
// same selfUpdater, and writes the outcome of Apply to that file +
// ".result".

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/modelpkg"
)

// testUpdateRequest is the request file's content.
type testUpdateRequest struct {
	Binary        string `json:"binary"`
	SHA256        string `json:"sha256"`
	Signature     []byte `json:"signature"` // base64 in JSON
	TrustKey      string `json:"trust_key"` // PEM file
	HealthTimeout string `json:"health_timeout"`
}

func init() { serveHooks = append(serveHooks, updateOnSignal) }

func updateOnSignal(ctx context.Context, log *zap.Logger, upd *selfUpdater) {
	path := os.Getenv("AUTOCV_TEST_UPDATE_REQUEST")
	if path == "" {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
			err := applyTestUpdate(ctx, path, upd)
			result := "ok"
			if err != nil {
				result = err.Error()
			}
			log.Info("test update hook", zap.String("result", result))
			_ = os.WriteFile(path+".result", []byte(result), 0o644)
		}
	}()
}

func applyTestUpdate(ctx context.Context, path string, upd *selfUpdater) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var req testUpdateRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return err
	}
	key, err := modelpkg.ReadPublicKey(req.TrustKey)
	if err != nil {
		return err
	}
	if req.HealthTimeout != "" {
		d, err := time.ParseDuration(req.HealthTimeout)
		if err != nil {
			return err
		}
		upd.mu.Lock()
		upd.healthTimeout = d
		upd.mu.Unlock()
	}
	return upd.Apply(ctx, req.Binary, req.SHA256, req.Signature, key)
}
