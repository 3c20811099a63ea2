package features

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

func fakeSum(i int) string {
	s := sha256.Sum256(fmt.Appendf(nil, "image %d", i))
	return hex.EncodeToString(s[:])
}

func fakeFeature(dim int, seed float32) []float32 {
	f := make([]float32, dim)
	for i := range f {
		f[i] = seed + float32(i)/7
	}
	return f
}

func TestCacheRoundTrip(t *testing.T) {
	c, err := OpenCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sum, ns := fakeSum(1), "mobilenetv2@abc"
	if m, err := c.Load(ns, sum, 4); m != nil || err != nil {
		t.Fatalf("empty cache: %v, %v", m, err)
	}
	if err := c.Store(ns, sum, 4, map[View][]float32{Orig: fakeFeature(4, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(ns, sum, 4, map[View][]float32{Flip: fakeFeature(4, 2)}); err != nil {
		t.Fatal(err)
	}
	want := map[View][]float32{Orig: fakeFeature(4, 1), Flip: fakeFeature(4, 2)}
	if got, err := c.Load(ns, sum, 4); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if got, err := c.Load(ns, sum, 5); got != nil || err != nil {
		t.Errorf("other dim: %v, %v; want a miss", got, err)
	}
	if got, _ := c.Load("other", sum, 4); got != nil {
		t.Error("namespaces share entries")
	}
	// Namespaces that sanitise alike stay apart.
	c.Store("a/b", sum, 4, map[View][]float32{Orig: fakeFeature(4, 3)})
	if got, _ := c.Load("a_b", sum, 4); got != nil {
		t.Error(`"a/b" and "a_b" share entries`)
	}
	for _, bad := range []string{"", "../../etc/passwd", sum[:63] + "G", "ABC" + sum[3:]} {
		if _, err := c.Load(ns, bad, 4); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	if err := c.Store(ns, sum, 4, map[View][]float32{Orig: fakeFeature(3, 1)}); err == nil {
		t.Error("wrong length stored")
	}
}

func TestCacheCorrupt(t *testing.T) {
	c, _ := OpenCache(t.TempDir())
	sum, ns := fakeSum(2), "bb"
	c.Store(ns, sum, 8, map[View][]float32{Orig: fakeFeature(8, 1), Jitter: fakeFeature(8, 2)})
	p, _ := c.path(ns, sum)
	good, _ := os.ReadFile(p)
	damage := map[string]func([]byte) []byte{
		"empty":       func(b []byte) []byte { return nil },
		"truncated":   func(b []byte) []byte { return b[:len(b)-9] },
		"flipped bit": func(b []byte) []byte { b[40] ^= 1; return b },
		"garbage":     func(b []byte) []byte { return []byte("not a feature file at all") },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(p, f(append([]byte(nil), good...)), 0o644)
			if m, err := c.Load(ns, sum, 8); !errors.Is(err, ErrCorrupt) || m != nil {
				t.Fatalf("got %v, %v; want ErrCorrupt", m, err)
			}
			// Storing over a damaged entry replaces it.
			if err := c.Store(ns, sum, 8, map[View][]float32{Flip: fakeFeature(8, 3)}); err != nil {
				t.Fatal(err)
			}
			if m, err := c.Load(ns, sum, 8); err != nil || len(m) != 1 || m[Flip] == nil {
				t.Fatalf("after store: %v, %v", m, err)
			}
		})
	}
}

// Goroutines adding different views of one image all keep theirs, and
// no temporary file is left behind.
func TestCacheConcurrentStores(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenCache(dir)
	sum := fakeSum(3)
	var wg sync.WaitGroup
	for i, v := range AllViews() {
		wg.Go(func() {
			if err := c.Store("ns", sum, 16, map[View][]float32{v: fakeFeature(16, float32(i))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	m, err := c.Load("ns", sum, 16)
	if err != nil || len(m) != len(AllViews()) {
		t.Fatalf("%d views, %v", len(m), err)
	}
	p, _ := c.path("ns", sum)
	if entries, _ := os.ReadDir(p[:len(p)-len(sum)-5]); len(entries) != 1 {
		t.Errorf("folder holds %d files, want 1", len(entries))
	}
}

// Two caches on one folder stand for two trainer processes: while both
// rewrite one entry, a reader never sees a damaged file.
func TestCacheTwoWriters(t *testing.T) {
	dir := t.TempDir()
	a, _ := OpenCache(dir)
	b, _ := OpenCache(dir)
	sum := fakeSum(4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range []*Cache{a, b} {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				v := AllViews()[(2*k+i)%len(AllViews())]
				if err := c.Store("ns", sum, 256, map[View][]float32{v: fakeFeature(256, float32(k))}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var seen error
	for range 300 {
		if _, seen = a.Load("ns", sum, 256); seen != nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	if seen != nil {
		t.Fatalf("reader saw %v", seen)
	}
}

// BenchmarkCacheLoad times 2000 lookups of 1280-d features, one view and
// six views per image (target: 2000 lookups < 100 ms).
func BenchmarkCacheLoad(b *testing.B) {
	for _, views := range []int{1, 6} {
		b.Run(fmt.Sprintf("%dviews", views), func(b *testing.B) {
			c, _ := OpenCache(b.TempDir())
			const n, dim = 2000, 1280
			for i := range n {
				m := map[View][]float32{}
				for _, v := range AllViews()[:views] {
					m[v] = fakeFeature(dim, float32(i))
				}
				if err := c.Store("mbv2", fakeSum(i), dim, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				for i := range n {
					if m, err := c.Load("mbv2", fakeSum(i), dim); err != nil || len(m) != views {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/2000-lookups")
		})
	}
}
