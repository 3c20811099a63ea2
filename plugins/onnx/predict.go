package onnx

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/autocv/autocv/plugins/onnx/engine"
	"github.com/autocv/autocv/plugins/onnx/preprocess"
	"github.com/autocv/autocv/protocol/inference"
)

func (m *model) itemSize() int { return 3 * m.spec.Size * m.spec.Size }

func (m *model) predict(ctx context.Context, req inference.PredictRequest) (inference.PredictResult, error) {
	topK := req.TopK
	if topK <= 0 {
		topK = inference.DefaultTopK
	}
	if topK > len(m.manifest.Labels) {
		topK = len(m.manifest.Labels)
	}
	if req.TensorCount > 0 || len(req.Tensor) > 0 {
		if len(req.Images) > 0 {
			return inference.PredictResult{}, fmt.Errorf("%w: send images or a tensor, not both", inference.ErrBadRequest)
		}
		return m.predictTensor(req.Tensor, req.TensorCount, topK)
	}
	n := len(req.Images)
	if n == 0 {
		return inference.PredictResult{}, fmt.Errorf("%w: no images", inference.ErrBadRequest)
	}
	if n > MaxImages {
		return inference.PredictResult{}, fmt.Errorf("%w: %d images in one call, at most %d", inference.ErrBadRequest, n, MaxImages)
	}
	// Decode and run in chunks so memory stays bounded by one chunk of
	// tensors whatever the number of images.
	res := inference.PredictResult{Predictions: make([]inference.Prediction, n)}
	size, classes := m.itemSize(), len(m.manifest.Labels)
	chunk := min(n, m.maxBatch)
	batch := make([]float32, chunk*size)
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		preds := res.Predictions[lo:hi]
		m.decodeAll(ctx, req.Images[lo:hi], lo, batch, preds)
		if err := ctx.Err(); err != nil {
			return inference.PredictResult{}, err
		}
		// run only the images that decoded, packed back to back
		var ok []int
		for i := range preds {
			if preds[i].Err == "" {
				if i != len(ok) {
					copy(batch[len(ok)*size:(len(ok)+1)*size], batch[i*size:(i+1)*size])
				}
				ok = append(ok, i)
			}
		}
		if len(ok) == 0 {
			continue
		}
		out, infer, err := m.run(batch[:len(ok)*size], len(ok))
		if err != nil {
			return inference.PredictResult{}, err
		}
		res.InferTime += infer
		for j, i := range ok {
			preds[i].Labels = m.topK(out[j*classes:(j+1)*classes], topK)
		}
	}
	return res, nil
}

func (m *model) predictTensor(t []float32, n, topK int) (inference.PredictResult, error) {
	if n <= 0 || len(t) != n*m.itemSize() {
		return inference.PredictResult{}, fmt.Errorf("%w: tensor of %d values is not %d items of %d", inference.ErrBadRequest, len(t), n, m.itemSize())
	}
	out, infer, err := m.run(t, n)
	if err != nil {
		return inference.PredictResult{}, err
	}
	res := inference.PredictResult{Predictions: make([]inference.Prediction, n), InferTime: infer}
	classes := len(m.manifest.Labels)
	for i := range n {
		res.Predictions[i].Labels = m.topK(out[i*classes:(i+1)*classes], topK)
	}
	return res, nil
}

// run feeds n items through the model in batches of at most maxBatch and
// returns the probabilities, n×classes.
func (m *model) run(input []float32, n int) ([]float32, time.Duration, error) {
	start := time.Now()
	size, classes := m.itemSize(), len(m.manifest.Labels)
	out := make([]float32, 0, n*classes)
	for i := 0; i < n; i += m.maxBatch {
		k := min(m.maxBatch, n-i)
		o, err := m.session.Run(input[i*size:(i+k)*size], k)
		if err != nil {
			return nil, 0, err
		}
		if len(o) != k*classes {
			return nil, 0, fmt.Errorf("model returned %d values for %d images of %d labels", len(o), k, classes)
		}
		out = append(out, o...)
	}
	if m.logits {
		for i := range n {
			engine.Softmax(out[i*classes : (i+1)*classes])
		}
	}
	return out, time.Since(start), nil
}

// decodeAll decodes and preprocesses every image into its slot of batch,
// on all cores. A photo that fails gets its error in preds, numbered by its
// place in the whole request (images starts at request index first).
func (m *model) decodeAll(ctx context.Context, images [][]byte, first int, batch []float32, preds []inference.Prediction) {
	size := m.itemSize()
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(decodeWorkers(), len(images)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				if err := m.spec.DecodeTensorContext(ctx, images[i], batch[i*size:(i+1)*size]); err != nil {
					preds[i].Err = fmt.Sprintf("image %d: %v", first+i+1, err)
					preds[i].ErrCode = imageErrCode(err)
				}
				preds[i].DecodeTime = time.Since(start)
			}
		}()
	}
	for i := range images {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
}

// topK returns the k most probable labels, highest first; ties keep label
// order so answers are stable. Small k (the usual 5 of 1000 labels) keeps a
// sorted window instead of sorting every label.
func (m *model) topK(probs []float32, k int) []inference.Label {
	if k*8 >= len(probs) {
		idx := make([]int, len(probs))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
		return m.labels(probs, idx[:k])
	}
	top := make([]int, 0, k+1)
	for i, p := range probs {
		if len(top) == k && p <= probs[top[k-1]] {
			continue // ties keep the earlier label
		}
		j := len(top)
		for j > 0 && probs[top[j-1]] < p {
			j--
		}
		top = append(top, 0)
		copy(top[j+1:], top[j:])
		top[j] = i
		if len(top) > k {
			top = top[:k]
		}
	}
	return m.labels(probs, top)
}

func (m *model) labels(probs []float32, idx []int) []inference.Label {
	out := make([]inference.Label, len(idx))
	for i, c := range idx {
		out[i] = inference.Label{Label: m.manifest.Labels[c], Confidence: probs[c]}
	}
	return out
}

// imageErrCode names why an image did not decode, for the host to map
// without reading the message.
func imageErrCode(err error) string {
	switch {
	case errors.Is(err, preprocess.ErrUnsupportedFormat):
		return inference.ImageUnsupportedFormat
	case errors.Is(err, preprocess.ErrTooLarge):
		return inference.ImageTooLarge
	}
	return inference.ImageCorrupt
}
