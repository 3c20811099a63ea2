package trainer

import (
	"fmt"
	"slices"

	"github.com/autocv/autocv/plugins/onnx/engine"

	"github.com/autocv/autocv/protocol/jobs"
	"github.com/autocv/autocv/trainer/backbone"
	"github.com/autocv/autocv/trainer/features"
)

// Recipe is how one application type trains: which backbones make the
// features, which views of each training photo the head sees, and which
// head grid is searched. Validation and test photos are seen as the device
// sees them: the plain eval view.
type Recipe struct {
	Name       string
	Backbones  []string
	TrainViews []features.View
	// EvalViews, when set, are averaged into the feature every photo is
	// judged by (test-time augmentation): the exported graph computes
	// each and takes their mean. Empty = the plain view alone.
	EvalViews []features.View
}

// mirrored reports whether photos are judged by the mean of their plain
// and mirrored views, the one test-time augmentation the exported graph
// knows (graph.MirrorMean); a recipe with other EvalViews is a bug.
func (r Recipe) mirrored() bool {
	return slices.Equal(r.EvalViews, []features.View{features.Orig, features.Flip})
}

// evalViews is the views averaged into a photo's judged feature.
func (r Recipe) evalViews() []features.View {
	if len(r.EvalViews) == 0 {
		return []features.View{features.Orig}
	}
	return r.EvalViews
}

// Recipes, from the calibration runs on these photos and backbones (see
// README "Application types"):
//   - general: both backbones' pooled features, each L2-normalised and
//     concatenated, was best or within one image everywhere;
//   - high-accuracy: the same features with six training views (plain,
//     mirror, four 0.8 corner crops) for the last half point;
//   - high-performance: one backbone, the one that batches on devices.
var recipes = map[string]Recipe{
	jobs.RecipeGeneral: {
		Name:       jobs.RecipeGeneral,
		Backbones:  []string{backbone.MobileNetV2, backbone.ShuffleNet},
		TrainViews: []features.View{features.Orig, features.Flip},
	},
	jobs.RecipeHighAccuracy: {
		Name:      jobs.RecipeHighAccuracy,
		Backbones: []string{backbone.MobileNetV2, backbone.ShuffleNet},
		TrainViews: []features.View{features.Orig, features.Flip,
			features.CropTL, features.CropTR, features.CropBL, features.CropBR},
	},
	jobs.RecipeHighPerformance: {
		Name:       jobs.RecipeHighPerformance,
		Backbones:  []string{backbone.MobileNetV2},
		TrainViews: []features.View{features.Orig, features.Flip},
	},
}

// RecipeFor returns the recipe of an application type (cloud-general …) or
// of a recipe name (general, high-accuracy, high-performance).
func RecipeFor(appTypeOrRecipe string) (Recipe, error) {
	name := appTypeOrRecipe
	if r, ok := jobs.RecipeFor(appTypeOrRecipe); ok {
		name = r
	}
	r, ok := recipes[name]
	if !ok {
		return Recipe{}, fmt.Errorf("unknown application type %q (general, high-accuracy, high-performance, or %s, %s, %s, %s)",
			appTypeOrRecipe, jobs.CloudGeneral, jobs.CloudHighAccuracy, jobs.OfflineGeneral, jobs.OfflineHighPerformance)
	}
	return r, nil
}

// Preflight checks that every recipe can run here: the backbones open (and
// match their pinned hashes), their feature models can be cut, and
// onnxruntime loads. A worker calls it before leasing its first job, so a
// misconfigured machine stops with the reason instead of failing every job
// in the queue.
func Preflight(o Options) error {
	if err := engine.Init(""); err != nil {
		return err
	}
	for _, name := range []string{jobs.RecipeGeneral, jobs.RecipeHighAccuracy, jobs.RecipeHighPerformance} {
		if _, err := newFeaturizer(recipes[name], o); err != nil {
			return fmt.Errorf("recipe %s: %w", name, err)
		}
	}
	return nil
}
