package graph

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/onnxpb"
)

// opsets lists a model's opset imports as "domain:version".
func opsets(m *onnxpb.ModelProto) []string {
	var out []string
	for _, o := range m.GetOpsetImport() {
		out = append(out, fmt.Sprintf("%s:%d", o.GetDomain(), o.GetVersion()))
	}
	slices.Sort(out)
	return out
}

func opTypes(m *onnxpb.ModelProto) map[string]int {
	ops := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	return ops
}

// The MobileNetV2 feature model returns exactly the pooled uint8 feature of
// the original graph, dequantised, for a batch of 8 real photos.
func TestFeatureModelMobileNetV2(t *testing.T) {
	bb := openBackbone(t, backbone.MobileNetV2)
	m, err := Features(bb.Descriptor, bb.Data)
	if err != nil {
		t.Fatal(err)
	}
	if m.FixedBatch != 0 || m.Dim != 1280 || m.Output != FeatureOutput {
		t.Fatalf("model %+v", m)
	}
	g := m.Proto.GetGraph()
	if len(g.GetOutput()) != 1 || batchDim(g.GetOutput()[0]).GetDimParam() == "" {
		t.Fatalf("outputs %v: want one with a dynamic batch", g.GetOutput())
	}
	ops := opTypes(m.Proto)
	if ops["QLinearMatMul"] != 0 || ops["QLinearAdd"] != 10 || ops["DequantizeLinear"] != 2 {
		t.Errorf("classifier not pruned: ops %v", ops)
	}
	if got, want := opsets(m.Proto), []string{":12", "com.microsoft:1"}; !slices.Equal(got, want) {
		t.Errorf("opset imports %v, want %v", got, want)
	}
	if m.Proto.GetIrVersion() != 7 || m.Proto.GetProducerName() != "autocv" {
		t.Errorf("ir_version %d, producer %q", m.Proto.GetIrVersion(), m.Proto.GetProducerName())
	}
	model, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	in := images(t, n)
	got := run(t, model, FeatureOutput, in, n)

	raw := runRaw[uint8](t, exposeTensor(t, bb.Data, "472_quantized", onnxpb.TensorProto_UINT8), "472_quantized", in, n)
	scale := float32(scalarInit(t, bb.Data, "464_scale"))
	zero := int32(scalarInit(t, bb.Data, "464_zero_point"))
	if len(got) != n*1280 || len(raw) != n*1280 {
		t.Fatalf("got %d and %d values, want %d", len(got), len(raw), n*1280)
	}
	var nonzero int
	for i, q := range raw {
		want := float32(int32(q)-zero) * scale
		if math.Abs(float64(got[i]-want)) > 1e-6 {
			t.Fatalf("value %d: %v, dequantised reference %v", i, got[i], want)
		}
		if q != 0 {
			nonzero++
		}
	}
	if nonzero < len(raw)/10 {
		t.Fatalf("only %d of %d feature values are non-zero", nonzero, len(raw))
	}
	// Items of a batch of 8 match the same photo run alone.
	one := run(t, model, FeatureOutput, in[3*3*224*224:4*3*224*224], 1)
	for i, v := range one {
		if math.Abs(float64(v-got[3*1280+i])) > 1e-6 {
			t.Fatalf("batch item 3 value %d: %v alone, %v in a batch", i, v, got[3*1280+i])
		}
	}
}

// The ShuffleNet file takes batches of exactly one; its feature model
// returns the float tensor 611 of the original graph.
func TestFeatureModelShuffleNet(t *testing.T) {
	bb := openBackbone(t, backbone.ShuffleNet)
	m, err := Features(bb.Descriptor, bb.Data)
	if err != nil {
		t.Fatal(err)
	}
	if m.FixedBatch != 1 || m.Dim != 1024 {
		t.Fatalf("FixedBatch %d, Dim %d; want 1, 1024", m.FixedBatch, m.Dim)
	}
	if ops := opTypes(m.Proto); ops["MatMul"] != 0 || ops["Add"] != 0 {
		t.Errorf("classifier not pruned: ops %v", ops)
	}
	if got, want := opsets(m.Proto), []string{":12"}; !slices.Equal(got, want) {
		t.Errorf("opset imports %v, want %v", got, want)
	}
	model, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ref := exposeTensor(t, bb.Data, "611", onnxpb.TensorProto_FLOAT)
	in := images(t, 2)
	for i := range 2 {
		x := in[i*3*224*224 : (i+1)*3*224*224]
		got := run(t, model, FeatureOutput, x, 1)
		want := runRaw[float32](t, ref, "611", x, 1)
		if len(got) != 1024 || len(want) != 1024 {
			t.Fatalf("got %d and %d values, want 1024", len(got), len(want))
		}
		for j := range got {
			if math.Abs(float64(got[j]-want[j])) > 1e-6 {
				t.Fatalf("photo %d value %d: %v, original graph %v", i, j, got[j], want[j])
			}
		}
	}
	// The same model twice encodes to the same bytes.
	again, err := FeatureModel(bb.Descriptor, bb.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(model, again) {
		t.Error("FeatureModel is not deterministic")
	}
}
