package fleet

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Chunked transfer over MQTT, for devices that reach only the broker.
//
// A Desired names a transfer by TransferID together with the file's sha256
// and size. The agent publishes TransferRequest{TransferID, FromChunk,
// Window}; one control-plane replica answers with up to Window
// TransferChunks starting at FromChunk, each DefaultChunkSize bytes except
// the last. The agent checks every chunk's sha256, stores it, asks for the
// next window, and checks the whole file's sha256 and size at the end.
// Requests and chunks are idempotent: asking twice for a window, or getting
// a chunk twice, is harmless.

// ChunkCount returns how many chunks of chunkSize bytes a file of size bytes
// takes: 0 for an empty file, and 0 when chunkSize is not positive.
func ChunkCount(size int64, chunkSize int) int {
	if size <= 0 || chunkSize <= 0 {
		return 0
	}
	return int((size + int64(chunkSize) - 1) / int64(chunkSize))
}

// NewChunk returns chunk index of total of a transfer carrying data, with
// its sha256 filled and the id "<transfer_id>.<index>".
func NewChunk(transferID string, index, total int, data []byte) *TransferChunk {
	sum := sha256.Sum256(data)
	return &TransferChunk{
		Header:     Header{Schema: SchemaVersion, ID: transferID + "." + strconv.Itoa(index)},
		TransferID: transferID,
		Index:      index,
		Total:      total,
		SHA256:     hex.EncodeToString(sum[:]),
		Data:       data,
	}
}

// Validate implements Message.
func (r *TransferRequest) Validate() error {
	if err := checkHeader("transfer request", &r.Header); err != nil {
		return err
	}
	if err := checkToken(r.TransferID, MaxNameLen); err != nil {
		return invalid("transfer request", "transfer_id", "%v", err)
	}
	if r.FromChunk < 0 {
		return invalid("transfer request", "from_chunk", "must not be negative, got %d", r.FromChunk)
	}
	if r.Window < 1 || r.Window > MaxWindow {
		return invalid("transfer request", "window", "must be in [1, %d], got %d", MaxWindow, r.Window)
	}
	return nil
}

// Validate implements Message. It also checks that Data matches SHA256.
func (c *TransferChunk) Validate() error {
	const msg = "transfer chunk"
	if err := checkHeader(msg, &c.Header); err != nil {
		return err
	}
	if err := checkToken(c.TransferID, MaxNameLen); err != nil {
		return invalid(msg, "transfer_id", "%v", err)
	}
	if c.Total < 1 {
		return invalid(msg, "total", "must be at least 1, got %d", c.Total)
	}
	if c.Index < 0 || c.Index >= c.Total {
		return invalid(msg, "index", "must be in [0, total-1] = [0, %d], got %d", c.Total-1, c.Index)
	}
	if err := checkSHA256(c.SHA256); err != nil {
		return invalid(msg, "sha256", "%v", err)
	}
	if len(c.Data) == 0 || len(c.Data) > MaxChunkSize {
		return invalid(msg, "data", "must hold 1 to %d bytes, got %d", MaxChunkSize, len(c.Data))
	}
	sum := sha256.Sum256(c.Data)
	if got := hex.EncodeToString(sum[:]); got != c.SHA256 {
		return invalid(msg, "data", "sha256 is %s, the chunk says %s", got, c.SHA256)
	}
	return nil
}
