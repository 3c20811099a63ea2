package server

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every API call the console's source makes is an operation of the OpenAPI
// document with that method — the console's 生成 SDK button once posted to
// …/sdk/{platform}, which only answers GET. The console calls the typed
// openapi-fetch client as api.GET("/api/v1/…/{id}", …) and uploads with
// xhrPost("/api/v1/…", …) (a POST, or the "PATCH"/"PUT" named in the
// call); paths are templates, matched exactly against the document.
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
	ops := map[string]bool{}
	for p, m := range spec.Paths {
		for method := range m {
			ops[strings.ToUpper(method)+" "+p] = true
		}
	}
	src := filepath.Join("..", "console", "web", "src")
	typed := regexp.MustCompile(`\bapi\.(GET|POST|PATCH|PUT|DELETE)\(\s*"([^"]+)"`)
	xhr := regexp.MustCompile(`xhrPost(?:<[^>]*>)?\(\s*"([^"]+)"`)
	method := regexp.MustCompile(`"(PATCH|PUT)"`)
	checked := 0
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".ts") || strings.HasSuffix(p, ".vue")) || strings.HasSuffix(p, ".d.ts") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range typed.FindAllStringSubmatch(string(b), -1) {
			if op := m[1] + " " + m[2]; !ops[op] {
				t.Errorf("%s: the console calls %s, which the server does not serve", filepath.Base(p), op)
			}
			checked++
		}
		for _, loc := range xhr.FindAllStringSubmatchIndex(string(b), -1) {
			call := string(b[loc[1]:])
			if end := strings.Index(call, ");"); end >= 0 {
				call = call[:end]
			}
			verb := "POST"
			if m := method.FindStringSubmatch(call); m != nil {
				verb = m[1]
			}
			if op := verb + " " + string(b[loc[2]:loc[3]]); !ops[op] {
				t.Errorf("%s: the console uploads to %s, which the server does not serve", filepath.Base(p), op)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 30 {
		t.Errorf("only %d console API calls recognised; the scan is broken", checked)
	} else {
		t.Logf("%d console API calls checked against the OpenAPI document", checked)
	}
}
