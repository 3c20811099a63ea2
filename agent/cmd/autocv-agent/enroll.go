package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/autocv/autocv/agent/enroll"
	"github.com/autocv/autocv/agent/state"
	"github.com/autocv/autocv/internal/buildinfo"
)

// enrollCmd runs `autocv-agent enroll`: trade a one-time token for the
// device's identity and store it in the state directory.
func enrollCmd(args []string) error {
	fs := flag.NewFlagSet("autocv-agent enroll", flag.ContinueOnError)
	server := fs.String("server", os.Getenv("AUTOCV_SERVER"), "control plane `URL`, e.g. https://cp.example (env AUTOCV_SERVER)")
	token := fs.String("token", "", "one-time enrolment `TOKEN` from the console (env AUTOCV_ENROLL_TOKEN, which keeps it out of the process list)")
	name := fs.String("name", "", "device `NAME` shown in the console (default: the host name)")
	dir := fs.String("state-dir", envOr("AUTOCV_STATE_DIR", state.DefaultDir()), "state `DIR` for the identity, key and packages (env AUTOCV_STATE_DIR)")
	force := fs.Bool("force", false, "enrol again even if this device is enrolled (replaces its identity)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: autocv-agent enroll --server URL --token TOKEN [--state-dir DIR] [--name NAME] [--force]")
		fmt.Fprintln(fs.Output(), "Enrols this device with the control plane; then start it with autocv-agent run.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("enroll: unexpected argument %q (settings are flags)", fs.Arg(0))
	}
	if *token == "" {
		*token = os.Getenv("AUTOCV_ENROLL_TOKEN")
	}
	if *server == "" || *token == "" {
		fs.Usage()
		return errors.New("enroll: --server and --token are required")
	}
	sd, err := state.Open(*dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := enroll.Enroll(ctx, enroll.Options{
		Server: *server, Token: *token, Name: *name, AgentVersion: agentVersion(), State: sd, Force: *force,
	})
	if err != nil {
		return err
	}
	fmt.Printf("enrolled as device %s; broker %s; state in %s\nstart the agent with: autocv-agent run --state-dir %s\n",
		resp.DeviceID, resp.MQTT.URL, sd.Path, sd.Path)
	return nil
}

// agentVersion is the version the agent reports; a version string valid
// in the fleet protocol.
func agentVersion() string {
	v := buildinfo.String()
	if v == "" {
		return "dev"
	}
	return v
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
