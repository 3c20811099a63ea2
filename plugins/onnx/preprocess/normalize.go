package preprocess

// normalize turns the resampled RGB bytes px (Size×Size, row-major) into
// the float tensor dst, as torchvision's ToTensor + Normalize in float32:
//
//	x = float32(v) / 255;  out = (x - Mean[c]) / Std[c]
//
// each operation rounded to float32 (division and subtraction are never
// fused, so this is the same on every platform). Without colour jitter the
// values come from a 256-entry table per channel built with exactly that
// expression; with jitter x is adjusted first (see View), every product
// wrapped in float32() so that no multiply-add is fused.
func (s Spec) normalize(px []uint8, v View, dst []float32, sc *scratch) {
	n := s.Size
	plane := n * n
	// src[c] is the RGB byte offset feeding tensor channel c.
	src := [3]int{0, 1, 2}
	if s.BGR {
		src = [3]int{2, 1, 0}
	}
	// o0, o1, o2: where tensor channels 0, 1, 2 of pixel i go, as
	// base + i*step.
	base, step := [3]int{0, plane, 2 * plane}, 1
	if s.NHWC {
		base, step = [3]int{0, 1, 2}, 3
	}
	if v.jitters() {
		fx := grow(&sc.fx, len(px))
		for i, b := range px {
			fx[i] = float32(b) / 255
		}
		jitter(fx, v)
		for y := range n {
			for x := range n {
				p := 3 * (y*n + flipX(x, n, v.Flip))
				i := (y*n + x) * step
				for c := range 3 {
					dst[base[c]+i] = (fx[p+src[c]] - s.Mean[c]) / s.Std[c]
				}
			}
		}
		return
	}
	var lut [3][256]float32
	for c := range 3 {
		for b := range 256 {
			lut[c][b] = (float32(b)/255 - s.Mean[c]) / s.Std[c]
		}
	}
	l0, l1, l2 := &lut[0], &lut[1], &lut[2]
	s0, s1, s2 := src[0], src[1], src[2]
	for y := range n {
		row := px[3*y*n : 3*(y+1)*n]
		if s.NHWC {
			out := dst[3*y*n : 3*(y+1)*n]
			for x := range n {
				p := row[3*flipX(x, n, v.Flip):][:3]
				out[3*x], out[3*x+1], out[3*x+2] = l0[p[s0]], l1[p[s1]], l2[p[s2]]
			}
			continue
		}
		d0 := dst[y*n : (y+1)*n]
		d1 := dst[plane+y*n : plane+(y+1)*n]
		d2 := dst[2*plane+y*n : 2*plane+(y+1)*n]
		for x := range n {
			p := row[3*flipX(x, n, v.Flip):][:3]
			d0[x], d1[x], d2[x] = l0[p[s0]], l1[p[s1]], l2[p[s2]]
		}
	}
}

func flipX(x, n int, flip bool) int {
	if flip {
		return n - 1 - x
	}
	return x
}

// jitter applies View's colour factors to RGB values in [0, 1].
func jitter(fx []float32, v View) {
	if b := v.Brightness; changes(b) {
		for i, x := range fx {
			fx[i] = clamp01(float32(b * x))
		}
	}
	if c := v.Contrast; changes(c) {
		var sum float64 // summed in index order: deterministic
		for i := 0; i < len(fx); i += 3 {
			sum += float64(grey(fx[i], fx[i+1], fx[i+2]))
		}
		mean := float32(sum / float64(len(fx)/3))
		off := float32((1 - c) * mean)
		for i, x := range fx {
			fx[i] = clamp01(float32(c*x) + off)
		}
	}
	if s := v.Saturation; changes(s) {
		for i := 0; i < len(fx); i += 3 {
			g := float32((1 - s) * grey(fx[i], fx[i+1], fx[i+2]))
			for c := i; c < i+3; c++ {
				fx[c] = clamp01(float32(s*fx[c]) + g)
			}
		}
	}
}

// grey is torchvision's rgb_to_grayscale weighting.
func grey(r, g, b float32) float32 {
	return float32(0.2989*r) + float32(0.587*g) + float32(0.114*b)
}

func clamp01(x float32) float32 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}
