package onnx

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseMemorySettings(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		budget, limit int64
		err           string
	}{
		{"default", nil, DefaultDecodeBudgetMB << 20, DefaultDecodeBudgetMB<<20 + memoryMargin, ""},
		{"edge box", map[string]string{DecodeBudgetEnv: "160"}, 160 << 20, 160<<20 + memoryMargin, ""},
		{"spaces", map[string]string{DecodeBudgetEnv: " 512 "}, 512 << 20, 512<<20 + memoryMargin, ""},
		{"GOMEMLIMIT wins", map[string]string{DecodeBudgetEnv: "160", "GOMEMLIMIT": "1GiB"}, 160 << 20, 0, ""},
		{"too small", map[string]string{DecodeBudgetEnv: "8"}, 0, 0, `AUTOCV_DECODE_BUDGET_MB="8": want a whole number of megabytes from 32`},
		{"not a number", map[string]string{DecodeBudgetEnv: "160MB"}, 0, 0, `AUTOCV_DECODE_BUDGET_MB="160MB"`},
		{"negative", map[string]string{DecodeBudgetEnv: "-1"}, 0, 0, "(edge box: 160, default 256)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseMemorySettings(func(k string) string { return tc.env[k] })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.DecodeBudget != tc.budget || s.MemoryLimit != tc.limit {
				t.Errorf("got %+v, want budget %d, limit %d", s, tc.budget, tc.limit)
			}
		})
	}
}

// The reclaimer frees memory once after a burst of big decodes, not after
// small ones, not while decodes run, and not more often than every.
func TestReclaimer(t *testing.T) {
	var frees atomic.Int32
	var busy atomic.Bool
	r := &reclaimer{
		after: 100, delay: 50 * time.Millisecond, every: time.Second,
		free: func() { frees.Add(1) },
		busy: busy.Load,
	}
	still := func(d time.Duration, want int32) {
		t.Helper()
		time.Sleep(d)
		if got := frees.Load(); got != want {
			t.Fatalf("%d frees, want %d", got, want)
		}
	}
	eventually := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); frees.Load() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d frees, want %d", frees.Load(), want)
			}
		}
	}
	r.idle(50)
	still(200*time.Millisecond, 0) // small: nothing to give back

	// a big one, but another decode has started when the timer fires: no
	// free until that one ends too
	busy.Store(true)
	r.idle(150)
	still(200*time.Millisecond, 0)
	busy.Store(false)
	r.idle(10)
	eventually(1)

	// right after a free, the next waits for every
	r.idle(200)
	still(300*time.Millisecond, 1)
	eventually(2)
}
