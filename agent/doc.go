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
//	httpapi           the HTTP API and the /upload page: max_concurrent
//	                  predict/upload requests at once, max_queue more
//	                  waiting, 429 busy beyond; request_timeout; optional
//	                  API key; the package's thresholds (above_threshold)
//	selfupdate        replace the agent's own binary with a signed one,
//	                  try it, keep it only if it comes up healthy
//	service           systemd notify/watchdog and the Windows service,
//	                  feeding the same shutdown path as signals
//
// The agent builds with CGO_ENABLED=0 and runs inference only through
// plugin processes (plugins/host). The end-to-end tests in this folder
// build the real agent and plugin binaries and talk to them over loopback.
package agent
