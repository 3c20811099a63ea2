// Package evaluate turns a model's predictions into the pieces of the
// evaluation report (protocol/report): metrics, per-label figures, the
// confusion matrix and the misclassified images on the test split;
// confidence thresholds on the validation split; the dataset checks; and
// the plain-language verdict in zh-CN and en.
//
// Inputs are plain slices: truth[i] is the class index of image i (an index
// into labels, the model's output order) and probs[i] its probability row
// (one value per class). Nothing here trains or reads files.
//
// Conventions, matching protocol/report's Validate:
//
//   - the predicted class is the arg-max of the row; ties go to the lowest
//     class index, and top-k ranks ties the same way, so top-1 equals
//     accuracy;
//   - a label nothing was predicted as has precision 0, a label with no
//     images has recall 0, and F1 is 0 when precision and recall are both 0
//     (these labels still count in the macro averages: every label the model
//     can answer counts once);
//   - macro F1 is the mean of the per-label F1s, not the F1 of the macro
//     precision and recall;
//   - AUC is one-vs-rest per label from ranks (Mann-Whitney U, tied scores
//     share their average rank), and the macro AUC averages the labels that
//     have both positive and negative test images (0.5 when none has);
//   - Cohen's kappa is report.Kappa of the confusion matrix;
//   - top-k for k at or above the number of labels is 1.
package evaluate
