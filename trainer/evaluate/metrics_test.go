package evaluate

import (
	"math/rand/v2"
	"testing"

	"github.com/autocv/autocv/protocol/report"
)

// TestEvaluateHandWorked checks every headline figure against values
// worked out by hand from this confusion matrix of 20 images:
//
//	        cat dog bird   (predicted)      row sums 6, 9, 5
//	cat      5   1   0                      column sums 7, 8, 5
//	dog      2   6   1                      trace 15
//	bird     0   1   4
func TestEvaluateHandWorked(t *testing.T) {
	matrix := [][]int{{5, 1, 0}, {2, 6, 1}, {0, 1, 4}}
	truth, probs := fromMatrix(matrix, 0.7)
	res, err := Evaluate(truth, probs, names(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	// precision 5/7, 6/8, 4/5; recall 5/6, 6/9, 4/5;
	// F1 50/65, 12/17, 4/5; kappa (0.75 - 139/400) / (1 - 139/400).
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"accuracy", m.Accuracy, 0.75},
		{"precision", m.Precision, (5.0/7 + 0.75 + 0.8) / 3},
		{"recall", m.Recall, (5.0/6 + 6.0/9 + 0.8) / 3},
		{"f1", m.F1, (50.0/65 + 12.0/17 + 0.8) / 3},
		{"kappa", m.Kappa, 0.4025 / 0.6525},
		{"cat precision", res.PerLabel[0].Precision, 5.0 / 7},
		{"dog recall", res.PerLabel[1].Recall, 6.0 / 9},
		{"dog f1", res.PerLabel[1].F1, 12.0 / 17},
	} {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if got := m.Kappa; got < 0.6168 || got > 0.6169 {
		t.Errorf("kappa = %v, want 0.61686", got)
	}
	for i, want := range []int{6, 9, 5} {
		if res.PerLabel[i].Support != want {
			t.Errorf("support[%d] = %d, want %d", i, res.PerLabel[i].Support, want)
		}
	}
	for i := range matrix {
		for j := range matrix {
			if res.Confusion.Matrix[i][j] != matrix[i][j] {
				t.Fatalf("confusion = %v, want %v", res.Confusion.Matrix, matrix)
			}
		}
	}
	if len(res.Misclassified) != 5 {
		t.Errorf("%d misclassified, want 5", len(res.Misclassified))
	}
	// With 3 labels, top-3 and beyond are 1.
	if m.TopK[2] != 1 || m.TopK[4] != 1 || m.TopK[0] != m.Accuracy {
		t.Errorf("topk = %v", m.TopK)
	}
}

// TestNoPredictionsPrecisionZero: a label nothing was predicted as has
// precision 0 and F1 0, and still counts in the macro average.
func TestNoPredictionsPrecisionZero(t *testing.T) {
	truth, probs := fromMatrix([][]int{{3, 0}, {2, 0}}, 0.9)
	res, err := Evaluate(truth, probs, names(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	dog := res.PerLabel[1]
	if dog.Precision != 0 || dog.Recall != 0 || dog.F1 != 0 {
		t.Errorf("dog = %+v, want zeros", dog)
	}
	if !near(res.Metrics.Precision, 0.6/2) {
		t.Errorf("macro precision = %v, want 0.3", res.Metrics.Precision)
	}
}

func TestTopK(t *testing.T) {
	truth := []int{0, 1, 2, 3}
	probs := [][]float32{
		{0.4, 0.3, 0.2, 0.1},     // true first
		{0.4, 0.3, 0.2, 0.1},     // second
		{0.4, 0.3, 0.2, 0.1},     // third
		{0.25, 0.25, 0.25, 0.25}, // a four-way tie: the highest index ranks last
	}
	for k, want := range []float64{0.25, 0.5, 0.75, 1, 1, 1} {
		if got := TopK(truth, probs, k+1); got != want {
			t.Errorf("top-%d = %v, want %v", k+1, got, want)
		}
	}
}

// bruteAUC counts (positive, negative) pairs directly.
func bruteAUC(truth []int, probs [][]float32, c int) (float64, bool) {
	var wins, pairs float64
	for i := range truth {
		for j := range truth {
			if truth[i] != c || truth[j] == c {
				continue
			}
			pairs++
			switch si, sj := probs[i][c], probs[j][c]; {
			case si > sj:
				wins++
			case si == sj:
				wins += 0.5
			}
		}
	}
	return wins / pairs, pairs > 0
}

func TestAUCMatchesPairwiseCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		k := 2 + trial%4
		truth, probs := randomPredictions(rng, 1+rng.IntN(60), k, 0.6)
		for c := range k {
			got, ok := AUC(truth, probs, c)
			want, wantOK := bruteAUC(truth, probs, c)
			if ok != wantOK || ok && !near(got, want) {
				t.Fatalf("trial %d class %d: AUC = %v, %v; pairwise count %v, %v", trial, c, got, ok, want, wantOK)
			}
		}
	}
	// Perfect separation, all ties, one class only.
	if a, _ := AUC([]int{0, 0, 1}, [][]float32{{0.9, 0.1}, {0.8, 0.2}, {0.3, 0.7}}, 0); a != 1 {
		t.Errorf("separable AUC = %v, want 1", a)
	}
	if a, _ := AUC([]int{0, 1}, [][]float32{{0.5, 0.5}, {0.5, 0.5}}, 0); a != 0.5 {
		t.Errorf("tied AUC = %v, want 0.5", a)
	}
	if _, ok := AUC([]int{0, 0}, [][]float32{{0.5, 0.5}, {0.6, 0.4}}, 0); ok {
		t.Error("AUC defined with no negatives")
	}
}

// TestProperties: on random predictions the pieces always agree with one
// another and with protocol/report's Validate.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		k := 2 + trial%6
		n := 1 + rng.IntN(120)
		truth, probs := randomPredictions(rng, n, k, rng.Float64())
		res, err := Evaluate(truth, probs, names(k), nil)
		if err != nil {
			t.Fatal(err)
		}
		total, trace, rows := matrixTotal(res.Confusion.Matrix)
		if total != n {
			t.Fatalf("trial %d: confusion sums to %d, want %d", trial, total, n)
		}
		for c, l := range res.PerLabel {
			if l.Support != rows[c] {
				t.Fatalf("trial %d: support %d, row sum %d", trial, l.Support, rows[c])
			}
		}
		m := res.Metrics
		if m.Kappa < -1 || m.Kappa > 1 || m.AUC < 0 || m.AUC > 1 {
			t.Fatalf("trial %d: kappa %v, AUC %v out of range", trial, m.Kappa, m.AUC)
		}
		if len(res.Misclassified) != n-trace {
			t.Fatalf("trial %d: %d misclassified, want %d", trial, len(res.Misclassified), n-trace)
		}
		for i := 1; i < len(res.Misclassified); i++ {
			if res.Misclassified[i].Confidence > res.Misclassified[i-1].Confidence {
				t.Fatalf("trial %d: misclassified not sorted by confidence", trial)
			}
		}
		scores := Scores(truth, probs, k)
		if scores[report.MetricTop1] != m.Accuracy || !near(scores[report.MetricF1], m.F1) || scores[report.MetricTop5] != m.TopK[4] {
			t.Fatalf("trial %d: Scores %v disagree with Evaluate %+v", trial, scores, m)
		}
		rep := &report.Report{Schema: report.SchemaVersion, Split: report.Split{Test: n},
			Thresholds: Thresholds(truth, probs, names(k)), Verdict: Verdict(res, nil)}
		res.Fill(rep)
		if err := rep.Validate(); err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
	}
}

func TestEvaluateRejectsBadShapes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		truth []int
		probs [][]float32
		ids   []string
	}{
		{"row count", []int{0, 1}, [][]float32{{1, 0}}, nil},
		{"row width", []int{0}, [][]float32{{1, 0, 0}}, nil},
		{"class range", []int{2}, [][]float32{{1, 0}}, nil},
		{"ids", []int{0}, [][]float32{{1, 0}}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Evaluate(tc.truth, tc.probs, names(2), tc.ids); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
