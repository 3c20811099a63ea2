package preprocess

import (
	"errors"
	"fmt"
	"math"

	"github.com/autocv/autocv/protocol/modelpkg"
)

// Version names the decode + preprocessing arithmetic. Bump it with any
// change that alters a tensor (the golden tensor sums change then too), so
// feature caches keyed on it are not reused across such a change.
const Version = 1

// ErrSpec reports a preprocessing spec that cannot be used.
var ErrSpec = errors.New("invalid preprocessing spec")

// Mode says how the photo is fitted into the model's square input.
type Mode uint8

const (
	// ShorterSideCrop scales the shorter side to Spec.Resize (the longer
	// side keeps the aspect ratio) and takes the centred Size×Size square:
	// torchvision's Resize(Resize) + CenterCrop(Size), the ImageNet eval
	// transform.
	ShorterSideCrop Mode = iota
	// Stretch scales the whole photo to Size×Size, ignoring aspect ratio.
	Stretch
)

func (m Mode) String() string {
	switch m {
	case ShorterSideCrop:
		return modelpkg.ResizeShorterCrop
	case Stretch:
		return modelpkg.ResizeStretch
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Limits on a Spec: the manifest's, so every valid manifest converts.
const (
	maxSize   = modelpkg.MaxInputSize
	maxResize = modelpkg.MaxInputSize
)

// Spec is how a decoded photo becomes a model input tensor. The zero value
// is not usable; start from ImageNet() or SpecFrom.
type Spec struct {
	Size   int  // side of the square model input (the crop), e.g. 224
	Mode   Mode // ShorterSideCrop or Stretch
	Resize int  // ShorterSideCrop: the shorter side before cropping, e.g. 256

	// Mean and Std are per tensor channel, in the tensor's channel order
	// (with BGR, index 0 is blue), applied to values scaled to [0, 1]:
	// out = (v/255 - Mean[c]) / Std[c].
	Mean [3]float32
	Std  [3]float32

	BGR  bool // channel order blue, green, red instead of red, green, blue
	NHWC bool // layout [H][W][3] instead of [3][H][W]
}

// ImageNet returns the standard ImageNet eval transform that the backbones
// in shared/data/backbones expect: shorter side to 256 (antialiased
// bilinear), centre crop 224, RGB, NCHW, mean (0.485, 0.456, 0.406), std
// (0.229, 0.224, 0.225).
func ImageNet() Spec {
	return Spec{
		Size:   224,
		Mode:   ShorterSideCrop,
		Resize: 256,
		Mean:   [3]float32{0.485, 0.456, 0.406},
		Std:    [3]float32{0.229, 0.224, 0.225},
	}
}

// Len is the number of float32 values one image fills: 3*Size*Size.
func (s Spec) Len() int { return 3 * s.Size * s.Size }

// Validate reports whether the spec can be used.
func (s Spec) Validate() error {
	if s.Size < 1 || s.Size > maxSize {
		return fmt.Errorf("%w: input size %d is outside 1..%d", ErrSpec, s.Size, maxSize)
	}
	switch s.Mode {
	case ShorterSideCrop:
		if s.Resize < s.Size || s.Resize > maxResize {
			return fmt.Errorf("%w: resize %d must be between the crop size %d and %d", ErrSpec, s.Resize, s.Size, maxResize)
		}
	case Stretch:
	default:
		return fmt.Errorf("%w: unknown resize mode %v", ErrSpec, s.Mode)
	}
	for c := range 3 {
		m, d := float64(s.Mean[c]), float64(s.Std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return fmt.Errorf("%w: mean[%d] is %v", ErrSpec, c, m)
		}
		if !(d > 0) || math.IsInf(d, 0) {
			return fmt.Errorf("%w: std[%d] is %v, want a positive number", ErrSpec, c, d)
		}
	}
	return nil
}

// SpecFrom converts a model package manifest's preprocessing section. It is
// strict: unknown modes, orders and layouts are errors, not defaults.
func SpecFrom(p modelpkg.Preprocess) (Spec, error) {
	s := Spec{Size: p.InputSize, Resize: p.Resize, Mean: p.Mean, Std: p.Std}
	if p.Crop != 0 && p.Crop != p.InputSize {
		return Spec{}, fmt.Errorf("%w: crop %d differs from input size %d", ErrSpec, p.Crop, p.InputSize)
	}
	switch p.ResizeMode {
	case modelpkg.ResizeShorterCrop:
		s.Mode = ShorterSideCrop
	case modelpkg.ResizeStretch:
		s.Mode, s.Resize = Stretch, 0
	default:
		return Spec{}, fmt.Errorf("%w: resize mode %q (want %q or %q)", ErrSpec, p.ResizeMode, modelpkg.ResizeShorterCrop, modelpkg.ResizeStretch)
	}
	switch p.ChannelOrder {
	case modelpkg.ChannelsRGB:
	case modelpkg.ChannelsBGR:
		s.BGR = true
	default:
		return Spec{}, fmt.Errorf("%w: channel order %q (want %s or %s)", ErrSpec, p.ChannelOrder, modelpkg.ChannelsRGB, modelpkg.ChannelsBGR)
	}
	switch p.Layout {
	case modelpkg.LayoutNCHW:
	case modelpkg.LayoutNHWC:
		s.NHWC = true
	default:
		return Spec{}, fmt.Errorf("%w: layout %q (want %s or %s)", ErrSpec, p.Layout, modelpkg.LayoutNCHW, modelpkg.LayoutNHWC)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// Preprocess is the manifest form of the spec (the inverse of SpecFrom),
// for the trainer to write into a model package.
func (s Spec) Preprocess() modelpkg.Preprocess {
	p := modelpkg.Preprocess{
		InputSize:    s.Size,
		ResizeMode:   s.Mode.String(),
		Resize:       s.Resize,
		Crop:         s.Size,
		Mean:         s.Mean,
		Std:          s.Std,
		ChannelOrder: modelpkg.ChannelsRGB,
		Layout:       modelpkg.LayoutNCHW,
	}
	if s.Mode == Stretch {
		p.Resize = s.Size
	}
	if s.BGR {
		p.ChannelOrder = modelpkg.ChannelsBGR
	}
	if s.NHWC {
		p.Layout = modelpkg.LayoutNHWC
	}
	return p
}
