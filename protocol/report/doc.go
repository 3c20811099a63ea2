// Package report is the evaluation report: the JSON document that tells a
// user how good a trained model version is and what to do about it.
//
// Who talks to whom:
//
//   - the trainer (trainer/) fills a Report after training: metrics on the
//     held-out test split, thresholds chosen on the validation split, the
//     dataset checks it ran before training, every candidate of the
//     hyper-parameter search, timings, and a plain-language verdict. It
//     writes the report as report.json into the model package and, as a
//     worker, uploads the same bytes to the control plane;
//   - the control plane stores it and serves it unchanged from
//     GET /api/v1/models/{id}/versions/{v}/report; the web console and the
//     `autocv` CLI read it from there;
//   - agents never read it; they carry it inside the package.
//
// The JSON shape (DESIGN.md "Evaluation report JSON"), every key always
// present unless marked optional:
//
//	{schema, model_id?, version?, app_type?, metric?, backbone?, created_at?,
//	 metrics:{accuracy, precision, recall, f1, auc, kappa, topk:[top1…top5]},
//	 per_label:[{label, precision, recall, f1, support, auc?}],
//	 confusion:{labels:[…], matrix:[[…]]},
//	 misclassified:[{image_id, path?, true_label, predicted_label, confidence}],
//	 thresholds:{global, per_label:{label: t}},
//	 data_checks:{duplicates, near_duplicates, cross_label, imbalance, suspected_mislabels},
//	 verdict:{zh, en, quality, weakest_labels?, confused_pairs?, small_test},
//	 split:{train, validation, test, seed?},
//	 training_set:[{label, images, train, validation, test, sources?}],
//	 skipped:[{path, label?, reason, message?}],
//	 candidates:[{name, kind, params, scores, val_loss, epochs, seconds, chosen}],
//	 timings:{stage: seconds}}
//
// Conventions: metrics and ratios are fractions in [0, 1] (Cohen's kappa
// in [-1, 1]); macro averages are unweighted means over the labels; metrics
// are measured on the test split, which never touches training or model
// selection; the confusion matrix has true labels as rows and predicted
// labels as columns, in the model's output order; top-k for k at or above
// the number of labels is 1.0. Validate checks that a report agrees with
// itself (the matrix sums to the test count, per-label figures match the
// matrix, and so on), so a consumer can trust any validated report.
//
// Decoding ignores unknown fields, so a newer trainer may add fields within
// a schema version; a change old readers would misread bumps SchemaVersion
// and Parse refuses schemas it does not know with ErrSchema.
package report
