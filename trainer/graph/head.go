package graph

import (
	"fmt"
	"math"

	"github.com/autocv/autocv/trainer/onnxpb"
)

// L2Epsilon is the floor on a vector's norm in L2 normalisation, in the
// graph and in L2Normalize, so an all-zero feature stays zero.
const L2Epsilon = 1e-12

// L2Normalize divides v in place by max(||v||₂, L2Epsilon): what the
// normalisation nodes of Combined and Head.Normalize compute, so features
// the trainer normalises in Go match the exported model's.
func L2Normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	n := float32(math.Sqrt(ss))
	n = max(n, L2Epsilon)
	for i := range v {
		v[i] /= n
	}
}

// Dense is one fully connected layer: y = W·x + b, then ReLU when Relu.
type Dense struct {
	In, Out int
	W       []float32 // Out×In, row-major: W[o*In+i] weighs input i for output o
	B       []float32 // Out
	Relu    bool
}

// Head is a trained classification head on a feature vector.
type Head struct {
	// Normalize L2-normalises the feature before the first layer.
	Normalize bool
	// Layers run in order; the last one's Out is the number of classes and
	// it has no ReLU (its outputs are the logits).
	Layers []Dense
}

func (h Head) validate(dim int) error {
	if len(h.Layers) == 0 {
		return fmt.Errorf("graph: head has no layers")
	}
	in := dim
	for i, l := range h.Layers {
		switch {
		case l.In != in:
			return fmt.Errorf("graph: head layer %d takes %d inputs, the previous output has %d", i, l.In, in)
		case l.Out < 1:
			return fmt.Errorf("graph: head layer %d has %d outputs", i, l.Out)
		case len(l.W) != l.In*l.Out:
			return fmt.Errorf("graph: head layer %d: %d weights, want %d×%d", i, len(l.W), l.Out, l.In)
		case len(l.B) != l.Out:
			return fmt.Errorf("graph: head layer %d: %d biases, want %d", i, len(l.B), l.Out)
		case i == len(h.Layers)-1 && l.Relu:
			return fmt.Errorf("graph: head's last layer has a ReLU; its outputs must be the logits")
		}
		for _, vs := range [][]float32{l.W, l.B} {
			for _, v := range vs {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("graph: head layer %d has a non-finite weight", i)
				}
			}
		}
		in = l.Out
	}
	return nil
}

// AppendHead appends h to the feature model m, in place: optional L2
// normalisation, one Gemm (transB=1) per layer with optional Relu, then
// Softmax over axis 1. The graph's single output becomes
// ProbabilityOutput, float32 [N, classes], so the model maps a
// preprocessed image straight to class probabilities. Use Clone first to
// keep the feature model.
func AppendHead(m *Model, h Head) error {
	if m.Output != FeatureOutput {
		return fmt.Errorf("graph: the model's output is %q, a head goes on %q", m.Output, FeatureOutput)
	}
	if err := h.validate(m.Dim); err != nil {
		return err
	}
	g := m.Proto.GetGraph()
	names := prefix + "head/"
	if err := checkFree(g, "the model", names, ProbabilityOutput); err != nil {
		return err
	}
	x := FeatureOutput
	if h.Normalize {
		x = appendL2(g, x, names+"normalized", names)
	}
	for i, l := range h.Layers {
		w, b := fmt.Sprintf("%sdense%d.weight", names, i), fmt.Sprintf("%sdense%d.bias", names, i)
		y := fmt.Sprintf("%sdense%d", names, i)
		g.Initializer = append(g.Initializer,
			floatTensor(w, []int64{int64(l.Out), int64(l.In)}, l.W),
			floatTensor(b, []int64{int64(l.Out)}, l.B))
		g.Node = append(g.Node, node("Gemm", fmt.Sprintf("%sGemm%d", names, i), []string{x, w, b}, []string{y}, attrInt("transB", 1)))
		x = y
		if l.Relu {
			y = fmt.Sprintf("%srelu%d", names, i)
			g.Node = append(g.Node, node("Relu", fmt.Sprintf("%sRelu%d", names, i), []string{x}, []string{y}))
			x = y
		}
	}
	classes := h.Layers[len(h.Layers)-1].Out
	g.Node = append(g.Node, node("Softmax", names+"Softmax", []string{x}, []string{ProbabilityOutput}, attrInt("axis", 1)))
	var batch *onnxpb.TensorShapeProto_Dimension
	if len(g.GetOutput()) > 0 {
		batch = batchDim(g.GetOutput()[0])
	}
	g.Output = []*onnxpb.ValueInfoProto{tensorInfo(ProbabilityOutput, batch, classes)}
	m.Output, m.Dim = ProbabilityOutput, classes
	stamp(m.Proto)
	return nil
}
