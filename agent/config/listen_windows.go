package config

// DefaultListen is the agent's HTTP address. On Windows the agent answers
// only this machine by default (the offline SDK's documented
// http://127.0.0.1:8987/upload); give --listen 0.0.0.0:8987 to serve the
// network.
const DefaultListen = "127.0.0.1:8987"
