// Package modelpkg is the model package: the signed tar.gz that carries one
// trained model version from the trainer to every place that runs it.
//
// Who writes packages:
//
//   - the trainer builds them (Builder) after exporting model.onnx. A trainer
//     worker uploads them unsigned; the standalone trainer CLI signs them
//     with its own key.
//   - the control plane verifies uploaded packages and signs them with its
//     key (Resign, ResignFile), without touching any member's bytes.
//
// Who reads them (Read, ReadFile, VerifyFile):
//
//   - the agent, after downloading one, verifies the signature against the
//     key it was enrolled with and extracts the members for a plugin to load;
//   - the control plane, to validate a version and to build offline SDKs;
//   - inference plugins only ever see the extracted files and the manifest.
//
// A package is a gzip-compressed tar archive with exactly these regular-file
// entries, in this order:
//
//	manifest.json     the Manifest, indented JSON; the signed bytes
//	manifest.sig      optional: base64 (standard encoding, one line) of the
//	                  raw 64-byte ed25519 signature over manifest.json
//	model.onnx        then every member listed in manifest.json, each bound
//	model.onnx.data   to it by sha256 and size (model.onnx.data only when the
//	report.json       weights are stored as ONNX external data)
//	golden/<n>.<ext>  a few test images (jpg, jpeg, png or bmp)
//
// Anything else, anything that is not a regular file, any entry that appears
// twice and any listed member that is missing makes the whole package
// invalid. Because manifest.json comes first, a reader knows the member list
// and verifies the signature before it writes a single member to disk.
//
// Keys are ed25519, stored as PEM: PKCS #8 ("PRIVATE KEY") for private keys
// and PKIX ("PUBLIC KEY") for public keys, the encodings crypto/x509 and
// OpenSSL use (`openssl pkey -in signing.key -pubout` derives the public
// key). KeyID gives a short fingerprint for logs.
//
// Builder output is deterministic: the same manifest and member bytes give
// the same archive bytes (fixed mtime, mode 0644, no owner names).
package modelpkg
