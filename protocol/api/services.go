package api

import "time"

// CreateServiceRequest publishes a cloud version as an API at
// /api/v1/infer/{path}.
type CreateServiceRequest struct {
	Name    string `json:"name" required:"true" example:"ants-api"`
	Path    string `json:"path" required:"true" example:"ants" description:"1–64 of a-z, 0-9, '-', '_', '/'"`
	ModelID string `json:"model_id" required:"true"`
	Version int    `json:"version" required:"true" minimum:"1"`
}

// UpdateServiceRequest switches a service on or off, or moves its path to
// another version of the same model; absent fields stay as they are.
type UpdateServiceRequest struct {
	Online  *bool `json:"online,omitempty"`
	Version *int  `json:"version,omitempty" minimum:"1"`
}

// Service is a published cloud API.
type Service struct {
	ID        string         `json:"id" required:"true" example:"svc_01j9z3k4"`
	Name      string         `json:"name" required:"true"`
	Path      string         `json:"path" required:"true"`
	ModelID   string         `json:"model_id" required:"true"`
	Version   int            `json:"version" required:"true"`
	Online    bool           `json:"online" required:"true"`
	State     string         `json:"state" required:"true" enum:"offline,loading,online"`
	URL       string         `json:"url" required:"true" example:"http://127.0.0.1:8080/api/v1/infer/ants"`
	CreatedAt time.Time      `json:"created_at" required:"true"`
	UpdatedAt time.Time      `json:"updated_at" required:"true"`
	Stats     ServiceStats   `json:"stats" required:"true"`
	Example   ServiceExample `json:"example" required:"true"`
}

// ServiceList is GET /services.
type ServiceList struct {
	Items []Service `json:"items" required:"true"`
	Total int       `json:"total" required:"true"`
}

// ServiceStats counts a service's calls since the server started; the
// percentiles are over its last Window calls.
type ServiceStats struct {
	Calls  int64   `json:"calls" required:"true"`
	Errors int64   `json:"errors" required:"true"`
	P50MS  float64 `json:"p50_ms" required:"true"`
	P90MS  float64 `json:"p90_ms" required:"true"`
	P99MS  float64 `json:"p99_ms" required:"true"`
	Window int     `json:"window" required:"true"`
}

// ServiceExample is a service's call document (调用文档).
type ServiceExample struct {
	Curl         string          `json:"curl" required:"true"`
	CurlMultiple string          `json:"curl_multiple" required:"true"`
	Request      string          `json:"request" required:"true"`
	Response     PredictResponse `json:"response" required:"true"`
}
