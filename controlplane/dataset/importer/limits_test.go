package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// A label folder whose name the store cannot keep is skipped as one short
// entry; the other labels import, and nothing of that folder is stored.
// So is a path too long to keep, with its path cut short in the report.
func TestTooLongNames(t *testing.T) {
	daisy := photos(t, "daisy", 5)
	longLabel := strings.Repeat("a", 300)
	for _, prefix := range []string{"", "dataset/"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			ents := labelEnts(prefix, "daisy", daisy[:2])
			ents = append(ents, labelEnts(prefix, longLabel, daisy[2:4])...)
			ents = append(ents, zent{name: prefix + longLabel + "/notes.txt", data: []byte("x")})
			longFile := prefix + "daisy/" + strings.Repeat("长", 2000) + ".jpg" // 6000 bytes
			ents = append(ents, zent{name: longFile, data: daisy[4]})
			rep, m, err := run(t, ents, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepted["daisy"] != 2 || len(rep.Accepted) != 1 || len(m) != 2 {
				t.Fatalf("accepted %v, stored %d", rep.Accepted, len(m))
			}
			if len(rep.Skipped) != 2 {
				t.Fatalf("skipped %+v, want the long label folder and the long path", rep.Skipped)
			}
			var sawLabel, sawPath bool
			for _, s := range rep.Skipped {
				if len(s.Path) > maxShownPath || len(s.Detail) > maxShownDetail || !utf8.ValidString(s.Path) {
					t.Errorf("skip %s: path %d bytes, detail %d bytes: too long to show", s.Reason, len(s.Path), len(s.Detail))
				}
				switch s.Reason {
				case ReasonLabelTooLong:
					sawLabel = true
					if s.Path != prefix+longLabel+"/" || !strings.Contains(s.Detail, "300") || !strings.Contains(s.Detail, "3 files") {
						t.Errorf("long label skip %+v", s)
					}
				case ReasonNameTooLong:
					sawPath = true
					if !strings.HasPrefix(longFile, strings.TrimSuffix(s.Path, "…")) {
						t.Errorf("long path skip %q does not start the path", s.Path)
					}
				}
			}
			if !sawLabel || !sawPath {
				t.Errorf("skipped %+v", rep.Skipped)
			}
			for _, l := range rep.Labels {
				if l.Name != "daisy" {
					t.Errorf("label %q reported", l.Name)
				}
			}
		})
	}
}

// The labels a dataset already has count toward MaxLabels; the zip is
// refused before anything is stored.
func TestKnownLabels(t *testing.T) {
	good := photos(t, "daisy", 2)
	known := make([]string, 999)
	for i := range known {
		known[i] = fmt.Sprintf("k%04d", i)
	}
	ents := append(labelEnts("", "new1", good[:1]), labelEnts("", "new2", good[1:])...)
	_, m, err := run(t, ents, Options{KnownLabels: known})
	if !errors.Is(err, ErrTooManyLabels) || len(m) != 0 || !strings.Contains(err.Error(), "1001") {
		t.Fatalf("err %v, stored %d", err, len(m))
	}
	// a known label again is not a new one
	ents = append(labelEnts("", "k0000", good[:1]), labelEnts("", "new2", good[1:])...)
	rep, m, err := run(t, ents, Options{KnownLabels: known})
	if err != nil || len(m) != 2 || rep.Accepted["k0000"] != 1 {
		t.Fatalf("err %v, stored %d", err, len(m))
	}
}

// Progress moves while the images are checked, before anything is stored,
// never goes back, and ends at its total.
func TestProgressThroughCheckPass(t *testing.T) {
	imgs := photos(t, "daisy", 12)
	ents := labelEnts("", "daisy", imgs)
	ents = append(ents, zent{name: "daisy/notes.txt", data: []byte("x")}, zent{name: "daisy/empty.jpg"})
	var seen [][2]int
	stored := -1 // progress calls seen at the first store
	opts := Options{Progress: func(done, total int) { seen = append(seen, [2]int{done, total}) }}
	m := memStore{}
	_, err := Import(context.Background(), writeZip(t, buildZip(t, ents)), opts, func(sha string, b []byte) error {
		if stored < 0 {
			stored = len(seen)
		}
		return m.store(sha, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if stored < 0 || len(seen) == 0 {
		t.Fatalf("stored at %d, progress %v", stored, seen)
	}
	rises := 0
	for i := 1; i < stored; i++ {
		if seen[i][0] > seen[i-1][0] {
			rises++
		}
	}
	// 13 candidates checked (12 photos and the empty file) before the first store
	if rises < 13 {
		t.Errorf("progress rose %d times during the check pass, want 13 or more: %v", rises, seen[:stored])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i][0] < seen[i-1][0] || seen[i][1] != seen[0][1] {
			t.Fatalf("progress went back or changed its total: %v", seen)
		}
	}
	if last := seen[len(seen)-1]; last[0] != last[1] {
		t.Errorf("progress ended at %v", last)
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"蚂蚁蚂蚁", 10, "蚂蚁…"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"abcdef", 2, "ab"},
		{"蚂蚁", 2, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := Shorten(tc.in, tc.n)
			if got != tc.want || !utf8.ValidString(got) {
				t.Errorf("Shorten(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
