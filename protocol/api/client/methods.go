package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/report"
)

const (
	get   = http.MethodGet
	post  = http.MethodPost
	put   = http.MethodPut
	patch = http.MethodPatch
	del   = http.MethodDelete
)

// paged is path with the page query (0: the server's default).
func paged(path string, page, size int) string {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if size > 0 {
		q.Set("page_size", strconv.Itoa(size))
	}
	return withQuery(path, q)
}

// versionPath is /models/{id}/versions/{v}/rest….
func versionPath(modelID string, v int, rest ...string) string {
	return Path(append([]string{"models", modelID, "versions", strconv.Itoa(v)}, rest...)...)
}

// Accounts and tokens.

// Login starts a console session. It does not change c.Token: set it to
// the answer's Token to call as that user.
func (c *Client) Login(ctx context.Context, req api.LoginRequest) (*api.LoginResponse, error) {
	return call[api.LoginResponse](ctx, c, post, "/auth/login", req)
}

// Logout ends the session of c.Token.
func (c *Client) Logout(ctx context.Context) error {
	return c.Call(ctx, post, "/auth/logout", nil, nil)
}

// Me is the caller's account.
func (c *Client) Me(ctx context.Context) (*api.User, error) {
	return call[api.User](ctx, c, get, "/me", nil)
}

// ChangePassword changes the caller's password; its other sessions end.
func (c *Client) ChangePassword(ctx context.Context, req api.PasswordRequest) error {
	return c.Call(ctx, post, "/me/password", req, nil)
}

// CreateUser creates an account (admin).
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (*api.User, error) {
	return call[api.User](ctx, c, post, "/users", req)
}

// APIKeys lists the caller's API keys, secrets left out.
func (c *Client) APIKeys(ctx context.Context) (*api.TokenList, error) {
	return call[api.TokenList](ctx, c, get, "/apikeys", nil)
}

// CreateAPIKey creates an API key (scopes default to infer); the answer's
// Key is its secret, shown once.
func (c *Client) CreateAPIKey(ctx context.Context, req api.TokenRequest) (*api.Token, error) {
	return call[api.Token](ctx, c, post, "/apikeys", req)
}

// DeleteAPIKey revokes an API key.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("apikeys", id), nil, nil)
}

// TrainerTokens lists the trainer tokens (admin).
func (c *Client) TrainerTokens(ctx context.Context) (*api.TokenList, error) {
	return call[api.TokenList](ctx, c, get, "/trainer-tokens", nil)
}

// CreateTrainerToken creates a trainer token (admin); the answer's Token
// is its secret, shown once.
func (c *Client) CreateTrainerToken(ctx context.Context, name string) (*api.Token, error) {
	return call[api.Token](ctx, c, post, "/trainer-tokens", api.TokenRequest{Name: name})
}

// DeleteTrainerToken revokes a trainer token (admin).
func (c *Client) DeleteTrainerToken(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("trainer-tokens", id), nil, nil)
}

// Resumable uploads.

// CreateUpload starts a resumable upload of size bytes.
func (c *Client) CreateUpload(ctx context.Context, size int64) (*api.Upload, error) {
	return call[api.Upload](ctx, c, post, "/uploads", api.CreateUploadRequest{Size: size})
}

// GetUpload says how many bytes of an upload arrived.
func (c *Client) GetUpload(ctx context.Context, id string) (*api.Upload, error) {
	return call[api.Upload](ctx, c, get, Path("uploads", id), nil)
}

// AppendUpload sends size bytes of chunk at offset, which must be the
// upload's offset so far, and returns where the upload now stands.
func (c *Client) AppendUpload(ctx context.Context, id string, offset int64, chunk io.Reader, size int64) (*api.Upload, error) {
	return stream[api.Upload](ctx, c, patch, Path("uploads", id), chunk, size, http.Header{
		"Upload-Offset": {strconv.FormatInt(offset, 10)}, "Content-Type": {"application/offset+octet-stream"}})
}

// Datasets.

// zipFields are the form fields of a dataset zip: the name (create only)
// and the upload id when the zip is a finished upload, not zip.
func zipFields(name string, zip *File, uploadID string) ([][2]string, []File) {
	var fields [][2]string
	if name != "" {
		fields = append(fields, [2]string{"name", name})
	}
	if zip == nil {
		return append(fields, [2]string{"upload_id", uploadID}), nil
	}
	return fields, []File{*zip}
}

// CreateDataset creates a dataset from a zip with one folder per label:
// zip, or when it is nil the finished resumable upload uploadID. The
// import runs in the background; the dataset's Status says when it ends.
func (c *Client) CreateDataset(ctx context.Context, name string, zip *File, uploadID string) (*api.Dataset, error) {
	fields, files := zipFields(name, zip, uploadID)
	return upload[api.Dataset](ctx, c, "/datasets", fields, files)
}

// AppendZip adds a zip (or the finished upload uploadID) to a dataset,
// imported in the background.
func (c *Client) AppendZip(ctx context.Context, id string, zip *File, uploadID string) (*api.Dataset, error) {
	fields, files := zipFields("", zip, uploadID)
	return upload[api.Dataset](ctx, c, Path("datasets", id, "zips"), fields, files)
}

// ListDatasets lists datasets; page and size 0 are the server's defaults.
func (c *Client) ListDatasets(ctx context.Context, page, size int) (*api.DatasetList, error) {
	return call[api.DatasetList](ctx, c, get, paged("/datasets", page, size), nil)
}

// GetDataset is a dataset with its labels, import report and progress.
func (c *Client) GetDataset(ctx context.Context, id string) (*api.Dataset, error) {
	return call[api.Dataset](ctx, c, get, Path("datasets", id), nil)
}

// RenameDataset renames a dataset.
func (c *Client) RenameDataset(ctx context.Context, id, name string) (*api.Dataset, error) {
	return call[api.Dataset](ctx, c, patch, Path("datasets", id), api.RenameRequest{Name: name})
}

// DeleteDataset deletes a dataset.
func (c *Client) DeleteDataset(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("datasets", id), nil, nil)
}

// AddImages adds images to a label of a dataset.
func (c *Client) AddImages(ctx context.Context, id, label string, images []File) (*api.AddImagesResponse, error) {
	return upload[api.AddImagesResponse](ctx, c, Path("datasets", id, "labels", label, "images"), nil, images)
}

// ListImages is a page of a label's images.
func (c *Client) ListImages(ctx context.Context, id, label string, page, size int) (*api.ImageList, error) {
	return call[api.ImageList](ctx, c, get, paged(Path("datasets", id, "labels", label, "images"), page, size), nil)
}

// DeleteImage deletes an image of a dataset.
func (c *Client) DeleteImage(ctx context.Context, datasetID, imageID string) error {
	return c.Call(ctx, del, Path("datasets", datasetID, "images", imageID), nil, nil)
}

// MoveImage moves an image to another label of its dataset.
func (c *Client) MoveImage(ctx context.Context, datasetID, imageID, label string) (*api.Image, error) {
	return call[api.Image](ctx, c, patch, Path("datasets", datasetID, "images", imageID), api.MoveImageRequest{Label: label})
}

// RenameLabel renames a label; merge moves its images into an existing
// label of that name.
func (c *Client) RenameLabel(ctx context.Context, datasetID, label, name string, merge bool) (*api.Dataset, error) {
	return call[api.Dataset](ctx, c, patch, Path("datasets", datasetID, "labels", label), api.RenameLabelRequest{Name: name, Merge: merge})
}

// DeleteLabel deletes a label and its images.
func (c *Client) DeleteLabel(ctx context.Context, datasetID, label string) error {
	return c.Call(ctx, del, Path("datasets", datasetID, "labels", label), nil, nil)
}

// Image is an image's bytes; the caller closes them.
func (c *Client) Image(ctx context.Context, id string) (io.ReadCloser, error) {
	return c.body(ctx, Path("images", id))
}

// Thumbnail is an image's JPEG thumbnail; the caller closes it.
func (c *Client) Thumbnail(ctx context.Context, id string) (io.ReadCloser, error) {
	return c.body(ctx, Path("images", id, "thumbnail"))
}

func (c *Client) body(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.Do(ctx, get, path, nil, -1, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Models and versions.

// CreateModel creates a model.
func (c *Client) CreateModel(ctx context.Context, req api.CreateModelRequest) (*api.Model, error) {
	return call[api.Model](ctx, c, post, "/models", req)
}

// ListModels lists models with their versions.
func (c *Client) ListModels(ctx context.Context, page, size int) (*api.ModelList, error) {
	return call[api.ModelList](ctx, c, get, paged("/models", page, size), nil)
}

// GetModel is a model, its versions and where each is published.
func (c *Client) GetModel(ctx context.Context, id string) (*api.Model, error) {
	return call[api.Model](ctx, c, get, Path("models", id), nil)
}

// DeleteModel deletes a model.
func (c *Client) DeleteModel(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("models", id), nil, nil)
}

// Train queues one new version of a model per application type.
func (c *Client) Train(ctx context.Context, modelID string, req api.CreateVersionsRequest) ([]api.Version, error) {
	vs, err := call[[]api.Version](ctx, c, post, Path("models", modelID, "versions"), req)
	if err != nil {
		return nil, err
	}
	return *vs, nil
}

// ListVersions lists a model's versions.
func (c *Client) ListVersions(ctx context.Context, modelID string) (*api.VersionList, error) {
	return call[api.VersionList](ctx, c, get, Path("models", modelID, "versions"), nil)
}

// GetVersion is a version: status, progress, error and publications.
func (c *Client) GetVersion(ctx context.Context, modelID string, v int) (*api.Version, error) {
	return call[api.Version](ctx, c, get, versionPath(modelID, v), nil)
}

// VersionImages is the frozen image list a version trained on.
func (c *Client) VersionImages(ctx context.Context, modelID string, v int) (*api.VersionImages, error) {
	return call[api.VersionImages](ctx, c, get, versionPath(modelID, v, "images"), nil)
}

// StopVersion stops a version's training.
func (c *Client) StopVersion(ctx context.Context, modelID string, v int) (*api.Version, error) {
	return call[api.Version](ctx, c, post, versionPath(modelID, v, "stop"), nil)
}

// Report is a trained version's evaluation report, read with report.Parse.
func (c *Client) Report(ctx context.Context, modelID string, v int) (*report.Report, error) {
	raw, err := c.ReportJSON(ctx, modelID, v)
	if err != nil {
		return nil, err
	}
	r, err := report.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the report of model %s version %d: %w", modelID, v, err)
	}
	return r, nil
}

// ReportJSON is the evaluation report as the server keeps it, unparsed
// (a report of a newer schema than this client reads still arrives).
func (c *Client) ReportJSON(ctx context.Context, modelID string, v int) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.Call(ctx, get, versionPath(modelID, v, "report"), nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// Package streams a trained version's signed package (tar.gz). The caller
// closes the response's body; its ETag is the package's sha256.
func (c *Client) Package(ctx context.Context, modelID string, v int) (*http.Response, error) {
	return c.Do(ctx, get, versionPath(modelID, v, "package"), nil, -1, nil)
}

// Validation (校验).

// StartValidation starts a version's validation service.
func (c *Client) StartValidation(ctx context.Context, modelID string, v int) (*api.ValidationState, error) {
	return call[api.ValidationState](ctx, c, post, versionPath(modelID, v, "validation"), nil)
}

// GetValidation is the validation service's state.
func (c *Client) GetValidation(ctx context.Context, modelID string, v int) (*api.ValidationState, error) {
	return call[api.ValidationState](ctx, c, get, versionPath(modelID, v, "validation"), nil)
}

// PredictValidation classifies up to 10 images with a ready validation
// service.
func (c *Client) PredictValidation(ctx context.Context, modelID string, v int, images []File, q api.PredictQuery) (*Answer, error) {
	return upload[Answer](ctx, c, predictPath(versionPath(modelID, v, "validation", "predict"), q), nil, images)
}

// Offline SDKs.

// RequestSDK asks for an SDK build for platform.
func (c *Client) RequestSDK(ctx context.Context, modelID string, v int, platform string) (*api.SDKBuild, error) {
	return call[api.SDKBuild](ctx, c, post, versionPath(modelID, v, "sdk"), api.SDKRequest{Platform: platform})
}

// GetSDK is an SDK build's state.
func (c *Client) GetSDK(ctx context.Context, modelID string, v int, platform string) (*api.SDKBuild, error) {
	return call[api.SDKBuild](ctx, c, get, versionPath(modelID, v, "sdk", platform), nil)
}

// DownloadSDK streams a ready SDK zip. The caller closes the response's
// body; its ETag is the zip's sha256.
func (c *Client) DownloadSDK(ctx context.Context, modelID string, v int, platform string) (*http.Response, error) {
	return c.Do(ctx, get, versionPath(modelID, v, "sdk", platform, "download"), nil, -1, nil)
}

// Cloud services.

// CreateService publishes a cloud version; it answers once the model is
// loaded.
func (c *Client) CreateService(ctx context.Context, req api.CreateServiceRequest) (*api.Service, error) {
	return call[api.Service](ctx, c, post, "/services", req)
}

// ListServices lists the cloud services.
func (c *Client) ListServices(ctx context.Context) (*api.ServiceList, error) {
	return call[api.ServiceList](ctx, c, get, "/services", nil)
}

// GetService is a service with its statistics and call document.
func (c *Client) GetService(ctx context.Context, id string) (*api.Service, error) {
	return call[api.Service](ctx, c, get, Path("services", id), nil)
}

// UpdateService switches a service on or off, or to another version.
func (c *Client) UpdateService(ctx context.Context, id string, req api.UpdateServiceRequest) (*api.Service, error) {
	return call[api.Service](ctx, c, patch, Path("services", id), req)
}

// DeleteService deletes a cloud service.
func (c *Client) DeleteService(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("services", id), nil, nil)
}

// ServiceUsage is a service's calls per minute over the last minutes
// (0: the server's default, 60).
func (c *Client) ServiceUsage(ctx context.Context, id string, minutes int) (*api.ServiceUsage, error) {
	path := Path("services", id, "usage")
	if minutes > 0 {
		path += "?minutes=" + strconv.Itoa(minutes)
	}
	return call[api.ServiceUsage](ctx, c, get, path, nil)
}

// Answer is a prediction endpoint's answer: One for a single image, Batch
// for several files. It encodes as the server's JSON.
type Answer struct {
	One   *api.PredictResponse
	Batch *api.BatchResponse
}

// MarshalJSON writes the answer the server sent.
func (a Answer) MarshalJSON() ([]byte, error) {
	if a.Batch != nil {
		return json.Marshal(a.Batch)
	}
	return json.Marshal(a.One)
}

// UnmarshalJSON reads either answer, telling them apart by results.
func (a *Answer) UnmarshalJSON(b []byte) error {
	var v struct {
		api.PredictResponse
		Results []api.FileResult `json:"results"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Answer{One: &v.PredictResponse}
	if v.Results != nil {
		*a = Answer{Batch: &api.BatchResponse{Model: v.Model, Results: v.Results, LatencyMS: v.LatencyMS}}
	}
	return nil
}

// predictPath adds the prediction query; zero fields are left out.
func predictPath(path string, q api.PredictQuery) string {
	v := url.Values{}
	if q.TopK > 0 {
		v.Set(api.ParamTopK, strconv.Itoa(q.TopK))
	}
	if q.Threshold > 0 {
		v.Set(api.ParamThreshold, strconv.FormatFloat(q.Threshold, 'g', -1, 64))
	}
	return withQuery(path, v)
}

// Infer classifies images with the service published at path (e.g.
// "insects/ants"; its slashes stay, each segment is escaped), with an API
// key or session as c.Token. One image goes as the raw body, several as
// multipart "file" parts.
func (c *Client) Infer(ctx context.Context, path string, images []File, q api.PredictQuery) (*Answer, error) {
	p := predictPath(Path(append([]string{"infer"}, strings.Split(strings.Trim(path, "/"), "/")...)...), q)
	if len(images) == 1 {
		return stream[Answer](ctx, c, post, p, images[0].Body, images[0].Size, http.Header{"Content-Type": {"application/octet-stream"}})
	}
	return upload[Answer](ctx, c, p, nil, images)
}

// Devices.

// CreateEnrollmentToken creates an enrolment token (admin); the answer's
// Token and Command carry the secret, shown once.
func (c *Client) CreateEnrollmentToken(ctx context.Context, req api.EnrollmentTokenRequest) (*api.EnrollmentToken, error) {
	return call[api.EnrollmentToken](ctx, c, post, "/enrollment-tokens", req)
}

// ListEnrollmentTokens lists the enrolment tokens (admin).
func (c *Client) ListEnrollmentTokens(ctx context.Context) (*api.EnrollmentTokenList, error) {
	return call[api.EnrollmentTokenList](ctx, c, get, "/enrollment-tokens", nil)
}

// DeleteEnrollmentToken revokes an enrolment token (admin).
func (c *Client) DeleteEnrollmentToken(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("enrollment-tokens", id), nil, nil)
}

// Enroll enrols a device with a one-time token (no c.Token needed).
func (c *Client) Enroll(ctx context.Context, req api.EnrollRequest) (*fleet.EnrollResponse, error) {
	return call[fleet.EnrollResponse](ctx, c, post, "/enroll", req)
}

// ListDevices lists the devices, of group only unless it is "" (admin).
func (c *Client) ListDevices(ctx context.Context, group string) (*api.DeviceList, error) {
	q := url.Values{}
	if group != "" {
		q.Set("group", group)
	}
	return call[api.DeviceList](ctx, c, get, withQuery("/devices", q), nil)
}

// GetDevice is one device (admin).
func (c *Client) GetDevice(ctx context.Context, id string) (*api.Device, error) {
	return call[api.Device](ctx, c, get, Path("devices", id), nil)
}

// SetDesired tells a device which model version to run (admin).
func (c *Client) SetDesired(ctx context.Context, id string, req api.DesiredRequest) (*api.Device, error) {
	return call[api.Device](ctx, c, put, Path("devices", id, "desired"), req)
}

// DeleteDevice removes a device (admin).
func (c *Client) DeleteDevice(ctx context.Context, id string) error {
	return c.Call(ctx, del, Path("devices", id), nil, nil)
}

// CreateGroup creates a device group (admin).
func (c *Client) CreateGroup(ctx context.Context, req api.CreateGroupRequest) (*api.Group, error) {
	return call[api.Group](ctx, c, post, "/groups", req)
}

// ListGroups lists the device groups with their counts (admin).
func (c *Client) ListGroups(ctx context.Context) (*api.GroupList, error) {
	return call[api.GroupList](ctx, c, get, "/groups", nil)
}

// GetGroup reads a device group and its devices (admin).
func (c *Client) GetGroup(ctx context.Context, name string) (*api.GroupDetail, error) {
	return call[api.GroupDetail](ctx, c, get, Path("groups", name), nil)
}

// CreateRollout rolls a trained version out to a device group (admin).
func (c *Client) CreateRollout(ctx context.Context, req api.CreateRolloutRequest) (*api.Rollout, error) {
	return call[api.Rollout](ctx, c, post, "/rollouts", req)
}

// ListRollouts lists the rollouts, newest first (admin).
func (c *Client) ListRollouts(ctx context.Context) (*api.RolloutList, error) {
	return call[api.RolloutList](ctx, c, get, "/rollouts", nil)
}

// GetRollout reads a rollout and each device's progress (admin).
func (c *Client) GetRollout(ctx context.Context, id string) (*api.Rollout, error) {
	return call[api.Rollout](ctx, c, get, Path("rollouts", id), nil)
}

// RolloutAction pauses, resumes, aborts or rolls back a rollout (admin).
func (c *Client) RolloutAction(ctx context.Context, id, action string) (*api.Rollout, error) {
	return call[api.Rollout](ctx, c, post, Path("rollouts", id, action), nil)
}
