// Package dataset is the control plane's dataset application, below its
// HTTP layer: the queue that imports uploaded zips into a dataset (the
// rules of one zip are controlplane/dataset/importer's), resumable across
// restarts and replicas.
package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/controlplane/blob"
	"github.com/autocv/autocv/controlplane/dataset/importer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// Config is what an import Queue works with.
type Config struct {
	Store store.Store
	// Blobs keeps each accepted image's bytes under its sha256.
	Blobs blob.Store
	Log   *zap.Logger
	// DataDir is this replica's data folder: a pending import whose upload
	// is missing there is failed; one elsewhere belongs to another replica.
	DataDir string
	// MaxZipBytes bounds a zip's uncompressed size (importer.Options).
	MaxZipBytes int64
	// Imported, when set, is told the outcome of every finished import
	// (for metrics).
	Imported func(accepted, skipped int)
}

// Queue runs pending dataset imports in the background, a few at a time.
// Imports are recorded in the store before they are queued, so a crash or
// restart resumes them (Start does). One dataset imports one zip at a
// time, so two appends cannot interleave.
type Queue struct {
	cfg   Config
	ctx   context.Context
	wg    sync.WaitGroup
	queue chan store.Import
	mu    sync.Mutex
	prog  map[string]Progress
	busy  map[string]bool
}

// Progress is where a dataset's import stands: Stage "queued",
// "importing" (Done of Total steps, importer.Options.Progress: it moves
// through the check pass and the store pass alike) or "recording" (Done
// of Total images).
type Progress = api.ImportProgress

// NewQueue returns a queue; Start runs it.
func NewQueue(cfg Config) *Queue {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Queue{cfg: cfg, queue: make(chan store.Import, 1024), prog: map[string]Progress{}, busy: map[string]bool{}}
}

// Start runs workers import goroutines until ctx ends (Wait waits for
// them), fails datasets a crash left without their import, and queues the
// imports a previous run left pending.
func (im *Queue) Start(ctx context.Context, workers int) {
	im.ctx = ctx
	for range workers {
		im.wg.Add(1)
		go func() {
			defer im.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case rec := <-im.queue:
					im.run(rec)
				}
			}
		}()
	}
	im.resume()
}

// Wait returns when the workers Start began have stopped.
func (im *Queue) Wait() { im.wg.Wait() }

// resume fails orphaned datasets and queues pending imports.
func (im *Queue) resume() {
	s := &im.cfg
	ctx := im.ctx
	recs, err := s.Store.Imports(ctx)
	if err != nil {
		s.Log.Error("listing pending imports", zap.Error(err))
		return
	}
	im.failOrphans(recs)
	for _, r := range recs {
		if _, err := os.Stat(r.Path); err != nil {
			// Another replica's upload, or lost: only fail it when it is
			// ours to fail (the path is under our data dir).
			if strings.HasPrefix(r.Path, s.DataDir) {
				s.Log.Warn("pending import lost its upload", zap.String("dataset", r.DatasetID), zap.String("path", r.Path))
				_ = s.Store.SetDatasetStatus(ctx, r.DatasetID, store.DatasetFailed, "the uploaded zip was lost (server data folder changed?); upload it again", nil)
				_ = s.Store.DeleteImport(ctx, r.ID)
			}
			continue
		}
		s.Log.Info("resuming import", zap.String("dataset", r.DatasetID))
		im.Enqueue(r)
	}
}

// failOrphans ends datasets left "processing" with no import recorded (the
// server died between storing the dataset and its import): their upload
// is gone, so they fail with a message saying to upload again.
func (im *Queue) failOrphans(recs []store.Import) {
	s, ctx := &im.cfg, im.ctx
	pending := map[string]bool{}
	for _, r := range recs {
		pending[r.DatasetID] = true
	}
	for off := 0; ; off += 200 {
		ds, _, err := s.Store.Datasets(ctx, "", store.Page{Offset: off, Limit: 200})
		if err != nil {
			return
		}
		for _, d := range ds {
			// A minute's grace: another replica may be between the two writes.
			if d.Status == store.DatasetProcessing && !pending[d.ID] && time.Since(d.UpdatedAt) > time.Minute {
				status := store.DatasetFailed
				if d.Revision > 0 {
					status = store.DatasetReady
				}
				s.Log.Warn("dataset left processing without an import; the upload was interrupted", zap.String("dataset", d.ID))
				_ = s.Store.SetDatasetStatus(ctx, d.ID, status, "the upload was interrupted before it was recorded; upload the zip again", d.Report)
			}
		}
		if len(ds) < 200 {
			return
		}
	}
}

// Enqueue queues an import already recorded in the store.
func (im *Queue) Enqueue(r store.Import) {
	im.mu.Lock()
	if _, ok := im.prog[r.DatasetID]; !ok {
		im.prog[r.DatasetID] = Progress{Stage: "queued"}
	}
	im.mu.Unlock()
	select {
	case im.queue <- r:
	default:
		// The queue is full; the record stays in the store and is picked
		// up at the next start.
		im.cfg.Log.Warn("import queue full; import resumes at the next start", zap.String("dataset", r.DatasetID))
	}
}

// Progress says where the dataset's import stands, false when none runs
// or waits on this replica.
func (im *Queue) Progress(datasetID string) (Progress, bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	p, ok := im.prog[datasetID]
	return p, ok
}

func (im *Queue) setProgress(datasetID string, p *Progress) {
	im.mu.Lock()
	if p == nil {
		delete(im.prog, datasetID)
	} else {
		im.prog[datasetID] = *p
	}
	im.mu.Unlock()
}

// Report is a dataset's stored import_report.
type Report = api.ImportReport

// retryLater (called only from a worker, whose WaitGroup count keeps Wait
// from returning meanwhile) puts an import back in the queue after a pause: its dataset
// is busy with another import, or the store failed for a moment.
func (im *Queue) retryLater(rec store.Import, d time.Duration) {
	im.wg.Add(1)
	go func() {
		defer im.wg.Done()
		select {
		case <-im.ctx.Done():
		case <-time.After(d):
			im.Enqueue(rec)
		}
	}()
}

func (im *Queue) run(rec store.Import) {
	s := &im.cfg
	ctx := im.ctx
	log := s.Log.With(zap.String("dataset", rec.DatasetID))
	// One import at a time per dataset, so two appends cannot interleave.
	im.mu.Lock()
	if im.busy[rec.DatasetID] {
		im.mu.Unlock()
		im.retryLater(rec, time.Second)
		return
	}
	im.busy[rec.DatasetID] = true
	im.mu.Unlock()
	defer func() {
		im.mu.Lock()
		delete(im.busy, rec.DatasetID)
		im.mu.Unlock()
	}()
	start := time.Now()
	defer im.setProgress(rec.DatasetID, nil)
	d, err := s.Store.Dataset(ctx, rec.DatasetID)
	if errors.Is(err, store.ErrNotFound) { // deleted meanwhile
		_ = s.Store.DeleteImport(ctx, rec.ID)
		os.Remove(rec.Path)
		return
	}
	var existing []store.LabelCount
	if err == nil {
		existing, err = s.Store.Labels(ctx, d.ID)
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("import: the store failed; retrying in 5s", zap.Error(err))
			im.retryLater(rec, 5*time.Second)
		}
		return
	}
	opts := importer.DefaultOptions()
	opts.MaxZipBytes = s.MaxZipBytes
	for _, l := range existing {
		opts.KnownLabels = append(opts.KnownLabels, l.Name)
	}
	opts.Progress = func(done, total int) {
		im.setProgress(d.ID, &Progress{Stage: "importing", Done: done, Total: total})
	}
	rep, err := importer.Import(ctx, rec.Path, opts, func(sha string, data []byte) error {
		return s.Blobs.PutKnown(ctx, sha, bytes.NewReader(data))
	})
	if ctx.Err() != nil {
		log.Info("import interrupted; resumes at the next start")
		return
	}
	finish := func(status, msg string, r *Report) {
		var raw json.RawMessage
		if r != nil {
			r.Seconds = time.Since(start).Seconds()
			raw, _ = json.Marshal(r)
		} else {
			raw = d.Report
		}
		if status == store.DatasetFailed && d.Revision > 0 {
			status = store.DatasetReady // an append failed; what was there stays usable
		}
		// the outcome is written whole even if shutdown begins now: a
		// status without its record deleted would be imported again, a
		// record whose zip is gone would fail a good dataset at restart
		wctx := context.WithoutCancel(ctx)
		if im.morePending(wctx, rec) {
			status = store.DatasetProcessing // another append of this dataset is queued
		}
		if err := s.Store.SetDatasetStatus(wctx, d.ID, status, msg, raw); err != nil {
			if !errors.Is(err, store.ErrNotFound) { // deleted meanwhile: just clean up
				log.Error("import: storing the status", zap.Error(err))
				return
			}
		}
		if err := s.Store.DeleteImport(wctx, rec.ID); err != nil {
			log.Error("import: deleting the finished import record; it runs again at the next start", zap.Error(err))
			return
		}
		os.Remove(rec.Path)
	}
	if err != nil {
		log.Info("import failed", zap.Error(err))
		finish(store.DatasetFailed, importer.Shorten(err.Error(), maxErrorBytes), nil)
		return
	}
	ims := make([]store.Image, 0, len(rep.Images))
	for _, x := range rep.Images {
		ims = append(ims, store.Image{Label: x.Label, SHA256: x.SHA256, Size: x.Size, Width: x.Width, Height: x.Height, Source: x.Path})
	}
	im.setProgress(d.ID, &Progress{Stage: "recording", Total: len(ims)})
	res, err := record(ctx, s.Store, d.ID, ims, func(n int) {
		im.setProgress(d.ID, &Progress{Stage: "recording", Done: n, Total: len(ims)})
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Error("import: recording images", zap.Error(err))
		// nothing of this zip was recorded: the report says so
		none := &Report{Accepted: map[string]int{}, Skipped: append([]api.SkippedFile{}, rep.Skipped...), GBK: rep.GBK}
		finish(store.DatasetFailed, importer.Shorten("recording the images failed: "+err.Error(), maxErrorBytes), none)
		return
	}
	im.setProgress(d.ID, &Progress{Stage: "recording", Done: len(ims), Total: len(ims)})
	for _, l := range res.order {
		log.Warn("import: the store refused a label; it is skipped", zap.String("label", l), zap.Error(res.refused[l]))
	}
	out := importReport(rep, res, labelTotals(ctx, s.Store, d.ID, existing, res.added))
	if s.Imported != nil {
		s.Imported(out.Added, len(out.Skipped))
	}
	log.Info("import done", zap.Int("added", out.Added), zap.Int("skipped", len(out.Skipped)), zap.Duration("took", time.Since(start)))
	if d.Revision == 0 && out.Added == 0 {
		// nothing to train on is no success: say what a zip must hold
		finish(store.DatasetFailed, fmt.Sprintf("zip 中没有可导入的图片：请每个分类一个文件夹（如 ants/1.jpg），图片为 JPG、PNG 或 BMP；跳过了 %d 个文件，见导入报告 / "+
			"the zip holds no images to import: put each label's images in a folder named after the label (e.g. ants/1.jpg), as JPG, PNG or BMP; %d files were skipped (see the import report)",
			len(out.Skipped), len(out.Skipped)), out)
		return
	}
	finish(store.DatasetReady, "", out)
}

// morePending reports whether the dataset has pending imports besides rec.
func (im *Queue) morePending(ctx context.Context, rec store.Import) bool {
	recs, err := im.cfg.Store.Imports(ctx)
	if err != nil {
		return false
	}
	for _, r := range recs {
		if r.DatasetID == rec.DatasetID && r.ID != rec.ID {
			return true
		}
	}
	return false
}
