package service

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/windows/svc"
)

// windowsService runs the SCM's control handler (svc.Run) while the agent
// serves. A stop or shutdown request calls stop, the agent's shutdown
// path; the SCM hears "stopped" only when close is called, after the
// agent has drained its requests and stopped its plugins.
type windowsService struct {
	log      *zap.Logger
	stop     func()
	pending  chan struct{} // closed by stopping
	exitCode chan uint32   // close's code for Execute
	done     chan struct{} // svc.Run returned
	once     sync.Once
}

// startWindowsService starts the SCM dispatcher when the process was
// started as a Windows service, else returns nil.
func startWindowsService(name string, stop func(), log *zap.Logger) (*windowsService, error) {
	is, err := svc.IsWindowsService()
	if err != nil {
		return nil, fmt.Errorf("checking whether the agent runs as a Windows service: %w", err)
	}
	if !is {
		return nil, nil
	}
	w := &windowsService{log: log, stop: stop, pending: make(chan struct{}),
		exitCode: make(chan uint32, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if err := svc.Run(name, w); err != nil {
			log.Error("the Windows service dispatcher failed", zap.String("service", name), zap.Error(err))
			stop()
		}
	}()
	return w, nil
}

// Execute implements svc.Handler.
func (w *windowsService) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.StartPending}
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	pending := w.pending
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				w.log.Info("Windows service stop requested; draining requests and stopping plugins")
				status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
				w.stop()
			}
		case <-pending:
			pending = nil // report once
			status <- svc.Status{State: svc.StopPending, WaitHint: 30000}
		case code := <-w.exitCode:
			status <- svc.Status{State: svc.StopPending}
			return code != 0, code
		}
	}
}

func (w *windowsService) stopping() {
	if w == nil {
		return
	}
	w.once.Do(func() { close(w.pending) })
}

// close reports the service stopped and waits (a few seconds at most) for
// the dispatcher to hand that to the SCM.
func (w *windowsService) close(code uint32) {
	if w == nil {
		return
	}
	select {
	case w.exitCode <- code:
	default:
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}
