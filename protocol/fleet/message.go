package fleet

import "time"

// Message is one of the fleet message types: *Desired, *Reported, *Event,
// *Telemetry, *TransferRequest or *TransferChunk.
type Message interface {
	// MessageKind is the kind of topic the message travels on.
	MessageKind() Kind
	// Validate checks every field, naming the first bad one in its error.
	// It does not look at Schema, which Encode sets and Decode checks.
	Validate() error
	header() *Header
}

// Header is the part every message has.
type Header struct {
	// Schema is the layout version of the message, SchemaVersion when this
	// code writes it. Encode sets it.
	Schema int `json:"schema"`
	// ID is the message's idempotency key: a receiver acts once per id.
	ID string `json:"id"`
}

func (h *Header) header() *Header { return h }

// Desired is the state the control plane wants a device in. It is
// published retained on devices/<id>/desired and replaced as a whole; a
// part left out (nil) means "no change wanted" for that part.
type Desired struct {
	Header
	Model *ModelTarget `json:"model,omitempty"`
	Agent *AgentTarget `json:"agent,omitempty"`
}

// ModelTarget is the model package a device should serve. At least one of
// TransferID (chunked over MQTT) and URL (HTTP range download) is set.
type ModelTarget struct {
	ID         string `json:"id"`
	Version    int    `json:"version"`
	SHA256     string `json:"sha256"` // of the package tar.gz, lowercase hex
	Size       int64  `json:"size"`   // of the package in bytes
	TransferID string `json:"transfer_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

// AgentTarget is the agent binary a device should run, built for the
// os/arch the device reported. At least one of TransferID and URL is set.
type AgentTarget struct {
	Version    string `json:"version"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	TransferID string `json:"transfer_id,omitempty"`
	URL        string `json:"url,omitempty"`
	// Signature is the control plane's ed25519 signature of the binary,
	// standard base64 (see SignBinary). Optional on the wire, so older
	// messages stay valid; agents at ProtocolVersion 2 refuse to install
	// a binary without one.
	Signature string `json:"signature,omitempty"`
}

// Reported is what an agent says about itself, published retained on
// devices/<id>/reported whenever it changes. The agent also registers a
// Reported with State StateOffline as its MQTT last will.
type Reported struct {
	Header
	// Protocol is the ProtocolVersion the agent speaks.
	Protocol     int    `json:"protocol"`
	AgentVersion string `json:"agent_version"`
	OS           string `json:"os"`   // GOOS, e.g. "linux", "windows"
	Arch         string `json:"arch"` // GOARCH, e.g. "amd64", "arm64"
	// Model is the model being served, nil when none is.
	Model *ModelRef `json:"model,omitempty"`
	// PreviousModel is the model kept on disk for rollback, nil when none is.
	PreviousModel *ModelRef `json:"previous_model,omitempty"`
	// Plugin is the inference plugin in use, e.g. "onnx-cpu", "onnx-cuda".
	Plugin string `json:"plugin,omitempty"`
	// ExecutionProvider is what the plugin actually runs on, e.g. "cpu",
	// "cuda" (a cuda plugin may have fallen back to cpu).
	ExecutionProvider string `json:"execution_provider,omitempty"`
	State             State  `json:"state"`
	LastError         string `json:"last_error,omitempty"`
	// AppliedDesiredID is the id of the last Desired fully applied.
	AppliedDesiredID string `json:"applied_desired_id,omitempty"`
	// Time is the agent's clock when it wrote this; receivers order by
	// their own clock, not by this.
	Time time.Time `json:"time,omitzero"`

	// The device's capability, so the control plane can pick a package
	// and plugin kind for it. All optional: agents before 2026-12 leave
	// them out.

	// Plugins are the inference plugin names this device can run, e.g.
	// ["onnx-cpu"] or ["onnx-cpu", "onnx-cuda"].
	Plugins []string `json:"plugins,omitempty"`
	// ExecutionProviders are the providers the device's onnxruntime
	// library carries, e.g. ["cpu", "cuda"]; a listed "cuda" does not
	// prove a GPU works (GPU does).
	ExecutionProviders []string `json:"execution_providers,omitempty"`
	// CPUs is the number of logical CPUs; 0 when not reported.
	CPUs int `json:"cpus,omitempty"`
	// GPU is true when a CUDA session actually works: the model being
	// served runs on cuda.
	GPU bool `json:"gpu,omitempty"`
}

// ModelRef names one model package.
type ModelRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	SHA256  string `json:"sha256"`
}

// State is an agent's state. Values are only appended (see ProtocolVersion).
type State string

// Agent states.
const (
	StateIdle        State = "idle"        // no model to serve
	StateDownloading State = "downloading" // fetching a package or binary
	StateVerifying   State = "verifying"   // checking sha256s and signature
	StateStarting    State = "starting"    // new plugin process warming up and self-testing
	StateSwapping    State = "swapping"    // switching traffic to the new plugin
	StateServing     State = "serving"     // serving Model
	StateRollingBack State = "rolling_back"
	StateFailed      State = "failed"  // see LastError
	StateOffline     State = "offline" // the last will; never sent by a live agent
)

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case StateIdle, StateDownloading, StateVerifying, StateStarting, StateSwapping,
		StateServing, StateRollingBack, StateFailed, StateOffline:
		return true
	}
	return false
}

// Event is a one-off report from an agent on devices/<id>/events, mostly
// about applying a Desired: acknowledged, progressing, applied, failed,
// rolled back.
type Event struct {
	Header
	Kind EventKind `json:"kind"`
	// Ref is the id of the Desired (or other command) the event answers;
	// required for ack, progress and applied.
	Ref string `json:"ref,omitempty"`
	// Stage is what the agent is doing, usually a State value.
	Stage   string    `json:"stage,omitempty"`
	Percent float64   `json:"percent,omitempty"` // 0..100, for progress
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

// EventKind says what an Event reports. Values are only appended.
type EventKind string

// Event kinds.
const (
	EventAck        EventKind = "ack"         // Ref received, work starts
	EventProgress   EventKind = "progress"    // Stage and Percent of the work on Ref
	EventApplied    EventKind = "applied"     // Ref fully applied
	EventError      EventKind = "error"       // something failed; Ref set if it was about a command
	EventRolledBack EventKind = "rolled_back" // Ref failed its health check and the previous version is back
)

// Valid reports whether k is a known event kind.
func (k EventKind) Valid() bool {
	switch k {
	case EventAck, EventProgress, EventApplied, EventError, EventRolledBack:
		return true
	}
	return false
}

// Telemetry is a periodic health sample from an agent on
// devices/<id>/telemetry. Counters count since the agent started.
type Telemetry struct {
	Header
	UptimeSeconds int64   `json:"uptime_s"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	// CPU is the fraction of the whole machine's CPU that the agent and its
	// plugins used over the last interval, in [0, 1].
	CPU float64 `json:"cpu"`
	// MemBytes is the resident memory of the agent and its plugins.
	MemBytes int64     `json:"mem_bytes"`
	Time     time.Time `json:"time,omitzero"`
}

// TransferRequest asks for Window chunks of a transfer starting at
// FromChunk, on devices/<id>/transfer/request. The agent asks for the next
// window once it has stored the previous one, and asks again from the first
// missing chunk after a timeout or a reconnect.
type TransferRequest struct {
	Header
	TransferID string `json:"transfer_id"`
	FromChunk  int    `json:"from_chunk"`
	Window     int    `json:"window"` // 1..MaxWindow
}

// TransferChunk is one piece of a transfer on devices/<id>/transfer/chunks.
// Chunk i holds bytes [i*chunkSize, (i+1)*chunkSize) of the file; the file's
// own sha256 and size come from the Desired that named the transfer.
type TransferChunk struct {
	Header
	TransferID string `json:"transfer_id"`
	Index      int    `json:"index"`
	Total      int    `json:"total"`
	SHA256     string `json:"sha256"` // of Data, lowercase hex
	Data       []byte `json:"data"`   // base64 in JSON
}

// MessageKind implements Message.
func (*Desired) MessageKind() Kind         { return KindDesired }
func (*Reported) MessageKind() Kind        { return KindReported }
func (*Event) MessageKind() Kind           { return KindEvents }
func (*Telemetry) MessageKind() Kind       { return KindTelemetry }
func (*TransferRequest) MessageKind() Kind { return KindTransferRequest }
func (*TransferChunk) MessageKind() Kind   { return KindTransferChunks }
