package head

import (
	"context"
	"strings"
	"testing"

	"github.com/autocv/autocv/protocol/report"
)

// TestTrainRecordsCurve: every epoch run is one point of the curve, and on
// separable classes the training loss falls and both accuracies reach 1.
func TestTrainRecordsCurve(t *testing.T) {
	all := blobs(11, 64, repeat(400, 4), 0.3) // more training rows than curveSample
	train, val := split(all, 0.75)
	fit, err := Train(context.Background(), train, val, softmaxConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(fit.Curve) != fit.Ran || fit.Ran == 0 {
		t.Fatalf("curve has %d points for %d epochs", len(fit.Curve), fit.Ran)
	}
	first, last := fit.Curve[0], fit.Curve[len(fit.Curve)-1]
	if first.Epoch != 1 || last.Epoch != fit.Ran || last.Loss >= first.Loss {
		t.Errorf("curve from %+v to %+v: want epochs 1…%d and a falling loss", first, last, fit.Ran)
	}
	if last.TrainAccuracy != 1 || last.ValAccuracy != 1 {
		t.Errorf("last epoch %+v: want both accuracies 1 on separable classes", last)
	}
	if best := fit.Curve[fit.Epochs-1]; best.ValLoss != fit.ValLoss {
		t.Errorf("curve's validation loss at the kept epoch %v, fit's %v", best.ValLoss, fit.ValLoss)
	}
	if err := (&report.Report{Schema: report.SchemaVersion, Curve: fit.Curve}).Validate(); err != nil && contains(err.Error(), "curve") {
		t.Errorf("the report refuses the curve: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
