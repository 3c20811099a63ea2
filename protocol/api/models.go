package api

import "time"

// Version statuses.
const (
	VersionQueued    = "queued"
	VersionTraining  = "training"
	VersionStopping  = "stopping" // asked to stop; the trainer has not acknowledged yet
	VersionSucceeded = "succeeded"
	VersionFailed    = "failed"
	VersionStopped   = "stopped"
)

// CreateModelRequest is POST /models.
type CreateModelRequest struct {
	Name        string `json:"name" required:"true" example:"ants-vs-bees"`
	Contact     string `json:"contact" maxLength:"128" example:"alice@example.com"`
	Description string `json:"description" maxLength:"2000"`
}

// Model is a model (模型) with its versions.
type Model struct {
	ID          string    `json:"id" required:"true" example:"mdl_01j9z3k4"`
	Name        string    `json:"name" required:"true" example:"ants-vs-bees"`
	Contact     string    `json:"contact" required:"true"`
	Description string    `json:"description" required:"true"`
	CreatedAt   time.Time `json:"created_at" required:"true"`
	Versions    []Version `json:"versions" required:"true"`
}

// ModelList is GET /models.
type ModelList struct {
	Items []Model `json:"items" required:"true"`
	Page
}

// TrainingData is one dataset and the labels to train from it.
type TrainingData struct {
	DatasetID string   `json:"dataset_id" required:"true" example:"ds_01j9z3k4"`
	Labels    []string `json:"labels" required:"true" minItems:"1" example:"[\"ants\",\"bees\"]"`
}

// CreateVersionsRequest trains one new version per application type.
// Metric accepts the product documentation's spellings (Top1, Top5,
// f1_score, …) case-insensitively; versions show the canonical name.
type CreateVersionsRequest struct {
	AppTypes []string       `json:"app_types" required:"true" minItems:"1" items.enum:"cloud-general,cloud-high-accuracy,offline-general,offline-high-performance"`
	Metric   string         `json:"metric" example:"f1" description:"f1 (default), top1, top5, precision or recall; Top1, Top5 and f1_score are read as aliases"`
	Data     []TrainingData `json:"data" required:"true" minItems:"1"`
}

// TrainingProgress is how far a training job is.
type TrainingProgress struct {
	Stage      string  `json:"stage" required:"true" example:"features" description:"download, features, train, evaluate, export, upload"`
	Percent    float64 `json:"percent" required:"true" minimum:"0" maximum:"100"`
	ETASeconds int     `json:"eta_seconds" required:"true"`
	Message    string  `json:"message" required:"true"`
}

// Version is one trained (or training) version of a model.
type Version struct {
	Version       int                `json:"version" required:"true" minimum:"1"`
	ModelID       string             `json:"model_id" required:"true"`
	AppType       string             `json:"app_type" required:"true" enum:"cloud-general,cloud-high-accuracy,offline-general,offline-high-performance"`
	Target        string             `json:"target" required:"true" enum:"cloud,offline" description:"where it may be published"`
	Metric        string             `json:"metric" required:"true" enum:"top1,top5,precision,recall,f1"`
	Status        string             `json:"status" required:"true" enum:"queued,training,stopping,succeeded,failed,stopped"`
	Labels        []string           `json:"labels" required:"true"`
	Progress      TrainingProgress   `json:"progress" required:"true"`
	Error         string             `json:"error,omitempty"`
	Metrics       map[string]float64 `json:"metrics,omitempty" description:"the report's headline figures (accuracy, precision, recall, f1, …), fractions in [0, 1]; in lists too"`
	PackageSHA256 string             `json:"package_sha256,omitempty"`
	Publications  []Publication      `json:"publications" required:"true" description:"where the version is published (发布状态); empty in lists"`
	CreatedAt     time.Time          `json:"created_at" required:"true"`
	UpdatedAt     time.Time          `json:"updated_at" required:"true"`
}

// VersionList is GET /models/{id}/versions.
type VersionList struct {
	Items []Version `json:"items" required:"true"`
	Total int       `json:"total" required:"true"`
}

// Publication is one place a version is published: a cloud service, an
// SDK build or the devices told to run it.
type Publication struct {
	Kind     string `json:"kind" required:"true" enum:"service,sdk,device"`
	ID       string `json:"id,omitempty" description:"service"`
	Name     string `json:"name,omitempty" description:"service"`
	Path     string `json:"path,omitempty" description:"service"`
	Online   *bool  `json:"online,omitempty" description:"service"`
	Platform string `json:"platform,omitempty" description:"sdk"`
	Status   string `json:"status,omitempty" description:"sdk: building, ready or failed"`
	Devices  int    `json:"devices,omitempty" description:"device: how many are told to run it"`
}

// VersionImage is one image a version trained on and its split.
type VersionImage struct {
	ImageID      string `json:"image_id" required:"true"`
	Label        string `json:"label" required:"true"`
	Split        string `json:"split" required:"true" enum:"train,validation,test"`
	SHA256       string `json:"sha256" required:"true"`
	Source       string `json:"source" required:"true"`
	ThumbnailURL string `json:"thumbnail_url" required:"true"`
}

// VersionImages is the frozen image list of a version, with the split
// counts, labels and seed that made it.
type VersionImages struct {
	Items  []VersionImage `json:"items" required:"true"`
	Total  int            `json:"total" required:"true"`
	Splits map[string]int `json:"splits" required:"true"`
	Labels []string       `json:"labels" required:"true"`
	Seed   uint64         `json:"seed" required:"true"`
}

// ValidationState is a version's validation service (校验).
type ValidationState struct {
	Status  string   `json:"status" required:"true" enum:"stopped,starting,ready,failed"`
	ModelID string   `json:"model_id" required:"true"`
	Version int      `json:"version" required:"true"`
	Error   string   `json:"error,omitempty"`
	Labels  []string `json:"labels,omitempty" description:"once loaded, sorted"`
}

// SDKRequest asks for an offline SDK build.
type SDKRequest struct {
	Platform string `json:"platform" required:"true" enum:"linux-amd64,linux-amd64-gpu,linux-arm64,windows-amd64"`
	Notes    string `json:"notes,omitempty" maxLength:"2000" description:"其他要求: anything else the requester wants noted"`
}

// SDKBuild is an SDK build and, once ready, where to download it.
type SDKBuild struct {
	Platform    string `json:"platform" required:"true"`
	Status      string `json:"status" required:"true" enum:"building,ready,failed"`
	ModelID     string `json:"model_id" required:"true"`
	Version     int    `json:"version" required:"true"`
	Error       string `json:"error,omitempty"`
	DownloadURL string `json:"download_url,omitempty"`
	Notes       string `json:"notes,omitempty" description:"其他要求, as requested"`
}
