// Package rig is the shared rig of the control plane's bench and soak
// programs (controlplane/internal/bench and controlplane/internal/soak):
// building and running a real autocv-server, a REST client for it, the
// zips they upload and the latency statistics they print.
package rig
