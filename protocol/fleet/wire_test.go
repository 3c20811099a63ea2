package fleet

import "time"

// The wire cases: one Go value and its exact JSON, shared by the encode
// test (value → bytes), the decode test (bytes → value) and the fuzz seeds.
// A decodeOnly case holds JSON that Encode would not write (extra fields,
// other field order, spacing) but that must still decode to the value.

const (
	sumHello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // sha256("hello")
	sumPkg   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	sumAgent = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	// sigAgent is 64 bytes of base64, shaped like an ed25519 signature.
	sigAgent = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
)

var t0 = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

type wireCase struct {
	name       string
	kind       Kind
	msg        Message
	json       string
	decodeOnly bool
}

var wireCases = []wireCase{
	{
		name: "desired model and agent",
		kind: KindDesired,
		msg: &Desired{
			Header: Header{Schema: 1, ID: "d-0001"},
			Model:  &ModelTarget{ID: "m-ants", Version: 3, SHA256: sumPkg, Size: 1234567, TransferID: "t-17", URL: "https://cp.example/api/v1/models/m-ants/versions/3/package"},
			Agent:  &AgentTarget{Version: "1.4.0+linux.abc", SHA256: sumAgent, Size: 20 << 20, TransferID: "t-18"},
		},
		json: `{"schema":1,"id":"d-0001","model":{"id":"m-ants","version":3,"sha256":"` + sumPkg + `","size":1234567,"transfer_id":"t-17","url":"https://cp.example/api/v1/models/m-ants/versions/3/package"},"agent":{"version":"1.4.0+linux.abc","sha256":"` + sumAgent + `","size":20971520,"transfer_id":"t-18"}}`,
	},
	{
		name: "desired signed agent, url only",
		kind: KindDesired,
		msg:  &Desired{Header: Header{Schema: 1, ID: "d-4"}, Agent: &AgentTarget{Version: "1.5.0", SHA256: sumAgent, Size: 7, URL: "https://cp.example/agent", Signature: sigAgent}},
		json: `{"schema":1,"id":"d-4","agent":{"version":"1.5.0","sha256":"` + sumAgent + `","size":7,"url":"https://cp.example/agent","signature":"` + sigAgent + `"}}`,
	},
	{
		name: "desired model only, url only",
		kind: KindDesired,
		msg:  &Desired{Header: Header{Schema: 1, ID: "d-2"}, Model: &ModelTarget{ID: "m1", Version: 1, SHA256: sumPkg, Size: 10, URL: "http://10.0.0.1:8080/p?a=b&c=d"}},
		json: `{"schema":1,"id":"d-2","model":{"id":"m1","version":1,"sha256":"` + sumPkg + `","size":10,"url":"http://10.0.0.1:8080/p?a=b&c=d"}}`,
	},
	{
		name: "desired nothing",
		kind: KindDesired,
		msg:  &Desired{Header: Header{Schema: 1, ID: "d-3"}},
		json: `{"schema":1,"id":"d-3"}`,
	},
	{
		name:       "desired with unknown fields",
		kind:       KindDesired,
		msg:        &Desired{Header: Header{Schema: 1, ID: "d-3"}, Model: &ModelTarget{ID: "m1", Version: 1, SHA256: sumPkg, Size: 10, TransferID: "t"}},
		json:       `{ "future": {"x": [1, 2]}, "id": "d-3", "schema": 1, "model": {"id":"m1","version":1,"sha256":"` + sumPkg + `","size":10,"transfer_id":"t","signature":"abc"}, "rollout": "r1" }`,
		decodeOnly: true,
	},
	{
		name: "reported serving",
		kind: KindReported,
		msg: &Reported{
			Header: Header{Schema: 1, ID: "r-42"}, Protocol: 1, AgentVersion: "v1.4.0", OS: "windows", Arch: "amd64",
			Model:         &ModelRef{ID: "m-ants", Version: 3, SHA256: sumPkg},
			PreviousModel: &ModelRef{ID: "m-ants", Version: 2, SHA256: sumAgent},
			Plugin:        "onnx-cuda", ExecutionProvider: "cpu", State: StateServing,
			LastError:        "cuda: no device <0>, fell back to cpu & kept serving",
			AppliedDesiredID: "d-0001", Time: t0,
		},
		json: `{"schema":1,"id":"r-42","protocol":1,"agent_version":"v1.4.0","os":"windows","arch":"amd64","model":{"id":"m-ants","version":3,"sha256":"` + sumPkg + `"},"previous_model":{"id":"m-ants","version":2,"sha256":"` + sumAgent + `"},"plugin":"onnx-cuda","execution_provider":"cpu","state":"serving","last_error":"cuda: no device <0>, fell back to cpu & kept serving","applied_desired_id":"d-0001","time":"2026-11-25T10:30:00Z"}`,
	},
	{
		name: "reported capability, gpu working",
		kind: KindReported,
		msg: &Reported{
			Header: Header{Schema: 1, ID: "r-43"}, Protocol: 2, AgentVersion: "1.5.0", OS: "linux", Arch: "amd64",
			Model:  &ModelRef{ID: "m-ants", Version: 3, SHA256: sumPkg},
			Plugin: "onnx-cuda", ExecutionProvider: "cuda", State: StateServing,
			Plugins: []string{"onnx-cpu", "onnx-cuda"}, ExecutionProviders: []string{"cpu", "cuda"}, CPUs: 16, GPU: true,
		},
		json: `{"schema":1,"id":"r-43","protocol":2,"agent_version":"1.5.0","os":"linux","arch":"amd64","model":{"id":"m-ants","version":3,"sha256":"` + sumPkg + `"},"plugin":"onnx-cuda","execution_provider":"cuda","state":"serving","plugins":["onnx-cpu","onnx-cuda"],"execution_providers":["cpu","cuda"],"cpus":16,"gpu":true}`,
	},
	{
		name: "reported capability, cpu only",
		kind: KindReported,
		msg: &Reported{
			Header: Header{Schema: 1, ID: "r-44"}, Protocol: 2, AgentVersion: "1.5.0", OS: "windows", Arch: "arm64",
			Plugin: "onnx-cpu", State: StateIdle, Plugins: []string{"onnx-cpu"}, ExecutionProviders: []string{"cpu"}, CPUs: 4,
		},
		json: `{"schema":1,"id":"r-44","protocol":2,"agent_version":"1.5.0","os":"windows","arch":"arm64","plugin":"onnx-cpu","state":"idle","plugins":["onnx-cpu"],"execution_providers":["cpu"],"cpus":4}`,
	},
	{
		name: "reported offline last will",
		kind: KindReported,
		msg:  &Reported{Header: Header{Schema: 1, ID: "will-1"}, Protocol: 1, AgentVersion: "0.1.0", OS: "linux", Arch: "arm64", State: StateOffline},
		json: `{"schema":1,"id":"will-1","protocol":1,"agent_version":"0.1.0","os":"linux","arch":"arm64","state":"offline"}`,
	},
	{
		name:       "reported from a newer agent",
		kind:       KindReported,
		msg:        &Reported{Header: Header{Schema: 1, ID: "r-1"}, Protocol: 7, AgentVersion: "9.0.0", OS: "linux", Arch: "amd64", State: StateIdle},
		json:       `{"schema":1,"id":"r-1","protocol":7,"agent_version":"9.0.0","os":"linux","arch":"amd64","state":"idle","accelerators":[{"name":"H100"}],"labels":["a"]}`,
		decodeOnly: true,
	},
	{
		name: "event progress",
		kind: KindEvents,
		msg:  &Event{Header: Header{Schema: 1, ID: "e-9"}, Kind: EventProgress, Ref: "d-0001", Stage: "downloading", Percent: 42.5, Message: "chunk 17 of 40 — 下载中", Time: t0},
		json: `{"schema":1,"id":"e-9","kind":"progress","ref":"d-0001","stage":"downloading","percent":42.5,"message":"chunk 17 of 40 — 下载中","time":"2026-11-25T10:30:00Z"}`,
	},
	{
		name: "event error without ref",
		kind: KindEvents,
		msg:  &Event{Header: Header{Schema: 1, ID: "e-10"}, Kind: EventError, Message: "plugin exited: signal 11"},
		json: `{"schema":1,"id":"e-10","kind":"error","message":"plugin exited: signal 11"}`,
	},
	{
		name: "event rolled back",
		kind: KindEvents,
		msg:  &Event{Header: Header{Schema: 1, ID: "e-11"}, Kind: EventRolledBack, Ref: "d-0001", Stage: "starting", Percent: 100},
		json: `{"schema":1,"id":"e-11","kind":"rolled_back","ref":"d-0001","stage":"starting","percent":100}`,
	},
	{
		name: "telemetry",
		kind: KindTelemetry,
		msg:  &Telemetry{Header: Header{Schema: 1, ID: "tm-5"}, UptimeSeconds: 86400, Requests: 10000, Errors: 3, LatencyP50Ms: 12.25, LatencyP99Ms: 80, CPU: 0.375, MemBytes: 512 << 20, Time: t0},
		json: `{"schema":1,"id":"tm-5","uptime_s":86400,"requests":10000,"errors":3,"latency_p50_ms":12.25,"latency_p99_ms":80,"cpu":0.375,"mem_bytes":536870912,"time":"2026-11-25T10:30:00Z"}`,
	},
	{
		name: "telemetry zero",
		kind: KindTelemetry,
		msg:  &Telemetry{Header: Header{Schema: 1, ID: "tm-0"}},
		json: `{"schema":1,"id":"tm-0","uptime_s":0,"requests":0,"errors":0,"latency_p50_ms":0,"latency_p99_ms":0,"cpu":0,"mem_bytes":0}`,
	},
	{
		name: "transfer request",
		kind: KindTransferRequest,
		msg:  &TransferRequest{Header: Header{Schema: 1, ID: "q-1"}, TransferID: "t-17", FromChunk: 16, Window: 8},
		json: `{"schema":1,"id":"q-1","transfer_id":"t-17","from_chunk":16,"window":8}`,
	},
	{
		name:       "transfer request with a future resume field",
		kind:       KindTransferRequest,
		msg:        &TransferRequest{Header: Header{Schema: 1, ID: "q-2"}, TransferID: "t-17", Window: 64},
		json:       `{"schema":1,"id":"q-2","transfer_id":"t-17","from_chunk":0,"window":64,"have":[0,1,2]}`,
		decodeOnly: true,
	},
	{
		name: "transfer chunk",
		kind: KindTransferChunks,
		msg:  &TransferChunk{Header: Header{Schema: 1, ID: "t-17.39"}, TransferID: "t-17", Index: 39, Total: 40, SHA256: sumHello, Data: []byte("hello")},
		json: `{"schema":1,"id":"t-17.39","transfer_id":"t-17","index":39,"total":40,"sha256":"` + sumHello + `","data":"aGVsbG8="}`,
	},
}
