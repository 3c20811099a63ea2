package graph

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/modelpkg"
	"github.com/autocv/autocv/trainer/backbone"
)

// randomHead returns a head with layers of the given widths (dims[0] is
// the feature width) and random weights from a fixed seed. Raw features
// (not unit vectors) get smaller first-layer weights.
func randomHead(dims []int, normalize, raw bool, seed uint64) Head {
	r := rand.New(rand.NewPCG(seed, 1))
	h := Head{Normalize: normalize}
	for i := 0; i+1 < len(dims); i++ {
		l := Dense{In: dims[i], Out: dims[i+1], W: make([]float32, dims[i]*dims[i+1]), B: make([]float32, dims[i+1]), Relu: i+2 < len(dims)}
		scale := 1 / math.Sqrt(float64(l.In))
		if i == 0 {
			scale = 3 // logits of a few units from unit-length features
			if raw && !normalize {
				scale = 0.1
			}
		}
		for j := range l.W {
			l.W[j] = float32(r.NormFloat64() * scale)
		}
		for j := range l.B {
			l.B[j] = float32(r.NormFloat64() * 0.1)
		}
		h.Layers = append(h.Layers, l)
	}
	return h
}

// forward is the head in Go: what the exported graph must compute.
func forward(h Head, x []float32) []float32 {
	x = slices.Clone(x)
	if h.Normalize {
		L2Normalize(x)
	}
	for _, l := range h.Layers {
		y := make([]float32, l.Out)
		for o := range l.Out {
			s := float64(l.B[o])
			for i, v := range x {
				s += float64(l.W[o*l.In+i]) * float64(v)
			}
			if l.Relu {
				s = max(s, 0)
			}
			y[o] = float32(s)
		}
		x = y
	}
	engine.Softmax(x)
	return x
}

// The exported model maps images straight to softmax(W·x+b) of the
// feature model's output, for single backbones and the combined one.
func TestAppendHead(t *testing.T) {
	mb := openBackbone(t, backbone.MobileNetV2)
	cases := []struct {
		name  string
		build func() (*Model, error)
		n     int
		head  []int
		norm  bool
		raw   bool // features are not unit vectors
	}{
		{"mobilenetv2 softmax regression batch 3", func() (*Model, error) { return Features(mb.Descriptor, mb.Data) }, 3, []int{1280, 5}, false, true},
		{"mobilenetv2 normalised MLP batch 8", func() (*Model, error) { return Features(mb.Descriptor, mb.Data) }, 8, []int{1280, 32, 7}, true, true},
		{"general recipe batch 1", func() (*Model, error) { return Combined(generalParts(t)) }, 1, []int{2304, 2}, false, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fm, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			features, err := fm.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			h := randomHead(tc.head, tc.norm, tc.raw, uint64(i))
			m := fm.Clone()
			if err := AppendHead(m, h); err != nil {
				t.Fatal(err)
			}
			classes := tc.head[len(tc.head)-1]
			if m.Output != ProbabilityOutput || m.Dim != classes || fm.Output != FeatureOutput {
				t.Fatalf("model %+v, feature model %+v", m, fm)
			}
			labels := make([]string, classes)
			for j := range labels {
				labels[j] = string(rune('a' + j))
			}
			pre := preprocess.ImageNet().Preprocess()
			if err := SetMetadata(m, Metadata{Labels: labels, Preprocess: pre, Version: "1.2.3"}); err != nil {
				t.Fatal(err)
			}
			model, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			checkMetadata(t, model, labels, pre, fm.Backbones)

			in := images(t, tc.n)
			x := run(t, features, FeatureOutput, in, tc.n)
			got := run(t, model, ProbabilityOutput, in, tc.n)
			if len(got) != tc.n*classes {
				t.Fatalf("%d probabilities, want %d", len(got), tc.n*classes)
			}
			var spread float64
			for k := range tc.n {
				want := forward(h, x[k*fm.Dim:(k+1)*fm.Dim])
				p := got[k*classes : (k+1)*classes]
				var sum float64
				for j := range p {
					if math.Abs(float64(p[j]-want[j])) > 1e-5 {
						t.Fatalf("image %d class %d: graph %v, Go %v", k, j, p[j], want[j])
					}
					sum += float64(p[j])
					spread = max(spread, float64(p[j]))
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Fatalf("image %d: probabilities sum to %v", k, sum)
				}
			}
			t.Logf("largest probability %.3f", spread)
			if spread < 1/float64(classes)+0.1 {
				t.Errorf("head too flat to test anything: max probability %v", spread)
			}
		})
	}
}

func checkMetadata(t *testing.T, model []byte, labels []string, pre modelpkg.Preprocess, backbones []string) {
	t.Helper()
	p, err := backbone.ParseModel("model.onnx", model)
	if err != nil {
		t.Fatal(err)
	}
	md := ReadMetadata(p)
	var gotLabels, gotBackbones []string
	var gotPre modelpkg.Preprocess
	for key, v := range map[string]any{MetaLabels: &gotLabels, MetaPreprocess: &gotPre, MetaBackbones: &gotBackbones} {
		if err := json.Unmarshal([]byte(md[key]), v); err != nil {
			t.Fatalf("metadata %q = %q: %v", key, md[key], err)
		}
	}
	if !slices.Equal(gotLabels, labels) || gotPre != pre || !slices.Equal(gotBackbones, backbones) || md[MetaVersion] != "1.2.3" {
		t.Errorf("metadata %v", md)
	}
	if p.GetProducerName() != "autocv" || p.GetProducerVersion() != "1.2.3" || p.GetIrVersion() != 7 {
		t.Errorf("producer %q %q, ir_version %d", p.GetProducerName(), p.GetProducerVersion(), p.GetIrVersion())
	}
}

func TestAppendHeadRefuses(t *testing.T) {
	mb := openBackbone(t, backbone.MobileNetV2)
	fm, err := Features(mb.Descriptor, mb.Data)
	if err != nil {
		t.Fatal(err)
	}
	ok := randomHead([]int{1280, 3}, false, true, 1)
	relu := randomHead([]int{1280, 3}, false, true, 1)
	relu.Layers[0].Relu = true
	short := randomHead([]int{1280, 3}, false, true, 1)
	short.Layers[0].W = short.Layers[0].W[1:]
	nan := randomHead([]int{1280, 3}, false, true, 1)
	nan.Layers[0].B[2] = float32(math.NaN())
	cases := []struct {
		name string
		head Head
		want string
	}{
		{"no layers", Head{}, "no layers"},
		{"wrong input width", randomHead([]int{1024, 3}, false, true, 1), "takes 1024 inputs"},
		{"relu on logits", relu, "last layer has a ReLU"},
		{"missing weight", short, "weights"},
		{"nan bias", nan, "non-finite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := AppendHead(fm.Clone(), tc.head)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	m := fm.Clone()
	if err := AppendHead(m, ok); err != nil {
		t.Fatal(err)
	}
	if err := AppendHead(m, ok); err == nil {
		t.Error("a second head was appended")
	}
	if err := SetMetadata(m, Metadata{Labels: []string{"a", "b"}}); err == nil {
		t.Error("2 labels accepted for 3 classes")
	}
}
