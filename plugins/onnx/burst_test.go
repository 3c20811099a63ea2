package onnx_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocv/autocv/internal/testenv"
	"github.com/autocv/autocv/plugins/host"
	"github.com/autocv/autocv/plugins/onnx"
	"github.com/autocv/autocv/plugins/onnx/demopkg"
	"github.com/autocv/autocv/protocol/inference"
	"github.com/autocv/autocv/protocol/modelpkg"
)

// TestPixelHeavyBurst sends bursts of small files with huge pixel counts
// (a 4095×4095 16-bit RGBA PNG of almost only zeros is under 200 KB and
// decodes to 128 MiB), one per request, to the real plugin process: 16 at
// the edge box's decode budget (with two images over it) and 24 at the
// default one. Every answer must be a prediction or a clear too-large
// refusal, the plugin's peak RSS must stay under the target, and the
// plugin must give the memory back after the burst.
func TestPixelHeavyBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the plugin and decodes 40 big images; skipped with -short")
	}
	bin, pkg, pubPEM := burstFixture(t)
	heavy := pixelHeavyPNG(t)
	t.Logf("each request: a %d KB PNG of 4095x4095 16-bit RGBA pixels, 128 MB decoded", len(heavy)>>10)
	// 190 MB decoded: over the edge box's budget, under the default one
	over := rgba16PNG(5000, nil)
	for _, tc := range []struct {
		name     string
		budgetMB string // "" = the default
		requests int
		refused  int   // requests with the over image, refused as too large
		maxRSS   int64 // peak VmHWM of the plugin, bytes
	}{
		// what an edge box's agent passes; its target is 400 MB
		{"edge", strconv.Itoa(onnx.EdgeDecodeBudgetMB), 16, 2, 400 << 20},
		// the control plane's, whose target is well under 700 MB; expect
		// about onnxruntime's 70 MB + the 256 MB budget + 64 MB at most
		{"cloud default", "", 24, 0, 450 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// separate processes; decoding big images takes turns within each
			t.Parallel()
			// the budget and Go's limit are the plugin's, not the test's
			env := []string{onnx.DecodeBudgetEnv + "=" + tc.budgetMB, "GOMEMLIMIT="}
			p, err := host.Start(context.Background(), host.Config{Binary: bin, Env: env})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			ctx := context.Background()
			if _, err := p.Load(ctx, inference.LoadRequest{PackagePath: pkg, TrustedKeys: [][]byte{pubPEM}}); err != nil {
				t.Fatal(err)
			}
			idle := rss(t, p.Pid(), "VmRSS")

			images := slices.Repeat([][]byte{heavy}, tc.requests)
			for k := range tc.refused { // spread among the others
				images = slices.Insert(images, (k+1)*len(images)/(tc.refused+1), over)
			}
			start := time.Now()
			var wg sync.WaitGroup
			results := make([]error, len(images))
			codes := make([]string, len(images))
			for i, img := range images {
				wg.Go(func() {
					res, err := p.Predict(ctx, inference.PredictRequest{Images: [][]byte{img}})
					switch {
					case err != nil:
						results[i] = err
					case len(res.Predictions) != 1:
						results[i] = fmt.Errorf("%d predictions for one image", len(res.Predictions))
					case res.Predictions[0].Err != "":
						codes[i] = res.Predictions[0].ErrCode
						if codes[i] != inference.ImageTooLarge || !strings.Contains(res.Predictions[0].Err, "over the limit of") {
							results[i] = fmt.Errorf("code %q: %s", codes[i], res.Predictions[0].Err)
						}
					case len(res.Predictions[0].Labels) == 0:
						results[i] = errors.New("no labels")
					}
				})
			}
			wg.Wait()
			burst := time.Since(start)
			peak := rss(t, p.Pid(), "VmHWM")
			ok, refused := 0, 0
			for i, err := range results {
				switch {
				case err != nil:
					t.Errorf("request %d: %v", i, err)
				case codes[i] == "":
					ok++
				default:
					refused++
				}
			}
			if ok != tc.requests || refused != tc.refused {
				t.Errorf("%d answered and %d refused as too large, want %d and %d", ok, refused, tc.requests, tc.refused)
			}

			// memory comes back once the burst is over
			end := rss(t, p.Pid(), "VmRSS")
			after, settled := end, time.Now()
			for after > idle+returned && time.Since(settled) < 15*time.Second {
				time.Sleep(100 * time.Millisecond)
				after = rss(t, p.Pid(), "VmRSS")
			}
			t.Logf("%d requests in %v, %d answered, %d refused: RSS idle %d MB, peak %d MB, at the end %d MB, %d MB %v later",
				len(images), burst.Round(time.Millisecond), ok, refused, idle>>20, peak>>20, end>>20, after>>20,
				time.Since(settled).Round(100*time.Millisecond))
			if runtime.GOOS != "linux" {
				return
			}
			if peak > tc.maxRSS {
				t.Errorf("peak RSS %d MB, want under %d MB", peak>>20, tc.maxRSS>>20)
			}
			if after > idle+returned {
				t.Errorf("RSS still %d MB 15s after the burst, %d MB before it", after>>20, idle>>20)
			}
		})
	}
}

// returned is how much above its idle RSS the plugin may stay once it has
// given the memory of a burst back.
const returned = 32 << 20

// burstFixture builds the plugin and a signed MobileNet package.
func burstFixture(t *testing.T) (bin, pkg string, pubPEM []byte) {
	t.Helper()
	data := testenv.DataDir(t)
	t.Setenv("ONNXRUNTIME_LIB", testenv.ORTLibrary(t))
	bin = testenv.GoBuild(t, "./plugins/onnx/cmd/autocv-plugin-onnx", nil)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if pubPEM, err = modelpkg.MarshalPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	pkg = filepath.Join(t.TempDir(), "mobilenet.tar.gz")
	if _, err := demopkg.Build(data, demopkg.MobileNetV2, priv, pkg); err != nil {
		t.Fatal(err)
	}
	return bin, pkg, pubPEM
}

// pixelHeavyPNG is a 4095×4095 16-bit RGBA PNG: transparent zeros with an
// opaque square in the middle, so the answer is not about nothing. It is
// written row by row (image/png's encoder would take seconds converting
// 16 million pixels, many more under the race detector).
func pixelHeavyPNG(t *testing.T) []byte {
	t.Helper()
	const side, bpp = 4095, 8 // pixels, bytes a pixel
	var idat bytes.Buffer
	z, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 1+side*bpp) // filter type 0, then the pixels
	square := bytes.Clone(zero)
	for x := 1800; x < 2300; x++ {
		copy(square[1+x*bpp:], []byte{0xff, 0xff, 0x80, 0x00, 0, 0, 0xff, 0xff}) // R G B A, big-endian
	}
	for y := range side {
		row := zero
		if y >= 1800 && y < 2300 {
			row = square
		}
		if _, err := z.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	data := rgba16PNG(side, idat.Bytes())
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != side || cfg.ColorModel != color.NRGBA64Model {
		t.Fatalf("pixel-heavy PNG: %+v, %v", cfg, err)
	}
	return data
}

// rgba16PNG is a side×side 16-bit RGBA PNG with the compressed rows idat
// (none: only the header, which is all a refusal reads).
func rgba16PNG(side uint32, idat []byte) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		out.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		out.WriteString(typ)
		out.Write(data)
		crc := crc32.Update(crc32.ChecksumIEEE([]byte(typ)), crc32.IEEETable, data)
		out.Write(binary.BigEndian.AppendUint32(nil, crc))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, side), side)
	chunk("IHDR", append(ihdr, 16, 6, 0, 0, 0)) // 16 bits, RGBA, deflate, no filter, not interlaced
	if idat != nil {
		chunk("IDAT", idat)
	}
	chunk("IEND", nil)
	return out.Bytes()
}

// rss reads a size field (VmRSS, VmHWM) of /proc/<pid>/status in bytes; 0
// where there is no /proc.
func rss(t *testing.T, pid int, field string) int64 {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", field, v, err)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
