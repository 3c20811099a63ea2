package server

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/bus"
	"github.com/autocv/autocv/internal/atomicfile"
)

// With an external Mosquitto, devices log in with credentials the broker
// must know. The server keeps Mosquitto's password_file: each device's
// line (a salted hash made at enrolment and kept in the database) and the
// control plane's own user, rewritten from the database after every
// enrolment or removal and at start, then Mosquitto is told to reread it
// with SIGHUP (its pid from the pid_file). Lines of other users (other
// replicas, operators) are kept, so replicas may share the file; each
// rewrite is complete and atomic. Managed device ids start with "dev_".

// SyncBrokerPasswords rewrites the password file and signals Mosquitto;
// a no-op without Options.MosquittoPasswordFile.
func (s *Server) SyncBrokerPasswords(ctx context.Context) error {
	if s.opt.MosquittoPasswordFile == "" {
		return nil
	}
	s.brokerMu.Lock()
	defer s.brokerMu.Unlock()
	if s.brokerLine == "" {
		line, err := bus.MosquittoPasswordLine(s.opt.BrokerUsername, s.opt.BrokerPassword)
		if err != nil {
			return fmt.Errorf("control plane broker user: %w", err)
		}
		s.brokerLine = line
	}
	devs, err := s.st.Devices(ctx, "")
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(s.brokerLine + "\n")
	// Keep the other users' lines (other replicas, operators' tools);
	// device lines ("dev_…" users) all come from the database, so a
	// removed device loses its login.
	if old, err := os.ReadFile(s.opt.MosquittoPasswordFile); err == nil {
		for _, line := range strings.Split(string(old), "\n") {
			user, _, ok := strings.Cut(line, ":")
			if ok && user != s.opt.BrokerUsername && !strings.HasPrefix(user, "dev_") {
				b.WriteString(line + "\n")
			}
		}
	}
	for _, d := range devs {
		if d.BrokerCredential != "" {
			b.WriteString(d.BrokerCredential + "\n")
		}
	}
	if err := atomicfile.Write(s.opt.MosquittoPasswordFile, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.opt.MosquittoPasswordFile, err)
	}
	if s.opt.MosquittoPIDFile == "" {
		return nil
	}
	raw, err := os.ReadFile(s.opt.MosquittoPIDFile)
	if err != nil {
		return fmt.Errorf("mosquitto pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("mosquitto pid file %s does not hold a pid", s.opt.MosquittoPIDFile)
	}
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Signal(syscall.SIGHUP)
	}
	if err != nil {
		return fmt.Errorf("telling mosquitto (pid %d) to reread its password file: %w", pid, err)
	}
	s.log.Info("broker password file updated", zap.String("path", s.opt.MosquittoPasswordFile), zap.Int("devices", len(devs)))
	return nil
}
