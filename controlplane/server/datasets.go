package server

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/autocv/autocv/controlplane/dataset"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
)

// Label rules of the product: a label needs MinTrainable images to be
// trained on and gets a warning under WarnImages.
const (
	MinTrainable = imagerules.MinImagesPerLabel
	WarnImages   = imagerules.WarnImagesPerLabel
	MaxLabels    = imagerules.MaxLabels
)

// datasetJSON is a dataset with its label counts; withLabels adds the
// labels, the last import report and the running import's progress.
func (s *Server) datasetJSON(ctx context.Context, d *store.Dataset, withLabels bool) (api.Dataset, error) {
	out := api.Dataset{ID: d.ID, Name: d.Name, Status: d.Status, Error: d.Error, Revision: d.Revision,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	ls, err := s.st.Labels(ctx, d.ID)
	if err != nil {
		return out, err
	}
	labels := make([]api.Label, 0, len(ls))
	for _, l := range ls {
		out.ImageCount += l.Count
		labels = append(labels, dataset.LabelOf(l.Name, l.Count))
	}
	out.LabelCount = len(ls)
	if withLabels {
		out.Labels = labels
		if len(d.Report) > 0 {
			var r api.ImportReport
			if err := json.Unmarshal(d.Report, &r); err != nil {
				return out, fmt.Errorf("dataset %s: stored import report: %w", d.ID, err)
			}
			out.ImportReport = &r
		}
		if p, ok := s.imports.Progress(d.ID); ok {
			out.Progress = &p
		}
	}
	return out, nil
}

// dataset loads the path's dataset and checks the caller may see it.
func (s *Server) dataset(c *gin.Context) *store.Dataset {
	d, err := s.st.Dataset(c.Request.Context(), c.Param("id"))
	if err == nil && !owns(c, d.OwnerID) {
		err = store.ErrNotFound
	}
	if err != nil {
		s.lookupError(c, err, "dataset "+c.Param("id"))
		return nil
	}
	return d
}

func (s *Server) listDatasets(c *gin.Context) {
	p, page, size, ok := pageParams(c)
	if !ok {
		return
	}
	ds, total, err := s.st.Datasets(c.Request.Context(), ownerFilter(c), p)
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Dataset, 0, len(ds))
	for i := range ds {
		h, err := s.datasetJSON(c.Request.Context(), &ds[i], false)
		if err != nil {
			s.internal(c, err)
			return
		}
		items = append(items, h)
	}
	c.JSON(http.StatusOK, api.DatasetList{Items: items, Page: api.Page{Total: total, Page: page, PageSize: size}})
}

func (s *Server) getDataset(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	h, err := s.datasetJSON(c.Request.Context(), d, true)
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, h)
}

func (s *Server) renameDataset(c *gin.Context) {
	var req api.RenameRequest
	if !bindJSON(c, &req) {
		return
	}
	if !api.ValidName(req.Name, 64) {
		fail(c, api.CodeInvalidName, "dataset name must be 1–64 letters, digits, Chinese characters, '_', '-', '.' or inner spaces")
		return
	}
	d := s.dataset(c)
	if d == nil {
		return
	}
	if err := s.st.RenameDataset(c.Request.Context(), d.ID, req.Name); err != nil {
		s.storeError(c, err, "dataset")
		return
	}
	d.Name = req.Name
	h, err := s.datasetJSON(c.Request.Context(), d, true)
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusOK, h)
}

func (s *Server) deleteDataset(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	if err := s.st.DeleteDataset(c.Request.Context(), d.ID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			fail(c, api.CodeInUse, "dataset "+d.ID+" is used by a queued or running training job; stop it first")
			return
		}
		s.storeError(c, err, "dataset")
		return
	}
	c.Status(http.StatusNoContent)
}

// createDataset streams the multipart body (fields name and file, or
// upload_id naming a finished resumable upload) to disk, records the
// dataset and its pending import, and answers 202 before importing.
func (s *Server) createDataset(c *gin.Context) {
	up, ok := s.receiveZip(c)
	if !ok {
		return
	}
	if !api.ValidName(up.name, 64) {
		up.discard()
		fail(c, api.CodeInvalidName, "field name: dataset name must be 1–64 letters, digits, Chinese characters, '_', '-', '.' or inner spaces")
		return
	}
	ctx := context.WithoutCancel(c.Request.Context())
	d := &store.Dataset{OwnerID: who(c).user.ID, Name: up.name, Status: store.DatasetProcessing}
	if err := s.st.CreateDataset(ctx, d); err != nil {
		up.discard()
		s.createError(c, err)
		return
	}
	if !s.queueImport(c, d.ID, up) {
		return
	}
	s.accepted(c, d)
}

// appendZip adds a zip to an existing dataset.
func (s *Server) appendZip(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	if d.Status == store.DatasetProcessing {
		fail(c, api.CodeImporting, "dataset "+d.ID+" is still importing; wait until it is ready")
		return
	}
	up, ok := s.receiveZip(c)
	if !ok {
		return
	}
	ctx := context.WithoutCancel(c.Request.Context())
	if err := s.st.SetDatasetStatus(ctx, d.ID, store.DatasetProcessing, "", d.Report); err != nil {
		up.discard()
		s.storeError(c, err, "dataset")
		return
	}
	if !s.queueImport(c, d.ID, up) {
		return
	}
	d.Status = store.DatasetProcessing
	s.accepted(c, d)
}

// accepted answers 202 with a dataset whose zip is queued for import.
func (s *Server) accepted(c *gin.Context, d *store.Dataset) {
	h, err := s.datasetJSON(c.Request.Context(), d, false)
	if err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusAccepted, h)
}

func (s *Server) queueImport(c *gin.Context, datasetID string, up *upload) bool {
	ctx := context.WithoutCancel(c.Request.Context())
	rec := &store.Import{DatasetID: datasetID, Kind: "zip", Path: up.path}
	if err := s.st.CreateImport(ctx, rec); err != nil {
		up.discard()
		_ = s.st.SetDatasetStatus(ctx, datasetID, store.DatasetFailed, "could not record the import: "+err.Error(), nil)
		s.internal(c, err)
		return false
	}
	s.imports.Enqueue(*rec)
	return true
}

// upload is a zip received on disk.
type upload struct {
	name string
	path string
	size int64
}

func (u *upload) discard() { os.Remove(u.path) }

// receiveZip reads a multipart body: a `name` field, and a `file` part
// streamed to disk (capped at MaxUploadBytes) or an `upload_id` of a
// finished resumable upload. Answers the error itself when it returns false.
func (s *Server) receiveZip(c *gin.Context) (*upload, bool) {
	limit := s.opt.MaxUploadBytes + 1<<20
	if c.Request.ContentLength > limit {
		failf(c, api.CodeTooLarge, "upload is %d bytes; a zip may be at most %d bytes (use the resumable upload API for large files)", c.Request.ContentLength, s.opt.MaxUploadBytes)
		return nil, false
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		fail(c, api.CodeInvalidMultipart, "want a multipart/form-data body with fields name and file: "+err.Error())
		return nil, false
	}
	up := &upload{}
	refuse := func(e *api.Error) (*upload, bool) {
		if up.path != "" {
			up.discard()
		}
		fail(c, e.Code, e.Message)
		return nil, false
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return refuse(api.Errorf(api.CodeInvalidMultipart, "reading the upload: %v", err))
		}
		if e := s.readZipPart(c, part, up); e != nil {
			return refuse(e)
		}
	}
	if up.path == "" {
		return refuse(api.Errorf(api.CodeMissingFile, "no file: send the zip as multipart field \"file\" (or \"upload_id\")"))
	}
	if up.size == 0 {
		return refuse(api.Errorf(api.CodeEmptyFile, "the uploaded file is empty (0 bytes)"))
	}
	// the end of central directory and the directory itself, before any
	// dataset is made: a file that is no zip is refused, not imported
	zr, err := zip.OpenReader(up.path)
	if err != nil {
		return refuse(api.Errorf(api.CodeNotAZip, "上传的文件不是 zip 压缩包或已损坏，请把每个分类的图片放进以分类命名的文件夹后打包成 zip / "+
			"the uploaded file is not a zip or it is damaged (%v): zip one folder of images per label", err))
	}
	zr.Close()
	return up, true
}

// readZipPart reads one part of a zip upload into up: the dataset's
// name, the zip itself (saved to disk), or a finished upload's id.
func (s *Server) readZipPart(c *gin.Context, part *multipart.Part, up *upload) *api.Error {
	switch part.FormName() {
	case "name":
		b, err := io.ReadAll(io.LimitReader(part, 1024))
		if err != nil {
			return api.Errorf(api.CodeInvalidMultipart, "field name: %v", err)
		}
		up.name = strings.TrimSpace(string(b))
	case "file":
		if up.path != "" {
			return api.Errorf(api.CodeInvalidMultipart, "more than one file part; send one zip per request")
		}
		p, n, err := s.saveUpload(part, s.opt.MaxUploadBytes)
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) || errors.Is(err, errTooLarge) {
				return api.Errorf(api.CodeTooLarge, "the zip is over the %d-byte limit", s.opt.MaxUploadBytes)
			}
			return api.Errorf(api.CodeUploadFailed, "receiving the file: %v", err)
		}
		up.path, up.size = p, n
	case "upload_id":
		b, _ := io.ReadAll(io.LimitReader(part, 128))
		p, n, err := s.finishedUpload(c, strings.TrimSpace(string(b)))
		if err != nil {
			return api.Errorf(api.CodeUploadIncomplete, "%v", err)
		}
		up.path, up.size = p, n
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(part, 1<<20))
	}
	return nil
}

var errTooLarge = errors.New("too large")

func (s *Server) saveUpload(r io.Reader, limit int64) (string, int64, error) {
	f, err := os.CreateTemp(filepath.Join(s.opt.DataDir, "uploads"), "zip-*.upload")
	if err != nil {
		return "", 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = errTooLarge
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, err
	}
	return f.Name(), n, nil
}

// addImages adds single images (multipart file parts) to a label.
func (s *Server) addImages(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	parts, ok := readImageParts(c, 100)
	if !ok {
		return
	}
	files := make([]dataset.File, len(parts))
	imgs := make([][]byte, len(parts))
	for i, p := range parts {
		files[i], imgs[i] = dataset.File{Name: p.name, Data: p.data}, p.data
	}
	release, ok := admit(c, s.decodeBudget, imgs)
	if !ok {
		return
	}
	defer release()
	added, skipped, err := dataset.AddImages(c.Request.Context(), s.st, s.blobs, d, c.Param("label"), files)
	switch {
	case errors.Is(err, dataset.ErrBadLabel):
		fail(c, api.CodeBadLabel, err.Error())
		return
	case errors.Is(err, dataset.ErrImporting):
		fail(c, api.CodeImporting, err.Error())
		return
	case errors.Is(err, dataset.ErrTooManyLabels):
		fail(c, api.CodeTooManyLabels, err.Error())
		return
	case err != nil:
		s.storeError(c, err, "dataset")
		return
	}
	items := make([]api.Image, 0, len(added))
	for i := range added {
		items = append(items, imageJSON(&added[i]))
	}
	c.JSON(http.StatusCreated, api.AddImagesResponse{Added: items, Skipped: skipped})
}

func imageJSON(im *store.Image) api.Image {
	return api.Image{ID: im.ID, Label: im.Label, SHA256: im.SHA256, Size: im.Size, Width: im.Width,
		Height: im.Height, Source: im.Source, CreatedAt: im.CreatedAt.UTC(),
		URL: "/api/v1/images/" + im.ID, ThumbnailURL: "/api/v1/images/" + im.ID + "/thumbnail"}
}

func (s *Server) listImages(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	p, page, size, ok := pageParams(c)
	if !ok {
		return
	}
	ims, total, err := s.st.Images(c.Request.Context(), d.ID, c.Param("label"), p)
	if err != nil {
		s.internal(c, err)
		return
	}
	items := make([]api.Image, 0, len(ims))
	for i := range ims {
		items = append(items, imageJSON(&ims[i]))
	}
	c.JSON(http.StatusOK, api.ImageList{Items: items, Page: api.Page{Total: total, Page: page, PageSize: size}})
}

func (s *Server) deleteImage(c *gin.Context) {
	d := s.dataset(c)
	if d == nil {
		return
	}
	if d.Status == store.DatasetProcessing {
		fail(c, api.CodeImporting, "dataset "+d.ID+" is still importing; wait until it is ready")
		return
	}
	if err := s.st.DeleteImage(c.Request.Context(), d.ID, c.Param("image")); err != nil {
		s.storeError(c, err, "image "+c.Param("image"))
		return
	}
	c.Status(http.StatusNoContent)
}

// image loads the path's image if the caller owns its dataset.
func (s *Server) image(c *gin.Context) *store.Image {
	im, err := s.st.Image(c.Request.Context(), c.Param("id"))
	if err == nil {
		var d *store.Dataset
		if d, err = s.st.Dataset(c.Request.Context(), im.DatasetID); err == nil && !owns(c, d.OwnerID) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		s.lookupError(c, err, "image "+c.Param("id"))
		return nil
	}
	return im
}

func (s *Server) getImage(c *gin.Context) {
	im := s.image(c)
	if im == nil {
		return
	}
	rc, _, err := s.blobs.Get(c.Request.Context(), im.SHA256)
	if err != nil {
		s.internal(c, err)
		return
	}
	head := make([]byte, 16)
	k, _ := io.ReadFull(rc, head)
	rc.Close()
	c.Header("Cache-Control", "private, max-age=86400, immutable")
	s.sendBlob(c, im.SHA256, "image/"+imagerules.Sniff(head[:k]), "")
}
