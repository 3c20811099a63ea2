package e2e_test

// Bad input against the real server: hostile and broken dataset zips,
// requests without or with the wrong credentials, and oversize bodies.
// Every refusal must name the problem, and nothing already stored may be
// lost because of it.

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/imagerules"
	"github.com/autocv/autocv/protocol/jobs"
)

// zipEnt is one entry of a zip built by a test.
type zipEnt struct {
	name    string
	data    []byte
	nonUTF8 bool        // name bytes are not UTF-8 (e.g. GBK) and the UTF-8 flag is unset
	mode    fs.FileMode // e.g. fs.ModeSymlink; 0 for a regular file
	// declared, when > 0, is written as the entry's uncompressed size in
	// place of the real one: a header that lies, as zip bombs do.
	declared uint64
}

func buildZip(t *testing.T, ents []zipEnt) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		var err error
		if e.declared > 0 {
			err = writeLyingEntry(zw, e)
		} else {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, NonUTF8: e.nonUTF8}
			if e.mode != 0 {
				h.SetMode(e.mode | 0o777)
			}
			var w io.Writer
			if w, err = zw.CreateHeader(h); err == nil {
				_, err = w.Write(e.data)
			}
		}
		if err != nil {
			t.Fatalf("zip entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeLyingEntry deflates e.data itself and writes it raw under a header
// that declares only e.declared bytes.
func writeLyingEntry(zw *zip.Writer, e zipEnt) error {
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestCompression)
	if err != nil {
		return err
	}
	if _, err := fw.Write(e.data); err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Deflate,
		CRC32: crc32.ChecksumIEEE(e.data), CompressedSize64: uint64(comp.Len()), UncompressedSize64: e.declared})
	if err != nil {
		return err
	}
	_, err = w.Write(comp.Bytes())
	return err
}

// realPhotos returns the first n photos of a hymenoptera train label that
// pass the image rules, in file name order.
func realPhotos(t *testing.T, label string, n int) [][]byte {
	t.Helper()
	dir := testenv.Data(t, "datasets", "hymenoptera", "train", label)
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, d := range names {
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if imagerules.CheckBytes(b).OK() {
			out = append(out, b)
		}
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("only %d usable photos in %s, want %d", len(out), dir, n)
	return nil
}

func labelEntries(label string, photos [][]byte) []zipEnt {
	ents := make([]zipEnt, len(photos))
	for i, b := range photos {
		ents[i] = zipEnt{name: fmt.Sprintf("%s/%03d.jpg", label, i), data: b}
	}
	return ents
}

func encodePNG(t *testing.T, img image.Image, level png.CompressionLevel) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tinyPNG is a valid 32×32 PNG whose bytes differ for every i < 65536.
func tinyPNG(t *testing.T, i int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	img.Pix[0], img.Pix[1] = uint8(i), uint8(i>>8)
	return encodePNG(t, img, png.BestSpeed)
}

// grayPNG is a w×h PNG of one grey level: valid and tiny.
func grayPNG(t *testing.T, w, h int, level uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = level
	}
	return encodePNG(t, img, png.BestSpeed)
}

func grayJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// noisePNG is a decodable PNG of random pixels stored without compression,
// so it is over 4 MB.
func noisePNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 1100, 1100))
	rand.NewChaCha8([32]byte{7}).Read(img.Pix)
	b := encodePNG(t, img, png.NoCompression)
	if len(b) <= imagerules.MaxFileSize {
		t.Fatalf("noise PNG is only %d bytes", len(b))
	}
	return b
}

func tinyGIF(t *testing.T) []byte {
	t.Helper()
	img := image.NewPaletted(image.Rect(0, 0, 64, 64), color.Palette{color.Black, color.White})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// wantError checks an error answer: its status, its code, and that the
// message names the problem (each of parts, case-insensitively).
func wantError(t *testing.T, what string, status int, raw []byte, wantStatus int, wantCode api.Code, parts ...string) {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Errorf("%s: answer %d %q is not an error object: %v", what, status, raw, err)
		return
	}
	if status != wantStatus || e.Code != wantCode {
		t.Errorf("%s: got %d %s (%s), want %d %s", what, status, e.Code, e.Message, wantStatus, wantCode)
	}
	for _, p := range parts {
		if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(p)) {
			t.Errorf("%s: message %q does not name %q", what, e.Message, p)
		}
	}
}

// jsonCall sends body (already JSON) and returns status and answer.
func (c *client) jsonCall(method, path string, body []byte) (int, []byte) {
	c.t.Helper()
	return c.raw(method, path, "application/json", bytes.NewReader(body))
}

// imagesOf lists a dataset's live images per label: label → sorted
// "id sha256" lines. It is the "nothing was lost" fingerprint.
func (c *client) imagesOf(id string) map[string][]string {
	c.t.Helper()
	ctx := c.t.Context()
	d, err := c.GetDataset(ctx, id)
	if err != nil {
		c.t.Fatalf("GET dataset %s: %v", id, err)
	}
	out := map[string][]string{}
	for _, l := range d.Labels {
		var lines []string
		for page := 1; ; page++ {
			list, err := c.ListImages(ctx, id, l.Name, page, 200)
			if err != nil {
				c.t.Fatalf("images of %s %s, page %d: %v", id, l.Name, page, err)
			}
			for _, im := range list.Items {
				lines = append(lines, im.ID+" "+im.SHA256)
			}
			if len(list.Items) < 200 {
				break
			}
		}
		sort.Strings(lines)
		if len(lines) != l.Count {
			c.t.Fatalf("label %s: count %d but %d images listed", l.Name, l.Count, len(lines))
		}
		out[l.Name] = lines
	}
	return out
}

func sameImages(t *testing.T, what string, before, after map[string][]string) {
	t.Helper()
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	if !bytes.Equal(a, b) {
		t.Errorf("%s: the dataset's images changed:\nbefore %s\nafter  %s", what, b, a)
	}
}

// startImport uploads a zip and returns the new dataset's id (202).
func (c *client) startImport(name string, zipBytes []byte) string {
	c.t.Helper()
	zip := fileOf("data.zip", zipBytes)
	d, err := c.CreateDataset(c.t.Context(), name, &zip, "")
	if err != nil || d.ID == "" || d.Status != api.DatasetProcessing {
		c.t.Fatalf("create dataset %s: %v %s", name, err, jsonOf(d))
	}
	return d.ID
}

func (c *client) datasetTotal() int {
	c.t.Helper()
	list, err := c.ListDatasets(c.t.Context(), 0, 0)
	if err != nil {
		c.t.Fatalf("list datasets: %v", err)
	}
	return list.Total
}

// TestBadDatasetZips imports one zip holding every kind of bad entry next
// to good ones, then zips that must fail whole, then bad appends to the
// good dataset, which must keep its images.
func TestBadDatasetZips(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 0})
	c := s.admin(t)
	ctx := t.Context()
	ants, bees := realPhotos(t, "ants", 27), realPhotos(t, "bees", 39)

	gbk, err := simplifiedchinese.GBK.NewEncoder().String("蚂蚁")
	if err != nil {
		t.Fatal(err)
	}
	truncated := ants[26][:len(ants[26])/2]
	ents := labelEntries("ants", ants[:25])
	for i, b := range bees[:20] {
		ents = append(ents, zipEnt{name: fmt.Sprintf("%s/bee%02d.jpg", gbk, i), data: b, nonUTF8: true})
	}
	ents = append(ents, labelEntries("bees", bees[20:39])...) // 19: not trainable
	ents = append(ents,
		zipEnt{name: "ants/dup.jpg", data: ants[0]},
		zipEnt{name: "ants/notes.txt", data: []byte("not a photo")},
		zipEnt{name: "ants/anim.gif", data: tinyGIF(t)},
		zipEnt{name: "ants/big.png", data: noisePNG(t)},
		zipEnt{name: "ants/wide.jpg", data: grayJPEG(t, 400, 100)},
		zipEnt{name: "ants/long.png", data: grayPNG(t, 4096, 1400, 90)},
		zipEnt{name: "ants/thin.png", data: grayPNG(t, 100, 30, 90)},
		zipEnt{name: "ants/broken.jpg", data: truncated},
		zipEnt{name: "ants/empty.jpg", data: nil},
		zipEnt{name: "ants/sub/deep.jpg", data: ants[25]},
		zipEnt{name: "../evil.jpg", data: ants[25]},
		zipEnt{name: "ants/../../evil2.jpg", data: ants[25]},
		zipEnt{name: "/abs/evil3.jpg", data: ants[25]},
		zipEnt{name: "ants/link.jpg", data: []byte("../../../../etc/passwd"), mode: fs.ModeSymlink},
		zipEnt{name: "ants/bomb.jpg", data: make([]byte, 4_000_000)},
		zipEnt{name: "ants/liar.jpg", data: ants[25], declared: 1000},
		zipEnt{name: "readme.txt", data: []byte("one folder per label")},
	)
	want := map[string]string{
		"ants/dup.jpg":         "duplicate",
		"ants/notes.txt":       "not_an_image",
		"ants/anim.gif":        "unsupported_format",
		"ants/big.png":         "too_large",
		"ants/wide.jpg":        "bad_aspect_ratio",
		"ants/long.png":        "too_long_side",
		"ants/thin.png":        "too_short_side",
		"ants/broken.jpg":      "corrupt",
		"ants/empty.jpg":       "empty_file",
		"ants/sub/deep.jpg":    "nested_too_deep",
		"../evil.jpg":          "zip_slip",
		"ants/../../evil2.jpg": "zip_slip",
		"/abs/evil3.jpg":       "zip_slip",
		"ants/link.jpg":        "symlink",
		"ants/bomb.jpg":        "zip_bomb",
		"ants/liar.jpg":        "zip_bomb",
		"readme.txt":           "outside_label_folder",
	}
	d := c.createDataset("混合", buildZip(t, ents))
	if d.Status != "ready" {
		t.Fatalf("dataset %s: %s", d.Status, d.Error)
	}
	got := map[string]string{}
	for _, sk := range d.ImportReport.Skipped {
		got[sk.Path] = sk.Reason
		if sk.Detail == "" {
			t.Errorf("skipped %s (%s) has no detail for people", sk.Path, sk.Reason)
		}
	}
	for p, r := range want {
		if got[p] != r {
			t.Errorf("%s: skipped for %q, want %q", p, got[p], r)
		}
	}
	if len(got) != len(want) {
		t.Errorf("skipped %d entries, want %d: %+v", len(got), len(want), d.ImportReport.Skipped)
	}
	if !d.ImportReport.GBK {
		t.Error("import report does not say GBK names were decoded")
	}
	counts := map[string]int{}
	trainable := map[string]bool{}
	for _, l := range d.Labels {
		counts[l.Name], trainable[l.Name] = l.Count, l.Trainable
	}
	if len(counts) != 3 || counts["ants"] != 25 || counts["蚂蚁"] != 20 || counts["bees"] != 19 {
		t.Errorf("labels %+v, want ants 25, 蚂蚁 20 (decoded from GBK), bees 19", d.Labels)
	}
	if !trainable["ants"] || !trainable["蚂蚁"] || trainable["bees"] {
		t.Errorf("trainable: %v, want bees (19 images) alone not trainable", trainable)
	}
	// Nothing was written outside the server's folders by name.
	_ = filepath.WalkDir(filepath.Dir(s.DataDir), func(p string, e fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(e.Name(), "evil") {
			t.Errorf("zip-slip entry written to %s", p)
		}
		return nil
	})
	before := c.imagesOf(d.ID)

	// A label with 19 images cannot be trained; the answer names it.
	m, err := c.CreateModel(ctx, api.CreateModelRequest{Name: "bad-input"})
	if err != nil {
		t.Fatalf("create model: %v", err)
	}
	st, raw := c.jsonCall("POST", "/api/v1/models/"+m.ID+"/versions",
		[]byte(`{"app_types":["cloud-general"],"metric":"f1","data":[{"dataset_id":"`+d.ID+`","labels":["ants","bees"]}]}`))
	wantError(t, "training with a 19-image label", st, raw, http.StatusBadRequest, "too_few_images", "bees (19)", "20")

	t.Run("whole zip refused", func(t *testing.T) {
		jpegPhoto := ants[1]
		var tiny []zipEnt
		for i := range 1001 {
			tiny = append(tiny, zipEnt{name: fmt.Sprintf("l%04d/a.png", i), data: tinyPNG(t, i)})
		}
		for _, tc := range []struct {
			name, file string
			zip        []byte
			parts      []string
		}{
			{"jpeg renamed .zip", "photo.zip", jpegPhoto, nil},
			{"random bytes", "noise.zip", randomBytes(5000, 1), nil},
			{"1001 labels", "labels.zip", buildZip(t, tiny), []string{"1001", "1000", "label"}},
			// a valid zip with nothing usable: failed, saying how to pack one, every entry reported
			{"only hostile entries", "hostile.zip", buildZip(t, []zipEnt{{name: "../../x.jpg", data: ants[2]}, {name: "a/l.jpg", data: []byte("/etc"), mode: fs.ModeSymlink}}),
				[]string{"no images", "ants/1.jpg"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.parts == nil { // no zip at all: refused before any dataset exists
					n := c.datasetTotal()
					st, raw := c.multipart("/api/v1/datasets", map[string]string{"name": "bad"}, map[string][]byte{tc.file: tc.zip})
					wantError(t, tc.name, st, raw, http.StatusBadRequest, "not_a_zip", "not a zip")
					if got := c.datasetTotal(); got != n {
						t.Errorf("a refused upload created a dataset: %d → %d", n, got)
					}
					return
				}
				zip := fileOf(tc.file, tc.zip)
				nd, err := c.CreateDataset(t.Context(), "bad", &zip, "")
				if err != nil {
					t.Fatalf("upload: %v", err)
				}
				nd = c.waitDataset(nd.ID)
				if tc.name == "only hostile entries" && len(nd.ImportReport.Skipped) != 2 {
					t.Errorf("skipped %+v, want both entries", nd.ImportReport.Skipped)
				}
				if nd.Status != "failed" {
					t.Fatalf("status %s, want failed", nd.Status)
				}
				for _, p := range tc.parts {
					if !strings.Contains(strings.ToLower(nd.Error), p) {
						t.Errorf("error %q does not name %q", nd.Error, p)
					}
				}
				if len(nd.Labels) != 0 {
					t.Errorf("a failed import kept labels %+v", nd.Labels)
				}
			})
		}
	})

	t.Run("empty upload", func(t *testing.T) {
		n := c.datasetTotal()
		st, raw := c.multipart("/api/v1/datasets", map[string]string{"name": "empty"}, map[string][]byte{"data.zip": {}})
		wantError(t, "0-byte zip", st, raw, http.StatusBadRequest, "empty_file", "empty", "0 bytes")
		st, raw = c.multipart("/api/v1/datasets", map[string]string{"name": "nofile"}, nil)
		wantError(t, "no file part", st, raw, http.StatusBadRequest, "missing_file", "file")
		st, raw = c.raw("POST", "/api/v1/datasets", "application/json", strings.NewReader(`{"name":"x"}`))
		wantError(t, "JSON instead of multipart", st, raw, http.StatusBadRequest, "invalid_multipart", "multipart")
		if got := c.datasetTotal(); got != n {
			t.Errorf("refused uploads created datasets: %d → %d", n, got)
		}
	})

	t.Run("bad appends keep the images", func(t *testing.T) {
		appendZip := func(name string, b []byte) *api.Dataset {
			t.Helper()
			zip := fileOf(name, b)
			if _, err := c.AppendZip(t.Context(), d.ID, &zip, ""); err != nil {
				t.Fatalf("append %s: %v", name, err)
			}
			return c.waitDataset(d.ID)
		}
		st, raw := c.multipart("/api/v1/datasets/"+d.ID+"/zips", nil, map[string][]byte{"photo.zip": ants[1]})
		wantError(t, "append of a JPEG", st, raw, http.StatusBadRequest, "not_a_zip", "not a zip")
		sameImages(t, "append of a JPEG", before, c.imagesOf(d.ID))

		got := appendZip("hostile.zip", buildZip(t, []zipEnt{{name: "../ants/x.jpg", data: ants[26]}, {name: "ants/link.jpg", data: []byte("/"), mode: fs.ModeSymlink},
			{name: "ants/bomb.jpg", data: make([]byte, 3_000_000)}}))
		if got.Status != "ready" || len(got.ImportReport.Skipped) != 3 {
			t.Errorf("append of hostile entries: %s %q skipped %+v", got.Status, got.Error, got.ImportReport.Skipped)
		}
		sameImages(t, "append of hostile entries", before, c.imagesOf(d.ID))

		var tiny []zipEnt
		for i := range 999 { // 3 labels + 999 new > 1000
			tiny = append(tiny, zipEnt{name: fmt.Sprintf("n%04d/a.png", i), data: tinyPNG(t, i)})
		}
		got = appendZip("labels.zip", buildZip(t, tiny))
		if got.Status != "ready" || !strings.Contains(got.Error, "1002") || !strings.Contains(got.Error, "1000") {
			t.Errorf("append past 1000 labels: %s %q, want ready with an error naming 1002 and 1000", got.Status, got.Error)
		}
		sameImages(t, "append past 1000 labels", before, c.imagesOf(d.ID))

		st, raw = c.multipart("/api/v1/datasets/"+d.ID+"/zips", nil, map[string][]byte{"e.zip": {}})
		wantError(t, "0-byte append", st, raw, http.StatusBadRequest, "empty_file", "empty")
		sameImages(t, "0-byte append", before, c.imagesOf(d.ID))
	})
}

// TestUploadLimits runs a server with --max-upload-bytes 2 MiB: bigger
// zips are refused with 413 however they arrive, and no dataset is made.
// JSON bodies over 1 MiB are refused too.
func TestUploadLimits(t *testing.T) {
	const limit = 2 << 20
	s := startServer(t, serverOpts{trainers: 0, extra: []string{"--max-upload-bytes", strconv.Itoa(limit)}})
	c := s.admin(t)
	ctx := t.Context()
	d := c.createDataset("small", buildZip(t, labelEntries("ants", realPhotos(t, "ants", 5))))
	if d.Status != "ready" {
		t.Fatalf("small dataset: %s %s", d.Status, d.Error)
	}
	before := c.imagesOf(d.ID)
	stored := zipEnt{name: "ants/noise.jpg"}
	over := func(n int) []byte { // a zip of about n bytes (random data does not compress)
		e := stored
		e.data = randomBytes(n, 3)
		return buildZip(t, []zipEnt{e})
	}

	for _, tc := range []struct {
		name    string
		zip     []byte
		chunked bool // no Content-Length: the cap must hold while streaming
		parts   []string
	}{
		{"3.5 MiB with Content-Length", over(3<<20 + 1<<19), false, []string{"2097152"}},
		{"2.5 MiB (under the multipart slack)", over(2<<20 + 1<<19), false, []string{"2097152"}},
		{"3.5 MiB chunked", over(3<<20 + 1<<19), true, []string{"2097152"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/datasets", "/api/v1/datasets/" + d.ID + "/zips"} {
				st, raw := c.multipartBody(path, map[string]string{"name": "big"}, "big.zip", tc.zip, tc.chunked)
				wantError(t, path, st, raw, http.StatusRequestEntityTooLarge, "too_large", tc.parts...)
			}
		})
	}
	if n := c.datasetTotal(); n != 1 {
		t.Errorf("%d datasets after refused uploads, want 1", n)
	}
	sameImages(t, "refused appends", before, c.imagesOf(d.ID))
	if left, _ := filepath.Glob(filepath.Join(s.DataDir, "uploads", "*")); len(left) != 0 {
		t.Errorf("refused uploads left files behind: %v", left)
	}

	// JSON bodies: over 1 MiB is refused, naming the size.
	big := []byte(`{"name":"m","description":"` + strings.Repeat("x", 1<<20+10) + `"}`)
	st, raw := c.jsonCall("POST", "/api/v1/models", big)
	wantError(t, "1 MiB JSON", st, raw, http.StatusRequestEntityTooLarge, "too_large", strconv.Itoa(len(big)), "1048576")
	st, raw = c.chunked("POST", "/api/v1/models", "application/json", big)
	if st != http.StatusRequestEntityTooLarge && st != http.StatusBadRequest || !strings.Contains(string(raw), "too large") {
		t.Errorf("1 MiB JSON without Content-Length: %d %s, want 413 or 400 saying too large", st, raw)
	}
	st, raw = c.jsonCall("PATCH", "/api/v1/datasets/"+d.ID, []byte(`{"name":"`+strings.Repeat("y", 1<<20)+`"}`))
	wantError(t, "1 MiB rename", st, raw, http.StatusRequestEntityTooLarge, "too_large", "1048576")
	models, err := c.ListModels(ctx, 0, 0)
	if err != nil || models.Total != 0 {
		t.Errorf("refused JSON bodies created models: %v %s", err, jsonOf(models))
	}
	if after, err := c.GetDataset(ctx, d.ID); err != nil {
		t.Errorf("dataset after the refused rename: %v", err)
	} else if after.Name != "small" {
		t.Errorf("refused rename changed the name to %.20q", after.Name)
	}
}

// multipartBody posts one file part (and fields), with or without a
// Content-Length. A server may answer before reading the whole body and
// close the connection; the answer still counts.
func (c *client) multipartBody(path string, fields map[string]string, file string, data []byte, chunked bool) (int, []byte) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	w, _ := mw.CreateFormFile("file", file)
	_, _ = w.Write(data)
	_ = mw.Close()
	if chunked {
		return c.chunked("POST", path, mw.FormDataContentType(), buf.Bytes())
	}
	return c.raw("POST", path, mw.FormDataContentType(), &buf)
}

// chunked sends body with Transfer-Encoding: chunked (no Content-Length).
func (c *client) chunked(method, path, ctype string, body []byte) (int, []byte) {
	c.t.Helper()
	return c.raw(method, path, ctype, io.MultiReader(bytes.NewReader(body))) // an io.Reader of unknown length
}

// TestAuthRefusals checks who may call what: nobody without credentials,
// cookie sessions only with the CSRF header on unsafe calls, a login rate
// limit, users kept apart, and token kinds kept to their API.
func TestAuthRefusals(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 0})
	admin := s.admin(t)
	ctx := t.Context()

	t.Run("every secured endpoint wants credentials", func(t *testing.T) {
		anon := newClient(t, s.URL, "")
		st, raw := anon.raw("GET", "/api/v1/openapi.json", "", nil)
		if st != 200 {
			t.Fatalf("openapi.json: %d", st)
		}
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		if err != nil {
			t.Fatal(err)
		}
		param := strings.NewReplacer("{", "", "}", "")
		n := 0
		var public []string
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				var security openapi3.SecurityRequirements
				if op.Security != nil {
					security = *op.Security
				}
				if len(security) == 0 || len(security) == 1 && len(security[0]) == 0 {
					public = append(public, strings.ToUpper(method)+" "+path)
					continue
				}
				n++
				p := path
				for strings.Contains(p, "{") {
					i, j := strings.Index(p, "{"), strings.Index(p, "}")
					p = p[:i] + "dummy-" + param.Replace(p[i:j]) + p[j+1:]
				}
				m := strings.ToUpper(method)
				for _, tok := range []string{"", "acvk_not-a-real-key"} {
					cl := newClient(t, s.URL, tok)
					st, raw := cl.raw(m, p, "application/json", strings.NewReader("{}"))
					if _, device := security[0]["deviceURL"]; device {
						// Device package URLs are signed (?device=&sig=), not
						// bearer-authenticated: refused as forbidden.
						wantError(t, m+" "+p, st, raw, http.StatusForbidden, "forbidden", "not valid")
						continue
					}
					wantError(t, fmt.Sprintf("%s %s with token %q", m, p, tok), st, raw, http.StatusUnauthorized, "unauthenticated")
				}
			}
		}
		t.Logf("%d secured operations refused without credentials", n)
		if n < 50 {
			t.Errorf("only %d secured operations in the OpenAPI document", n)
		}
		// The document lists the public ones too; exactly these may be.
		sort.Strings(public)
		if want := []string{"POST /api/v1/auth/login", "POST /api/v1/devices/enroll", "POST /api/v1/enroll"}; !slices.Equal(public, want) {
			t.Errorf("operations the OpenAPI document lists without security: %v, want exactly %v", public, want)
		}
	})

	t.Run("cookie session needs the CSRF header", func(t *testing.T) {
		resp, err := http.Post(s.URL+"/api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+adminPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var login api.LoginResponse
		_ = json.NewDecoder(resp.Body).Decode(&login)
		resp.Body.Close()
		cookies := resp.Cookies()
		if len(cookies) < 2 || login.CSRFToken == "" {
			t.Fatalf("login gave cookies %v and csrf %q", cookies, login.CSRFToken)
		}
		send := func(method, path, body, csrf string) (int, []byte) {
			req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
			if csrf != "" {
				req.Header.Set("X-CSRF-Token", csrf)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		st, raw := send("POST", "/api/v1/models", `{"name":"csrf"}`, "")
		wantError(t, "POST without X-CSRF-Token", st, raw, http.StatusForbidden, "csrf", "X-CSRF-Token")
		st, raw = send("POST", "/api/v1/models", `{"name":"csrf"}`, "wrong"+login.CSRFToken)
		wantError(t, "POST with a wrong X-CSRF-Token", st, raw, http.StatusForbidden, "csrf", "X-CSRF-Token")
		var list api.ModelList
		if st, raw := send("GET", "/api/v1/models", "", ""); st != 200 || json.Unmarshal(raw, &list) != nil || list.Total != 0 {
			t.Fatalf("GET with the cookie alone: %d %s, want 200 and no model made by the refused POSTs", st, raw)
		}
		if st, raw := send("POST", "/api/v1/models", `{"name":"csrf"}`, login.CSRFToken); st != http.StatusCreated {
			t.Errorf("POST with the CSRF header: %d %s, want 201", st, raw)
		}
	})

	// Users made by the admin.
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := admin.CreateUser(ctx, api.CreateUserRequest{Username: u, Password: "pw-" + u + "-123"}); err != nil {
			t.Fatalf("create user %s: %v", u, err)
		}
	}

	t.Run("login rate limit", func(t *testing.T) {
		login := func(pw string) (int, []byte, http.Header) {
			req, _ := http.NewRequest("POST", s.URL+"/api/v1/auth/login", strings.NewReader(`{"username":"carol","password":"`+pw+`"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b, resp.Header
		}
		for i := 1; i <= 5; i++ {
			st, raw, _ := login(fmt.Sprintf("wrong-%d", i))
			wantError(t, fmt.Sprintf("wrong password %d", i), st, raw, http.StatusUnauthorized, "bad_credentials", "wrong username or password")
		}
		st, raw, h := login("wrong-6")
		wantError(t, "6th wrong password", st, raw, http.StatusTooManyRequests, "rate_limited", "too many failed logins")
		if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 301 {
			t.Errorf("Retry-After %q, want 1–301 seconds", h.Get("Retry-After"))
		}
		st, raw, _ = login("pw-carol-123")
		wantError(t, "right password while locked out", st, raw, http.StatusTooManyRequests, "rate_limited")
		s.login(t, "alice", "pw-alice-123") // other users are not locked out
	})

	alice, bob := s.login(t, "alice", "pw-alice-123"), s.login(t, "bob", "pw-bob-123")

	t.Run("users are kept apart", func(t *testing.T) {
		d := alice.createDataset("alice-ds", buildZip(t, labelEntries("ants", realPhotos(t, "ants", 3))))
		if d.Status != "ready" {
			t.Fatalf("alice's dataset: %s %s", d.Status, d.Error)
		}
		before := alice.imagesOf(d.ID)
		m, err := alice.CreateModel(ctx, api.CreateModelRequest{Name: "alice-model"})
		if err != nil {
			t.Fatalf("alice's model: %v", err)
		}
		imgs, err := alice.ListImages(ctx, d.ID, "ants", 0, 0)
		if err != nil || len(imgs.Items) != 3 {
			t.Fatalf("alice's images: %v %s", err, jsonOf(imgs))
		}
		img := imgs.Items[0].ID
		for _, tc := range []struct{ method, path, body string }{
			{"GET", "/api/v1/datasets/" + d.ID, ""},
			{"PATCH", "/api/v1/datasets/" + d.ID, `{"name":"mine"}`},
			{"DELETE", "/api/v1/datasets/" + d.ID, ""},
			{"GET", "/api/v1/datasets/" + d.ID + "/labels/ants/images", ""},
			{"DELETE", "/api/v1/datasets/" + d.ID + "/images/" + img, ""},
			{"GET", "/api/v1/images/" + img, ""},
			{"GET", "/api/v1/images/" + img + "/thumbnail", ""},
			{"GET", "/api/v1/models/" + m.ID, ""},
			{"DELETE", "/api/v1/models/" + m.ID, ""},
			{"POST", "/api/v1/models/" + m.ID + "/versions", `{"app_types":["cloud-general"],"data":[{"dataset_id":"` + d.ID + `","labels":["ants"]}]}`},
		} {
			st, raw := bob.jsonCall(tc.method, tc.path, []byte(tc.body))
			wantError(t, "bob: "+tc.method+" "+tc.path, st, raw, http.StatusNotFound, "not_found", "not found")
		}
		st, raw := bob.multipart("/api/v1/datasets/"+d.ID+"/zips", nil, map[string][]byte{"x.zip": buildZip(t, labelEntries("bees", realPhotos(t, "bees", 2)))})
		wantError(t, "bob appends to alice's dataset", st, raw, http.StatusNotFound, "not_found", "not found")
		st, raw = bob.multipart("/api/v1/datasets/"+d.ID+"/labels/ants/images", nil, map[string][]byte{"x.jpg": realPhotos(t, "bees", 1)[0]})
		wantError(t, "bob adds an image to alice's dataset", st, raw, http.StatusNotFound, "not_found", "not found")
		// Bob's own model cannot train on alice's dataset either.
		bm, err := bob.CreateModel(ctx, api.CreateModelRequest{Name: "bob-model"})
		if err != nil {
			t.Fatalf("bob's model: %v", err)
		}
		st, raw = bob.jsonCall("POST", "/api/v1/models/"+bm.ID+"/versions", []byte(`{"app_types":["cloud-general"],"data":[{"dataset_id":"`+d.ID+`","labels":["ants"]}]}`))
		wantError(t, "bob trains on alice's dataset", st, raw, http.StatusNotFound, "not_found", d.ID)
		if n := bob.datasetTotal(); n != 0 {
			t.Errorf("bob lists %d datasets, want 0", n)
		}
		sameImages(t, "bob's attempts", before, alice.imagesOf(d.ID))
		if got, err := alice.GetModel(ctx, m.ID); err != nil || got.Name != "alice-model" {
			t.Errorf("alice's model after bob's attempts: %v %s", err, jsonOf(got))
		}
	})

	t.Run("token kinds stay in their API", func(t *testing.T) {
		tt, err := admin.CreateTrainerToken(ctx, "w1")
		if err != nil || tt.Token == "" {
			t.Fatalf("trainer token: %v %+v", err, tt)
		}
		trainer := newClient(t, s.URL, tt.Token)
		for _, tc := range []struct{ method, path, body string }{
			{"GET", "/api/v1/datasets", ""}, {"POST", "/api/v1/models", `{"name":"x"}`}, {"GET", "/api/v1/me", ""},
			{"POST", "/api/v1/apikeys", `{"name":"x"}`}, {"POST", "/api/v1/infer/x", "x"},
		} {
			st, raw := trainer.jsonCall(tc.method, tc.path, []byte(tc.body))
			wantError(t, "trainer token: "+tc.method+" "+tc.path, st, raw, http.StatusForbidden, "forbidden", "trainer")
		}
		key, err := alice.CreateAPIKey(ctx, api.TokenRequest{Name: "k"})
		if err != nil {
			t.Fatalf("api key: %v", err)
		}
		lease, err := json.Marshal(jobs.LeaseRequest{Version: jobs.Version, WorkerID: "intruder"})
		if err != nil {
			t.Fatal(err)
		}
		for name, cl := range map[string]*client{"api key": newClient(t, s.URL, key.Key), "session": alice} {
			for _, path := range []string{jobs.PathLease, "/api/v1/jobs/dummy/heartbeat", "/api/v1/jobs/dummy/fail"} {
				st, raw := cl.jsonCall("POST", path, lease)
				wantError(t, name+": POST "+path, st, raw, http.StatusForbidden, "forbidden", "cannot call this endpoint")
			}
		}
		// The trainer token does reach the job API (nothing queued: 204).
		if st, raw := trainer.jsonCall("POST", jobs.PathLease, lease); st != http.StatusNoContent {
			t.Errorf("trainer token leasing: %d %s, want 204", st, raw)
		}
	})
}

// TestTrainedVersionGuards trains one small version, publishes it, then
// throws bad calls at it: 11 validation images, another user's service
// and API key, bad appends to the dataset it was trained on. The package
// and the service must come through unchanged.
func TestTrainedVersionGuards(t *testing.T) {
	s := startServer(t, serverOpts{trainers: 1})
	admin := s.admin(t)
	ctx := t.Context()
	for _, u := range []string{"alice", "bob"} {
		if _, err := admin.CreateUser(ctx, api.CreateUserRequest{Username: u, Password: "pw-" + u + "-123"}); err != nil {
			t.Fatalf("create user %s: %v", u, err)
		}
	}
	alice, bob := s.login(t, "alice", "pw-alice-123"), s.login(t, "bob", "pw-bob-123")
	ants, bees := realPhotos(t, "ants", 40), realPhotos(t, "bees", 40)
	d := alice.createDataset("guards", buildZip(t, append(labelEntries("ants", ants[:30]), labelEntries("bees", bees[:30])...)))
	if d.Status != api.DatasetReady {
		t.Fatalf("dataset: %s %s", d.Status, d.Error)
	}
	m, err := alice.CreateModel(ctx, api.CreateModelRequest{Name: "guards"})
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	vs, err := alice.Train(ctx, m.ID, api.CreateVersionsRequest{AppTypes: []string{"cloud-general"}, Metric: "f1",
		Data: []api.TrainingData{{DatasetID: d.ID, Labels: []string{"ants", "bees"}}}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("train: %v %+v", err, vs)
	}
	v := vs[0].Version
	start := time.Now()
	if got := alice.waitVersion(m.ID, v, 4*time.Minute); got.Status != api.VersionSucceeded {
		t.Fatalf("version: %s %s", got.Status, got.Error)
	}
	t.Logf("trained in %s", time.Since(start).Round(time.Second))
	vpath := fmt.Sprintf("/api/v1/models/%s/versions/%d", m.ID, v)
	pkgSum := func() string {
		resp, err := alice.Package(ctx, m.ID, v)
		if err != nil {
			t.Fatalf("package: %v", err)
		}
		defer resp.Body.Close()
		h := sha256.New()
		if _, err := io.Copy(h, resp.Body); err != nil {
			t.Fatalf("package: %v", err)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	pkg := pkgSum()
	images := alice.imagesOf(d.ID)

	// 校验 with 11 images: refused, naming the limit.
	alice.readyValidation(m.ID, v)
	eleven := map[string][]byte{}
	for i := range 11 {
		eleven[fmt.Sprintf("p%02d.jpg", i)] = ants[30+i%10]
	}
	st, raw := alice.multipart(vpath+"/validation/predict", nil, eleven)
	wantError(t, "validation with 11 images", st, raw, http.StatusBadRequest, "too_many_files", "10")
	delete(eleven, "p10.jpg")
	if _, err := alice.PredictValidation(ctx, m.ID, v, filesOf(eleven), api.PredictQuery{}); err != nil {
		t.Errorf("validation with 10 images: %v", err)
	}
	st, raw = bob.multipart(vpath+"/validation/predict", nil, map[string][]byte{"a.jpg": ants[30]})
	wantError(t, "bob validates alice's version", st, raw, http.StatusNotFound, "not_found", "not found")

	// A service of alice's; bob can neither see it nor call it.
	svc, err := alice.CreateService(ctx, api.CreateServiceRequest{Name: "guards", Path: "guards/ants", ModelID: m.ID, Version: v})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/services/" + svc.ID, ""},
		{"PATCH", "/api/v1/services/" + svc.ID, `{"online":false}`},
		{"DELETE", "/api/v1/services/" + svc.ID, ""},
		{"GET", vpath, ""},
		{"GET", vpath + "/package", ""},
		{"GET", vpath + "/report", ""},
		{"POST", vpath + "/stop", ""},
	} {
		st, raw := bob.jsonCall(tc.method, tc.path, []byte(tc.body))
		wantError(t, "bob: "+tc.method+" "+tc.path, st, raw, http.StatusNotFound, "not_found", "not found")
	}
	bobKey, err := bob.CreateAPIKey(ctx, api.TokenRequest{Name: "b"})
	if err != nil {
		t.Fatalf("bob's api key: %v", err)
	}
	aliceKey, err := alice.CreateAPIKey(ctx, api.TokenRequest{Name: "a"})
	if err != nil {
		t.Fatalf("alice's api key: %v", err)
	}
	bk := newClient(t, s.URL, bobKey.Key)
	st, raw = bk.raw("POST", "/api/v1/infer/guards/ants", "image/jpeg", bytes.NewReader(ants[31]))
	wantError(t, "bob's API key on alice's service", st, raw, http.StatusForbidden, "forbidden", "guards/ants")

	// Bad appends to the trained-on dataset: a photo named .zip is refused
	// at once, a zip slipping out of its folder is imported (and refused
	// entry by entry) in the background; the dataset stays ready.
	notZip := fileOf("photo.zip", ants[32])
	if _, err := alice.AppendZip(ctx, d.ID, &notZip, ""); errStatus(t, err) != http.StatusBadRequest || !strings.Contains(err.Error(), string(api.CodeNotAZip)) {
		t.Errorf("append a photo named .zip: %v, want not_a_zip", err)
	}
	slip := fileOf("slip.zip", buildZip(t, []zipEnt{{name: "../../ants/x.jpg", data: ants[33]}}))
	if _, err := alice.AppendZip(ctx, d.ID, &slip, ""); err != nil {
		t.Fatalf("append slip.zip: %v", err)
	}
	if got := alice.waitDataset(d.ID); got.Status != "ready" {
		t.Errorf("after the bad appends: %s %q", got.Status, got.Error)
	}

	// Nothing lost: dataset, package, service.
	sameImages(t, "after the bad calls", images, alice.imagesOf(d.ID))
	if got := pkgSum(); got != pkg {
		t.Errorf("package changed: %s → %s", pkg, got)
	}
	if sv, err := alice.GetService(ctx, svc.ID); err != nil || !sv.Online {
		t.Errorf("alice's service after bob's attempts: %v %s", err, jsonOf(sv))
	}
	ak := newClient(t, s.URL, aliceKey.Key)
	if st, raw := ak.raw("POST", "/api/v1/infer/guards/ants", "image/jpeg", bytes.NewReader(ants[31])); st != 200 {
		t.Errorf("alice's API key on her service: %d %s", st, raw)
	}
}
