package api

import "time"

// CreateServiceRequest publishes a cloud version as an API at
// /api/v1/infer/{path}.
type CreateServiceRequest struct {
	Name    string `json:"name" required:"true" example:"ants-api"`
	Path    string `json:"path" required:"true" example:"ants" description:"1–64 of a-z, 0-9, '-', '_', '/'"`
	ModelID string `json:"model_id" required:"true"`
	Version int    `json:"version" required:"true" minimum:"1"`
	Notes   string `json:"notes,omitempty" maxLength:"2000" description:"其他要求: anything else the publisher wants noted"`
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
	ModelName string         `json:"model_name" required:"true" description:"the model's name, for people"`
	Version   int            `json:"version" required:"true"`
	Notes     string         `json:"notes,omitempty" description:"其他要求, as published"`
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

// UsageQuery picks the window of GET /services/{id}/usage.
type UsageQuery struct {
	Minutes int `query:"minutes" minimum:"1" maximum:"10080" description:"the last N minutes (default 60, at most 7 days)"`
}

// ServiceUsage is a service's calls per minute, summed over every replica.
type ServiceUsage struct {
	Points []UsagePoint `json:"points" required:"true" description:"one per minute, oldest first, the current minute last; zero where there were no calls"`
}

// UsagePoint is one minute of a service's calls. Errors are by class:
// client (4xx, bad input included), server (5xx) and busy (429, 503).
// The latency percentiles are estimated from a fixed-bucket histogram
// (so replicas add up), 0 without calls.
type UsagePoint struct {
	T      int64       `json:"t" required:"true" description:"the minute's start, Unix seconds"`
	Calls  int64       `json:"calls" required:"true"`
	Errors UsageErrors `json:"errors" required:"true"`
	P50MS  float64     `json:"p50_ms" required:"true"`
	P95MS  float64     `json:"p95_ms" required:"true"`
}

// UsageErrors counts failed calls by class.
type UsageErrors struct {
	Client int64 `json:"client" required:"true" description:"4xx: bad input, forbidden, …"`
	Server int64 `json:"server" required:"true" description:"5xx other than 503"`
	Busy   int64 `json:"busy" required:"true" description:"429 and 503: busy or offline"`
}
