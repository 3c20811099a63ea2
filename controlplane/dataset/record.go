package dataset

import (
	"context"
	"fmt"

	"github.com/autocv/autocv/controlplane/dataset/importer"
	"github.com/autocv/autocv/controlplane/store"
	"github.com/autocv/autocv/protocol/api"
)

// maxErrorBytes bounds the error a failed import stores for people.
const maxErrorBytes = 512

// recorded is what recording an import's images in the store did.
type recorded struct {
	added []store.Image
	// refused maps each label the store would not take to its answer;
	// order lists them as they came.
	refused map[string]error
	order   []string
}

// record adds the checked images to the dataset, in one transaction when
// the store takes them all. When it refuses that, it tries again label by
// label (a revision each), so one label the store will not take costs
// that label alone. The error is set only when the store takes no label
// at all, or ctx ends: the store itself is failing, and the import with it.
// done, if set, is told how many images are recorded so far.
func record(ctx context.Context, st store.Store, datasetID string, ims []store.Image, done func(int)) (*recorded, error) {
	r := &recorded{refused: map[string]error{}}
	if len(ims) == 0 {
		return r, nil
	}
	added, err := st.AddImages(ctx, datasetID, ims)
	if err == nil {
		r.added = added
		return r, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	byLabel := map[string][]store.Image{}
	var labels []string
	for _, im := range ims {
		if byLabel[im.Label] == nil {
			labels = append(labels, im.Label)
		}
		byLabel[im.Label] = append(byLabel[im.Label], im)
	}
	if len(labels) == 1 {
		return nil, err // one label: nothing to keep apart
	}
	var n int
	for _, l := range labels {
		added, lerr := st.AddImages(ctx, datasetID, byLabel[l])
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		n += len(byLabel[l])
		if done != nil {
			done(n)
		}
		if lerr != nil {
			r.refused[l] = lerr
			r.order = append(r.order, l)
			continue
		}
		r.added = append(r.added, added...)
	}
	if len(r.order) == len(labels) {
		return nil, err
	}
	return r, nil
}

// importReport turns what the importer found and what the store took into
// the stored import report: Added and Accepted count the images newly in
// the dataset; an image its label already had is skipped as
// already_present, a label the store refused as label_refused; Labels
// are the zip's labels with their totals after the import (totals, by
// label name, from the store).
func importReport(rep *importer.Report, rec *recorded, totals map[string]int) *Report {
	out := &Report{Accepted: map[string]int{}, Skipped: []api.SkippedFile{}, GBK: rep.GBK, Added: len(rec.added)}
	out.Skipped = append(out.Skipped, rep.Skipped...)
	type key struct{ label, sha string }
	got := make(map[key]bool, len(rec.added))
	for _, a := range rec.added {
		out.Accepted[a.Label]++
		got[key{a.Label, a.SHA256}] = true
	}
	for _, l := range rec.order {
		out.Skipped = append(out.Skipped, api.SkippedFile{Path: l + "/", Reason: importer.ReasonLabelRefused,
			Detail: importer.Shorten(fmt.Sprintf("%d images of label %s left out: %v", rep.Accepted[l], l, rec.refused[l]), maxErrorBytes)})
	}
	for _, x := range rep.Images {
		if got[key{x.Label, x.SHA256}] || rec.refused[x.Label] != nil {
			continue
		}
		out.Skipped = append(out.Skipped, api.SkippedFile{Path: x.Path, Reason: importer.ReasonAlreadyPresent,
			Detail: "label " + x.Label + " already has this image"})
	}
	for _, l := range rep.Labels {
		out.Labels = append(out.Labels, LabelOf(l.Name, totals[l.Name]))
	}
	return out
}

// labelTotals is how many images each label of the dataset holds: from
// the store, or, when it cannot say, what it held before plus what the
// import added.
func labelTotals(ctx context.Context, st store.Store, datasetID string, before []store.LabelCount, added []store.Image) map[string]int {
	m := map[string]int{}
	if ls, err := st.Labels(ctx, datasetID); err == nil {
		for _, l := range ls {
			m[l.Name] = l.Count
		}
		return m
	}
	for _, l := range before {
		m[l.Name] = l.Count
	}
	for _, a := range added {
		m[a.Label]++
	}
	return m
}
