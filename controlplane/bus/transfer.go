package bus

import (
	"context"
	"fmt"
	"io"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/fleet"
)

// transferJob is one TransferRequest waiting for a worker.
type transferJob struct {
	deviceID string
	req      *fleet.TransferRequest
}

// Transfer answering limits.
const (
	// chunksInFlight is how many chunk publishes one worker has waiting
	// for their PUBACK at once: enough to keep the link busy, while the
	// memory a worker holds stays a few MiB.
	chunksInFlight = 8
	// publishTimeout bounds the wait for one chunk's PUBACK.
	publishTimeout = 30 * time.Second
	// lookupTimeout bounds Config.Transfer.
	lookupTimeout = 10 * time.Second
)

// enqueue hands a request to the workers without blocking the MQTT
// client's goroutine; when they are all busy and the queue is full the
// request is dropped, and the agent asks again after its timeout.
func (b *Bus) enqueue(deviceID string, req *fleet.TransferRequest) {
	select {
	case b.jobs <- transferJob{deviceID: deviceID, req: req}:
	default:
		b.bad.log(b.log, "transfer request dropped: all transfer workers busy",
			zap.String("device", deviceID), zap.String("transfer", req.TransferID))
	}
}

func (b *Bus) worker() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case j := <-b.jobs:
			if err := b.answer(j.deviceID, j.req); err != nil && b.ctx.Err() == nil {
				b.log.Warn("transfer request not answered", zap.String("device", j.deviceID),
					zap.String("transfer", j.req.TransferID), zap.Int("from_chunk", j.req.FromChunk), zap.Error(err))
			}
		}
	}
}

// answer publishes the chunks a request asks for, reading them from the
// transfer's Source.
func (b *Bus) answer(deviceID string, req *fleet.TransferRequest) error {
	lctx, cancel := context.WithTimeout(b.ctx, lookupTimeout)
	src, err := b.cfg.Transfer(lctx, deviceID, req.TransferID)
	cancel()
	if err != nil {
		b.log.Debug("transfer request ignored", zap.String("device", deviceID),
			zap.String("transfer", req.TransferID), zap.Error(err))
		return nil
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	size, chunk := src.Size(), b.cfg.ChunkSize
	total := fleet.ChunkCount(size, chunk)
	if req.FromChunk >= total {
		b.log.Debug("transfer request past the end ignored", zap.String("device", deviceID),
			zap.String("transfer", req.TransferID), zap.Int("from_chunk", req.FromChunk), zap.Int("total", total))
		return nil
	}
	topic, err := fleet.Topic(deviceID, fleet.KindTransferChunks)
	if err != nil {
		return err
	}
	end := min(req.FromChunk+min(req.Window, fleet.MaxWindow), total)
	var pending []paho.Token
	buf := make([]byte, chunk)
	for i := req.FromChunk; i < end; i++ {
		off := int64(i) * int64(chunk)
		n := int(min(int64(chunk), size-off))
		if got, err := src.ReadAt(buf[:n], off); got < n {
			return fmt.Errorf("read chunk %d of %d (%d bytes at %d): got %d bytes: %w", i, total, n, off, got, err)
		}
		payload, err := fleet.Encode(fleet.NewChunk(req.TransferID, i, total, buf[:n]))
		if err != nil {
			return fmt.Errorf("encode chunk %d: %w", i, err)
		}
		if len(pending) == chunksInFlight {
			if err := b.waitPublished(pending[0]); err != nil {
				return err
			}
			pending = pending[1:]
		}
		pending = append(pending, b.client.Publish(topic, fleet.QoS, false, payload))
	}
	for _, t := range pending {
		if err := b.waitPublished(t); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bus) waitPublished(t paho.Token) error {
	timer := time.NewTimer(publishTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-timer.C:
		return fmt.Errorf("no PUBACK from the broker within %s", publishTimeout)
	case <-b.ctx.Done():
		return ErrClosed
	}
}
