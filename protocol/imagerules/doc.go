// Package imagerules holds the rules a photo must pass to enter a dataset,
// as one cgo-free check that returns a stable reason code.
//
// The control plane's dataset import runs Check on every zip entry and
// every single uploaded image, stores the good ones and lists the rest in
// the import report as {path, reason}; the console and the `autocv` CLI show
// Reason.Message or Result.Message to the user in Chinese or English. The
// standalone trainer CLI runs the same check on a folder, so a folder that
// trains locally would import into the control plane too.
//
// Sniff is AutoCV's one image-format sniffer: the ONNX plugin's decoder
// (plugins/onnx/preprocess) and the agent's HTTP API use it too, so a file
// is named and refused the same way by dataset import, plugin and agent.
//
// The rules (product documentation, DESIGN.md "Data flow" step 1):
//
//   - format jpg, jpeg, png or bmp, judged by the content, not the name;
//   - file size at most 4 MB (MaxFileSize, 4 MiB);
//   - longest side under 4096 pixels, shortest side over 30 pixels;
//   - aspect ratio (longest side to shortest side) at most 3:1;
//   - the whole image decodes with the standard library's jpeg and png
//     decoders or golang.org/x/image/bmp.
//
// Dimensions are those stored in the file; EXIF orientation does not
// change them (a rotated 500×146 photo is still 3.4:1).
package imagerules
