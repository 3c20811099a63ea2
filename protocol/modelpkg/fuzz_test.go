package modelpkg

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadPackage feeds arbitrary archives to Read. An input that is not
// gzip is gzipped first, so that seeds (and mutations) of raw tar streams
// reach the tar and member checks instead of dying on the gzip checksum.
//
// Properties: no panic; every error wraps a sentinel; on error nothing is
// left in the destination's parent; on success only the listed members are
// extracted, each with its listed hash, and the same bytes read again (with
// the key, when signed) give the same manifest.
func FuzzReadPackage(f *testing.F) {
	_, priv := testKey()
	valid := buildBytes(f, testBuilder(f, priv))
	unsigned := buildBytes(f, testBuilder(f, nil))
	es := entriesOf(f, unsigned)
	f.Add(valid)
	f.Add(unsigned)
	f.Add(makeTar(f, es))
	f.Add(makeTar(f, append(es, reg("../evil", []byte("x")))))
	f.Add(makeTar(f, append(es, es[1])))
	f.Add(makeTar(f, append(es[:1:1], es[2:]...)))
	f.Add(makeTar(f, append(es[:1:1], entry{Name: ModelName, Typeflag: '2', Linkname: "/etc/passwd"})))
	f.Add(valid[:len(valid)/2])
	f.Add(append(bytes.Clone(valid), 0, 0, 0))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
			data = gzipBytes(t, data)
		}
		parent := t.TempDir()
		dest := filepath.Join(parent, "out")
		pkg, err := Read(bytes.NewReader(data), ReadOptions{Dir: dest})
		if err != nil {
			if !hasSentinel(err) {
				t.Errorf("error wraps no sentinel: %v", err)
			}
			if left := listTree(t, parent); len(left) != 0 {
				t.Fatalf("left behind after %v: %v", err, left)
			}
			return
		}
		want := map[string]bool{"out": true}
		for _, m := range pkg.Manifest.Members {
			want["out/"+m.Name] = true
			if strings.HasPrefix(m.Name, GoldenDir) {
				want["out/golden"] = true
			}
			got, err := os.ReadFile(pkg.Path(m.Name))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != m.SHA256 || int64(len(got)) != m.Size {
				t.Errorf("extracted %s does not match its manifest entry", m.Name)
			}
		}
		for _, p := range listTree(t, parent) {
			if !want[p] {
				t.Errorf("unexpected file %s", p)
			}
		}
		again, err := Read(bytes.NewReader(data), ReadOptions{})
		if err != nil || !reflect.DeepEqual(again.Manifest, pkg.Manifest) {
			t.Fatalf("accepted package does not re-verify: %v", err)
		}
		if pkg.Signature != nil {
			pub, _ := testKey()
			signed, err := Read(bytes.NewReader(data), ReadOptions{TrustedKeys: []ed25519.PublicKey{pub}})
			if err == nil && !signed.Signed || err != nil && !errors.Is(err, ErrSignature) {
				t.Fatalf("signed read: %v", err)
			}
		}
	})
}

// FuzzParseManifest: no panic; errors wrap ErrSchema or ErrInvalid; a
// manifest that parses (and so validates) encodes, and parses back equal.
func FuzzParseManifest(f *testing.F) {
	m := validManifest()
	valid := mustEncode(f, &m)
	f.Add(valid)
	f.Add(bytes.Replace(valid, []byte(`"schema": 1`), []byte(`"schema": 2`), 1))
	f.Add(bytes.Replace(valid, []byte(`"schema": 1,`), []byte(`"schema": 1, "extra": [null, {}],`), 1))
	f.Add(bytes.Replace(valid, []byte(`"golden": [`), []byte(`"golden": [], "x": [`), 1))
	f.Add(bytes.Replace(valid, []byte(`"version": 3`), []byte(`"version": 0`), 1))
	f.Add([]byte(`{"schema":1,"model_id":"m","version":1,"labels":["a","b"],"preprocess":{"input_size":32,"resize_mode":"stretch","crop":32,"std":[1,1,1],"channel_order":"BGR","layout":"NHWC"},"io":{"input":"x","output":"y","output_kind":"logits"},"runtime":{"opset":1,"execution_providers":[]},"members":[{"name":"model.onnx","sha256":"` + strings.Repeat("0", 64) + `","size":0}],"thresholds":{"global":0,"per_label":{}},"metrics":{}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if !errors.Is(err, ErrSchema) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error wraps neither ErrSchema nor ErrInvalid: %v", err)
			}
			return
		}
		enc, err := EncodeManifest(m)
		if err != nil {
			t.Fatalf("a parsed manifest does not encode: %v", err)
		}
		back, err := ParseManifest(enc)
		if err != nil {
			t.Fatalf("an encoded manifest does not parse: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(m, back) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, back)
		}
		if again := mustEncode(t, back); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, again)
		}
	})
}
