package state

import "github.com/autocv/autocv/internal/atomicfile"

// writeFileAtomic writes data to path with mode 0600 (temp file, sync,
// rename, folder sync).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600)
}

// SyncDir makes renames in dir durable where the platform allows it.
var SyncDir = atomicfile.SyncDir
