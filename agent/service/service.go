package service

import (
	"context"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// DefaultName is the agent's service name, on Windows and in the systemd
// unit.
const DefaultName = "autocv-agent"

// Config connects a Service to the agent.
type Config struct {
	// Name is the Windows service name; default DefaultName.
	Name string
	// Stop is the agent's one shutdown path: it cancels the root context,
	// as the first SIGINT/SIGTERM does. A Windows stop or shutdown request
	// calls it.
	Stop   func()
	Logger *zap.Logger
	// Alive checks, for the systemd watchdog, that the agent still works
	// (e.g. its HTTP API answers). It is only called after Ready; nil
	// means always alive.
	Alive func(ctx context.Context) error
	// Getenv reads the environment; default os.Getenv (tests set it).
	Getenv func(string) string
}

// Service is the agent's side of the service manager, or a no-op when no
// service manager started it. Its methods are safe for concurrent use.
type Service struct {
	cfg    Config
	log    *zap.Logger
	notify *Notifier
	win    *windowsService // nil unless running as a Windows service

	mu     sync.Mutex
	alive  func(ctx context.Context) error
	ready  bool
	closed bool
	stop   chan struct{} // closes the watchdog loop
	wg     sync.WaitGroup
}

// Start connects to the service manager, if any, and starts the watchdog
// loop when systemd asks for one. Call it early: Windows expects a service
// to answer within 30 seconds of starting.
func Start(cfg Config) (*Service, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Stop == nil {
		cfg.Stop = func() {}
	}
	s := &Service{cfg: cfg, log: cfg.Logger, notify: NotifierFromEnv(cfg.Getenv), alive: cfg.Alive, stop: make(chan struct{})}
	win, err := startWindowsService(cfg.Name, cfg.Stop, s.log)
	if err != nil {
		return nil, err
	}
	s.win = win
	if every, ok := WatchdogInterval(cfg.Getenv); ok && s.notify != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.watchdog(every)
		}()
	}
	return s, nil
}

// Managed says whether a service manager runs the agent (systemd with
// Type=notify, or the Windows SCM), i.e. whether it restarts the agent
// when it exits with an error.
func (s *Service) Managed() bool { return s.notify != nil || s.win != nil }

// SetAlive replaces Config.Alive, for a check that needs what the agent
// set up after Start (e.g. its listening address).
func (s *Service) SetAlive(alive func(ctx context.Context) error) {
	s.mu.Lock()
	s.alive = alive
	s.mu.Unlock()
}

// Ready says the agent serves; status is a one-line description.
func (s *Service) Ready(status string) {
	s.mu.Lock()
	s.ready = true
	s.mu.Unlock()
	s.warn(s.notify.Ready(status))
}

// Status updates the description `systemctl status` shows.
func (s *Service) Status(status string) { s.warn(s.notify.Status(status)) }

// Stopping says the agent is shutting down: systemd STOPPING=1, Windows
// "stop pending".
func (s *Service) Stopping() {
	s.warn(s.notify.Stopping())
	s.win.stopping()
}

// KeepAlive sends one WATCHDOG=1 whatever Alive says; for long steps
// after Close, such as trying a new agent binary.
func (s *Service) KeepAlive() { s.warn(s.notify.Watchdog()) }

// Close stops the watchdog loop and, under Windows, reports the service
// stopped with exitCode (0: stopped as asked; else a service-specific
// error, which the SCM's recovery actions may answer with a restart). It
// returns once the SCM has been told.
func (s *Service) Close(exitCode uint32) {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.win.close(exitCode)
}

// watchdog sends WATCHDOG=1 every interval: before Ready while the agent
// starts (systemd's start timeout covers that), then only while Alive
// passes, so that an agent that hangs is restarted by systemd.
func (s *Service) watchdog(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		ready, alive := s.ready, s.alive
		s.mu.Unlock()
		if ready && alive != nil {
			ctx, cancel := context.WithTimeout(context.Background(), every)
			err := alive(ctx)
			cancel()
			if err != nil {
				if !failing {
					s.log.Warn("watchdog: the agent does not answer; systemd restarts it if this lasts past WatchdogSec", zap.Error(err))
				}
				failing = true
				continue
			}
			if failing {
				s.log.Info("watchdog: the agent answers again")
			}
			failing = false
		}
		s.warn(s.notify.Watchdog())
	}
}

func (s *Service) warn(err error) {
	if err != nil {
		s.log.Warn("service manager notification failed", zap.Error(err))
	}
}
