package modelpkg

import "errors"

// Sentinel errors. Every error this package returns about a package or key
// wraps one of these (with %w), so callers test them with errors.Is; the
// message around them names the entry or field and the bad value.
var (
	// ErrSchema: the manifest's schema version is not one this code reads.
	ErrSchema = errors.New("unsupported model package schema")
	// ErrInvalid: manifest.json is not valid JSON or breaks a rule of the
	// manifest (a field is missing or out of range).
	ErrInvalid = errors.New("invalid model package manifest")
	// ErrHash: a member's sha256 or size differs from the manifest's.
	ErrHash = errors.New("model package member does not match manifest")
	// ErrSignature: manifest.sig is missing when a trusted key is required,
	// malformed, or does not verify with any trusted key.
	ErrSignature = errors.New("model package signature invalid")
	// ErrUnlisted: an archive entry is not a member the manifest lists, or
	// is out of place (manifest.sig anywhere but right after manifest.json).
	ErrUnlisted = errors.New("model package entry not listed in manifest")
	// ErrMissing: manifest.json is missing or not the first entry, or a
	// listed member is absent from the archive.
	ErrMissing = errors.New("model package entry missing")
	// ErrDuplicate: an entry appears twice in the archive.
	ErrDuplicate = errors.New("model package entry duplicated")
	// ErrUnsafePath: an entry name that could escape the destination
	// (absolute, "..", ".", backslash, drive letter) or an entry that is not
	// a regular file (directory, symlink, hard link, device, fifo).
	ErrUnsafePath = errors.New("model package entry unsafe")
	// ErrTooLarge: a member is over the size limit (Limits).
	ErrTooLarge = errors.New("model package member too large")
	// ErrCorrupt: the gzip or tar stream is corrupt or truncated, or data
	// follows the end of the archive.
	ErrCorrupt = errors.New("model package archive corrupt")
	// ErrKey: a key is malformed, of the wrong type or the wrong length.
	ErrKey = errors.New("invalid ed25519 key")
)
