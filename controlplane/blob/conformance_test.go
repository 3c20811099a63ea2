package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testStore is the conformance suite every Store implementation must pass.
// newStore returns an empty store; only tests that call listAll assume that.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	get := func(t *testing.T, s Store, sha string) []byte {
		t.Helper()
		rc, n, err := s.Get(ctx, sha)
		if err != nil {
			t.Fatalf("Get(%s): %v", sha, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read %s: %v", sha, err)
		}
		if int64(len(b)) != n {
			t.Fatalf("Get size = %d, read %d bytes", n, len(b))
		}
		return b
	}
	listAll := func(t *testing.T, s Store, prefix string) []string {
		t.Helper()
		var out []string
		for sha, err := range s.List(ctx, prefix) {
			if err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			out = append(out, sha)
		}
		return out
	}

	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		data := []byte("hello, blobs")
		sha, n, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if sha != sum(data) || n != int64(len(data)) {
			t.Fatalf("Put = %s,%d; want %s,%d", sha, n, sum(data), len(data))
		}
		if got := get(t, s, sha); !bytes.Equal(got, data) {
			t.Fatalf("Get = %q", got)
		}
		if sz, err := s.Stat(ctx, sha); err != nil || sz != n {
			t.Fatalf("Stat = %d, %v", sz, err)
		}
		if got := listAll(t, s, ""); len(got) != 1 || got[0] != sha {
			t.Fatalf("List = %v", got)
		}
		if err := s.Delete(ctx, sha); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, sha); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat after Delete: %v", err)
		}
	})

	t.Run("empty blob", func(t *testing.T) {
		s := newStore(t)
		sha, n, err := s.Put(ctx, bytes.NewReader(nil))
		if err != nil || n != 0 || sha != sum(nil) {
			t.Fatalf("Put empty = %s,%d,%v", sha, n, err)
		}
		if got := get(t, s, sha); len(got) != 0 {
			t.Fatalf("Get empty = %q", got)
		}
	})

	t.Run("idempotent put", func(t *testing.T) {
		s := newStore(t)
		data := []byte("same bytes")
		sha1, _, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sha2, _, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil || sha2 != sha1 {
			t.Fatalf("second Put = %s, %v", sha2, err)
		}
		if err := s.PutKnown(ctx, sha1, bytes.NewReader(data)); err != nil {
			t.Fatalf("PutKnown of stored blob: %v", err)
		}
		if got := listAll(t, s, ""); len(got) != 1 {
			t.Fatalf("List = %v, want one blob", got)
		}
	})

	t.Run("put known", func(t *testing.T) {
		s := newStore(t)
		data := []byte("known content")
		if err := s.PutKnown(ctx, sum(data), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if got := get(t, s, sum(data)); !bytes.Equal(got, data) {
			t.Fatalf("Get = %q", got)
		}
	})

	t.Run("hash mismatch leaves nothing", func(t *testing.T) {
		s := newStore(t)
		claimed := sum([]byte("what the caller said"))
		err := s.PutKnown(ctx, claimed, bytes.NewReader([]byte("what arrived")))
		if !errors.Is(err, ErrHashMismatch) {
			t.Fatalf("PutKnown mismatch: %v", err)
		}
		if _, err := s.Stat(ctx, claimed); !errors.Is(err, ErrNotFound) {
			t.Fatalf("claimed sha stored: %v", err)
		}
		if _, err := s.Stat(ctx, sum([]byte("what arrived"))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("actual sha stored: %v", err)
		}
		if got := listAll(t, s, ""); len(got) != 0 {
			t.Fatalf("List = %v, want empty", got)
		}
	})

	t.Run("not found", func(t *testing.T) {
		s := newStore(t)
		missing := sum([]byte("never stored"))
		if _, _, err := s.Get(ctx, missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get: %v", err)
		}
		if _, err := s.Stat(ctx, missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat: %v", err)
		}
		if err := s.Delete(ctx, missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete: %v", err)
		}
	})

	t.Run("concurrent puts of the same blob", func(t *testing.T) {
		s := newStore(t)
		data := bytes.Repeat([]byte("concurrent "), 100_000) // ~1.1 MB
		want := sum(data)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				if i%2 == 0 {
					sha, _, err := s.Put(ctx, bytes.NewReader(data))
					if err == nil && sha != want {
						err = errors.New("wrong sha " + sha)
					}
					errs <- err
				} else {
					errs <- s.PutKnown(ctx, want, bytes.NewReader(data))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := get(t, s, want); !bytes.Equal(got, data) {
			t.Fatal("content differs after concurrent puts")
		}
		if got := listAll(t, s, ""); len(got) != 1 {
			t.Fatalf("List = %v, want one blob", got)
		}
	})

	t.Run("10 MB streamed", func(t *testing.T) {
		s := newStore(t)
		const size = 10 << 20
		rng := rand.NewChaCha8([32]byte{1})
		data := make([]byte, size)
		rng.Read(data)
		// io.MultiReader hides the length, so the store must stream.
		sha, n, err := s.Put(ctx, io.MultiReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		if n != size || sha != sum(data) {
			t.Fatalf("Put = %s,%d", sha, n)
		}
		if got := get(t, s, sha); !bytes.Equal(got, data) {
			t.Fatal("10 MB blob differs")
		}
	})

	t.Run("list by prefix", func(t *testing.T) {
		s := newStore(t)
		var shas []string
		for i := range 20 {
			sha, _, err := s.Put(ctx, bytes.NewReader([]byte{byte(i)}))
			if err != nil {
				t.Fatal(err)
			}
			shas = append(shas, sha)
		}
		if got := listAll(t, s, ""); len(got) != 20 {
			t.Fatalf("List all = %d blobs, want 20", len(got))
		}
		for _, p := range []string{"", shas[0][:1], shas[0][:2], shas[0][:5], shas[0]} {
			// Exactly the stored shas with that prefix, in ascending order.
			var want []string
			for _, sha := range shas {
				if strings.HasPrefix(sha, p) {
					want = append(want, sha)
				}
			}
			slices.Sort(want)
			if got := listAll(t, s, p); !slices.Equal(got, want) {
				t.Fatalf("List(%q) = %v, want %v", p, got, want)
			}
		}
		n := 0
		for range s.List(ctx, "") {
			n++
			if n == 3 {
				break
			}
		}
	})

	t.Run("invalid sha refused", func(t *testing.T) {
		s := newStore(t)
		bad := []string{
			"",
			"../../../../etc/passwd",
			"ab/../../../../../../etc/passwd",
			sum(nil)[:63],
			sum(nil) + "0",
			"ABCDEF" + sum(nil)[6:],
			"..", "/", `..\..\x`,
		}
		for _, sha := range bad {
			if _, _, err := s.Get(ctx, sha); !errors.Is(err, ErrInvalidSHA) {
				t.Errorf("Get(%q): %v", sha, err)
			}
			if _, err := s.Stat(ctx, sha); !errors.Is(err, ErrInvalidSHA) {
				t.Errorf("Stat(%q): %v", sha, err)
			}
			if err := s.Delete(ctx, sha); !errors.Is(err, ErrInvalidSHA) {
				t.Errorf("Delete(%q): %v", sha, err)
			}
			if err := s.PutKnown(ctx, sha, bytes.NewReader(nil)); !errors.Is(err, ErrInvalidSHA) {
				t.Errorf("PutKnown(%q): %v", sha, err)
			}
		}
		for _, p := range []string{"../", "xyz", "A", sum(nil) + "0"} {
			errs := 0
			for _, err := range s.List(ctx, p) {
				errs++
				if !errors.Is(err, ErrInvalidSHA) {
					t.Errorf("List(%q): %v", p, err)
				}
			}
			if errs != 1 {
				t.Errorf("List(%q) yielded %d results, want exactly one ErrInvalidSHA", p, errs)
			}
		}
	})
}
