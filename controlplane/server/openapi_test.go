package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite protocol/api/openapi.json and REST.md from the route table")

// The committed OpenAPI document and REST table are what the route table
// generates (make openapi rewrites them), and the document's operations
// are the routes gin serves.
func TestOpenAPIDocument(t *testing.T) {
	doc, err := OpenAPIDocument("")
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	table, err := RESTTable(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "protocol", "api")
	files := map[string][]byte{"openapi.json": pretty.Bytes(), "REST.md": table}
	for name, want := range files {
		p := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what the route table generates (err %v): run make openapi", p, err)
		}
	}

	var spec struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for p, item := range spec.Paths {
		for m, op := range item {
			ops = append(ops, strings.ToUpper(m)+" "+p)
			if _, ok := op.Responses["500"]; !ok {
				t.Errorf("%s %s: no 500 answer", m, p)
			}
		}
	}
	var routes []string
	for _, r := range (&Server{}).routes().Routes() {
		if strings.HasPrefix(r.Path, "/api/v1/") && r.Path != "/api/v1/openapi.json" {
			routes = append(routes, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
		}
	}
	slices.Sort(ops)
	slices.Sort(routes)
	if !slices.Equal(ops, routes) {
		t.Errorf("documented operations differ from served routes:\n doc    %v\n served %v", ops, routes)
	}
	if len(ops) < 60 {
		t.Errorf("only %d operations documented", len(ops))
	}
}

// Every code a route documents has its one status in the document, and
// every status but the success ones carries the Error body.
func TestRouteCodesHaveStatuses(t *testing.T) {
	for _, r := range (&Server{}).table() {
		for _, c := range r.codes() {
			if st := c.Status(); st < 400 || st > 599 {
				t.Errorf("%s %s: code %s has status %d", r.method, r.path, c, st)
			}
		}
		if r.status == 0 {
			t.Errorf("%s %s: no success status", r.method, r.path)
		}
	}
}
