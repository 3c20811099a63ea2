package graph

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/trainer/backbone"
	"google.golang.org/protobuf/proto"
)

// manyPhotos returns up to n preprocessed photos from every label folder of
// the two shared data sets, taken round-robin, and their count.
func manyPhotos(t testing.TB, n int) ([]float32, int) {
	t.Helper()
	spec := preprocess.ImageNet()
	var files [][]string
	for _, dir := range []string{"hymenoptera/val/ants", "hymenoptera/val/bees", "flowers5/daisy", "flowers5/rose", "flowers5/tulip"} {
		m, err := filepath.Glob(filepath.Join(testenv.DataDir(t), "datasets", dir, "*.jpg"))
		if err != nil || len(m) == 0 {
			t.Fatalf("no photos in %s: %v", dir, err)
		}
		files = append(files, m)
	}
	var out []float32
	count := 0
	for i := 0; count < n; i++ {
		f := files[i%len(files)]
		if i/len(files) >= len(f) {
			break
		}
		data, err := os.ReadFile(f[i/len(files)])
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]float32, spec.Len())
		if err := spec.DecodeTensor(data, buf); err != nil {
			continue
		}
		out = append(out, buf...)
		count++
	}
	return out, count
}

// The whole ImageNet classifier computed in float answers like the int8
// original on real photos: mostly the same top-1 of 1000 classes, and right
// (ant, bee, daisy) at least about as often. On this data: MobileNetV2 47,
// ShuffleNet 57 of 60 top-1s alike; right 26 vs 24 and 27 vs 26 of 36.
func TestDequantizedClassifierAgrees(t *testing.T) {
	for _, id := range []string{backbone.MobileNetV2, backbone.ShuffleNet} {
		t.Run(id, func(t *testing.T) {
			bb := openBackbone(t, id)
			floatModel, err := FloatModel(bb.Descriptor.File, bb.Data)
			if err != nil {
				t.Fatal(err)
			}
			in, n := manyPhotos(t, 60)
			size := 3 * 224 * 224
			// ImageNet classes of the folders manyPhotos cycles through
			want := []int{310, 309, 985, -1, -1}
			same, rightInt8, rightFloat := 0, 0, 0
			for i := range n {
				x := in[i*size : (i+1)*size]
				a := top1(runRaw[float32](t, bb.Data, "output", x, 1))
				b := top1(runRaw[float32](t, floatModel, "output", x, 1))
				if a == b {
					same++
				}
				if want[i%5] == a {
					rightInt8++
				}
				if want[i%5] == b {
					rightFloat++
				}
			}
			t.Logf("top-1 alike on %d of %d photos; right: int8 %d, float %d", same, n, rightInt8, rightFloat)
			if same < n*7/10 || rightFloat < rightInt8-2 {
				t.Errorf("the float graph strays from the int8 one: top-1 alike on %d of %d photos, right int8 %d, float %d",
					same, n, rightInt8, rightFloat)
			}
		})
	}
}

// A quantised op this pass has no float form for is refused with its name,
// not turned into a graph that computes something else.
func TestDequantizeRefusesUnknownQuantisedOps(t *testing.T) {
	bb := openBackbone(t, backbone.MobileNetV2)
	m, err := backbone.ParseModel("m", bb.Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "QLinearAdd" {
			n.OpType = proto.String("QLinearSigmoid") // a com.microsoft op with no case here
			break
		}
	}
	_, err = dequantize(m.GetGraph(), 12)
	if err == nil || !strings.Contains(err.Error(), "QLinearSigmoid") {
		t.Fatalf("err %v, want one naming QLinearSigmoid", err)
	}
}

func top1(v []float32) int { return slices.Index(v, slices.Max(v)) }
