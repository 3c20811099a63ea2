package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Why float: onnxruntime runs int8 graphs (QLinear* ops, or QDQ pairs it
// fuses into int8 kernels) with different kernels per instruction set —
// u8×s8 pairs saturate to int16 on AVX2 and SSE4, accumulate straight into
// int32 with VNNI, and requantise with different rounding. The same photo
// then gets a different feature on a different CPU, and a package trained
// on one machine fails its golden self-test on another. In float the only
// difference left between SSE, AVX2 and AVX-512 kernels is summation
// order (relative error near 1e-6), far under the golden tolerance.
//
// dequantize rewrites the quantised parts of graph g into float32 in place,
// keeping the network's meaning except for int8 rounding:
//
//   - weights and biases become float initializers ((q − zero point) ·
//     scale; a QLinearConv bias is int32 at input scale × weight scale);
//   - QLinearConv, QLinearMatMul, com.microsoft QLinearAdd and
//     QLinearGlobalAveragePool become Conv, MatMul, Add and
//     GlobalAveragePool on float tensors;
//   - every quantised activation keeps its saturation as a Clip to the
//     range its type and zero point can hold: quantisers fold ReLU and
//     ReLU6 into that range, so dropping it would drop the activations;
//   - QuantizeLinear → DequantizeLinear pairs (QDQ models) become that
//     Clip alone.
//
// Layout ops (Reshape, Transpose, Concat, Split, MaxPool, …) simply carry
// float values where they carried quantised ones. It returns the name each
// tensor of the original graph has now (quantised activations get a float
// tensor under the autocv/ prefix; other names map to themselves). A graph
// without quantisation comes back unchanged. opset is the model's ai.onnx
// opset (Clip takes its bounds as attributes before 11).
func dequantize(g *onnxpb.GraphProto, opset int64) (func(string) string, error) {
	d := dequantizer{
		g: g, opset: opset, inits: map[string]*onnxpb.TensorProto{},
		float: map[string]string{}, alias: map[string]string{}, qparams: map[string][2]float64{},
	}
	for _, t := range g.GetInitializer() {
		d.inits[t.GetName()] = t
	}
	old := g.GetNode()
	g.Node = make([]*onnxpb.NodeProto, 0, len(old))
	for _, n := range old {
		for i, in := range n.Input {
			if a, ok := d.alias[in]; ok {
				n.Input[i] = a
			}
		}
		if err := d.rewrite(n); err != nil {
			return nil, fmt.Errorf("graph: cannot compute %s node %q in float: %w", n.GetOpType(), n.GetName(), err)
		}
	}
	if d.n == 0 && len(d.alias) == 0 && !d.changed {
		return func(s string) string { return s }, nil
	}
	// graph outputs keep their names, now holding float
	for _, o := range g.GetOutput() {
		f, ok := d.alias[o.GetName()]
		if !ok {
			f, ok = d.float[o.GetName()]
		}
		if ok {
			d.add("Identity", []string{f}, []string{o.GetName()})
			if tt := o.GetType().GetTensorType(); tt != nil {
				tt.ElemType = proto.Int32(int32(onnxpb.TensorProto_FLOAT))
			}
		}
	}
	// value_info still describes the quantised types; shapes are inferred
	g.ValueInfo = nil
	g.QuantizationAnnotation = nil
	return func(name string) string {
		if a, ok := d.alias[name]; ok {
			return a
		}
		if f, ok := d.float[name]; ok {
			return f
		}
		return name
	}, nil
}

type dequantizer struct {
	g     *onnxpb.GraphProto
	opset int64
	inits map[string]*onnxpb.TensorProto
	// float maps a quantised activation to the float tensor that holds its
	// value now; alias maps the output of a dropped DequantizeLinear to it.
	float map[string]string
	alias map[string]string
	// qparams holds each quantised activation's scale and zero point, so a
	// consumer that reads it with others is refused, not miscomputed
	qparams map[string][2]float64
	n       int // names added nodes and tensors
	// changed: a weight was dequantised
	changed bool
}

// passThrough ops move values without arithmetic on them: given a float
// tensor where they had a quantised one, their output is float too.
var passThrough = map[string]bool{
	"Reshape": true, "Flatten": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true,
	"Identity": true, "Concat": true, "Split": true, "Slice": true, "Gather": true,
	"MaxPool": true, "DepthToSpace": true, "SpaceToDepth": true, "Resize": true,
}

func (d *dequantizer) rewrite(n *onnxpb.NodeProto) error {
	in, out := n.GetInput(), n.GetOutput()
	arg := func(i int) string {
		if i < len(in) {
			return in[i]
		}
		return ""
	}
	switch key := n.GetDomain() + ":" + n.GetOpType(); key {
	case ":QuantizeLinear", "ai.onnx:QuantizeLinear":
		if _, q := d.float[arg(0)]; q {
			return fmt.Errorf("it requantises %s", arg(0))
		}
		return d.clip(arg(0), out[0], arg(1), arg(2))
	case ":DequantizeLinear", "ai.onnx:DequantizeLinear":
		if f, ok := d.float[arg(0)]; ok {
			if err := d.sameParams(arg(0), arg(1), arg(2)); err != nil {
				return err
			}
			d.alias[out[0]] = f
			return nil
		}
		if _, ok := d.inits[arg(0)]; !ok {
			return fmt.Errorf("its input %s is neither a weight nor a quantised activation", arg(0))
		}
		axis := int64(1)
		for _, a := range n.GetAttribute() {
			if a.GetName() == "axis" {
				axis = a.GetI()
			}
		}
		v, dims, err := d.dequant(arg(0), arg(1), arg(2), axis, nil)
		if err != nil {
			return err
		}
		d.addInit(out[0], dims, v)
		return nil
	case ":QLinearConv", "ai.onnx:QLinearConv":
		x, err := d.act(arg(0), arg(1), arg(2))
		if err != nil {
			return err
		}
		w, dims, err := d.dequant(arg(3), arg(4), arg(5), 0, nil)
		if err != nil {
			return err
		}
		inputs := []string{x, d.addInit(d.name("w"), dims, w)}
		if b := arg(8); b != "" {
			xs, _, err := d.values(arg(1))
			if err != nil || len(xs) != 1 {
				return fmt.Errorf("input scale %s is not a scalar", arg(1))
			}
			ws, _, err := d.values(arg(4))
			if err != nil {
				return err
			}
			bias, bdims, err := d.dequant(b, "", "", 0, func(c int) float64 { return xs[0] * ws[min(c, len(ws)-1)] })
			if err != nil {
				return err
			}
			inputs = append(inputs, d.addInit(d.name("b"), bdims, bias))
		}
		conv := d.name("conv")
		d.g.Node = append(d.g.Node, &onnxpb.NodeProto{OpType: proto.String("Conv"), Domain: proto.String(""),
			Name: proto.String(conv), Input: inputs, Output: []string{conv}, Attribute: n.GetAttribute()})
		return d.clip(conv, out[0], arg(6), arg(7))
	case ":QLinearMatMul", "ai.onnx:QLinearMatMul", "com.microsoft:QLinearAdd", "com.microsoft:QLinearMul":
		a, err := d.operand(arg(0), arg(1), arg(2), 0)
		if err != nil {
			return err
		}
		b, err := d.operand(arg(3), arg(4), arg(5), -1) // per-column scales of a weight
		if err != nil {
			return err
		}
		op := map[string]string{"QLinearMatMul": "MatMul", "QLinearAdd": "Add", "QLinearMul": "Mul"}[n.GetOpType()]
		y := d.add(op, []string{a, b}, nil)
		return d.clip(y, out[0], arg(6), arg(7))
	case "com.microsoft:QLinearGlobalAveragePool":
		for _, a := range n.GetAttribute() {
			if a.GetName() == "channels_last" && a.GetI() != 0 {
				return fmt.Errorf("channels_last is not supported")
			}
		}
		x, err := d.act(arg(0), arg(1), arg(2))
		if err != nil {
			return err
		}
		y := d.add("GlobalAveragePool", []string{x}, nil)
		return d.clip(y, out[0], arg(3), arg(4))
	default:
		quantised := false
		for i, name := range in {
			if f, ok := d.float[name]; ok {
				in[i] = f
				quantised = quantised || i == 0 || n.GetOpType() == "Concat"
			}
		}
		if !quantised {
			d.g.Node = append(d.g.Node, n)
			return nil
		}
		if n.GetOpType() == "Shape" || n.GetOpType() == "Size" {
			d.g.Node = append(d.g.Node, n) // int64 out, same for float in
			return nil
		}
		if !passThrough[n.GetOpType()] || key[0] != ':' {
			return fmt.Errorf("it reads a quantised tensor and has no float form here (op %s)", key)
		}
		for i, o := range n.Output {
			f := d.name("f")
			d.float[o] = f
			n.Output[i] = f
		}
		d.g.Node = append(d.g.Node, n)
		return nil
	}
}

// act returns the float tensor that now holds quantised activation q,
// read with scale and zero point as it was written.
func (d *dequantizer) act(q, scale, zero string) (string, error) {
	f, ok := d.float[q]
	if !ok {
		return "", fmt.Errorf("%s is not a quantised activation this pass knows", q)
	}
	return f, d.sameParams(q, scale, zero)
}

// sameParams fails when a consumer reads activation q with another scale
// or zero point than its producer wrote it with: in float the values
// would silently differ.
func (d *dequantizer) sameParams(q, scale, zero string) error {
	s, _, err := d.values(scale)
	if err != nil || len(s) != 1 {
		return fmt.Errorf("the scale %s of %s is not a scalar", scale, q)
	}
	z := []float64{0}
	if zero != "" {
		if z, _, err = d.values(zero); err != nil || len(z) != 1 {
			return fmt.Errorf("the zero point %s of %s is not a scalar", zero, q)
		}
	}
	if p, ok := d.qparams[q]; ok && (math.Abs(p[0]-s[0]) > 1e-9*math.Abs(p[0]) || p[1] != z[0]) {
		return fmt.Errorf("%s is read with scale %g and zero point %g but was written with %g and %g", q, s[0], z[0], p[0], p[1])
	}
	return nil
}

// operand is an activation or a quantised weight (scales along axis), as
// float.
func (d *dequantizer) operand(q, scale, zero string, axis int64) (string, error) {
	if _, ok := d.float[q]; ok {
		return d.act(q, scale, zero)
	}
	if _, ok := d.inits[q]; !ok {
		return "", fmt.Errorf("%s is neither a weight nor a quantised activation", q)
	}
	v, dims, err := d.dequant(q, scale, zero, axis, nil)
	if err != nil {
		return "", err
	}
	return d.addInit(d.name("w"), dims, v), nil
}

// clip adds Clip(x) to the range a tensor quantised with scale and zero
// point can hold, as out's float tensor.
func (d *dequantizer) clip(x, out, scale, zero string) error {
	s, _, err := d.values(scale)
	if err != nil || len(s) != 1 {
		return fmt.Errorf("the scale of %s is not a scalar", out)
	}
	lo, hi := 0.0, 255.0 // uint8, the default when the zero point is omitted
	z := 0.0
	if zero != "" {
		zt, ok := d.inits[zero]
		if !ok {
			return fmt.Errorf("zero point %s is not an initializer", zero)
		}
		zv, _, err := d.values(zero)
		if err != nil || len(zv) != 1 {
			return fmt.Errorf("the zero point of %s is not a scalar", out)
		}
		z = zv[0]
		switch onnxpb.TensorProto_DataType(zt.GetDataType()) {
		case onnxpb.TensorProto_UINT8:
		case onnxpb.TensorProto_INT8:
			lo, hi = -128, 127
		default:
			return fmt.Errorf("zero point %s has type %v, want uint8 or int8", zero, onnxpb.TensorProto_DataType(zt.GetDataType()))
		}
	}
	d.qparams[out] = [2]float64{s[0], z}
	minV, maxV := float32((lo-z)*s[0]), float32((hi-z)*s[0])
	f := d.name("q")
	if d.opset < 11 {
		d.g.Node = append(d.g.Node, &onnxpb.NodeProto{OpType: proto.String("Clip"), Domain: proto.String(""),
			Name: proto.String(f), Input: []string{x}, Output: []string{f}, Attribute: []*onnxpb.AttributeProto{
				{Name: proto.String("min"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(minV)},
				{Name: proto.String("max"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(maxV)},
			}})
	} else {
		mn := d.addInit(d.name("min"), nil, []float32{minV})
		mx := d.addInit(d.name("max"), nil, []float32{maxV})
		d.add("Clip", []string{x, mn, mx}, []string{f})
	}
	d.float[out] = f
	return nil
}

// dequant returns initializer q as float: (q − zero point) · scale, the
// scale per tensor or per slice along axis. With perSlice set, it gives the
// scale of each slice instead (a QLinearConv bias) and the zero point is 0.
func (d *dequantizer) dequant(q, scale, zero string, axis int64, perSlice func(int) float64) ([]float32, []int64, error) {
	v, dims, err := d.values(q)
	if err != nil {
		return nil, nil, err
	}
	var s, z []float64
	if perSlice == nil {
		if s, _, err = d.values(scale); err != nil {
			return nil, nil, err
		}
		z = []float64{0}
		if zero != "" {
			if z, _, err = d.values(zero); err != nil {
				return nil, nil, err
			}
		}
	}
	slices, inner := 1, len(v)
	if perSlice != nil || len(s) > 1 {
		if axis < 0 {
			axis += int64(len(dims))
		}
		if axis < 0 || int(axis) >= len(dims) {
			return nil, nil, fmt.Errorf("%s: axis %d out of range for %d dimensions", q, axis, len(dims))
		}
		slices = int(dims[axis])
		inner = 1
		for _, n := range dims[axis+1:] {
			inner *= int(n)
		}
		if perSlice == nil && (len(s) != slices || (len(z) != 1 && len(z) != slices)) {
			return nil, nil, fmt.Errorf("%s: %d scales for %d slices", q, len(s), slices)
		}
	}
	out := make([]float32, len(v))
	for i, x := range v {
		c := (i / max(inner, 1)) % slices
		if perSlice != nil {
			out[i] = float32(x * perSlice(c))
			continue
		}
		out[i] = float32((x - z[min(c, len(z)-1)]) * s[min(c, len(s)-1)])
	}
	return out, dims, nil
}

// values reads an initializer's numbers (float, int8, uint8 or int32).
func (d *dequantizer) values(name string) ([]float64, []int64, error) {
	t, ok := d.inits[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s is not an initializer", name)
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, nil, fmt.Errorf("%s is stored outside the model file", name)
	}
	n := 1
	for _, x := range t.GetDims() {
		n *= int(x)
	}
	raw := t.GetRawData()
	out := make([]float64, 0, n)
	switch typ := onnxpb.TensorProto_DataType(t.GetDataType()); typ {
	case onnxpb.TensorProto_FLOAT:
		if raw == nil {
			for _, f := range t.GetFloatData() {
				out = append(out, float64(f))
			}
			break
		}
		for i := 0; i+4 <= len(raw); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
		}
	case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_INT8, onnxpb.TensorProto_INT32:
		if raw == nil {
			for _, x := range t.GetInt32Data() {
				out = append(out, float64(x))
			}
			break
		}
		switch typ {
		case onnxpb.TensorProto_UINT8:
			for _, b := range raw {
				out = append(out, float64(b))
			}
		case onnxpb.TensorProto_INT8:
			for _, b := range raw {
				out = append(out, float64(int8(b)))
			}
		default:
			for i := 0; i+4 <= len(raw); i += 4 {
				out = append(out, float64(int32(binary.LittleEndian.Uint32(raw[i:]))))
			}
		}
	default:
		return nil, nil, fmt.Errorf("%s has type %v", name, typ)
	}
	if len(out) != n {
		return nil, nil, fmt.Errorf("%s holds %d values for shape %v", name, len(out), t.GetDims())
	}
	return out, t.GetDims(), nil
}

func (d *dequantizer) name(kind string) string {
	d.n++
	return fmt.Sprintf("%sfloat/%s%d", prefix, kind, d.n)
}

func (d *dequantizer) addInit(name string, dims []int64, v []float32) string {
	t := floatTensor(name, dims, v)
	d.g.Initializer = append(d.g.Initializer, t)
	d.inits[name] = t
	d.changed = true
	return name
}

// add appends a default-domain node; with outs nil it gets one new output.
func (d *dequantizer) add(op string, ins, outs []string) string {
	name := d.name(op)
	if outs == nil {
		outs = []string{name}
	}
	d.g.Node = append(d.g.Node, node(op, name, ins, outs))
	return outs[0]
}

// FloatModel returns a whole model (its outputs unchanged) with its
// quantised parts computed in float, as Features does for the feature; name
// (usually the file name) is only used in errors. The ISA spread bench
// compares it with the original on emulated CPUs.
func FloatModel(name string, model []byte) ([]byte, error) {
	m, err := backbone.ParseModel(name, model)
	if err != nil {
		return nil, err
	}
	opset, err := checkOpset(m, name)
	if err != nil {
		return nil, err
	}
	if err := checkFree(m.GetGraph(), name, prefix); err != nil {
		return nil, err
	}
	g := m.GetGraph()
	if _, err := dequantize(g, opset); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := prune(m, g.GetInput()[0].GetName()); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	stamp(m)
	return Marshal(m)
}
