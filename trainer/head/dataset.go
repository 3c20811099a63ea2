package head

import (
	"errors"
	"fmt"
)

// ErrData: a Dataset is malformed (ragged rows, a class out of range, …).
var ErrData = errors.New("head: invalid dataset")

// Dataset is a set of feature vectors with their classes: X[i] is image
// i's (L2-normalised) feature and Y[i] its class, an index into the
// model's labels, in [0, Classes).
type Dataset struct {
	X       [][]float32
	Y       []int
	Classes int
}

// Len is the number of images.
func (d Dataset) Len() int { return len(d.Y) }

// Dim is the feature width (0 for an empty dataset).
func (d Dataset) Dim() int {
	if len(d.X) == 0 {
		return 0
	}
	return len(d.X[0])
}

// Validate checks the shapes: as many rows as classes, rows of one width,
// classes in range, at least two classes. Errors wrap ErrData.
func (d Dataset) Validate() error {
	if d.Classes < 2 {
		return fmt.Errorf("%w: %d classes, want at least 2", ErrData, d.Classes)
	}
	if len(d.X) != len(d.Y) {
		return fmt.Errorf("%w: %d feature rows for %d classes", ErrData, len(d.X), len(d.Y))
	}
	dim := d.Dim()
	for i, x := range d.X {
		if len(x) != dim || dim == 0 {
			return fmt.Errorf("%w: row %d has %d values, row 0 has %d", ErrData, i, len(x), dim)
		}
		if y := d.Y[i]; y < 0 || y >= d.Classes {
			return fmt.Errorf("%w: row %d has class %d, want 0 to %d", ErrData, i, y, d.Classes-1)
		}
	}
	return nil
}

// Counts returns the number of images of each class.
func (d Dataset) Counts() []int {
	c := make([]int, d.Classes)
	for _, y := range d.Y {
		if y >= 0 && y < d.Classes {
			c[y]++
		}
	}
	return c
}

// Concat returns a followed by b (they must agree on classes and width);
// the rows are shared, not copied.
func Concat(a, b Dataset) (Dataset, error) {
	if a.Classes != b.Classes {
		return Dataset{}, fmt.Errorf("%w: %d classes and %d classes", ErrData, a.Classes, b.Classes)
	}
	if a.Len() > 0 && b.Len() > 0 && a.Dim() != b.Dim() {
		return Dataset{}, fmt.Errorf("%w: features of %d and %d values", ErrData, a.Dim(), b.Dim())
	}
	out := Dataset{Classes: a.Classes}
	out.X = append(append(make([][]float32, 0, a.Len()+b.Len()), a.X...), b.X...)
	out.Y = append(append(make([]int, 0, a.Len()+b.Len()), a.Y...), b.Y...)
	return out, nil
}

// subset returns the rows at idx (shared).
func (d Dataset) subset(idx []int) Dataset {
	out := Dataset{Classes: d.Classes, X: make([][]float32, len(idx)), Y: make([]int, len(idx))}
	for i, j := range idx {
		out.X[i], out.Y[i] = d.X[j], d.Y[j]
	}
	return out
}

// flat copies the rows into one row-major n×Dim slice.
func (d Dataset) flat() []float32 {
	dim := d.Dim()
	out := make([]float32, len(d.X)*dim)
	for i, x := range d.X {
		copy(out[i*dim:], x)
	}
	return out
}
