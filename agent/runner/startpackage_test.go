package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestStartPackage is run mode's start: no package at New, the first
// deployed one given later; a refused one leaves the runner startable.
func TestStartPackage(t *testing.T) {
	ps := &procs{}
	r := newTestRunner(t, ps, "")
	if _, err := r.Status(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no model has been deployed") {
		t.Fatalf("before any package: %v", err)
	}
	if err := r.StartPackage(context.Background(), Package{Path: "/pkgs/bad.tar.gz"}); err == nil {
		t.Fatal("a refused first package started")
	}
	if err := r.StartPackage(context.Background(), Package{Path: "/pkgs/m1.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Status(); err != nil || st.Model.ID != "m1.tar.gz" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := r.StartPackage(context.Background(), Package{Path: "/pkgs/m2.tar.gz"}); err == nil {
		t.Error("StartPackage on a started runner succeeded; Swap is the way")
	}
	if err := r.Swap(context.Background(), Package{Path: "/pkgs/m2.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Status(); st.Model.ID != "m2.tar.gz" {
		t.Errorf("after Swap: %q", st.Model.ID)
	}
}
