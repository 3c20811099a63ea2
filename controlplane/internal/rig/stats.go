package rig

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Latencies is a sample of call durations.
type Latencies []time.Duration

// Summary is what a table prints of a sample, in milliseconds.
type Summary struct {
	N              int
	P50, P99, Mean float64
}

// Summarize sorts a copy of the sample and sums it up; an empty sample
// gives the zero Summary.
func (l Latencies) Summarize() Summary {
	if len(l) == 0 {
		return Summary{}
	}
	s := append(Latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Summary{N: len(s), P50: Quantile(s, 0.50), P99: Quantile(s, 0.99), Mean: MS(sum) / float64(len(s))}
}

// Quantile is the nearest-rank quantile of a sorted sample, in ms.
func Quantile(sorted Latencies, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	return MS(sorted[min(max(i, 0), len(sorted)-1)])
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MB is n bytes in megabytes (10⁶ bytes).
func MB(n int64) float64 { return float64(n) / 1e6 }

// Rule prints a table's underline.
func Rule(n int) { fmt.Println(strings.Repeat("-", n)) }
