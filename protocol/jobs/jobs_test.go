package jobs

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func validJob() Job {
	return Job{
		ID: "job-1", ModelID: "m1", Version: 2, AppType: CloudGeneral, Metric: "f1", Seed: 7,
		Labels: []string{"ants", "蜜蜂"},
		Images: []Image{
			{ID: "i1", SHA256: strings.Repeat("a", 64), Label: "ants", Split: SplitTrain},
			{ID: "i2", SHA256: strings.Repeat("b", 64), Label: "蜜蜂", Split: SplitTest},
		},
	}
}

func TestJobValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Job)
		ok     bool
	}{
		{"valid", func(*Job) {}, true},
		{"bad id", func(j *Job) { j.ID = "../x" }, false},
		{"version 0", func(j *Job) { j.Version = 0 }, false},
		{"unknown app type", func(j *Job) { j.AppType = "cloud-fast" }, false},
		{"unknown metric", func(j *Job) { j.Metric = "accuracy" }, false},
		{"one label", func(j *Job) { j.Labels = j.Labels[:1] }, false},
		{"repeated label", func(j *Job) { j.Labels = []string{"a", "a"} }, false},
		{"repeated image id", func(j *Job) { j.Images[1].ID = "i1" }, false},
		{"bad sha256", func(j *Job) { j.Images[0].SHA256 = "ABC" }, false},
		{"unknown label", func(j *Job) { j.Images[0].Label = "wasps" }, false},
		{"unknown split", func(j *Job) { j.Images[0].Split = "holdout" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			j.Images = append([]Image(nil), j.Images...)
			tc.change(&j)
			err := j.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestRecipeFor(t *testing.T) {
	for app, want := range map[string]string{CloudGeneral: RecipeGeneral, OfflineGeneral: RecipeGeneral,
		CloudHighAccuracy: RecipeHighAccuracy, OfflineHighPerformance: RecipeHighPerformance} {
		if got, ok := RecipeFor(app); !ok || got != want {
			t.Errorf("RecipeFor(%s) = %s, %v", app, got, ok)
		}
	}
	if _, ok := RecipeFor("offline-high-accuracy"); ok {
		t.Error("offline-high-accuracy is not an application type")
	}
}

// FuzzLease decodes a lease as a worker does and validates its job: never
// a panic, and an accepted job survives a JSON round trip.
func FuzzLease(f *testing.F) {
	b, _ := json.Marshal(Lease{LeaseID: "l", HeartbeatSeconds: 10, Job: validJob()})
	f.Add(b)
	f.Add([]byte(`{"job":{"id":"x","labels":null,"images":[{}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l Lease
		if json.Unmarshal(data, &l) != nil || l.Job.Validate() != nil {
			return
		}
		again, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var l2 Lease
		if err := json.Unmarshal(again, &l2); err != nil {
			t.Fatal(err)
		}
		if err := l2.Job.Validate(); err != nil {
			t.Fatalf("round trip broke a valid job: %v", err)
		}
	})
}
