package api

import "time"

// Dataset statuses.
const (
	DatasetProcessing = "processing" // an import is queued or running
	DatasetReady      = "ready"
	DatasetFailed     = "failed" // the last import failed; Error says why
)

// Page is where a paged list stands: page and page_size as asked (or
// defaulted), total across all pages.
type Page struct {
	Total    int `json:"total" required:"true"`
	Page     int `json:"page" required:"true" minimum:"1"`
	PageSize int `json:"page_size" required:"true" minimum:"1" maximum:"200"`
}

// CreateUploadRequest starts a resumable upload of Size bytes.
type CreateUploadRequest struct {
	Size int64 `json:"size" required:"true" minimum:"1" example:"734003200"`
}

// Upload is where a resumable upload stands.
type Upload struct {
	ID     string `json:"id" required:"true" example:"up_3x7k2m9q4w8e1r5t6y0u2i4o6p"`
	Size   int64  `json:"size" required:"true"`
	Offset int64  `json:"offset" required:"true" description:"bytes received so far; the next PATCH sends Upload-Offset equal to it"`
}

// Dataset is a dataset (数据集) with its label counts. Labels, ImportReport
// and Progress come with GET /datasets/{id} only.
type Dataset struct {
	ID           string          `json:"id" required:"true" example:"ds_01j9z3k4"`
	Name         string          `json:"name" required:"true" example:"ants-and-bees"`
	Status       string          `json:"status" required:"true" enum:"processing,ready,failed"`
	Error        string          `json:"error,omitempty" description:"why the last import failed"`
	Revision     int             `json:"revision" required:"true" description:"grows with every change to the images"`
	ImageCount   int             `json:"image_count" required:"true"`
	LabelCount   int             `json:"label_count" required:"true"`
	CreatedAt    time.Time       `json:"created_at" required:"true"`
	UpdatedAt    time.Time       `json:"updated_at" required:"true"`
	Labels       []Label         `json:"labels,omitempty"`
	ImportReport *ImportReport   `json:"import_report,omitempty"`
	Progress     *ImportProgress `json:"progress,omitempty"`
}

// DatasetList is GET /datasets.
type DatasetList struct {
	Items []Dataset `json:"items" required:"true"`
	Page
}

// RenameRequest renames a dataset.
type RenameRequest struct {
	Name string `json:"name" required:"true" example:"ants-and-bees-v2"`
}

// RenameLabelRequest renames a label (the label rule of imports). A name
// another label has is a conflict unless Merge: then the images move into
// that label, leaving out those it already has (same sha256).
type RenameLabelRequest struct {
	Name  string `json:"name" required:"true" example:"蜜蜂"`
	Merge bool   `json:"merge,omitempty" description:"move the images into an existing label of that name"`
}

// MoveImageRequest moves an image to another label of its dataset.
type MoveImageRequest struct {
	Label string `json:"label" required:"true" example:"bees" description:"a label the dataset has"`
}

// Label is one label of a dataset and whether it has enough images to
// train (imagerules.MinImagesPerLabel); Warning says so in zh-CN and English.
type Label struct {
	Name      string `json:"name" required:"true" example:"ants"`
	Count     int    `json:"count" required:"true"`
	Trainable bool   `json:"trainable" required:"true"`
	Warning   string `json:"warning,omitempty"`
}

// SkippedFile is a file an import or an upload left out and why: Reason
// is stable (imagerules.Reason values, "duplicate", …), Detail for people.
type SkippedFile struct {
	Path   string `json:"path,omitempty" example:"ants/notes.txt"`
	Reason string `json:"reason" required:"true" example:"not_an_image"`
	Detail string `json:"detail,omitempty"`
}

// ImportReport is what the last zip import did.
type ImportReport struct {
	Accepted map[string]int `json:"accepted" required:"true" description:"images added per label"`
	Skipped  []SkippedFile  `json:"skipped" required:"true"`
	Labels   []Label        `json:"labels,omitempty"`
	GBK      bool           `json:"gbk,omitempty" description:"file names were read as GBK"`
	Added    int            `json:"added" required:"true"`
	Seconds  float64        `json:"seconds" required:"true"`
}

// ImportProgress is how far a running import is.
type ImportProgress struct {
	Stage string `json:"stage" required:"true" enum:"queued,importing,recording" example:"importing"`
	Done  int    `json:"done" required:"true"`
	Total int    `json:"total" required:"true"`
}

// Image is one stored image of a dataset.
type Image struct {
	ID           string    `json:"id" required:"true" example:"img_01j9z3k4"`
	Label        string    `json:"label" required:"true" example:"ants"`
	SHA256       string    `json:"sha256" required:"true"`
	Size         int64     `json:"size" required:"true"`
	Width        int       `json:"width" required:"true"`
	Height       int       `json:"height" required:"true"`
	Source       string    `json:"source" required:"true" description:"the file's path in its zip or upload"`
	CreatedAt    time.Time `json:"created_at" required:"true"`
	URL          string    `json:"url" required:"true" example:"/api/v1/images/img_01j9z3k4"`
	ThumbnailURL string    `json:"thumbnail_url" required:"true" example:"/api/v1/images/img_01j9z3k4/thumbnail"`
}

// ImageList is a label's images, paged.
type ImageList struct {
	Items []Image `json:"items" required:"true"`
	Page
}

// AddImagesResponse is POST /datasets/{id}/labels/{label}/images.
type AddImagesResponse struct {
	Added   []Image       `json:"added" required:"true"`
	Skipped []SkippedFile `json:"skipped" required:"true"`
}
