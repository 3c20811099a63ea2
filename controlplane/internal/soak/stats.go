package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// latencies is a sample of call durations.
type latencies []time.Duration

// summary is what a table prints of a sample, in milliseconds.
type summary struct {
	n              int
	p50, p99, mean float64
}

func (l latencies) summarize() summary {
	if len(l) == 0 {
		return summary{}
	}
	s := append(latencies(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return summary{n: len(s), p50: quantile(s, 0.50), p99: quantile(s, 0.99), mean: ms(sum) / float64(len(s))}
}

// quantile is the nearest-rank quantile of a sorted sample, in ms.
func quantile(sorted latencies, q float64) float64 {
	i := int(q*float64(len(sorted))+0.5) - 1
	return ms(sorted[min(max(i, 0), len(sorted)-1)])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// rule prints a table's underline.
func rule(n int) { fmt.Println(strings.Repeat("-", n)) }
