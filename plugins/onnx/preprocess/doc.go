// Package preprocess turns photo bytes into a model input tensor. It is the
// one decode + preprocessing implementation of AutoCV: the trainer, the
// cloud inference endpoints and every plugin build on every platform import
// it, so one photo becomes the same float32 tensor everywhere. It is pure Go
// (no cgo) and uses one decoder per format for all builds: image/jpeg,
// image/png and golang.org/x/image/bmp.
//
// # Pipeline
//
//	Decode(bytes)           sniff JPEG/PNG/BMP from the bytes
//	                        (imagerules.Sniff), refuse other formats by name
//	                        and images over MaxPixels, MaxDecodeBytes or the
//	                        DecodeBudget (from the header, before
//	                        allocating), wait for room in DecodeBudget,
//	                        decode, apply the JPEG EXIF orientation
//	Spec.Tensor(img, dst)   colour → 8-bit RGB (alpha over white), resize +
//	                        crop with Pillow's antialiased bilinear filter,
//	                        (x/255 - mean)/std, NCHW or NHWC, RGB or BGR
//
// Spec.DecodeTensor does both and keeps the image's share of DecodeBudget
// until the tensor is made, so the memory of many big photos converted at
// once stays within the budget. SetDecodeBudget sizes the budget for the
// process and DecodeHooks let its owner collect and return memory.
//
// ImageNet() is the eval transform of the shipped backbones (shorter side to
// 256, centre crop 224), equal to torchvision's
//
//	Resize(256) + CenterCrop(224) + ToTensor() + Normalize(mean, std)
//
// on a PIL image. Given the same RGB pixels (e.g. from a PNG) the output is
// bit-identical to that torchvision pipeline (Pillow 9.4 checked, see
// testdata/pil_reference.py). JPEG pixels themselves differ from libjpeg's
// by a level or two (different IDCT and chroma upsampling), which is why
// everything here uses Go's decoder and nothing else.
//
// # Colour
//
// Greyscale becomes R=G=B. CMYK and YCCK JPEGs (Adobe APP14; Go's decoder
// undoes Adobe's inverted storage) use Pillow's CMYK→RGB. 16-bit PNGs keep
// the high byte. Transparent pixels are composited over white, which is
// what a person sees in an image viewer (a transparent logo on white), not
// black, which is what ignoring alpha often shows.
//
// # Geometry
//
// ShorterSideCrop scales the shorter side to Resize and the longer one to
// int(Resize*long/short) (truncated, as torchvision), then crops Size×Size
// at left = round((resizedW-Size)/2), top likewise, rounding half to even
// (Python's round, as torchvision's center_crop). Only the part of the photo
// that survives the crop is resampled: the crop window is mapped back to
// source rows and columns and only those are read. The filter is Pillow's
// antialiased BILINEAR (a triangle whose support widens by the shrink
// factor), in Pillow's 22-bit fixed point, horizontal pass first; the
// comment at the top of resample.go has the exact formulas.
//
// # Determinism
//
// Colour conversion and resampling are integer arithmetic. The filter
// weights are float64 with every product in an explicit float64()
// conversion, and the normalisation and colour jitter are float32 with the
// same guard, because the Go spec lets a compiler fuse x*y+z into one FMA
// (arm64 does, amd64 with GOAMD64=v3 may) unless a conversion forces the
// rounding. Sums are taken in a fixed order. TestGoldenTensors checks
// sha256 sums of real photos' tensors against testdata/golden_tensors.json
// on whatever platform runs it (regenerate with go test -run Golden -update).
//
// # Speed
//
// Decoders' own image types are read directly (YCbCr, RGBA, NRGBA, Gray,
// CMYK, Paletted); At() is the fallback for other types only. Filter
// weights are cached per (source size, output size, window); scratch
// buffers come from a sync.Pool, so Tensor does not allocate in the steady
// state. Everything is safe for concurrent use.
//
// # Views
//
// TensorView makes trainer augmentations (mirror, zoomed crops of the eval
// frame, colour jitter) from one decoded image; the zero View equals Tensor.
package preprocess
