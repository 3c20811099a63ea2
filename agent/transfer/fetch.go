// Package transfer downloads model packages (and later agent binaries)
// into the agent's package store: chunked over MQTT by default, so a
// device that reaches only the broker still updates, or by HTTP range
// download when the desired state gives a URL the device can reach. Both
// resume from the bytes already stored, and a download becomes a package
// only after its size and sha256 match the desired state (store.Commit).
package transfer

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/store"
)

// ErrNoSource means the desired state names no way to download the file
// that this agent can use.
var ErrNoSource = errors.New("no download source")

// Progress is told how many of the total bytes are stored; it may be nil.
type Progress func(done, total int64)

func (p Progress) report(done, total int64) {
	if p != nil {
		p(done, total)
	}
}

// Source says what to download and from where (a fleet.ModelTarget or
// AgentTarget).
type Source struct {
	SHA256     string
	Size       int64
	TransferID string // chunked over MQTT
	URL        string // HTTP range download
}

// Fetcher downloads into a store, trying HTTP first when there is a URL
// and falling back to MQTT when there is also a transfer id.
type Fetcher struct {
	Store  *store.Store
	MQTT   *MQTT // nil: no chunked transfers
	HTTP   *HTTP // nil: no HTTP downloads
	Logger *zap.Logger
}

// Fetch returns the path of the stored file with src's sha256, downloading
// it first if it is not stored yet. A download cut short by ctx stays on
// disk and the next Fetch of the same sha256 resumes it. A download whose
// size or sha256 is wrong is deleted (store.ErrMismatch).
func (f *Fetcher) Fetch(ctx context.Context, src Source, progress Progress) (string, error) {
	if f.Store.Has(src.SHA256) {
		progress.report(src.Size, src.Size)
		return f.Store.Path(src.SHA256), nil
	}
	log := f.Logger
	if log == nil {
		log = zap.NewNop()
	}
	useHTTP := src.URL != "" && f.HTTP != nil
	useMQTT := src.TransferID != "" && f.MQTT != nil
	if !useHTTP && !useMQTT {
		return "", fmt.Errorf("%w: the desired state has transfer_id %q and url %q", ErrNoSource, src.TransferID, src.URL)
	}
	p, err := f.Store.Partial(src.SHA256, src.Size)
	if err != nil {
		return "", err
	}
	if useHTTP {
		err = f.HTTP.Fetch(ctx, p, src.URL, progress)
		if err != nil && useMQTT && ctx.Err() == nil && !errors.Is(err, store.ErrDiskFull) {
			log.Warn("HTTP download failed; continuing over MQTT", zap.String("url", src.URL), zap.Error(err))
			useHTTP = false
		}
	}
	if !useHTTP {
		err = f.MQTT.Fetch(ctx, p, src.TransferID, progress)
	}
	if errors.Is(err, store.ErrMismatch) {
		p.Discard()
		return "", err
	}
	if err != nil {
		_ = p.Close() // keep what arrived, to resume
		return "", err
	}
	return p.Commit()
}
