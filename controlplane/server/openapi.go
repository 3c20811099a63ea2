package server

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/autocv/autocv/internal/buildinfo"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// openAPI describes the route table as an OpenAPI 3.0 document: every
// path, method, summary, path parameter, body kind and security scheme.
// Response shapes are in DESIGN.md's interface section and the handlers'
// doc comments; the document is for discovery and client generation.
func openAPI(tbl []route) []byte {
	paths := map[string]map[string]any{}
	for _, rt := range tbl {
		p := "/api/v1" + ginParam.ReplaceAllString(rt.path, "{$1}")
		op := map[string]any{
			"summary":     rt.summary,
			"tags":        []string{rt.tag},
			"operationId": strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "{", "", "}", "", "-", "_", ":", "", "*", "").Replace(rt.path),
			"responses": map[string]any{
				"default": map[string]any{"description": "error", "content": map[string]any{
					"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
				"200": map[string]any{"description": "success"},
			},
		}
		var params []any
		for _, m := range ginParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		switch rt.body {
		case "json":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		case "multipart":
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"multipart/form-data": map[string]any{"schema": map[string]any{"type": "object"}}}}
		case "binary":
			op["requestBody"] = map[string]any{"content": map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
		}
		switch rt.auth {
		case "":
			op["security"] = []any{}
		case "trainer":
			op["security"] = []any{map[string]any{"trainerToken": []string{}}}
		case "device":
			op["security"] = []any{map[string]any{"deviceURL": []string{}}}
		default:
			op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}}
		}
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "AutoCV control plane API", "version": buildinfo.String(),
			"description": "REST API of autocv-server. Errors are {error, code}. Metrics and ratios are fractions in [0, 1]."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":       map[string]any{"type": "http", "scheme": "bearer", "description": "a session token or an API key"},
				"session":      map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie, "description": "console session; unsafe methods also need the " + CSRFHeader + " header"},
				"trainerToken": map[string]any{"type": "http", "scheme": "bearer", "description": "a trainer token (job API only)"},
				"deviceURL":    map[string]any{"type": "apiKey", "in": "query", "name": "sig", "description": "HMAC of device id and package sha256 made by the server; the URL comes in the device's desired state"},
			},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "required": []string{"error", "code"}, "properties": map[string]any{
					"error": map[string]any{"type": "string"}, "code": map[string]any{"type": "string"}}},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		panic(err)
	}
	return b
}
