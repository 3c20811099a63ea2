package jobs

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateProblems(t *testing.T) {
	many := make([]Problem, MaxProblems+1)
	for i := range many {
		many[i] = Problem{Code: ProblemNoBackbones}
	}
	cases := []struct {
		name string
		in   []Problem
		ok   bool
	}{
		{"none", nil, true},
		{"one", []Problem{{Code: ProblemNoBackbones, Detail: "looked in /x"}}, true},
		{"unknown code is fine", []Problem{{Code: "disk_full"}}, true},
		{"empty code", []Problem{{Code: ""}}, false},
		{"upper case", []Problem{{Code: "NoBackbones"}}, false},
		{"long detail", []Problem{{Code: ProblemNoBackbones, Detail: strings.Repeat("x", MaxProblemDetail+1)}}, false},
		{"too many", many, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateProblems(tc.in)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("ValidateProblems = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestProblemTexts(t *testing.T) {
	for _, code := range []string{ProblemNoBackbones, ProblemBadBackbones, ProblemNoRuntime, ProblemUnavailable} {
		txt := TextFor(code)
		if txt.ZH == "" || txt.EN == "" || txt.ZH == txt.EN {
			t.Errorf("%s: %+v: want a zh-CN and an English text", code, txt)
		}
	}
	if TextFor("disk_full") != TextFor(ProblemUnavailable) {
		t.Error("an unknown code should get the generic text")
	}
	if !strings.Contains(TextFor(ProblemNoBackbones).ZH, "make deps") {
		t.Error("no_backbones should say what to run")
	}
}
