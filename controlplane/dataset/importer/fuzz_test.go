package importer

import (
	"bytes"
	"context"
	"testing"
)

func FuzzImport(f *testing.F) {
	tiny := []byte("\xff\xd8\xff\xe0 not really a jpeg")
	f.Add(buildZip(f, []zent{{name: "a/b.jpg", data: tiny}, {name: "../x.jpg", data: tiny}}))
	f.Add(buildZip(f, []zent{{name: "w/a/b.png", data: tiny, store: true}, {name: "w/a/c/d.bmp", data: nil}}))
	f.Add(buildZip(f, []zent{{name: "a/b.jpg", data: bytes.Repeat([]byte{0}, 1<<16)}}))
	f.Add([]byte("PK\x05\x06"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := memStore{}
		rep, err := importReader(context.Background(), bytes.NewReader(b), int64(len(b)),
			Options{MaxTotalUncompressed: 64 << 20}, m.store)
		assertValidated(t, m)
		if err == nil && len(rep.Images) != len(m) {
			t.Fatalf("%d images reported, %d stored", len(rep.Images), len(m))
		}
	})
}
