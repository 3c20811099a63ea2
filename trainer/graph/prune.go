package graph

import (
	"fmt"
	"slices"

	"github.com/autocv/autocv/trainer/onnxpb"
	"google.golang.org/protobuf/proto"
)

// prune keeps only what the graph's outputs need: walking the nodes from the
// last to the first (ONNX keeps them in topological order), a node stays
// when one of its outputs is needed, and then its inputs are needed too.
// Unneeded nodes, initializers, value_info, quantization annotations and
// graph inputs other than keepInput are dropped; training_info (which
// refers to the dropped tensors) goes too. It fails when the outputs do not
// depend on keepInput: the cut model would not read the image.
func prune(m *onnxpb.ModelProto, keepInput string) error {
	g := m.GetGraph()
	need := map[string]bool{}
	for _, o := range g.GetOutput() {
		need[o.GetName()] = true
	}
	var kept []*onnxpb.NodeProto
	for i := len(g.GetNode()) - 1; i >= 0; i-- {
		n := g.GetNode()[i]
		if !slices.ContainsFunc(n.GetOutput(), func(o string) bool { return need[o] }) {
			continue
		}
		kept = append(kept, n)
		for _, in := range n.GetInput() {
			need[in] = true
		}
		for _, a := range n.GetAttribute() {
			for _, sg := range subgraphs(a) {
				for name := range outerNames(sg) {
					need[name] = true
				}
			}
		}
	}
	slices.Reverse(kept)
	g.Node = kept
	if !need[keepInput] {
		return fmt.Errorf("graph: the outputs do not depend on the input %q", keepInput)
	}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnxpb.TensorProto) bool { return !need[t.GetName()] })
	g.SparseInitializer = slices.DeleteFunc(g.SparseInitializer, func(t *onnxpb.SparseTensorProto) bool {
		return !need[t.GetValues().GetName()]
	})
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return !need[v.GetName()] })
	g.Input = slices.DeleteFunc(g.Input, func(v *onnxpb.ValueInfoProto) bool {
		return v.GetName() != keepInput && !need[v.GetName()]
	})
	g.QuantizationAnnotation = slices.DeleteFunc(g.QuantizationAnnotation, func(a *onnxpb.TensorAnnotation) bool {
		return !need[a.GetTensorName()]
	})
	m.TrainingInfo = nil
	pruneOpsets(m)
	return nil
}

// subgraphs returns the graphs held by an attribute (If, Loop, Scan bodies).
func subgraphs(a *onnxpb.AttributeProto) []*onnxpb.GraphProto {
	gs := slices.Clone(a.GetGraphs())
	if a.GetG() != nil {
		gs = append(gs, a.GetG())
	}
	return gs
}

// outerNames returns the names a subgraph reads from the graphs around it:
// node inputs it does not define itself.
func outerNames(g *onnxpb.GraphProto) map[string]bool {
	defined := map[string]bool{}
	for _, v := range g.GetInput() {
		defined[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		defined[t.GetName()] = true
	}
	outer := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in != "" && !defined[in] {
				outer[in] = true
			}
		}
		for _, a := range n.GetAttribute() {
			for _, sg := range subgraphs(a) {
				for name := range outerNames(sg) {
					if !defined[name] {
						outer[name] = true
					}
				}
			}
		}
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	return outer
}

// pruneOpsets drops opset imports no node uses (quantised exports import a
// dozen domains they never touch); the default domain always stays.
func pruneOpsets(m *onnxpb.ModelProto) {
	used := map[string]bool{"": true}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, n := range g.GetNode() {
			used[domain(n.GetDomain())] = true
			for _, a := range n.GetAttribute() {
				for _, sg := range subgraphs(a) {
					walk(sg)
				}
			}
		}
	}
	walk(m.GetGraph())
	for _, f := range m.GetFunctions() {
		used[domain(f.GetDomain())] = true
		walk(&onnxpb.GraphProto{Node: f.GetNode()})
		for _, o := range f.GetOpsetImport() {
			used[domain(o.GetDomain())] = true
		}
	}
	m.OpsetImport = slices.DeleteFunc(m.OpsetImport, func(o *onnxpb.OperatorSetIdProto) bool {
		return !used[domain(o.GetDomain())]
	})
}

// domain normalises the default domain's two spellings to "".
func domain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// mergeOpsets adds b's opset imports to a's. The same domain at two
// versions is an error: one graph cannot run two versions of an operator set.
func mergeOpsets(a *onnxpb.ModelProto, b *onnxpb.ModelProto, bName string) error {
	have := map[string]int64{}
	for _, o := range a.GetOpsetImport() {
		have[domain(o.GetDomain())] = o.GetVersion()
	}
	for _, o := range b.GetOpsetImport() {
		d := domain(o.GetDomain())
		v, ok := have[d]
		switch {
		case !ok:
			a.OpsetImport = append(a.OpsetImport, proto.Clone(o).(*onnxpb.OperatorSetIdProto))
			have[d] = o.GetVersion()
		case v != o.GetVersion():
			return fmt.Errorf("graph: %s imports opset %q version %d, another backbone version %d; they cannot share one graph",
				bName, o.GetDomain(), o.GetVersion(), v)
		}
	}
	return nil
}
