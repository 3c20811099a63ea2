package fleetsim

import (
	"fmt"
	"strconv"
	"strings"
)

// FaultKind names a misbehaviour a simulated device can be given.
type FaultKind string

const (
	SlowTransfer   FaultKind = "slow-transfer"   // waits between transfer windows
	CutTransfer    FaultKind = "cut-transfer"    // drops its connection halfway through a transfer
	CrashOnSwap    FaultKind = "crash-on-swap"   // vanishes during the swap, comes back on the old model
	FailSelfTest   FaultKind = "fail-self-test"  // reports failed with a reason instead of serving
	Offline        FaultKind = "offline"         // disconnects for a while, then catches up
	TelemetryFlood FaultKind = "telemetry-flood" // sends telemetry many times a second
)

var faultKinds = []FaultKind{SlowTransfer, CutTransfer, CrashOnSwap, FailSelfTest, Offline, TelemetryFlood}

// Fault gives Kind to Fraction (0..1) of the devices.
type Fault struct {
	Kind     FaultKind
	Fraction float64
}

// ParseFault reads "kind:fraction", e.g. "slow-transfer:0.1".
func ParseFault(s string) (Fault, error) {
	kind, frac, ok := strings.Cut(s, ":")
	if !ok {
		return Fault{}, fmt.Errorf("故障 %q 格式应为 类型:比例 / fault %q: want kind:fraction, e.g. slow-transfer:0.1", s, s)
	}
	f := Fault{Kind: FaultKind(kind)}
	known := false
	for _, k := range faultKinds {
		known = known || k == f.Kind
	}
	if !known {
		return Fault{}, fmt.Errorf("未知故障类型 %q / unknown fault kind %q; known: %v", kind, kind, faultKinds)
	}
	v, err := strconv.ParseFloat(frac, 64)
	if err != nil || v < 0 || v > 1 {
		return Fault{}, fmt.Errorf("故障比例 %q 应在 0 到 1 之间 / fault fraction %q: want a number in [0, 1]", frac, frac)
	}
	f.Fraction = v
	return f, nil
}

// assign picks each fault's devices: device i of n has fault f when i
// falls in f's share, counted from the end of the name order, so that the
// first names stay healthy. The control plane takes a rollout's devices in
// order of their random ids, not their names, so a canary is not the first
// names: tests find the faulty devices as the last of DeviceIDs (name
// order) and size the canary from the sorted ids.
func assign(faults []Fault, i, n int) map[FaultKind]bool {
	var got map[FaultKind]bool
	for _, f := range faults {
		k := int(f.Fraction*float64(n) + 0.5)
		if i >= n-k {
			if got == nil {
				got = map[FaultKind]bool{}
			}
			got[f.Kind] = true
		}
	}
	return got
}
