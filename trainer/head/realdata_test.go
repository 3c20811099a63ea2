package head

import (
	"bufio"
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"
)

type realSet struct{ train, val, test Dataset }

func loadReal(t testing.TB) (hym, flw realSet) {
	idx, err := os.Open("/tmp/featx/index.tsv")
	if err != nil {
		t.Skip(err)
	}
	bin, _ := os.Open("/tmp/featx/features.bin")
	sc := bufio.NewScanner(idx)
	labels := map[string]int{"ants": 0, "bees": 1, "daisy": 0, "dandelion": 1, "rose": 2, "sunflower": 3, "tulip": 4}
	hym = realSet{Dataset{Classes: 2}, Dataset{Classes: 2}, Dataset{Classes: 2}}
	flw = realSet{Dataset{Classes: 5}, Dataset{Classes: 5}, Dataset{Classes: 5}}
	per := map[string]int{}
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		x := make([]float32, 2304)
		binary.Read(bin, binary.LittleEndian, x)
		p := strings.Split(parts[0], "/")
		add := func(d *Dataset, y int) { d.X = append(d.X, x); d.Y = append(d.Y, y) }
		if p[0] == "hymenoptera" {
			y := labels[p[2]]
			if p[1] == "val" {
				add(&hym.test, y)
			} else {
				per["h"+p[2]]++
				if per["h"+p[2]]%5 == 0 {
					add(&hym.val, y)
				} else {
					add(&hym.train, y)
				}
			}
		} else {
			y := labels[p[1]]
			per[p[1]]++
			switch {
			case per[p[1]]%5 == 0:
				add(&flw.test, y)
			case per[p[1]]%5 == 1:
				add(&flw.val, y)
			default:
				add(&flw.train, y)
			}
		}
	}
	return hym, flw
}

var expGrid []Config

func TestRealGrid(t *testing.T) {
	hym, flw := loadReal(t)
	for _, name := range []string{"hym", "flw"} {
		s := map[string]realSet{"hym": hym, "flw": flw}[name]
		for _, cfg := range expGrid {
			start := time.Now()
			fit, err := Train(context.Background(), s.train, s.val, cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := time.Since(start)
			all, _ := Concat(s.train, s.val)
			h, _ := Refit(context.Background(), all, cfg, fit.Epochs)
			t.Logf("%s %-42s ep %3d ran %3d vloss %.4f vacc %.3f test(train-only) %.3f test(refit) %.3f %v", name, cfg.Name(), fit.Epochs, fit.Ran, fit.ValLoss, accuracy(fit.Head, s.val), accuracy(fit.Head, s.test), accuracy(h, s.test), d.Round(time.Millisecond))
		}
	}
}
