package modelpkg

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBuildDeterministic(t *testing.T) {
	_, priv := testKey()
	for _, key := range []ed25519.PrivateKey{nil, priv} {
		// Two builders with model files in different places.
		a := buildBytes(t, testBuilder(t, key))
		b := buildBytes(t, testBuilder(t, key))
		if !bytes.Equal(a, b) {
			t.Fatalf("signed=%v: two builds differ (%d vs %d bytes)", key != nil, len(a), len(b))
		}
	}
}

func TestBuildLayout(t *testing.T) {
	_, priv := testKey()
	es := entriesOf(t, buildBytes(t, testBuilder(t, priv)))
	want := []string{ManifestName, SignatureName, ModelName, ReportName, "golden/0.jpg", "golden/1.png"}
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for i, e := range es {
		if e.Name != want[i] {
			t.Errorf("entry %d = %s, want %s", i, e.Name, want[i])
		}
	}
	if !bytes.Equal(es[2].Data, fakeModel) {
		t.Errorf("model.onnx content changed")
	}
}

func TestBuildErrors(t *testing.T) {
	_, priv := testKey()
	tests := []struct {
		name   string
		change func(b *Builder)
		want   error
	}{
		{"short key", func(b *Builder) { b.Key = priv[:32] }, ErrKey},
		{"no model path", func(b *Builder) { b.ModelPath = "" }, ErrInvalid},
		{"model missing", func(b *Builder) { b.ModelPath += ".gone" }, os.ErrNotExist},
		{"bad golden name", func(b *Builder) { b.Golden = map[string][]byte{"golden/0.jpg": nil, "golden/1.png": nil, "x.jpg": nil} }, ErrInvalid},
		{"golden file not given", func(b *Builder) { b.Golden = map[string][]byte{"golden/0.jpg": nil} }, ErrInvalid},
		{"invalid manifest", func(b *Builder) { b.Manifest.Labels = nil }, ErrInvalid},
		{"newer schema", func(b *Builder) { b.Manifest.Schema = SchemaVersion + 1 }, ErrSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testBuilder(t, priv)
			tc.change(b)
			path := filepath.Join(t.TempDir(), "package.tar.gz")
			if _, err := b.WriteFile(path); !errors.Is(err, tc.want) {
				t.Fatalf("WriteFile err = %v, want %v", err, tc.want)
			}
			if left := listTree(t, filepath.Dir(path)); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestResign(t *testing.T) {
	pub, priv := testKey()
	otherPub, otherPriv := otherKey()
	unsigned := buildBytes(t, testBuilder(t, nil))
	signed := buildBytes(t, testBuilder(t, priv))

	t.Run("adds signature", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := Resign(bytes.NewReader(unsigned), &out, priv, Limits{}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), signed) {
			t.Errorf("resigned package differs from a package built with the key")
		}
	})
	t.Run("replaces signature", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := Resign(bytes.NewReader(signed), &out, otherPriv, Limits{}); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(bytes.NewReader(out.Bytes()), ReadOptions{TrustedKeys: []ed25519.PublicKey{otherPub}}); err != nil {
			t.Errorf("new key: %v", err)
		}
		if _, err := Read(bytes.NewReader(out.Bytes()), ReadOptions{TrustedKeys: []ed25519.PublicKey{pub}}); !errors.Is(err, ErrSignature) {
			t.Errorf("old key: err = %v, want ErrSignature", err)
		}
		before, after := entriesOf(t, signed), entriesOf(t, out.Bytes())
		for i := range before {
			if i != 1 && (before[i].Name != after[i].Name || !bytes.Equal(before[i].Data, after[i].Data)) {
				t.Errorf("entry %d (%s) changed", i, before[i].Name)
			}
		}
	})
	t.Run("refuses tampered members", func(t *testing.T) {
		es := entriesOf(t, unsigned)
		es[1].Data = bytes.Clone(es[1].Data)
		es[1].Data[0] ^= 0xff
		var out bytes.Buffer
		if _, err := Resign(bytes.NewReader(makeArchive(t, es)), &out, priv, Limits{}); !errors.Is(err, ErrHash) {
			t.Errorf("err = %v, want ErrHash", err)
		}
	})
	t.Run("file in place", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "package.tar.gz")
		writeFile(t, path, unsigned)
		if _, err := ResignFile(path, priv, Limits{}); err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, signed)
		if _, err := ResignFile(path, priv[:5], Limits{}); !errors.Is(err, ErrKey) {
			t.Errorf("short key: err = %v, want ErrKey", err)
		}
		if left := listTree(t, filepath.Dir(path)); len(left) != 1 {
			t.Errorf("files: %v", left)
		}
	})
}
