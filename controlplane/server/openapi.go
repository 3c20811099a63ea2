package server

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/swaggest/jsonschema-go"
	"github.com/swaggest/openapi-go"
	"github.com/swaggest/openapi-go/openapi31"

	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/protocol/api"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// Security schemes of the document, by route auth.
const (
	secBearer  = "bearer"
	secSession = "session"
	secTrainer = "trainerToken"
	secDevice  = "deviceURL"
)

// OpenAPIDocument is the OpenAPI 3.1 document of the route table: every
// operation with its path and query parameters, request body, answers
// (the protocol/api types, reflected into JSON Schema by
// swaggest/openapi-go), every error status with the codes it carries, and
// its security. publicURL is the document's server ("": the default
// listen address). The server answers it at /api/v1/openapi.json;
// protocol/api/openapi.json is the committed copy.
func OpenAPIDocument(publicURL string) ([]byte, error) {
	return openAPI((&Server{}).table(), publicURL)
}

func openAPI(tbl []route, publicURL string) ([]byte, error) {
	ref := openapi31.NewReflector()
	ref.JSONSchemaReflector().DefaultOptions = append(ref.JSONSchemaReflector().DefaultOptions,
		jsonschema.InterceptDefName(defName))
	spec := ref.SpecEns()
	spec.Info.WithTitle("AutoCV control plane API").WithVersion(buildinfo.String()).
		WithDescription("REST API of autocv-server. Errors are {error, code}: code is stable, one HTTP status per code " +
			"(the table is protocol/api's); error is for people. Metrics and ratios are fractions in [0, 1].")
	spec.Info.WithLicense(openapi31.License{Name: "Proprietary", Identifier: ptr("LicenseRef-AutoCV")})
	if publicURL == "" {
		publicURL = "http://127.0.0.1:8080"
	}
	spec.WithServers(openapi31.Server{URL: strings.TrimRight(publicURL, "/"), Description: ptr("this server")})
	spec.SetHTTPBearerTokenSecurity(secBearer, "", "a session token (POST /auth/login) or an API key")
	spec.SetAPIKeySecurity(secSession, SessionCookie, openapi.InCookie,
		"console session cookie; unsafe methods also need the "+CSRFHeader+" header")
	spec.SetHTTPBearerTokenSecurity(secTrainer, "", "a trainer token (the job API only)")
	spec.SetAPIKeySecurity(secDevice, "sig", openapi.InQuery,
		"HMAC of the device id and package sha256 made by the server; the URL comes in the device's desired state")
	for _, tag := range []struct{ name, desc string }{
		{"auth", "Accounts, sessions, API keys and trainer tokens"},
		{"datasets", "数据中心: datasets, zip import, labels and images"},
		{"models", "模型列表: models, training versions, reports (评估报告) and packages"},
		{"validation", "校验: try a version on a few images"},
		{"sdk", "发布: offline SDKs"},
		{"services", "发布: cloud APIs and inference"},
		{"devices", "The edge fleet: enrolment, devices, desired state"},
		{"jobs", "The trainers' job API"},
	} {
		spec.Tags = append(spec.Tags, openapi31.Tag{Name: tag.name, Description: ptr(tag.desc)})
	}
	for _, rt := range tbl {
		if err := addOperation(ref, rt); err != nil {
			return nil, fmt.Errorf("%s %s: %w", rt.method, rt.path, err)
		}
	}
	return ref.Spec.MarshalJSON()
}

func addOperation(ref *openapi31.Reflector, rt route) error {
	oc, err := ref.NewOperationContext(rt.method, "/api/v1"+ginParam.ReplaceAllString(rt.path, "{$1}"))
	if err != nil {
		return err
	}
	oc.SetTags(rt.tag)
	oc.SetSummary(rt.summary)
	oc.SetID(operationID(rt))
	op := oc.(interface{ Operation() *openapi31.Operation }).Operation()
	for _, m := range ginParam.FindAllStringSubmatch(rt.path, -1) {
		p := openapi31.Parameter{Name: m[1], In: openapi31.ParameterInPath, Required: ptr(true),
			Schema: map[string]any{"type": "string"}}
		if strings.HasPrefix(m[0], "*") {
			p.Description = ptr("the rest of the path, slashes included")
		}
		op.Parameters = append(op.Parameters, openapi31.ParameterOrReference{Parameter: &p})
	}
	if rt.query != nil {
		oc.AddReqStructure(rt.query)
	}
	binary := func(cu *openapi.ContentUnit) { cu.Format = "binary" }
	switch rt.body {
	case "json":
		oc.AddReqStructure(rt.in, openapi.WithContentType("application/json"))
	case "multipart":
		oc.AddReqStructure(rt.in, openapi.WithContentType("multipart/form-data"))
	case "binary":
		if rt.in != nil {
			oc.AddReqStructure(rt.in) // headers
		}
		oc.AddReqStructure(nil, openapi.WithContentType("application/octet-stream"), binary)
	case "image":
		oc.AddReqStructure(rt.in, openapi.WithContentType("multipart/form-data"))
		for _, t := range []string{"application/octet-stream", "image/jpeg", "image/png", "image/bmp"} {
			oc.AddReqStructure(nil, openapi.WithContentType(t), binary)
		}
	}
	switch {
	case rt.out != nil:
		oc.AddRespStructure(rt.out, openapi.WithHTTPStatus(rt.status))
	case rt.ctype != "":
		// a file: Range and conditional requests (http.ServeContent) too
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(rt.status), openapi.WithContentType(rt.ctype), binary)
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(http.StatusPartialContent), openapi.WithContentType(rt.ctype), binary)
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(http.StatusNotModified))
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(http.StatusRequestedRangeNotSatisfiable), openapi.WithContentType("text/plain"),
			func(cu *openapi.ContentUnit) {
				cu.Description = "Range Not Satisfiable: the Range header is outside the file"
			})
	default:
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(rt.status))
	}
	for _, st := range rt.also {
		oc.AddRespStructure(nil, openapi.WithHTTPStatus(st))
	}
	byStatus := map[int][]string{}
	for _, c := range rt.codes() {
		byStatus[c.Status()] = append(byStatus[c.Status()], "`"+string(c)+"`")
	}
	for st, codes := range byStatus {
		desc := http.StatusText(st) + ": " + strings.Join(codes, ", ")
		oc.AddRespStructure(&api.Error{}, openapi.WithHTTPStatus(st), func(cu *openapi.ContentUnit) { cu.Description = desc })
	}
	switch rt.auth {
	case "trainer":
		oc.AddSecurity(secTrainer)
	case "device":
		oc.AddSecurity(secDevice)
	case "user", "admin", "apikey":
		oc.AddSecurity(secBearer)
		oc.AddSecurity(secSession)
	}
	if rt.auth == "" {
		op.Security = []map[string][]string{{}} // public: the empty requirement
	}
	return ref.AddOperation(oc)
}

// codes is every error code the route answers: its handler's (errs) and
// those its middleware and path imply.
func (rt route) codes() []api.Code {
	cs := append([]api.Code{api.CodeInternal}, rt.errs...)
	if strings.ContainsAny(rt.path, ":*") {
		cs = append(cs, api.CodeNotFound)
	}
	switch rt.body {
	case "json":
		cs = append(cs, api.CodeInvalidJSON, api.CodeTooLarge)
	case "binary", "image", "multipart":
		cs = append(cs, api.CodeTooLarge)
	}
	switch rt.auth {
	case "user", "admin", "apikey", "trainer":
		cs = append(cs, api.CodeUnauthorized, api.CodeForbidden)
		if rt.auth != "trainer" && rt.method != http.MethodGet {
			cs = append(cs, api.CodeCSRF)
		}
	}
	slices.Sort(cs)
	return slices.Compact(cs)
}

func operationID(rt route) string {
	return strings.ToLower(rt.method) + strings.NewReplacer("/", "_", "-", "_", ":", "", "*", "").Replace(rt.path)
}

// defName names a schema: protocol/api types by their own name, others
// (jobs.Lease, fleet.Reported, report.Summary) with their package's.
func defName(t reflect.Type, def string) string {
	if strings.HasSuffix(t.PkgPath(), "/protocol/api") {
		return t.Name()
	}
	if pkg := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:]; strings.EqualFold(pkg, t.Name()) {
		return t.Name() // report.Report
	}
	return def
}

func ptr[T any](v T) *T { return &v }

// RESTTable is the Markdown table of a document's operations
// (protocol/api/REST.md): method, path, summary, who may call it, the
// success statuses and the error codes by status.
func RESTTable(doc []byte) ([]byte, error) {
	var spec struct {
		Tags  []struct{ Name, Description string } `json:"tags"`
		Paths map[string]map[string]struct {
			Summary   string                       `json:"summary"`
			Tags      []string                     `json:"tags"`
			Security  []map[string]json.RawMessage `json:"security"`
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &spec); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("<!-- Generated from openapi.json by `make openapi`; do not edit. -->\n")
	b.WriteString("# AutoCV REST API (控制台 API)\n\n")
	b.WriteString("Every path is under the server's base URL. Errors are `{\"error\": \"…\", \"code\": \"…\"}`: ")
	b.WriteString("each code has one HTTP status (`protocol/api/errors.go`). The full contract, with request and answer ")
	b.WriteString("schemas and examples, is [openapi.json](openapi.json), also served at `/api/v1/openapi.json`.\n")
	paths := slices.Sorted(maps.Keys(spec.Paths))
	for _, tag := range spec.Tags {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n| Method | Path | What | Auth | Success | Errors |\n|---|---|---|---|---|---|\n", tag.Name, tag.Description)
		for _, p := range paths {
			for _, m := range []string{"get", "post", "put", "patch", "delete"} {
				op, ok := spec.Paths[p][m]
				if !ok || !slices.Contains(op.Tags, tag.Name) {
					continue
				}
				var auth []string
				for _, req := range op.Security {
					auth = append(auth, slices.Sorted(maps.Keys(req))...)
				}
				if len(auth) == 0 {
					auth = []string{"public"}
				}
				var ok2xx, errs []string
				for _, st := range slices.Sorted(maps.Keys(op.Responses)) {
					if st < "400" {
						ok2xx = append(ok2xx, st)
						continue
					}
					_, codes, _ := strings.Cut(op.Responses[st].Description, ": ")
					errs = append(errs, st+" "+codes)
				}
				fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", strings.ToUpper(m), p, op.Summary,
					strings.Join(auth, ", "), strings.Join(ok2xx, ", "), strings.Join(errs, "; "))
			}
		}
	}
	return []byte(b.String()), nil
}
