package api

import "mime/multipart"

// PageQuery pages a list.
type PageQuery struct {
	Page     int `query:"page" minimum:"1" description:"from 1 (default 1)"`
	PageSize int `query:"page_size" minimum:"1" maximum:"200" description:"default 50"`
}

// PredictQuery are the query parameters of every prediction endpoint.
type PredictQuery struct {
	TopK      int     `query:"top_k" minimum:"1" description:"labels per answer (default 5); larger than the model's label count means all of them, never an error"`
	Threshold float64 `query:"threshold" minimum:"0" maximum:"1" description:"confidence threshold for every label, overriding the package's own; an invalid value is refused (bad_threshold)"`
}

// DeviceQuery filters the device list.
type DeviceQuery struct {
	Group string `query:"group" description:"only devices of this group"`
}

// DevicePackageQuery names the device a package URL was made for; its
// signature is the deviceURL security scheme's sig parameter.
type DevicePackageQuery struct {
	Device string `query:"device" required:"true"`
}

// UploadChunk is the header of PATCH /uploads/{id}; the body is the bytes.
type UploadChunk struct {
	Offset int64 `header:"Upload-Offset" required:"true" minimum:"0" description:"where this chunk starts: the upload's offset so far"`
}

// DatasetForm is the multipart body that creates a dataset from a zip
// (one folder per label) or adds one to it: the zip as file, or the id of
// a finished resumable upload.
type DatasetForm struct {
	Name     string                `formData:"name" description:"the new dataset's name (create only)"`
	File     *multipart.FileHeader `formData:"file" description:"the zip"`
	UploadID string                `formData:"upload_id" description:"a finished resumable upload, instead of file"`
}

// ImagesForm carries images as multipart parts named file.
type ImagesForm struct {
	Files []*multipart.FileHeader `formData:"file" required:"true" description:"JPEG, PNG or BMP images"`
}

// PredictAnswer is the 200 body of a prediction endpoint: PredictResponse
// for one image (a raw body or one file part), BatchResponse for several.
type PredictAnswer struct{}

// JSONSchemaAnyOf lists PredictAnswer's alternatives for the OpenAPI
// document (anyOf: an answer tells them apart by predictions or results).
func (PredictAnswer) JSONSchemaAnyOf() []any { return []any{PredictResponse{}, BatchResponse{}} }

// Enum lists every code, for the OpenAPI document.
func (Code) Enum() []any {
	cs := Codes()
	out := make([]any, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
