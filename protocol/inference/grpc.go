package inference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/autocv/autocv/protocol/inference/inferencepb"
)

// transportVersion is go-plugin's handshake version, which must match
// exactly. It changes only if the transport itself changes (never so far);
// what a plugin can do is negotiated with Info's APIVersion instead, so a
// newer host can still drive an older plugin.
const transportVersion = 1

// Handshake is shared by hosts and plugins. A binary launched without it
// (for example by a person at a shell) says it is a plugin and exits.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  transportVersion,
	MagicCookieKey:   "AUTOCV_INFERENCE_PLUGIN",
	MagicCookieValue: "3a1f0d5c-autocv-inference",
}

// NameEnv carries the plugin name (onnx-cpu, onnx-cuda) from the host to the
// plugin process, which serves only that name.
const NameEnv = "AUTOCV_PLUGIN_NAME"

// DecodeBudgetEnv sets a plugin process's image decode budget in MB (the
// memory its decodes in flight may take; the onnx plugin's default fits
// the cloud). The agent sets EdgeDecodeBudgetMB, which keeps the plugin
// of an edge box under 400 MB with 16 pixel-heavy photos at once.
const (
	DecodeBudgetEnv    = "AUTOCV_DECODE_BUDGET_MB"
	EdgeDecodeBudgetMB = 160
)

// MaxMessageBytes bounds one gRPC message: a batch of photos or a model
// package sent as bytes.
const MaxMessageBytes = 256 << 20

// Flow-control windows and socket buffers sized for megabyte messages (a
// batch of 8 preprocessed 224×224 images is 4.8 MB): with gRPC's 64 KiB
// defaults such a message crawls through dozens of window updates on the
// local socket.
const (
	window     = 32 << 20
	sockBuffer = 1 << 20
)

// ServerOptions are the gRPC options plugins serve with.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window),
		grpc.ReadBufferSize(sockBuffer), grpc.WriteBufferSize(sockBuffer),
	}
}

// DialOptions are the gRPC options hosts dial plugins with.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window),
		grpc.WithReadBufferSize(sockBuffer), grpc.WithWriteBufferSize(sockBuffer),
	}
}

// Serve runs a plugin process: it serves the Plugin that newPlugin returns
// for the name the host launched it as, until the host goes away. It is the
// whole body of a plugin binary's main.
func Serve(newPlugin func(name string) (Plugin, error)) {
	name := os.Getenv(NameEnv)
	if name == "" {
		name = NameONNXCPU
	}
	impl, err := newPlugin(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "plugin %s: %v\n", name, err)
		os.Exit(1)
	}
	go exitWithParent(impl)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{name: &GRPCPlugin{Impl: impl}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, ServerOptions()...)...)
		},
	})
	// the host is done with us: free the model (and its extracted files)
	_ = impl.Unload(context.Background())
}

// exitWithParent ends the plugin when its host dies without killing it (a
// crash, an OOM kill): on Unix an orphan is re-parented, so a changed parent
// pid means the host is gone. Without this, every host crash would leave a
// plugin process holding a model in memory.
func exitWithParent(impl Plugin) {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			_ = impl.Unload(context.Background())
			os.Exit(0)
		}
	}
}

// GRPCPlugin adapts a Plugin to go-plugin's gRPC transport. Impl is set on
// the plugin side only.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Plugin
}

// GRPCServer registers the plugin's service (plugin side).
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterInferenceServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Plugin that calls the plugin process (host side).
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &client{c: pb.NewInferenceClient(c)}, nil
}

// Errors cross the process boundary as a gRPC status whose ErrorInfo
// detail names the sentinel (the reason); the code is only a fallback for
// generic gRPC clients. gRPC's own codes (Unimplemented for an RPC an older
// plugin lacks, Unavailable for a dead process) are never confused with ours.
const errorDomain = "inference.autocv"

var errReasons = []struct {
	err    error
	reason string
	code   codes.Code
}{
	{ErrNotLoaded, "NOT_LOADED", codes.FailedPrecondition},
	{ErrBadRequest, "BAD_REQUEST", codes.InvalidArgument},
	{ErrUnavailable, "PROVIDER_UNAVAILABLE", codes.FailedPrecondition},
	{ErrBadPackage, "BAD_PACKAGE", codes.InvalidArgument},
}

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range errReasons {
		if errors.Is(err, e.err) {
			st, derr := status.New(e.code, err.Error()).WithDetails(&errdetails.ErrorInfo{Reason: e.reason, Domain: errorDomain})
			if derr != nil {
				return status.Error(e.code, err.Error())
			}
			return st.Err()
		}
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// remoteError is an error from the plugin process; Is matches the sentinel
// its reason stands for, and the message is the plugin's own.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string        { return e.msg }
func (e *remoteError) Is(target error) bool { return e.sentinel != nil && target == e.sentinel }

func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.Domain != errorDomain {
			continue
		}
		for _, e := range errReasons {
			if info.Reason == e.reason {
				return &remoteError{msg: st.Message(), sentinel: e.err}
			}
		}
	}
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("plugin: %s: %w", st.Message(), context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("plugin: %s: %w", st.Message(), context.DeadlineExceeded)
	case codes.Unavailable:
		return fmt.Errorf("%w: %s", ErrPluginGone, st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("plugin does not implement this call (older plugin API?): %s", st.Message())
	}
	return fmt.Errorf("plugin: %s", st.Message())
}

// ErrPluginGone means the plugin process cannot be reached: it exited,
// crashed or was killed. Hosts start a new one.
var ErrPluginGone = errors.New("inference plugin process is gone")

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func dur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
