package inference

import (
	"context"
	"fmt"
	"unsafe"

	pb "github.com/autocv/autocv/protocol/inference/inferencepb"
)

// client is the host side: Plugin calls become gRPC calls.
type client struct{ c pb.InferenceClient }

func (c *client) Info(ctx context.Context) (Info, error) {
	r, err := c.c.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return Info{}, fromStatus(err)
	}
	return Info{
		Kind: r.Kind, Version: r.Version, APIVersion: int(r.ApiVersion),
		ExecutionProviders: r.ExecutionProviders, RuntimeVersion: r.RuntimeVersion,
	}, nil
}

func (c *client) Load(ctx context.Context, req LoadRequest) (Model, error) {
	r, err := c.c.Load(ctx, &pb.LoadRequest{
		PackagePath: req.PackagePath, PackageBytes: req.PackageBytes,
		TrustedKeys: req.TrustedKeys, AllowUnsigned: req.AllowUnsigned,
		ExecutionProvider: req.ExecutionProvider,
		IntraOpThreads:    int32(req.IntraOpThreads), MaxBatch: int32(req.MaxBatch),
	})
	if err != nil {
		return Model{}, fromStatus(err)
	}
	return Model{
		ID: r.ModelId, Version: int(r.Version), Labels: r.Labels,
		ExecutionProvider: r.ExecutionProvider, LoadTime: dur(r.LoadMs),
		ManifestSHA256: r.ManifestSha256,
	}, nil
}

func (c *client) Predict(ctx context.Context, req PredictRequest) (PredictResult, error) {
	r, err := c.c.Predict(ctx, &pb.PredictRequest{
		Images: req.Images, TopK: int32(req.TopK),
		Tensor: floatBytes(req.Tensor), TensorCount: int32(req.TensorCount),
	})
	if err != nil {
		return PredictResult{}, fromStatus(err)
	}
	out := PredictResult{
		Predictions: make([]Prediction, len(r.Predictions)),
		InferTime:   dur(r.InferMs), TotalTime: dur(r.TotalMs),
	}
	for i, p := range r.Predictions {
		labels := make([]Label, len(p.Labels))
		for j, l := range p.Labels {
			labels[j] = Label{Label: l.Label, Confidence: l.Confidence}
		}
		out.Predictions[i] = Prediction{Labels: labels, Err: p.Error, ErrCode: p.ErrorCode, DecodeTime: dur(p.DecodeMs)}
	}
	return out, nil
}

func (c *client) Health(ctx context.Context) (Health, error) {
	r, err := c.c.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return Health{}, fromStatus(err)
	}
	return Health{
		Loaded: r.Loaded, ModelID: r.ModelId, Version: int(r.Version),
		ExecutionProvider: r.ExecutionProvider, Predictions: r.Predictions, Errors: r.Errors,
	}, nil
}

func (c *client) Unload(ctx context.Context) error {
	_, err := c.c.Unload(ctx, &pb.UnloadRequest{})
	return fromStatus(err)
}

// server is the plugin side: gRPC calls become Plugin calls.
type server struct {
	pb.UnimplementedInferenceServer
	impl Plugin
}

func (s *server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	i, err := s.impl.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InfoResponse{
		Kind: i.Kind, Version: i.Version, ApiVersion: uint32(i.APIVersion),
		ExecutionProviders: i.ExecutionProviders, RuntimeVersion: i.RuntimeVersion,
	}, nil
}

func (s *server) Load(ctx context.Context, r *pb.LoadRequest) (*pb.LoadResponse, error) {
	m, err := s.impl.Load(ctx, LoadRequest{
		PackagePath: r.PackagePath, PackageBytes: r.PackageBytes,
		TrustedKeys: r.TrustedKeys, AllowUnsigned: r.AllowUnsigned,
		ExecutionProvider: r.ExecutionProvider,
		IntraOpThreads:    int(r.IntraOpThreads), MaxBatch: int(r.MaxBatch),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LoadResponse{
		ModelId: m.ID, Version: int32(m.Version), Labels: m.Labels,
		ExecutionProvider: m.ExecutionProvider, LoadMs: ms(m.LoadTime),
		ManifestSha256: m.ManifestSHA256,
	}, nil
}

func (s *server) Predict(ctx context.Context, r *pb.PredictRequest) (*pb.PredictResponse, error) {
	tensor, err := bytesFloats(r.Tensor)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.impl.Predict(ctx, PredictRequest{
		Images: r.Images, TopK: int(r.TopK), Tensor: tensor, TensorCount: int(r.TensorCount),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.PredictResponse{
		Predictions: make([]*pb.Prediction, len(res.Predictions)),
		InferMs:     ms(res.InferTime), TotalMs: ms(res.TotalTime),
	}
	for i, p := range res.Predictions {
		labels := make([]*pb.Label, len(p.Labels))
		for j, l := range p.Labels {
			labels[j] = &pb.Label{Label: l.Label, Confidence: l.Confidence}
		}
		out.Predictions[i] = &pb.Prediction{Labels: labels, Error: p.Err, ErrorCode: p.ErrCode, DecodeMs: ms(p.DecodeTime)}
	}
	return out, nil
}

func (s *server) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	h, err := s.impl.Health(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.HealthResponse{
		Loaded: h.Loaded, ModelId: h.ModelID, Version: int32(h.Version),
		ExecutionProvider: h.ExecutionProvider, Predictions: h.Predictions, Errors: h.Errors,
	}, nil
}

func (s *server) Unload(ctx context.Context, _ *pb.UnloadRequest) (*pb.UnloadResponse, error) {
	if err := s.impl.Unload(ctx); err != nil {
		return nil, toStatus(err)
	}
	return &pb.UnloadResponse{}, nil
}

// floatBytes views a float32 slice as its little-endian bytes without
// copying. Every platform AutoCV ships for (amd64, arm64) is little endian.
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}

// bytesFloats is the inverse of floatBytes; it copies only when b is not
// 4-byte aligned.
func bytesFloats(b []byte) ([]float32, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%w: tensor length %d is not a multiple of 4 bytes", ErrBadRequest, len(b))
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		b = append([]byte(nil), b...)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), nil
}
