package api

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidName is the rule for the names people give things (datasets,
// models, services, users, device groups): 1..max runes of letters (any
// script, so Chinese; with their combining marks, so Thai or Devanagari),
// digits, '_', '-', '.', and inner spaces; not only dots ("." and ".."
// vanish from URLs).
func ValidName(s string, max int) bool {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > max || !utf8.ValidString(s) || s[0] == ' ' || s[len(s)-1] == ' ' || strings.Trim(s, ".") == "" {
		return false
	}
	for i, r := range s {
		mark := i > 0 && unicode.Is(unicode.M, r)
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !mark && r != '_' && r != '-' && r != '.' && r != ' ' {
			return false
		}
	}
	return true
}
