package reconcile

import (
	"runtime"
	"slices"
	"testing"

	"github.com/autocv/autocv/agent/runner"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/inference"
)

// TestReportedCapability: the reported state says which plugins the
// device can run, what its onnxruntime library carries, its CPUs, and
// whether a GPU works: what the start-up probe learnt until a plugin
// serves, then what the serving plugin and model say.
func TestReportedCapability(t *testing.T) {
	for _, tc := range []struct {
		name          string
		probed        []string
		status        *runner.Status
		wantPlugins   []string
		wantProviders []string
		wantGPU       bool
		wantProvider  string
	}{
		{name: "nothing known"},
		{name: "probed cpu only, no model", probed: []string{"cpu"},
			wantPlugins: []string{inference.NameONNXCPU}, wantProviders: []string{"cpu"}},
		{name: "probed cuda, no model", probed: []string{"cpu", "cuda"},
			wantPlugins: []string{inference.NameONNXCPU, inference.NameONNXCUDA}, wantProviders: []string{"cpu", "cuda"}},
		{name: "cuda plugin fell back to cpu", probed: []string{"cpu", "cuda"},
			status: &runner.Status{
				Model:  inference.Model{ExecutionProvider: "cpu"},
				Plugin: inference.Info{Kind: inference.NameONNXCUDA, ExecutionProviders: []string{"cpu", "cuda"}},
			},
			wantPlugins: []string{inference.NameONNXCPU, inference.NameONNXCUDA}, wantProviders: []string{"cpu", "cuda"}, wantProvider: "cpu"},
		{name: "model on cuda", status: &runner.Status{
			Model:  inference.Model{ExecutionProvider: "cuda"},
			Plugin: inference.Info{Kind: inference.NameONNXCUDA, ExecutionProviders: []string{"cpu", "cuda"}},
		}, wantPlugins: []string{inference.NameONNXCPU, inference.NameONNXCUDA}, wantProviders: []string{"cpu", "cuda"}, wantGPU: true, wantProvider: "cuda"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 0)
			w.rec.cfg.Providers = tc.probed
			w.srv.status = tc.status
			rep := w.rec.reported(fleet.StateIdle)
			if !slices.Equal(rep.Plugins, tc.wantPlugins) || !slices.Equal(rep.ExecutionProviders, tc.wantProviders) ||
				rep.GPU != tc.wantGPU || rep.ExecutionProvider != tc.wantProvider || rep.CPUs != runtime.NumCPU() {
				t.Errorf("reported plugins %v, providers %v, gpu %v, provider %q, cpus %d; want %v, %v, %v, %q, %d",
					rep.Plugins, rep.ExecutionProviders, rep.GPU, rep.ExecutionProvider, rep.CPUs,
					tc.wantPlugins, tc.wantProviders, tc.wantGPU, tc.wantProvider, runtime.NumCPU())
			}
			if err := rep.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}
