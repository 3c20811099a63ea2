package graph

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
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

// The MobileNetV2 feature model computes the pooled feature of the int8
// graph in float: no quantised op is left, and for a batch of 8 real
// photos the feature points the way the original's dequantised uint8
// feature does (int8 rounding is all that differs).
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
	for op, n := range ops {
		if strings.HasPrefix(op, "QLinear") || strings.HasSuffix(op, "QuantizeLinear") {
			t.Errorf("%d %s ops left in %v", n, op, ops)
		}
	}
	if ops["Conv"] != 52 || ops["Add"] != 10 || ops["GlobalAveragePool"] != 1 || ops["MatMul"] != 0 {
		t.Errorf("classifier not pruned or convolutions missing: ops %v", ops)
	}
	if got, want := opsets(m.Proto), []string{":12"}; !slices.Equal(got, want) {
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
	for i := range n {
		want := make([]float32, 1280)
		for j, q := range raw[i*1280 : (i+1)*1280] {
			want[j] = float32(int32(q)-zero) * scale
		}
		if c := cosine(got[i*1280:(i+1)*1280], want); c < 0.95 {
			t.Errorf("photo %d: cosine %.4f between the float feature and the int8 graph's, want ≥ 0.95", i, c)
		}
		if v := slices.Min(got[i*1280 : (i+1)*1280]); v < 0 {
			t.Errorf("photo %d: feature value %v < 0: the ReLU folded into the uint8 range was lost", i, v)
		}
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
// returns tensor 611 of the original graph, computed without the QDQ
// rounding: close to the original's, never further than int8 steps.
func TestFeatureModelShuffleNet(t *testing.T) {
	bb := openBackbone(t, backbone.ShuffleNet)
	m, err := Features(bb.Descriptor, bb.Data)
	if err != nil {
		t.Fatal(err)
	}
	if m.FixedBatch != 1 || m.Dim != 1024 {
		t.Fatalf("FixedBatch %d, Dim %d; want 1, 1024", m.FixedBatch, m.Dim)
	}
	if ops := opTypes(m.Proto); ops["MatMul"] != 0 || ops["Add"] != 0 || ops["QuantizeLinear"] != 0 || ops["DequantizeLinear"] != 0 {
		t.Errorf("classifier not pruned or QDQ left: ops %v", ops)
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
		if c := cosine(got, want); c < 0.95 {
			t.Errorf("photo %d: cosine %.4f between the float feature and the QDQ graph's, want ≥ 0.95", i, c)
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

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
