// Package agent is the AutoCV device agent: the daemon on each device that
// serves a model on the local HTTP API (:8987) through an inference plugin
// process.
//
// Layout:
//
//	cmd/autocv-agent  the binary: `serve` (standalone mode) and `version`;
//	                  signal handling and process wiring live here
//	config            serve settings from flags, AUTOCV_* variables and a
//	                  strictly decoded YAML file; the trusted signing key
//	runner            the plugin supervisor: start, load, restart with
//	                  back-off when the process dies or fails its health
//	                  checks, hot swap with drain
//	httpapi           the HTTP API and the /upload page; at most
//	                  max_concurrent predict/upload requests at once,
//	                  503 busy beyond
//
// The agent builds with CGO_ENABLED=0 and runs inference only through
// plugin processes (plugins/host). The end-to-end tests in this folder
// build the real agent and plugin binaries and talk to them over loopback.
package agent
