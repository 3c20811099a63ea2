package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/server"
	"github.com/autocv/autocv/controlplane/store"
)

// bootstrapAdmin creates user admin on an empty database, with the
// password from AUTOCV_ADMIN_PASSWORD or a generated one printed once.
func bootstrapAdmin(ctx context.Context, st store.Store, password string) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		password = randomString(18)
	}
	h, err := server.HashPassword(password)
	if err != nil {
		return fmt.Errorf("AUTOCV_ADMIN_PASSWORD: %w", err)
	}
	if err := st.CreateUser(ctx, &store.User{Username: "admin", PasswordHash: h, Admin: true}); err != nil {
		if errors.Is(err, store.ErrConflict) { // another replica made it first
			return nil
		}
		return err
	}
	if generated {
		fmt.Fprintf(os.Stderr, "\n*** first start: created user \"admin\" with password %s\n*** it is shown only now; set AUTOCV_ADMIN_PASSWORD to choose it yourself\n\n", password)
	}
	return nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:n]
}

// localTrainers are autocv-trainer worker child processes: restarted when
// they die, stopped with the server. On Linux they also get SIGTERM if the
// server is killed (Pdeathsig), so none outlives it.
type localTrainers struct {
	st     store.Store
	log    *zap.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	cmds   map[string]*exec.Cmd
}

const localTrainerTokenName = "local trainers"

func startTrainers(ctx context.Context, cfg config, st store.Store, serverURL, dataDir string, log *zap.Logger) (*localTrainers, error) {
	lt := &localTrainers{st: st, log: log, cmds: map[string]*exec.Cmd{}}
	lt.cancel = func() {}
	if cfg.Trainers == 0 {
		return lt, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(filepath.Dir(exe), "autocv-trainer")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("--trainers %d: %s not found beside the server (build it with make build, or start with --trainers 0 and run workers yourself)", cfg.Trainers, bin)
	}
	admin, err := st.UserByName(ctx, "admin")
	if err != nil {
		return nil, fmt.Errorf("local trainers need user admin: %w", err)
	}
	// A fresh token per start; the previous start's is revoked.
	old, err := st.Tokens(ctx, admin.ID, store.TokenTrainer)
	if err != nil {
		return nil, err
	}
	for _, t := range old {
		if t.Name == localTrainerTokenName+" "+cfg.ReplicaID {
			_ = st.DeleteToken(ctx, admin.ID, t.ID)
		}
	}
	secret, hash := server.NewTrainerToken()
	if err := st.CreateToken(ctx, &store.Token{Kind: store.TokenTrainer, UserID: admin.ID,
		Name: localTrainerTokenName + " " + cfg.ReplicaID, Hash: hash}); err != nil {
		return nil, err
	}
	cacheDir := cfg.TrainerCacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(dataDir, "cache", "features")
	}
	cctx, cancel := context.WithCancel(context.Background())
	lt.cancel = cancel
	for i := range cfg.Trainers {
		id := fmt.Sprintf("%s-local-%d", cfg.ReplicaID, i+1)
		args := []string{"worker", "--server", serverURL, "--worker-id", id, "--device", cfg.TrainerDevice,
			"--cache-dir", cacheDir, "--work-dir", filepath.Join(dataDir, "work")}
		lt.wg.Add(1)
		go lt.supervise(cctx, id, bin, args, secret)
	}
	_ = os.MkdirAll(filepath.Join(dataDir, "work"), 0o700)
	return lt, nil
}

func (lt *localTrainers) supervise(ctx context.Context, id, bin string, args []string, token string) {
	defer lt.wg.Done()
	delay := time.Second
	for ctx.Err() == nil {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "AUTOCV_TOKEN="+token)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		setParentDeath(cmd)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			lt.log.Error("starting a trainer", zap.String("worker", id), zap.Error(err))
		} else {
			lt.mu.Lock()
			lt.cmds[id] = cmd
			lt.mu.Unlock()
			lt.log.Info("trainer started", zap.String("worker", id), zap.Int("pid", cmd.Process.Pid))
			err := cmd.Wait()
			lt.mu.Lock()
			delete(lt.cmds, id)
			lt.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			lt.log.Warn("trainer exited; restarting", zap.String("worker", id), zap.Error(err))
			if time.Since(start) > time.Minute {
				delay = time.Second
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
	}
}

// stop asks every trainer to stop (SIGTERM; the worker abandons its job),
// kills those still running after d, and puts their jobs back in the queue
// at once, without counting an attempt.
func (lt *localTrainers) stop(d time.Duration) {
	lt.cancel()
	lt.mu.Lock()
	ids := make([]string, 0, len(lt.cmds))
	for id, cmd := range lt.cmds {
		ids = append(ids, id)
		_ = terminate(cmd)
	}
	lt.mu.Unlock()
	done := make(chan struct{})
	go func() { lt.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		lt.mu.Lock()
		for _, cmd := range lt.cmds {
			_ = cmd.Process.Kill()
		}
		lt.mu.Unlock()
		<-done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := lt.st.ReleaseWorker(ctx, id); err != nil {
			lt.log.Warn("re-queueing a stopped trainer's job", zap.String("worker", id), zap.Error(err))
		}
	}
}
