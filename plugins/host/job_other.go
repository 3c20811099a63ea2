//go:build !windows

package host

// bindToHost has nothing to do outside Windows: a plugin notices that its
// parent is gone when it is re-parented (inference.Serve) and exits.
func bindToHost(int) error { return nil }
