package head

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/report"
)

// TestSearchPicksByMetric: on imbalanced data a plain loss wins on top-1
// (it favours the big class) and the class-balanced loss on macro recall;
// Search must follow the metric it is given, and its winner must hold the
// best score among all candidates.
func TestSearchPicksByMetric(t *testing.T) {
	train := blobsFrom(21, 1, 16, []int{600, 30, 30}, 2.5)
	val := blobsFrom(21, 2, 16, []int{300, 15, 15}, 2.5)
	balanced := softmaxConfig()
	plain := balanced
	plain.Unbalanced = true
	grid := []Config{balanced, plain}
	winners := map[string]bool{}
	var calls []int
	for _, metric := range report.SelectionMetrics() {
		best, all, err := Search(context.Background(), train, val, grid, metric, func(done, total int) {
			if total != len(grid) {
				t.Errorf("progress total %d", total)
			}
			calls = append(calls, done)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(grid) || len(best.ValProbs) != val.Len() || best.Head.Classes() != 3 {
			t.Fatalf("%s: %d candidates, %d validation rows", metric, len(all), len(best.ValProbs))
		}
		for _, c := range all {
			if c.Scores[metric] > best.Scores[metric]+scoreTie {
				t.Errorf("%s: winner %s scores %v, %s scores %v", metric, best.Config.Name(), best.Scores[metric], c.Config.Name(), c.Scores[metric])
			}
			if len(c.Scores) != 5 {
				t.Errorf("scores %v", c.Scores)
			}
		}
		t.Logf("%-9s → %s (%v)", metric, best.Config.Name(), best.Scores[metric])
		winners[metric+"/"+map[bool]string{true: "plain", false: "balanced"}[best.Config.Unbalanced]] = true
	}
	if !winners["recall/balanced"] || !winners["top1/plain"] {
		t.Errorf("winners %v: want balanced on recall and plain on top1", winners)
	}
	if len(calls) != 3*len(report.SelectionMetrics()) || calls[0] != 0 || calls[2] != 2 {
		t.Errorf("progress calls %v", calls)
	}
	rc := all0(t, train, val).Report(true)
	if rc.Name == "" || !rc.Chosen || rc.Params["l2"] == 0 || len(rc.Scores) != 5 {
		t.Errorf("report candidate %+v", rc)
	}
}

func all0(t *testing.T, train, val Dataset) Candidate {
	best, _, err := Search(context.Background(), train, val, []Config{softmaxConfig()}, report.MetricF1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return best
}

// TestSearchTies: equal scores go to the model with fewer weights, then to
// the lower validation loss.
func TestSearchTies(t *testing.T) {
	soft, mlp := softmaxConfig(), mlpConfig()
	c := func(cfg Config, score, loss float64) Candidate {
		return Candidate{Config: cfg, Scores: map[string]float64{"f1": score}, ValLoss: loss}
	}
	for _, tc := range []struct {
		name string
		a, b Candidate
		want bool
	}{
		{"higher score", c(mlp, 0.9, 1), c(soft, 0.8, 0.1), true},
		{"simpler on a tie", c(soft, 0.9, 1), c(mlp, 0.9, 0.1), true},
		{"not the more complex", c(mlp, 0.9, 0.1), c(soft, 0.9, 1), false},
		{"lower loss on a tie", c(soft, 0.9, 0.2), c(soft, 0.9, 0.3), true},
		{"equal", c(soft, 0.9, 0.2), c(soft, 0.9, 0.2), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := better(tc.a, tc.b, "f1", 2304, 5); got != tc.want {
				t.Fatalf("better = %v", got)
			}
		})
	}
}

func TestSearchErrors(t *testing.T) {
	d := blobs(1, 8, repeat(10, 2), 1)
	if _, _, err := Search(context.Background(), d, d, Grid("general", 1), "auc", nil); err == nil {
		t.Error("metric auc accepted")
	}
	if _, _, err := Search(context.Background(), d, Dataset{Classes: 2}, Grid("general", 1), "f1", nil); !errors.Is(err, ErrData) {
		t.Errorf("empty validation: %v", err)
	}
	if _, _, err := Search(context.Background(), d, d, nil, "f1", nil); err == nil {
		t.Error("empty grid accepted")
	}
	bad := Dataset{X: d.X, Y: d.Y, Classes: 3}
	if _, _, err := Search(context.Background(), d, bad, Grid("general", 1), "f1", nil); !errors.Is(err, ErrData) {
		t.Errorf("mismatched classes: %v", err)
	}
}

// TestCancel: a search on 1000×2304 features stops within 100 ms of its
// context being cancelled, with the context's error.
func TestCancel(t *testing.T) {
	all := blobs(7, 2304, repeat(250, 5), 40)
	train, val := split(all, 0.8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := Search(ctx, train, val, Grid("high-accuracy", 1), report.MetricF1, nil)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Search = %v, want context.Canceled", err)
		}
		d := time.Since(start)
		t.Logf("stopped %v after cancel", d)
		if d > 100*time.Millisecond {
			t.Errorf("stopped %v after cancel, want within 100ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Search did not stop")
	}
	if _, err := Refit(ctx, train, softmaxConfig(), 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Refit on a cancelled context = %v", err)
	}
}
