package api

import (
	"unicode"
	"unicode/utf8"
)

// ValidName is the rule for the names people give things (datasets,
// models, services, users, device groups): 1..max runes of letters (any
// script, so Chinese), digits, '_', '-', '.', and inner spaces.
func ValidName(s string, max int) bool {
	n := utf8.RuneCountInString(s)
	if n == 0 || n > max || !utf8.ValidString(s) || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' && r != ' ' {
			return false
		}
	}
	return true
}
