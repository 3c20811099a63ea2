package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every API call the console's source makes (get/post/patch/put/del with a
// path built from literals, seg(…), ${…} and the views' `base`) is an
// operation of the OpenAPI document with that method — the console's
// 生成 SDK button once posted to …/sdk/{platform}, which only answers GET.
func TestConsoleCallsExist(t *testing.T) {
	doc, err := OpenAPIDocument("")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatal(err)
	}
	routes := map[string][]*regexp.Regexp{}
	for p, ops := range spec.Paths {
		pat := regexp.QuoteMeta(strings.TrimPrefix(p, "/api/v1"))
		pat = strings.ReplaceAll(pat, `\{path\}`, `.+`) // /infer/{path}: slashes included
		pat = regexp.MustCompile(`\\\{[a-z]+\\\}`).ReplaceAllString(pat, `[^/]+`)
		for m := range ops {
			routes[strings.ToUpper(m)] = append(routes[strings.ToUpper(m)], regexp.MustCompile("^"+pat+"$"))
		}
	}
	files, err := filepath.Glob(filepath.Join("..", "console", "web", "src", "*.js"))
	if err != nil {
		t.Fatal(err)
	}
	views, _ := filepath.Glob(filepath.Join("..", "console", "web", "src", "views", "*.js"))
	files = append(files, views...)
	if len(files) < 5 {
		t.Fatalf("console sources: %v", files)
	}
	call := regexp.MustCompile(`\b(get|post|patch|put|del)\(`)
	methods := map[string]string{"get": "GET", "post": "POST", "patch": "PATCH", "put": "PUT", "del": "DELETE"}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		base := ""
		if m := regexp.MustCompile("const base = `(/[^`]*)`").FindStringSubmatch(src); m != nil {
			base = pathPattern("`" + m[1] + "`")
		}
		for _, loc := range call.FindAllStringSubmatchIndex(src, -1) {
			arg := firstArg(src[loc[1]:])
			if strings.HasPrefix(arg, "base") {
				if base == "" {
					t.Errorf("%s: %s(%s) uses base, which the file does not define as an API path", f, src[loc[2]:loc[3]], arg)
					continue
				}
				arg = "`" + base + "`" + strings.TrimPrefix(arg, "base")
			} else if strings.HasPrefix(arg, "`${base}") {
				arg = "`" + base + strings.TrimPrefix(arg, "`${base}")
			}
			p := pathPattern(arg)
			if !strings.HasPrefix(p, "/") {
				continue // Map.get, Headers.get, …: not an API call
			}
			method := methods[src[loc[2]:loc[3]]]
			found := false
			for _, re := range routes[method] {
				found = found || re.MatchString(p)
			}
			if !found {
				t.Errorf("%s: the console calls %s %s, which the server does not serve", filepath.Base(f), method, p)
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("only %d console API calls recognised; the scan is broken", checked)
	} else {
		t.Logf("%d console API calls checked against the OpenAPI document", checked)
	}
}

// firstArg is the source of a call's first argument: up to the first ',' or
// ')' outside strings, template substitutions and parentheses.
func firstArg(s string) string {
	depth, quote := 0, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			} else if quote == '`' && c == '$' && i+1 < len(s) && s[i+1] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return s
				}
				i += end
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')' && depth == 0, c == ',' && depth == 0:
			return strings.TrimSpace(s[:i])
		case c == ')':
			depth--
		}
	}
	return s
}

// pathPattern turns a JS path expression into a concrete path: literals
// kept, every other part (seg(x), ${…}, variables) becomes "x"; the query
// is dropped.
func pathPattern(expr string) string {
	var b strings.Builder
	for _, part := range splitPlus(expr) {
		part = strings.TrimSpace(part)
		switch {
		case len(part) >= 2 && (part[0] == '"' || part[0] == '\'') && part[len(part)-1] == part[0]:
			b.WriteString(part[1 : len(part)-1])
		case len(part) >= 2 && part[0] == '`' && part[len(part)-1] == '`':
			b.WriteString(regexp.MustCompile(`\$\{[^}]*\}`).ReplaceAllString(part[1:len(part)-1], "x"))
		case strings.HasPrefix(part, "(") && (strings.Contains(part, `"?`) || strings.Contains(part, "'?")):
			b.WriteString("?") // (cond ? "?group=" + g : ""): a query
		default:
			b.WriteString("x")
		}
	}
	p, _, _ := strings.Cut(b.String(), "?")
	return p
}

// splitPlus splits a JS concatenation on top-level '+'.
func splitPlus(s string) []string {
	var out []string
	depth, quote, start := 0, byte(0), 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '+' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
