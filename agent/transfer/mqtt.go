package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/autocv/autocv/agent/store"
	"github.com/autocv/autocv/protocol/fleet"
)

// Defaults for MQTT's zero fields.
const (
	DefaultWindow  = 8
	DefaultTimeout = 10 * time.Second
)

// MQTT downloads a file in chunks over MQTT (protocol/fleet's transfer
// topics). It asks for Window chunks from the first one it lacks, writes
// them in order as they arrive (holding early ones), syncs, and asks for
// the next window. When a window stalls for Timeout, or the session
// reconnects, it asks again from the first chunk it lacks; duplicates are
// ignored. The chunk size is learnt from chunk 0 and recorded with the
// partial download, so a restarted agent resumes by chunk index.
type MQTT struct {
	// Publish sends a transfer request (session.Session.Publish).
	Publish func(ctx context.Context, m fleet.Message) error
	// Chunks delivers chunks that decoded and matched their sha256; chunks
	// of other transfers are skipped.
	Chunks <-chan *fleet.TransferChunk
	// NextConnect returns a channel closed at the next reconnection.
	NextConnect func() <-chan struct{}
	// Connected reports whether the session is up; while it is not, Fetch
	// waits for the reconnection instead of asking again on every timeout.
	// Nil means always.
	Connected func() bool
	Window    int           // chunks per request, 1..fleet.MaxWindow; default DefaultWindow
	Timeout   time.Duration // wait for a window's next chunk; default DefaultTimeout
	Logger    *zap.Logger
}

// chunkWriter appends chunks to a partial download in index order.
type chunkWriter struct {
	p       *store.Partial
	log     *zap.Logger
	cs      int // chunk size; 0 until chunk 0 arrives
	total   int // chunk count; 0 until known
	next    int // first chunk not written
	pending map[int]*fleet.TransferChunk
}

// Fetch downloads the transfer into p until p holds p.Size() bytes, ctx
// ends, or writing fails (store.ErrDiskFull). It does not check the whole
// file's hash; Partial.Commit does.
func (m *MQTT) Fetch(ctx context.Context, p *store.Partial, transferID string, progress Progress) error {
	log := m.logger().With(zap.String("transfer_id", transferID))
	w, err := resume(p, log)
	if err != nil {
		return err
	}
	if w.next > 0 {
		log.Info("resuming chunked transfer", zap.Int("from_chunk", w.next), zap.Int64("bytes", p.Offset()))
	}
	nonce := newNonce()
	for seq, stalls := 1, 0; w.total == 0 || w.next < w.total; seq++ {
		win := m.window()
		if w.total > 0 {
			win = min(win, w.total-w.next)
		}
		end := w.next + win
		reconnected := m.NextConnect()
		if m.Connected != nil && !m.Connected() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-reconnected:
				continue
			}
		}
		req := &fleet.TransferRequest{Header: fleet.Header{ID: transferID + "." + nonce + "." + strconv.Itoa(seq)},
			TransferID: transferID, FromChunk: w.next, Window: win}
		pctx, cancel := context.WithTimeout(ctx, m.timeout())
		if err := m.Publish(pctx, req); err != nil && ctx.Err() == nil {
			log.Debug("transfer request not acknowledged yet", zap.Error(err))
		}
		cancel()
		timer := time.NewTimer(m.timeout())
	window:
		for w.next < end {
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-reconnected:
				log.Info("reconnected; asking again from the first missing chunk", zap.Int("from_chunk", w.next))
				break window
			case <-timer.C:
				stalls++
				if stalls%10 == 1 {
					log.Warn("transfer stalled; asking again", zap.Int("from_chunk", w.next), zap.Duration("timeout", m.timeout()), zap.Int("stalls", stalls))
				}
				break window
			case c := <-m.Chunks:
				if c.TransferID != transferID {
					continue
				}
				moved, err := w.accept(c)
				if err != nil {
					timer.Stop()
					return err
				}
				if moved {
					if w.total > 0 {
						end = min(end, w.total)
					}
					progress.report(p.Offset(), p.Size())
					timer.Reset(m.timeout())
				}
			}
		}
		timer.Stop()
		if err := p.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// resume prepares a writer at the partial download's resume point: whole
// chunks of the recorded size, or nothing when no chunk size is recorded.
func resume(p *store.Partial, log *zap.Logger) (*chunkWriter, error) {
	w := &chunkWriter{p: p, log: log, cs: p.ChunkSize(), pending: map[int]*fleet.TransferChunk{}}
	if w.cs == 0 {
		return w, p.Truncate(0)
	}
	w.total = fleet.ChunkCount(p.Size(), w.cs)
	w.next = int(p.Offset() / int64(w.cs))
	return w, p.Truncate(int64(w.next) * int64(w.cs))
}

// accept takes one chunk and writes every chunk now in order. It reports
// whether anything was written; an error is a failed write (disk full).
// Bad chunks are logged and dropped: they will be asked for again.
func (w *chunkWriter) accept(c *fleet.TransferChunk) (bool, error) {
	if c.Index < w.next || c.Index >= w.next+fleet.MaxWindow {
		return false, nil // a duplicate, or far ahead of what was asked
	}
	w.pending[c.Index] = c
	moved := false
	for {
		c, ok := w.pending[w.next]
		if !ok {
			return moved, nil
		}
		delete(w.pending, w.next)
		if w.cs == 0 { // chunk 0: learn the chunk size
			if err := w.learn(c); err != nil {
				w.log.Warn("transfer chunk dropped", zap.Int("index", c.Index), zap.Error(err))
				return moved, nil
			}
		}
		if err := w.check(c); err != nil {
			w.log.Warn("transfer chunk dropped", zap.Int("index", c.Index), zap.Error(err))
			return moved, nil
		}
		if err := w.p.Write(c.Data); err != nil {
			return moved, err
		}
		w.next++
		moved = true
	}
}

func (w *chunkWriter) learn(c *fleet.TransferChunk) error {
	cs := len(c.Data)
	if fleet.ChunkCount(w.p.Size(), cs) != c.Total {
		return fmt.Errorf("chunk 0 has %d bytes and says %d chunks, which does not fit a %d-byte file", cs, c.Total, w.p.Size())
	}
	if err := w.p.SetChunkSize(cs); err != nil {
		return err
	}
	w.cs, w.total = cs, c.Total
	return nil
}

func (w *chunkWriter) check(c *fleet.TransferChunk) error {
	if c.Total != w.total {
		return fmt.Errorf("says %d chunks, the transfer has %d", c.Total, w.total)
	}
	want := w.cs
	if c.Index == w.total-1 {
		want = int(w.p.Size() - int64(w.total-1)*int64(w.cs))
	}
	if len(c.Data) != want {
		return fmt.Errorf("has %d bytes, want %d", len(c.Data), want)
	}
	return nil
}

func (m *MQTT) window() int {
	if m.Window < 1 || m.Window > fleet.MaxWindow {
		return DefaultWindow
	}
	return m.Window
}

func (m *MQTT) timeout() time.Duration {
	if m.Timeout <= 0 {
		return DefaultTimeout
	}
	return m.Timeout
}

func (m *MQTT) logger() *zap.Logger {
	if m.Logger == nil {
		return zap.NewNop()
	}
	return m.Logger
}

// newNonce makes request ids unique across agent restarts: the control
// plane acts once per id.
func newNonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
