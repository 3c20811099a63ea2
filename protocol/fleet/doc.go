// Package fleet is the MQTT contract between the control plane and the
// agents on devices: topic names, message types, their JSON encoding and
// their validation. It holds no connections and no loops; the control plane
// (controlplane/) and the agent (agent/) both import it, and the embedded
// broker's auth hook uses it to decide which topics a device may touch.
//
// Who talks to whom, all under the topic root "autocv/v1/" with QoS 1 and
// persistent sessions:
//
//	topic                               direction              retained  type
//	devices/<id>/desired                control plane → agent  yes       Desired
//	devices/<id>/reported               agent → control plane  yes       Reported (also the last will, State "offline")
//	devices/<id>/events                 agent → control plane  no        Event
//	devices/<id>/telemetry              agent → control plane  no        Telemetry
//	devices/<id>/transfer/request       agent → control plane  no        TransferRequest
//	devices/<id>/transfer/chunks        control plane → agent  no        TransferChunk
//
// The control plane writes the desired state of a device (which model
// version and which agent version it should run). The agent reconciles:
// it downloads what it lacks, either over HTTP from the target's URL or in
// chunks over MQTT (it publishes a TransferRequest for a window of chunks,
// and exactly one control-plane replica, reading the request topic through
// a shared subscription, answers with TransferChunks), verifies, swaps, and
// reports progress as Events and its state as Reported. Each device may
// publish only the topics whose Kind.FromAgent is true and subscribe only
// to the others, and only under its own device id (see Allowed).
//
// Every message is a JSON object with "schema" (the message layout version,
// SchemaVersion) and "id" (an idempotency key: a receiver that sees an id
// twice acts once). Unknown fields are ignored so either side may add
// fields without breaking the other; a change that old readers would
// misread bumps SchemaVersion, and readers refuse schemas they do not know
// with ErrSchema. What an agent can do is told separately by the
// ProtocolVersion it reports.
package fleet

// ProtocolVersion is the version of this contract the code speaks. It only
// grows. An agent reports it in Reported.Protocol, and the control plane
// gates features on it: it sends a device only the messages and fields that
// the device's reported version understands (for example, a future resume
// option in TransferRequest is used only with agents at a version that has
// it). Enum values (State, EventKind) are only appended, each with a bump
// here, and the control plane is upgraded before the agents.
//
// History:
//
//	1: 2026-11-25 first version: desired/reported/events/telemetry, chunked transfer.
//	2: 2026-11-25 agent self-update in run mode: AgentTarget.Signature (see
//	   SignBinary); send a Desired with Agent only to agents at 2 or above.
const ProtocolVersion = 2

// QoS is the MQTT quality of service for every fleet message.
const QoS = 1
