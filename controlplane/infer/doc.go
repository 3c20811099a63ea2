// Package infer runs models on the control plane: validation (校验) of a
// freshly trained version and the cloud inference services published at
// /api/v1/infer/<path>.
//
// The control plane is cgo-free, so every model runs in its own
// autocv-plugin-onnx process started through plugins/host. A Pool keeps
// those processes, one per loaded package (a Key), each watched by a
// host.Supervisor, and routes Predict calls to them. A crashed process is
// restarted in the background with the same package; entries loaded as
// Unloadable (validation) are unloaded after they sit idle; Close kills
// every process the pool started.
//
// Switching a service to a new version without failing a call is the
// caller's sequence: Load(new), point the service at the new key,
// Unload(old). Unload waits for the Predicts already running on the old key.
// A caller that read the old key just before the switch and reaches Predict
// just after Unload gets ErrNotLoaded: it should read its key again and, if
// the key changed, retry (see Pool.Unload).
package infer
