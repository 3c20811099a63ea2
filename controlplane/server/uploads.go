package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // thumbnails of png images
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	_ "golang.org/x/image/bmp" // thumbnails of bmp images
	"golang.org/x/image/draw"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/internal/atomicfile"
	"github.com/autocv/autocv/protocol/api"
)

// Resumable uploads, for zips too big to send in one request over a poor
// link: POST /uploads {size} → {id}; PATCH /uploads/{id} with header
// Upload-Offset = bytes the server has (GET /uploads/{id} tells) and the
// next chunk as the body; when offset reaches size, pass upload_id to
// POST /datasets or POST /datasets/{id}/zips instead of a file part.
// Uploads live in the receiving replica's data folder: behind a load
// balancer, route /api/v1/uploads with sticky sessions.

type uploadMeta struct {
	ID     string `json:"id"`
	Owner  string `json:"owner"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"`
}

var uploadIDRE = regexp.MustCompile(`^up_[a-z2-7]{26}$`)

// uploadLocks serialises appends per upload.
var uploadLocks sync.Map

// api is the upload as the API shows it (without its owner).
func (m *uploadMeta) api() api.Upload { return api.Upload{ID: m.ID, Size: m.Size, Offset: m.Offset} }

func (s *Server) uploadPaths(id string) (meta, data string) {
	dir := filepath.Join(s.opt.DataDir, "uploads")
	return filepath.Join(dir, id+".json"), filepath.Join(dir, id+".part")
}

func (s *Server) readUpload(id, owner string) (*uploadMeta, error) {
	if !uploadIDRE.MatchString(id) {
		return nil, fmt.Errorf("upload id %q is malformed", id)
	}
	mp, dp := s.uploadPaths(id)
	b, err := os.ReadFile(mp)
	if err != nil {
		return nil, fmt.Errorf("upload %s not found", id)
	}
	var m uploadMeta
	if err := json.Unmarshal(b, &m); err != nil || m.Owner != owner {
		return nil, fmt.Errorf("upload %s not found", id)
	}
	fi, err := os.Stat(dp)
	if err != nil {
		return nil, fmt.Errorf("upload %s lost its data", id)
	}
	m.Offset = fi.Size()
	return &m, nil
}

func (s *Server) createUpload(c *gin.Context) {
	var req api.CreateUploadRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Size <= 0 || req.Size > s.opt.MaxUploadBytes {
		failf(c, api.CodeInvalidSize, "size must be 1–%d bytes", s.opt.MaxUploadBytes)
		return
	}
	m := uploadMeta{ID: "up_" + newSecret("")[:26], Owner: who(c).user.ID, Size: req.Size}
	mp, dp := s.uploadPaths(m.ID)
	b, _ := json.Marshal(m)
	if err := atomicfile.Write(mp, b, 0o600); err != nil {
		s.internal(c, err)
		return
	}
	if err := os.WriteFile(dp, nil, 0o600); err != nil {
		s.internal(c, err)
		return
	}
	c.JSON(http.StatusCreated, m.api())
}

func (s *Server) getUpload(c *gin.Context) {
	m, err := s.readUpload(c.Param("id"), who(c).user.ID)
	if err != nil {
		fail(c, api.CodeNotFound, err.Error())
		return
	}
	c.JSON(http.StatusOK, m.api())
}

// lockUpload serialises the calls on one upload; ids are checked first so
// made-up ones cannot grow the lock table.
func lockUpload(id string) (unlock func(), ok bool) {
	if !uploadIDRE.MatchString(id) {
		return nil, false
	}
	v, _ := uploadLocks.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock, true
}

func (s *Server) appendUpload(c *gin.Context) {
	id := c.Param("id")
	unlock, ok := lockUpload(id)
	if !ok {
		fail(c, api.CodeNotFound, "upload id "+id+" is malformed")
		return
	}
	defer unlock()
	m, err := s.readUpload(id, who(c).user.ID)
	if err != nil {
		fail(c, api.CodeNotFound, err.Error())
		return
	}
	off, err := strconv.ParseInt(c.GetHeader("Upload-Offset"), 10, 64)
	if err != nil || off != m.Offset {
		c.Header("Upload-Offset", strconv.FormatInt(m.Offset, 10))
		failf(c, api.CodeOffsetMismatch, "Upload-Offset must be %d (the bytes received so far)", m.Offset)
		return
	}
	_, dp := s.uploadPaths(id)
	f, err := os.OpenFile(dp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		s.internal(c, err)
		return
	}
	n, err := io.Copy(f, io.LimitReader(c.Request.Body, m.Size-m.Offset+1))
	if err == nil && m.Offset+n > m.Size {
		err = errTooLarge
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		// Cut back to the last good offset so a retry can resume.
		_ = os.Truncate(dp, m.Offset)
		if errors.Is(err, errTooLarge) {
			failf(c, api.CodeTooLarge, "chunk goes past the declared size %d", m.Size)
			return
		}
		fail(c, api.CodeUploadFailed, "receiving the chunk: "+err.Error())
		return
	}
	m.Offset += n
	c.Header("Upload-Offset", strconv.FormatInt(m.Offset, 10))
	c.JSON(http.StatusOK, m.api())
}

// finishedUpload hands over a complete resumable upload: it moves the data
// to a fresh name so the upload cannot be used twice.
func (s *Server) finishedUpload(c *gin.Context, id string) (string, int64, error) {
	unlock, ok := lockUpload(id)
	if !ok {
		return "", 0, fmt.Errorf("upload id %q is malformed", id)
	}
	defer unlock()
	m, err := s.readUpload(id, who(c).user.ID)
	if err != nil {
		return "", 0, err
	}
	if m.Offset != m.Size {
		return "", 0, fmt.Errorf("upload %s has %d of %d bytes; finish it first", id, m.Offset, m.Size)
	}
	mp, dp := s.uploadPaths(id)
	dst := dp + ".zip"
	if err := os.Rename(dp, dst); err != nil {
		return "", 0, fmt.Errorf("upload %s was already used", id)
	}
	os.Remove(mp)
	uploadLocks.Delete(id)
	return dst, m.Size, nil
}

// uploadMaxAge is how long an unfinished upload, or an upload file no
// import refers to, is kept.
const uploadMaxAge = 24 * time.Hour

// sweepUploads deletes upload files older than uploadMaxAge that no
// pending import uses (abandoned resumable uploads, leftovers of crashed
// requests); it runs at start and then hourly.
func (s *Server) sweepUploads() {
	defer s.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.sweepUploadsOnce(time.Now().Add(-uploadMaxAge))
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) sweepUploadsOnce(before time.Time) {
	recs, err := s.st.Imports(s.ctx)
	if err != nil {
		return
	}
	inUse := map[string]bool{}
	for _, r := range recs {
		inUse[r.Path] = true
	}
	dir := filepath.Join(s.opt.DataDir, "uploads")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil || e.IsDir() || inUse[p] || info.ModTime().After(before) {
			continue
		}
		if os.Remove(p) == nil {
			s.log.Info("removed an abandoned upload", zap.String("path", p), zap.Int64("bytes", info.Size()))
		}
	}
}

// Thumbnails are made on first request and kept in the data folder's
// cache (they are cheap to remake, so they live outside the blob store).
const thumbSide = 160

func (s *Server) getThumbnail(c *gin.Context) {
	im := s.image(c)
	if im == nil {
		return
	}
	path := filepath.Join(s.opt.DataDir, "cache", "thumbs", im.SHA256[:2], im.SHA256+".jpg")
	b, err := os.ReadFile(path)
	if err != nil {
		if b, err = s.makeThumbnail(c, im.SHA256); err != nil {
			s.internal(c, err)
			return
		}
		_ = os.MkdirAll(filepath.Dir(path), 0o700)
		_ = atomicfile.Write(path, b, 0o600)
	}
	c.Header("Cache-Control", "private, max-age=86400, immutable")
	c.Data(http.StatusOK, "image/jpeg", b)
}

func (s *Server) makeThumbnail(c *gin.Context, sha string) ([]byte, error) {
	rc, _, err := s.blobs.Get(c.Request.Context(), sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if err := blob.Verify(bytes.NewReader(data), sha); err != nil {
		s.corrupt("store", sha, err)
		return nil, err
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding image %s for a thumbnail: %w", sha, err)
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > h {
		w, h = thumbSide, max(1, h*thumbSide/w)
	} else {
		w, h = max(1, w*thumbSide/h), thumbSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
