package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/autocv/autocv/trainer/onnxpb"
)

// MirrorMean turns a feature model (Features or Combined, not yet with a
// head) into one that also runs on the input mirrored left to right and
// outputs the mean of the two features: test-time augmentation inside the
// graph, so a device runs one model and gets what the trainer judged each
// photo by (the mean of its plain and flip views; the flip view mirrors
// the finished tensor, as the Slice here does). Every node is run twice,
// sharing the weights; the model costs twice the compute, not twice the
// size.
func MirrorMean(m *Model) error {
	if m.Output != FeatureOutput {
		return fmt.Errorf("graph: MirrorMean wants a feature model, not one ending in %q", m.Output)
	}
	g := m.Proto.GetGraph()
	weights := map[string]bool{}
	for _, t := range g.GetInitializer() {
		weights[t.GetName()] = true
	}
	if weights[prefix+"mirror_steps"] {
		return fmt.Errorf("graph: the model is mirrored already")
	}
	plain := prefix + "plain_features"
	found := false
	for _, n := range g.GetNode() {
		for _, a := range n.GetAttribute() {
			if len(subgraphs(a)) > 0 {
				return fmt.Errorf("graph: node %s has a subgraph; MirrorMean cannot copy it", n.GetName())
			}
		}
		for i, o := range n.Output {
			if o == FeatureOutput {
				n.Output[i], found = plain, true
			}
		}
	}
	if !found {
		return fmt.Errorf("graph: no node makes %q", FeatureOutput)
	}
	mirrored := prefix + "mirrored_input"
	mirror := func(name string) string {
		switch {
		case name == "" || weights[name]:
			return name
		case name == m.Input:
			return mirrored
		}
		return prefix + "mirror/" + name
	}
	copies := make([]*onnxpb.NodeProto, 0, len(g.GetNode()))
	for _, n := range g.GetNode() {
		c := proto.Clone(n).(*onnxpb.NodeProto)
		c.Name = proto.String(prefix + "mirror/" + n.GetName())
		for i, s := range c.Input {
			c.Input[i] = mirror(s)
		}
		for i, s := range c.Output {
			c.Output[i] = mirror(s)
		}
		copies = append(copies, c)
	}
	// Slice with step -1 over the width (NCHW axis 3), from the last column
	// to past the first.
	starts, ends, axes, steps := prefix+"mirror_starts", prefix+"mirror_ends", prefix+"mirror_axes", prefix+"mirror_steps"
	half := prefix + "half"
	g.Initializer = append(g.Initializer,
		int64Tensor(starts, -1), int64Tensor(ends, math.MinInt64), int64Tensor(axes, 3), int64Tensor(steps, -1),
		floatTensor(half, nil, []float32{0.5}))
	sum := prefix + "feature_sum"
	g.Node = append(append([]*onnxpb.NodeProto{
		node("Slice", prefix+"Mirror", []string{m.Input, starts, ends, axes, steps}, []string{mirrored}),
	}, g.Node...), copies...)
	g.Node = append(g.Node,
		node("Add", prefix+"SumViews", []string{plain, mirror(plain)}, []string{sum}),
		node("Mul", prefix+"MeanViews", []string{sum, half}, []string{FeatureOutput}),
	)
	stamp(m.Proto)
	return nil
}

// int64Tensor builds a one-element int64 initializer of shape [1].
func int64Tensor(name string, v int64) *onnxpb.TensorProto {
	raw := binary.LittleEndian.AppendUint64(nil, uint64(v))
	return &onnxpb.TensorProto{
		Name: proto.String(name), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)),
		Dims: []int64{1}, RawData: raw,
	}
}
