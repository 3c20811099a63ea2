// Package head trains the classification head that sits on top of a
// pretrained backbone's pooled feature: multinomial logistic regression
// (softmax regression) or a one-hidden-layer MLP, in pure Go with gonum's
// BLAS for the matrix products.
//
// Input rows are feature vectors the trainer has already L2-normalised;
// the head does no other scaling, so the exported ONNX graph reproduces it
// exactly as
//
//	softmax:  x → Gemm(W, b) → Softmax
//	mlp:      x → Gemm(W1, b1) → Relu → Gemm(W2, b2) → Softmax
//
// (see Dense for the weight layout). Training minimises class-balanced
// cross-entropy (each class weighs n / (classes · its count)) against
// label-smoothed targets plus L2 weight decay on the weights (not the
// biases), with Adam, full-batch for softmax regression and in mini-batches
// for the MLP; the learning rate decays along a cosine over Config.Epochs.
// After every epoch the validation loss (class-balanced
// cross-entropy, no smoothing) is measured; training stops when it has not
// improved for Patience epochs and the weights of the best epoch are kept.
//
// Search trains every configuration of a small grid (Grid), scores each on
// the validation split with the user's metric and keeps the best; Refit
// then trains the winner on train + validation for the number of epochs
// early stopping chose, so the test split is never seen. OutOfFold gives
// every training image a prediction from a model that did not train on it,
// for the suspected-mislabel check.
//
// Everything is deterministic for a given Config.Seed (gonum's parallel
// matrix product sums each output in a fixed order), and every function
// that trains stops within one optimisation step, a few milliseconds, once
// its context is cancelled.
package head
