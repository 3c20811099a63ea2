package graph

import (
	"fmt"

	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Part is one backbone of a Combined model.
type Part struct {
	Descriptor backbone.Descriptor
	Model      []byte // the backbone's .onnx file
	// Normalize L2-normalises this backbone's feature before the concat:
	// x / max(||x||₂, 1e-12), as L2Normalize does in Go.
	Normalize bool
}

// Combined builds one graph holding every part's backbone on one shared
// input, InputName. Each backbone is cut at its feature (as by Features),
// every name in it gets the prefix "<backbone id>/", its feature is
// optionally L2-normalised, and the features are concatenated in order
// along axis 1 into FeatureOutput, float32 [N, sum of dims].
//
// All parts must take the same preprocessed image. When one of them has a
// fixed batch (the ShuffleNet file takes exactly 1), so has the combined
// model: Model.FixedBatch says so, and it belongs in the package manifest's
// io.fixed_batch.
func Combined(parts []Part) (*Model, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("graph: no backbones to combine")
	}
	out := &Model{Input: InputName, Output: FeatureOutput}
	var inputInfo *onnxpb.ValueInfoProto
	var features []string
	g := &onnxpb.GraphProto{Name: proto.String("autocv")}
	res := &onnxpb.ModelProto{Graph: g}
	for i, p := range parts {
		d := p.Descriptor
		if i > 0 && d.Preprocess != parts[0].Descriptor.Preprocess {
			return nil, fmt.Errorf("graph: backbones %q and %q preprocess images differently (%+v, %+v); they cannot share one input",
				parts[0].Descriptor.ID, d.ID, parts[0].Descriptor.Preprocess, d.Preprocess)
		}
		for _, id := range out.Backbones {
			if id == d.ID {
				return nil, fmt.Errorf("graph: backbone %q appears twice", d.ID)
			}
		}
		fm, err := Features(d, p.Model)
		if err != nil {
			return nil, err
		}
		m := fm.Proto
		if len(m.GetFunctions()) > 0 {
			return nil, fmt.Errorf("graph: %s has model-local functions, which Combined cannot merge", d.File)
		}
		if err := mergeOpsets(res, m, d.File); err != nil {
			return nil, err
		}
		res.IrVersion = proto.Int64(max(res.GetIrVersion(), m.GetIrVersion()))
		in := graphInput(m.GetGraph(), d.Input)
		if inputInfo, err = mergeInput(inputInfo, in, d.File); err != nil {
			return nil, err
		}
		pfx := d.ID + "/"
		rename(m.GetGraph(), func(name string) string {
			switch name {
			case "":
				return ""
			case d.Input:
				return InputName
			}
			return pfx + name
		})
		sg := m.GetGraph()
		g.Node = append(g.Node, sg.Node...)
		g.Initializer = append(g.Initializer, sg.Initializer...)
		g.SparseInitializer = append(g.SparseInitializer, sg.SparseInitializer...)
		g.ValueInfo = append(g.ValueInfo, sg.ValueInfo...)
		g.QuantizationAnnotation = append(g.QuantizationAnnotation, sg.QuantizationAnnotation...)
		f := pfx + FeatureOutput
		if p.Normalize {
			f = appendL2(g, f, pfx+prefix+"normalized", pfx+prefix)
		}
		features = append(features, f)
		out.Dim += fm.Dim
		out.Backbones = append(out.Backbones, d.ID)
	}
	batch := batchDim(inputInfo)
	out.FixedBatch = fixedBatch(batch)
	g.Input = []*onnxpb.ValueInfoProto{inputInfo}
	g.Node = append(g.Node, node("Concat", prefix+"ConcatFeatures", features, []string{FeatureOutput}, attrInt("axis", 1)))
	g.Output = []*onnxpb.ValueInfoProto{tensorInfo(FeatureOutput, batch, out.Dim)}
	stamp(res)
	out.Proto = res
	return out, nil
}

// mergeInput checks that backbone input in (from file) fits the shared
// input so far and returns the shared input: named InputName, with a fixed
// batch when any backbone has one.
func mergeInput(shared, in *onnxpb.ValueInfoProto, file string) (*onnxpb.ValueInfoProto, error) {
	in = proto.Clone(in).(*onnxpb.ValueInfoProto)
	in.Name = proto.String(InputName)
	if shared == nil {
		return in, nil
	}
	a, b := shared.GetType().GetTensorType().GetShape().GetDim(), in.GetType().GetTensorType().GetShape().GetDim()
	if len(a) != len(b) {
		return nil, fmt.Errorf("graph: %s takes a %d-dimensional input, another backbone %d", file, len(b), len(a))
	}
	for i := 1; i < len(a); i++ {
		if !proto.Equal(a[i], b[i]) {
			return nil, fmt.Errorf("graph: %s input dimension %d is %v, another backbone's is %v", file, i, b[i], a[i])
		}
	}
	fa, fb := fixedBatch(a[0]), fixedBatch(b[0])
	switch {
	case fa > 0 && fb > 0 && fa != fb:
		return nil, fmt.Errorf("graph: %s takes batches of exactly %d, another backbone exactly %d", file, fb, fa)
	case fb > 0:
		return in, nil
	}
	return shared, nil
}

// appendL2 appends in / max(ReduceL2(in), 1e-12) to g, naming the new
// tensor out and the intermediates under names, and returns out.
func appendL2(g *onnxpb.GraphProto, in, out, names string) string {
	eps := prefix + "l2_epsilon"
	if backbone.Initializer(g, eps) == nil {
		g.Initializer = append(g.Initializer, floatTensor(eps, nil, []float32{L2Epsilon}))
	}
	norm, den := names+"l2_norm", names+"l2_denominator"
	g.Node = append(g.Node,
		node("ReduceL2", names+"L2Norm", []string{in}, []string{norm}, attrInts("axes", 1), attrInt("keepdims", 1)),
		node("Max", names+"L2Floor", []string{norm, eps}, []string{den}),
		node("Div", names+"L2Normalize", []string{in, den}, []string{out}),
	)
	return out
}

// rename applies f to every tensor and node name in g and its subgraphs.
func rename(g *onnxpb.GraphProto, f func(string) string) {
	for _, n := range g.GetNode() {
		if n.Name != nil {
			n.Name = proto.String(f(n.GetName()))
		}
		for i, s := range n.Input {
			n.Input[i] = f(s)
		}
		for i, s := range n.Output {
			n.Output[i] = f(s)
		}
		for _, a := range n.GetAttribute() {
			for _, sg := range subgraphs(a) {
				rename(sg, f)
			}
		}
	}
	for _, t := range g.GetInitializer() {
		t.Name = proto.String(f(t.GetName()))
	}
	for _, t := range g.GetSparseInitializer() {
		for _, x := range []*onnxpb.TensorProto{t.GetValues(), t.GetIndices()} {
			if x != nil && x.Name != nil {
				x.Name = proto.String(f(x.GetName()))
			}
		}
	}
	for _, vs := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		for _, v := range vs {
			v.Name = proto.String(f(v.GetName()))
		}
	}
	for _, a := range g.GetQuantizationAnnotation() {
		a.TensorName = proto.String(f(a.GetTensorName()))
		for _, e := range a.GetQuantParameterTensorNames() {
			e.Value = proto.String(f(e.GetValue()))
		}
	}
}
