// Package selfupdate replaces the agent's own binary with a signed new
// one, tries it, and keeps it only if it comes up healthy.
//
// # Who signs what
//
// A new agent binary comes with its sha256 (lowercase hex) and an ed25519
// signature by the key the agent trusts (the control plane's, given at
// enrolment). The format is the protocol's, so the control plane signs
// with the same code: fleet.SignBinary signs, fleet.VerifyBinary checks
// (the message is "autocv-agent-binary-v1\n" + the sha256 hex, never the
// binary itself nor anything a model manifest could be).
//
// # How an update goes
//
//  1. Apply (in the running agent) reads the new binary, checks its sha256
//     and signature, writes it beside the running one, runs
//     `NEW version` as a smoke test (a binary for another platform, or one
//     that cannot start, is refused here), then swaps it in with
//     minio/selfupdate, keeping the old binary beside it as <exe>.old. On
//     any error the running binary is unchanged and keeps serving (when
//     even minio/selfupdate's own rollback failed, the error says which
//     file to move back by hand).
//  2. The caller then stops serving through its one shutdown path (drain
//     requests, stop plugins, release the port) and calls
//     Pending.Restart.
//  3. Restart runs the new binary with the agent's own arguments as a
//     trial child. The child calls MarkReady once it is healthy (model
//     loaded and self-tested); Restart waits up to the health timeout for
//     that. If the child exits, hangs or stays unhealthy, it is stopped,
//     the old binary is copied back from <exe>.old, and the old agent is
//     restarted. Either way the outcome is written to <exe>.update.json
//     (ReadOutcome) for the restarted agent to report.
//  4. The restart: on Linux and other Unix systems the process re-execs
//     itself (same pid, same arguments), so systemd, a container runtime
//     or a terminal keep the same process. On Windows a process cannot
//     re-exec: under the Service Control Manager, Restart returns
//     ErrServiceRestart and the agent exits with a service-specific error
//     so that the service's recovery action ("restart the service",
//     which the installer sets) starts the (new or restored) binary; run
//     from a console, Restart starts it as a child and exits with its
//     status.
//
// The trial costs one extra start of the new binary (the plugin starts and
// the model loads twice), in exchange for an old binary that is only ever
// replaced by one that has served.
package selfupdate
