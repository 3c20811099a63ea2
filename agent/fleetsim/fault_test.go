package fleetsim

import "testing"

func TestParseFault(t *testing.T) {
	f, err := ParseFault("slow-transfer:0.1")
	if err != nil || f.Kind != SlowTransfer || f.Fraction != 0.1 {
		t.Fatalf("ParseFault: %+v %v", f, err)
	}
	for _, bad := range []string{"", "slow-transfer", "slow:0.1", "offline:1.5", "offline:-0.1", "offline:x"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}

func TestAssign(t *testing.T) {
	faults := []Fault{{CrashOnSwap, 0.05}, {FailSelfTest, 1}}
	crash := 0
	for i := range 100 {
		got := assign(faults, i, 100)
		if !got[FailSelfTest] {
			t.Errorf("device %d lacks fail-self-test at fraction 1", i)
		}
		if got[CrashOnSwap] {
			crash++
		}
	}
	if crash != 5 {
		t.Errorf("crash-on-swap on %d of 100 devices, want 5", crash)
	}
	if got := assign(nil, 3, 10); got != nil {
		t.Errorf("no faults: %v", got)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{{Server: "ftp://x", Token: "t", Devices: 1}, {Server: "http://x", Devices: 1},
		{Server: "http://x", Token: "t", Devices: 0}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
