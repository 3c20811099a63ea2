//go:build !windows

package config

// DefaultListen is the agent's HTTP address. On Linux the agent answers
// the network by default (the offline SDK's documented
// http://0.0.0.0:8987/upload); on Windows it is 127.0.0.1:8987.
const DefaultListen = "0.0.0.0:8987"
