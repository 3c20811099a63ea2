package imagerules

// Label limits of the product, shared by the import, the control plane's
// training rules and autocv-trainer.
const (
	// MaxLabels is the most labels one dataset or model may have.
	MaxLabels = 1000
	// MinImagesPerLabel is the fewest images a label trains with.
	MinImagesPerLabel = 20
	// WarnImagesPerLabel: below it a label trains, with a warning to add
	// more photos.
	WarnImagesPerLabel = 100
)
