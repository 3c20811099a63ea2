package modelpkg

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// validManifest is testManifest with members listed.
func validManifest() Manifest {
	m := testManifest()
	sum := strings.Repeat("ab", 32)
	m.Members = []Member{
		{Name: ModelName, SHA256: sum, Size: 100},
		{Name: ReportName, SHA256: sum, Size: 10},
		{Name: "golden/0.jpg", SHA256: sum, Size: 5},
		{Name: "golden/1.png", SHA256: sum, Size: 5},
	}
	return m
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Manifest)
		want   error
		msg    string // the error must name the field and the value
	}{
		{"valid", func(m *Manifest) {}, nil, ""},
		{"valid stretch without resize", func(m *Manifest) {
			m.Preprocess.ResizeMode, m.Preprocess.Resize = ResizeStretch, 0
		}, nil, ""},
		{"valid logits bgr nhwc", func(m *Manifest) {
			m.IO.OutputKind, m.Preprocess.ChannelOrder, m.Preprocess.Layout = OutputLogits, ChannelsBGR, LayoutNHWC
		}, nil, ""},
		{"valid with model data", func(m *Manifest) {
			m.Members = append(m.Members, Member{Name: ModelDataName, SHA256: strings.Repeat("0", 64)})
		}, nil, ""},
		{"unknown schema", func(m *Manifest) { m.Schema = 7 }, ErrSchema, "schema is 7, supported: 1"},
		{"empty model id", func(m *Manifest) { m.ModelID = "" }, ErrInvalid, `model_id ""`},
		{"model id with slash", func(m *Manifest) { m.ModelID = "../x" }, ErrInvalid, `model_id "../x"`},
		{"version 0", func(m *Manifest) { m.Version = 0 }, ErrInvalid, "version 0"},
		{"bad created_at", func(m *Manifest) { m.CreatedAt = "yesterday" }, ErrInvalid, `created_at "yesterday"`},
		{"one label", func(m *Manifest) { m.Labels = []string{"a"} }, ErrInvalid, "labels: 1 given"},
		{"too many labels", func(m *Manifest) { m.Labels = make([]string, 1001) }, ErrInvalid, "labels: 1001 given"},
		{"empty label", func(m *Manifest) { m.Labels[1] = "" }, ErrInvalid, "labels[1] is empty"},
		{"duplicate label", func(m *Manifest) { m.Labels[2] = "daisy" }, ErrInvalid, `labels[2] "daisy" duplicates labels[0]`},
		{"control char label", func(m *Manifest) { m.Labels[0] = "a\nb" }, ErrInvalid, `labels[0] "a\nb"`},
		{"input size 0", func(m *Manifest) { m.Preprocess.InputSize = 0 }, ErrInvalid, "preprocess.input_size 0"},
		{"input size huge", func(m *Manifest) {
			m.Preprocess.InputSize, m.Preprocess.Crop, m.Preprocess.Resize = 5000, 5000, 5000
		}, ErrInvalid, "preprocess.input_size 5000"},
		{"crop != input", func(m *Manifest) { m.Preprocess.Crop = 200 }, ErrInvalid, "preprocess.crop 200"},
		{"resize < crop", func(m *Manifest) { m.Preprocess.Resize = 200 }, ErrInvalid, "preprocess.resize 200"},
		{"resize mode", func(m *Manifest) { m.Preprocess.ResizeMode = "fit" }, ErrInvalid, `preprocess.resize_mode "fit"`},
		{"channel order", func(m *Manifest) { m.Preprocess.ChannelOrder = "rgb" }, ErrInvalid, `preprocess.channel_order "rgb"`},
		{"layout", func(m *Manifest) { m.Preprocess.Layout = "CHW" }, ErrInvalid, `preprocess.layout "CHW"`},
		{"zero std", func(m *Manifest) { m.Preprocess.Std[2] = 0 }, ErrInvalid, "preprocess.std[2] 0"},
		{"no input name", func(m *Manifest) { m.IO.Input = "" }, ErrInvalid, "io.input is empty"},
		{"no output name", func(m *Manifest) { m.IO.Output = "" }, ErrInvalid, "io.output is empty"},
		{"output kind", func(m *Manifest) { m.IO.OutputKind = "scores" }, ErrInvalid, `io.output_kind "scores"`},
		{"opset", func(m *Manifest) { m.Runtime.Opset = 0 }, ErrInvalid, "runtime.opset 0"},
		{"no model", func(m *Manifest) { m.Members = m.Members[1:] }, ErrInvalid, "model.onnx is not listed"},
		{"unknown member", func(m *Manifest) { m.Members[1].Name = "notes.txt" }, ErrInvalid, `members[1].name "notes.txt"`},
		{"golden bad ext", func(m *Manifest) { m.Members[2].Name = "golden/0.gif" }, ErrInvalid, `members[2].name "golden/0.gif"`},
		{"golden traversal", func(m *Manifest) { m.Members[2].Name = "golden/../x.jpg" }, ErrInvalid, `members[2].name "golden/../x.jpg"`},
		{"manifest as member", func(m *Manifest) { m.Members[1].Name = ManifestName }, ErrInvalid, `members[1].name "manifest.json"`},
		{"duplicate member", func(m *Manifest) { m.Members[1].Name = ModelName }, ErrInvalid, `members[1].name "model.onnx" is listed twice`},
		{"uppercase sha", func(m *Manifest) { m.Members[0].SHA256 = strings.Repeat("AB", 32) }, ErrInvalid, "members[0].sha256"},
		{"short sha", func(m *Manifest) { m.Members[0].SHA256 = "abc" }, ErrInvalid, `members[0].sha256 "abc"`},
		{"negative size", func(m *Manifest) { m.Members[0].Size = -1 }, ErrInvalid, "members[0].size -1"},
		{"golden not listed", func(m *Manifest) { m.Golden[0].File = "golden/5.jpg" }, ErrInvalid, `golden[0].file "golden/5.jpg" is not listed`},
		{"golden not golden", func(m *Manifest) { m.Golden[0].File = ReportName }, ErrInvalid, `golden[0].file "report.json"`},
		{"golden duplicate", func(m *Manifest) { m.Golden[1].File = m.Golden[0].File }, ErrInvalid, "duplicates golden[0]"},
		{"golden top1", func(m *Manifest) { m.Golden[0].ExpectedTop1 = "tulip" }, ErrInvalid, `golden[0].expected_top1 "tulip"`},
		{"golden probabilities", func(m *Manifest) { m.Golden[1].Probabilities = []float32{1} }, ErrInvalid, "golden[1].probabilities: 1 values"},
		{"golden probability range", func(m *Manifest) { m.Golden[1].Probabilities[0] = 1.5 }, ErrInvalid, "golden[1].probabilities[0] 1.5"},
		{"threshold global", func(m *Manifest) { m.Thresholds.Global = 1.2 }, ErrInvalid, "thresholds.global 1.2"},
		{"threshold label", func(m *Manifest) { m.Thresholds.PerLabel = map[string]float64{"tulip": 0.5} }, ErrInvalid, `thresholds.per_label["tulip"] is not one of the labels`},
		{"threshold value", func(m *Manifest) { m.Thresholds.PerLabel["rose"] = -0.1 }, ErrInvalid, `thresholds.per_label["rose"] -0.1`},
		{"metric", func(m *Manifest) { m.Metrics.F1 = 2 }, ErrInvalid, "metrics.f1 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validManifest()
			tc.change(&m)
			err := m.Validate()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Validate() = %q, want it to mention %q", err, tc.msg)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	m := validManifest()
	m.Version, m.IO.Input, m.Thresholds.Global = 0, "", 3
	err := m.Validate()
	for _, want := range []string{"version 0", "io.input is empty", "thresholds.global 3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestParseManifest(t *testing.T) {
	m := validManifest()
	valid := mustEncode(t, &m)
	tests := []struct {
		name string
		data string
		want error
		msg  string
	}{
		{"valid", string(valid), nil, ""},
		{"unknown fields ignored", strings.Replace(string(valid), `"schema": 1,`, `"schema": 1, "future": {"x": [1]},`, 1), nil, ""},
		{"unknown schema", strings.Replace(string(valid), `"schema": 1,`, `"schema": 2,`, 1), ErrSchema, "schema is 2, supported: 1"},
		{"schema missing", `{"model_id": "x"}`, ErrSchema, "schema is missing"},
		{"schema not a number", `{"schema": "1"}`, ErrSchema, `schema is "1"`},
		{"not json", `{"schema": 1`, ErrInvalid, "manifest.json"},
		{"not an object", `[1, 2]`, ErrInvalid, "manifest.json"},
		{"wrong type", strings.Replace(string(valid), `"version": 3`, `"version": "3"`, 1), ErrInvalid, "version"},
		{"trailing data", string(valid) + "{}", ErrInvalid, "manifest.json"},
		{"invalid", strings.Replace(string(valid), `"version": 3`, `"version": 0`, 1), ErrInvalid, "version 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseManifest([]byte(tc.data))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ParseManifest() = %v, want %v", err, tc.want)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("ParseManifest() = %q, want it to mention %q", err, tc.msg)
				}
				return
			}
			if !reflect.DeepEqual(*got, m) {
				t.Errorf("parsed %+v\nwant %+v", *got, m)
			}
		})
	}
}

func TestEncodeManifestDeterministic(t *testing.T) {
	m := validManifest()
	m.Thresholds.PerLabel = map[string]float64{"rose": 0.6, "daisy": 0.3, "向日葵": 0.4}
	first := mustEncode(t, &m)
	for range 20 {
		if got := mustEncode(t, &m); string(got) != string(first) {
			t.Fatalf("encoding changed:\n%s\nvs\n%s", got, first)
		}
	}
	if !strings.HasSuffix(string(first), "}\n") || !strings.Contains(string(first), "\n  \"model_id\": \"flowers-1\",") {
		t.Errorf("not indented JSON with a final newline:\n%s", first)
	}
}

func TestMemberNames(t *testing.T) {
	for name, want := range map[string]bool{
		ModelName: true, ModelDataName: true, ReportName: true, "golden/0.jpg": true, "golden/a_B-9.jpeg": true,
		"golden/x.png": true, "golden/x.bmp": true, ManifestName: false, SignatureName: false, "golden/x.JPG": false,
		"golden/.jpg": false, "golden/x": false, "golden/a/b.jpg": false, "golden/a b.jpg": false, "model.ONNX": false,
		"golden/nul.png": false, "golden/COM1.jpg": false, "golden/com10.jpg": true, "golden/console.jpg": true,
		"golden/" + strings.Repeat("a", 64) + ".png": true, "golden/" + strings.Repeat("a", 65) + ".png": false,
	} {
		if got := IsMemberName(name); got != want {
			t.Errorf("IsMemberName(%q) = %v, want %v", name, got, want)
		}
	}
}
