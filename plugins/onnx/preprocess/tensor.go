package preprocess

import (
	"context"
	"fmt"
	"image"
	"math"
)

// View is one augmented view of a photo for the trainer. The zero View is
// the plain eval tensor, bit-identical to Tensor.
type View struct {
	// Flip mirrors the output left to right (applied last, to the tensor).
	Flip bool
	// Crop zooms into part of the eval frame, the square the plain tensor
	// shows; see Box. The zero Box is the whole frame.
	Crop Box
	// Colour jitter factors, torchvision ColorJitter semantics, applied in
	// this order on values in [0, 1] and clamped to [0, 1]:
	//   Brightness b: x = b·x
	//   Contrast c:   x = c·x + (1-c)·mean grey of the whole view
	//   Saturation s: x = s·x + (1-s)·grey of the pixel
	// with grey = 0.2989 R + 0.587 G + 0.114 B. 1 leaves the image alone, and
	// so does 0 (so that the zero View changes nothing).
	Brightness, Contrast, Saturation float32
}

// Box is a fractional rectangle of the eval frame: X0, Y0 is the top left
// corner, X1, Y1 the bottom right, all in [0, 1] with X0 < X1 and Y0 < Y1
// ({0, 0, 1, 1} is the whole frame). The eval frame is the region of the
// source photo that the plain tensor covers: for ShorterSideCrop the part
// of the photo that survives the centre crop, for Stretch the whole photo.
// The box is mapped back to fractional source pixels and resampled straight
// to Size×Size with the same antialiased filter (no second decode, no
// intermediate image), so {0, 0, 0.8, 0.8} is the top-left 80% of what the
// model normally sees, enlarged to fill the input.
type Box struct{ X0, Y0, X1, Y1 float32 }

func (b Box) whole() bool { return b == Box{} || b == Box{0, 0, 1, 1} }

func (v View) validate() error {
	if !v.Crop.whole() {
		b := v.Crop
		for _, f := range [...]float32{b.X0, b.Y0, b.X1, b.Y1} {
			if !(f >= 0 && f <= 1) {
				return fmt.Errorf("preprocess: view crop %v: coordinates must be in [0, 1]", b)
			}
		}
		if !(b.X0 < b.X1 && b.Y0 < b.Y1) {
			return fmt.Errorf("preprocess: view crop %v: want X0 < X1 and Y0 < Y1", b)
		}
	}
	for _, f := range [...]float32{v.Brightness, v.Contrast, v.Saturation} {
		if !(f >= 0) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("preprocess: view colour factor %v must be a finite number >= 0", f)
		}
	}
	return nil
}

func (v View) jitters() bool {
	return changes(v.Brightness) || changes(v.Contrast) || changes(v.Saturation)
}

func changes(f float32) bool { return f != 0 && f != 1 }

// Tensor writes the model input for img into dst[:s.Len()], in the spec's
// layout and channel order. dst may be longer (e.g. the rest of a batch
// buffer); nothing past s.Len() is touched. img is read, never modified, and
// may be any image.Image (the types Decode returns have fast paths).
func (s Spec) Tensor(img image.Image, dst []float32) error {
	return s.TensorView(img, View{}, dst)
}

// DecodeTensor is Decode followed by Tensor, holding the image's share of
// the DecodeBudget until it is the tensor (see DecodeTensorContext).
func (s Spec) DecodeTensor(data []byte, dst []float32) error {
	return s.DecodeTensorContext(context.Background(), data, dst)
}

// DecodeTensorContext is DecodeTensor that stops waiting for the
// DecodeBudget when ctx is done, returning ctx's error. The budget it holds
// counts the decoded image and the resampler's buffers, so decoding and
// resizing many big images at once stays within the budget; an image whose
// estimate is over the per-image limit is refused with ErrTooLarge.
func (s Spec) DecodeTensorContext(ctx context.Context, data []byte, dst []float32) error {
	if err := s.check(dst); err != nil {
		return err
	}
	img, release, err := decodeHeld(ctx, data, activeLimits(), s.scratchBytes)
	if err != nil {
		return err
	}
	err = s.Tensor(img, dst)
	// img is garbage from here on: DecodeHooks.Release may collect it
	// before the budget is free for the next image
	release()
	return err
}

// scratchBytes bounds what Tensor allocates for a w×h image (its scratch
// buffers; see resample): the rows of the source that the crop touches,
// resampled to the output width, and a source row in three forms.
func (s Spec) scratchBytes(w, h int) int64 {
	rw, rh, _, _ := s.resized(w, h)
	rows := min(int64(h), int64(s.Size+2)*int64(h)/int64(rh)+3)
	cols := min(int64(w), int64(s.Size+2)*int64(w)/int64(rw)+3)
	return rows*int64(3*s.Size) + cols*(3+8+4) + int64(s.Len())*(1+4) + int64(3*s.Size)*4
}

func (s Spec) check(dst []float32) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if len(dst) < s.Len() {
		return fmt.Errorf("preprocess: dst holds %d floats, a %dx%d RGB tensor needs %d", len(dst), s.Size, s.Size, s.Len())
	}
	return nil
}

// TensorView writes one augmented view of img into dst[:s.Len()]; see View.
func (s Spec) TensorView(img image.Image, v View, dst []float32) error {
	if err := s.check(dst); err != nil {
		return err
	}
	if err := v.validate(); err != nil {
		return err
	}
	b := img.Bounds()
	if b.Empty() {
		return fmt.Errorf("%w: the image has no pixels", ErrCorrupt)
	}
	if int64(b.Dx())*int64(b.Dy()) > MaxPixels {
		return fmt.Errorf("%w: %dx%d pixels", ErrTooLarge, b.Dx(), b.Dy())
	}
	hk, vk := s.kernels(b.Dx(), b.Dy(), v.Crop)
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	px := grow(&sc.px, s.Len())
	src := newRowReader(img)
	resample(&src, hk, vk, px, sc)
	s.normalize(px, v, dst[:s.Len()], sc)
	return nil
}

// kernels maps the output square back to the source photo (w×h pixels).
//
// ShorterSideCrop, as torchvision Resize(Resize) + CenterCrop(Size):
//
//	resized  shorter side = Resize; longer = Resize*long/short, truncated
//	         (torchvision: int(size * long / short))
//	crop     left = round((resizedW - Size) / 2), top likewise, rounding
//	         half to even (Python's round, as torchvision's center_crop)
//	kernels  source [0, w) → resizedW outputs, computing only outputs
//	         [left, left+Size); rows likewise.
//
// Stretch: source [0, w) → Size outputs and [0, h) → Size outputs.
func (s Spec) kernels(w, h int, box Box) (hk, vk *kernel) {
	rw, rh, left, top := s.resized(w, h)
	if box.whole() {
		hk = getKernel(kernelKey{in: w, out: rw, first: left, count: s.Size, in0: 0, in1: float64(w)})
		vk = getKernel(kernelKey{in: h, out: rh, first: top, count: s.Size, in0: 0, in1: float64(h)})
		return hk, vk
	}
	x0, x1 := frame(w, rw, left, s.Size, box.X0, box.X1)
	y0, y1 := frame(h, rh, top, s.Size, box.Y0, box.Y1)
	hk = getKernel(kernelKey{in: w, out: s.Size, first: 0, count: s.Size, in0: x0, in1: x1})
	vk = getKernel(kernelKey{in: h, out: s.Size, first: 0, count: s.Size, in0: y0, in1: y1})
	return hk, vk
}

// resized is the size a w×h photo is resampled to, before the crop at
// left, top (see kernels).
func (s Spec) resized(w, h int) (rw, rh, left, top int) {
	if s.Mode != ShorterSideCrop {
		return s.Size, s.Size, 0, 0
	}
	r := int64(s.Resize)
	if w <= h {
		rw, rh = s.Resize, int(r*int64(h)/int64(w))
	} else {
		rw, rh = int(r*int64(w)/int64(h)), s.Resize
	}
	return rw, rh, halfEven(rw - s.Size), halfEven(rh - s.Size)
}

// frame maps box fractions b0, b1 of the eval frame (outputs [first,
// first+size) of resizing in pixels to out) to fractional source pixels:
// the frame is [first·in/out, (first+size)·in/out).
func frame(in, out, first, size int, b0, b1 float32) (float64, float64) {
	scale := float64(in) / float64(out)
	f0 := float64(float64(first) * scale)
	f1 := float64(float64(first+size) * scale)
	fw := f1 - f0
	return f0 + float64(float64(b0)*fw), f0 + float64(float64(b1)*fw)
}

// halfEven is round(d/2) with ties to even, as Python 3's round.
func halfEven(d int) int {
	q := d / 2
	if d%2 != 0 && q%2 != 0 {
		q++
	}
	return q
}
