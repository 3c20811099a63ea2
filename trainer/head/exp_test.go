package head

import (
	"context"
	"testing"
	"time"
)

func TestRealSearch(t *testing.T) {
	hym, flw := loadReal(t)
	// 7 classes: flowers 0-4, hymenoptera 5-6.
	shift := func(d Dataset) Dataset {
		o := Dataset{Classes: 7, X: d.X}
		for _, y := range d.Y {
			o.Y = append(o.Y, y+5)
		}
		return o
	}
	widen := func(d Dataset) Dataset { d.Classes = 7; return d }
	join := func(a, b Dataset) Dataset { c, _ := Concat(widen(a), shift(b)); return c }
	tr, va, te := join(flw.train, hym.train), join(flw.val, hym.val), join(flw.test, hym.test)
	t.Logf("train %d val %d test %d", tr.Len(), va.Len(), te.Len())
	for _, recipe := range []string{"general", "high-accuracy", "high-performance"} {
		for _, metric := range []string{"top1", "f1"} {
			start := time.Now()
			best, all, err := Search(context.Background(), tr, va, Grid(recipe, 1), metric, nil)
			if err != nil {
				t.Fatal(err)
			}
			st := time.Since(start)
			for _, c := range all {
				t.Logf("  %-40s ep %3d %v top1 %.3f f1 %.3f loss %.4f", c.Config.Name(), c.Epochs, c.Duration.Round(time.Millisecond), c.Scores["top1"], c.Scores["f1"], c.ValLoss)
			}
			all2, _ := Concat(tr, va)
			start = time.Now()
			h, _ := Refit(context.Background(), all2, best.Config, best.Epochs)
			t.Logf("%s %s: search %v refit %v best %s test %.3f", recipe, metric, st.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), best.Config.Name(), accuracy(h, te))
		}
	}
}
