// Package agent is the AutoCV device agent: the daemon on each device that
// serves a model on the local HTTP API (:8987) through an inference plugin
// process, standalone (`serve`, one package) or managed by the control
// plane over MQTT (`run`, after `enroll`).
//
// Layout, roughly in the order a managed agent uses them:
//
//	cmd/autocv-agent  the binary: `enroll`, `run`, `serve`, `version`;
//	                  flags, signal handling and process wiring live here
//	enroll            trade a one-time token for the device's identity, MQTT
//	                  credentials and the control plane's signing key
//	state             the state directory: identity, trusted key (0600
//	                  files), the deployment record (current, previous model,
//	                  desired states handled)
//	store             content-addressed store of downloaded packages and
//	                  agent binaries: temp file + fsync + rename, resumable
//	                  partials, size and sha256 checked, disk-full refusal
//	session           the persistent MQTT session (QoS 1, clean session off,
//	                  back-off reconnect, retained last will)
//	transfer          download into the store: chunked over MQTT, or HTTP
//	                  range download when a URL is given; both resume
//	reconcile         the run-mode control loop: take desired states, fetch,
//	                  verify, start and swap models (rolling back on failed
//	                  self-test or health), update the agent binary, publish
//	                  reported state, events and telemetry
//	selfupdate        replace the agent's own binary with a signed one
//	                  (protocol/fleet's binary signature), try it, keep it
//	                  only if it comes up healthy, else restore the old one
//	service           systemd notify/watchdog and the Windows service,
//	                  feeding the same shutdown path as signals
//	httpapi           the HTTP API and the /upload page: max_concurrent
//	                  predict/upload requests at once, max_queue more
//	                  waiting, 429 busy beyond; request_timeout; optional
//	                  API key; the package's thresholds (above_threshold)
//	runner            the plugin supervisor: start, load, restart with
//	                  back-off when the process dies or fails its health
//	                  checks, hot swap with drain
//	config            serve settings from flags, AUTOCV_* variables and a
//	                  strictly decoded YAML file; the trusted signing key
//	internal/bench    `make bench`'s agent tables
//
// The agent builds with CGO_ENABLED=0 and runs inference only through
// plugin processes (plugins/host). The end-to-end tests in this folder
// build the real agent and plugin binaries and talk to them over loopback.
package agent
