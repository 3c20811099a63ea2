package modelpkg

import "sort"

// validateMembers checks Manifest.Members and returns the set of listed names.
func (m *Manifest) validateMembers(p *problems) map[string]bool {
	listed := make(map[string]bool, len(m.Members))
	golden := 0
	for i, mem := range m.Members {
		switch {
		case mem.Name == ManifestName || mem.Name == SignatureName:
			p.add("members[%d].name %q: manifest.json and manifest.sig are not listed as members", i, mem.Name)
		case !IsMemberName(mem.Name):
			p.add("members[%d].name %q: want model.onnx, model.onnx.data, report.json or golden/<name>.<jpg|jpeg|png|bmp>",
				i, clip(mem.Name))
		}
		if listed[mem.Name] {
			p.add("members[%d].name %q is listed twice", i, clip(mem.Name))
		}
		listed[mem.Name] = true
		if IsGoldenName(mem.Name) {
			golden++
		}
		if !isLowerHex64(mem.SHA256) {
			p.add("members[%d].sha256 %q: want 64 lowercase hex digits", i, clip(mem.SHA256))
		}
		if mem.Size < 0 {
			p.add("members[%d].size %d: want >= 0", i, mem.Size)
		}
	}
	if !listed[ModelName] {
		p.add("members: %s is not listed", ModelName)
	}
	if golden > MaxGolden {
		p.add("members: %d golden images, want at most %d", golden, MaxGolden)
	}
	return listed
}

func (m *Manifest) validateGolden(p *problems, labels, members map[string]bool) {
	files := make(map[string]int, len(m.Golden))
	for i, g := range m.Golden {
		switch {
		case !IsGoldenName(g.File):
			p.add("golden[%d].file %q: want golden/<name>.<jpg|jpeg|png|bmp>", i, clip(g.File))
		case !members[g.File]:
			p.add("golden[%d].file %q is not listed in members", i, g.File)
		}
		if j, dup := files[g.File]; dup {
			p.add("golden[%d].file %q duplicates golden[%d]", i, g.File, j)
		} else {
			files[g.File] = i
		}
		if !labels[g.ExpectedTop1] {
			p.add("golden[%d].expected_top1 %q is not one of the labels", i, clip(g.ExpectedTop1))
		}
		if len(g.Probabilities) != len(m.Labels) {
			p.add("golden[%d].probabilities: %d values, want one per label (%d)",
				i, len(g.Probabilities), len(m.Labels))
		}
		for j, v := range g.Probabilities {
			if !(v >= 0 && v <= 1) {
				p.add("golden[%d].probabilities[%d] %v: want 0 to 1", i, j, v)
				break
			}
		}
	}
}

func (m *Manifest) validateThresholds(p *problems, labels map[string]bool) {
	if !isFraction(m.Thresholds.Global) {
		p.add("thresholds.global %v: want 0 to 1", m.Thresholds.Global)
	}
	keys := make([]string, 0, len(m.Thresholds.PerLabel))
	for k := range m.Thresholds.PerLabel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !labels[k] {
			p.add("thresholds.per_label[%q] is not one of the labels", clip(k))
		}
		if v := m.Thresholds.PerLabel[k]; !isFraction(v) {
			p.add("thresholds.per_label[%q] %v: want 0 to 1", clip(k), v)
		}
	}
}

func (mt *Metrics) validate(p *problems) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"accuracy", mt.Accuracy}, {"precision", mt.Precision}, {"recall", mt.Recall}, {"f1", mt.F1}} {
		if !isFraction(f.v) {
			p.add("metrics.%s %v: want 0 to 1", f.name, f.v)
		}
	}
}

func isFraction(v float64) bool { return v >= 0 && v <= 1 }

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
