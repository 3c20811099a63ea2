package modelpkg

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readCase is one archive Read must refuse.
type readCase struct {
	name    string
	archive func(t *testing.T) []byte
	keys    []ed25519.PublicKey
	limits  Limits
	want    error
	msg     string // a substring the error must contain
}

func readCases() []readCase {
	pub, priv := testKey()
	otherPub, _ := otherKey()
	signed := func(t *testing.T) []entry { return entriesOf(t, buildBytes(t, testBuilder(t, priv))) }
	unsigned := func(t *testing.T) []entry { return entriesOf(t, buildBytes(t, testBuilder(t, nil))) }
	// edit applies f to the entries of a package and re-archives them.
	edit := func(base func(*testing.T) []entry, f func([]entry) []entry) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return makeArchive(t, f(base(t))) }
	}
	without := func(name string) func([]entry) []entry {
		return func(es []entry) []entry {
			var out []entry
			for _, e := range es {
				if e.Name != name {
					out = append(out, e)
				}
			}
			return out
		}
	}
	appendEntry := func(extra ...entry) func([]entry) []entry {
		return func(es []entry) []entry { return append(es, extra...) }
	}
	// withManifest replaces manifest.json by the encoding of a changed one.
	withManifest := func(change func(*Manifest)) func(*testing.T) []byte {
		return func(t *testing.T) []byte {
			es := unsigned(t)
			var m Manifest
			mustUnmarshal(t, es[0].Data, &m)
			change(&m)
			es[0].Data = mustJSON(t, &m)
			return makeArchive(t, es)
		}
	}
	link := func(name string, flag byte, target string) entry {
		return entry{Name: name, Typeflag: flag, Linkname: target}
	}
	return []readCase{
		{name: "model byte changed", want: ErrHash, msg: "model.onnx has sha256", keys: []ed25519.PublicKey{pub},
			archive: edit(signed, func(es []entry) []entry {
				es[2].Data = bytes.Clone(es[2].Data)
				es[2].Data[5] ^= 1
				return es
			})},
		{name: "model size changed", want: ErrHash, msg: "model.onnx is",
			archive: edit(unsigned, func(es []entry) []entry { es[1].Data = append(es[1].Data, 0); return es })},
		{name: "missing member", want: ErrMissing, msg: "report.json", archive: edit(unsigned, without(ReportName))},
		{name: "missing golden", want: ErrMissing, msg: "golden/1.png", archive: edit(unsigned, without("golden/1.png"))},
		{name: "missing manifest", want: ErrMissing, msg: "first entry", archive: edit(unsigned, without(ManifestName))},
		{name: "empty archive", want: ErrMissing, msg: "empty", archive: edit(unsigned, func([]entry) []entry { return nil })},
		{name: "manifest not first", want: ErrMissing, msg: `found "model.onnx"`,
			archive: edit(unsigned, func(es []entry) []entry { es[0], es[1] = es[1], es[0]; return es })},
		{name: "extra unlisted file", want: ErrUnlisted, msg: `"notes.txt"`,
			archive: edit(unsigned, appendEntry(reg("notes.txt", []byte("hi"))))},
		{name: "unlisted golden", want: ErrUnlisted, msg: `"golden/7.jpg" is not listed`,
			archive: edit(unsigned, appendEntry(reg("golden/7.jpg", []byte("x"))))},
		{name: "signature out of place", want: ErrUnlisted, msg: "directly follow",
			archive: edit(signed, func(es []entry) []entry { return append([]entry{es[0]}, append(es[2:], es[1])...) })},
		{name: "traversal dotdot", want: ErrUnsafePath, msg: `"../evil"`,
			archive: edit(unsigned, appendEntry(reg("../evil", []byte("x"))))},
		{name: "traversal inside", want: ErrUnsafePath, msg: `golden/../../evil`,
			archive: edit(unsigned, appendEntry(reg("golden/../../evil", []byte("x"))))},
		{name: "absolute path", want: ErrUnsafePath, msg: "absolute",
			archive: edit(unsigned, appendEntry(reg("/tmp/evil", []byte("x"))))},
		{name: "dot prefix", want: ErrUnsafePath, msg: `"./model.onnx"`,
			archive: edit(unsigned, func(es []entry) []entry { es[1].Name = "./model.onnx"; return es })},
		{name: "backslash", want: ErrUnsafePath, msg: "backslash",
			archive: edit(unsigned, appendEntry(reg(`..\evil`, []byte("x"))))},
		{name: "drive letter", want: ErrUnsafePath, msg: "colon",
			archive: edit(unsigned, appendEntry(reg("C:evil", []byte("x"))))},
		{name: "double slash", want: ErrUnsafePath, msg: "empty path element",
			archive: edit(unsigned, appendEntry(reg("golden//0.jpg", []byte("x"))))},
		{name: "symlink", want: ErrUnsafePath, msg: "symbolic link",
			archive: edit(unsigned, appendEntry(link("golden/9.jpg", tar.TypeSymlink, "/etc/passwd")))},
		{name: "symlink replacing model", want: ErrUnsafePath, msg: `"model.onnx" is a symbolic link`,
			archive: edit(unsigned, func(es []entry) []entry {
				return append([]entry{es[0], link(ModelName, tar.TypeSymlink, "../../x")}, es[1:]...)
			})},
		{name: "hard link", want: ErrUnsafePath, msg: "hard link",
			archive: edit(unsigned, appendEntry(link("golden/9.jpg", tar.TypeLink, ModelName)))},
		{name: "directory", want: ErrUnsafePath, msg: "directory",
			archive: edit(unsigned, func(es []entry) []entry {
				return append([]entry{es[0], link("golden/", tar.TypeDir, "")}, es[1:]...)
			})},
		{name: "fifo", want: ErrUnsafePath, msg: "fifo",
			archive: edit(unsigned, appendEntry(link("golden/9.jpg", tar.TypeFifo, "")))},
		{name: "char device", want: ErrUnsafePath, msg: "character device",
			archive: edit(unsigned, appendEntry(link("golden/9.jpg", tar.TypeChar, "")))},
		{name: "duplicate member", want: ErrDuplicate, msg: `"model.onnx" appears twice`,
			archive: edit(unsigned, func(es []entry) []entry { return append(es, es[1]) })},
		{name: "duplicate manifest", want: ErrDuplicate, msg: `"manifest.json" appears twice`,
			archive: edit(unsigned, func(es []entry) []entry { return append(es, es[0]) })},
		{name: "duplicate signature", want: ErrDuplicate, msg: `"manifest.sig" appears twice`,
			archive: edit(signed, func(es []entry) []entry { return append(es, es[1]) })},
		{name: "oversize model", want: ErrTooLarge, msg: "Limits.MaxModelSize",
			limits: Limits{MaxModelSize: 10}, archive: edit(unsigned, func(es []entry) []entry { return es })},
		{name: "oversize golden", want: ErrTooLarge, msg: "golden/0.jpg at 20000 bytes",
			limits: Limits{MaxMetaSize: 10000}, archive: func(t *testing.T) []byte {
				b := testBuilder(t, nil)
				b.Golden = map[string][]byte{"golden/0.jpg": make([]byte, 20000), "golden/1.png": nil}
				return buildBytes(t, b)
			}},
		{name: "oversize manifest", want: ErrTooLarge, msg: "manifest.json",
			limits: Limits{MaxMetaSize: 100}, archive: edit(unsigned, func(es []entry) []entry { return es })},
		{name: "wrong key", want: ErrSignature, msg: KeyID(otherPub), keys: []ed25519.PublicKey{otherPub},
			archive: edit(signed, func(es []entry) []entry { return es })},
		{name: "flipped signature byte", want: ErrSignature, keys: []ed25519.PublicKey{pub},
			archive: edit(signed, func(es []entry) []entry {
				sig, _ := DecodeSignature(es[1].Data)
				sig[10] ^= 0x40
				es[1].Data = EncodeSignature(sig)
				return es
			})},
		{name: "flipped manifest byte", want: ErrSignature, keys: []ed25519.PublicKey{pub},
			archive: edit(signed, func(es []entry) []entry {
				es[0].Data = bytes.Replace(es[0].Data, []byte(`"version": 3`), []byte(`"version": 4`), 1)
				return es
			})},
		{name: "unsigned with key", want: ErrSignature, msg: "unsigned", keys: []ed25519.PublicKey{pub},
			archive: edit(unsigned, func(es []entry) []entry { return es })},
		{name: "signature not base64", want: ErrSignature, msg: "base64",
			archive: edit(signed, func(es []entry) []entry { es[1].Data = []byte("not*base64!"); return es })},
		{name: "unknown schema", want: ErrSchema, msg: "schema is 2, supported: 1",
			archive: withManifest(func(m *Manifest) { m.Schema = 2 })},
		{name: "unknown schema signed", want: ErrSchema, msg: "schema is 2", keys: []ed25519.PublicKey{pub},
			archive: func(t *testing.T) []byte {
				es := unsigned(t)
				var m Manifest
				mustUnmarshal(t, es[0].Data, &m)
				m.Schema = 2
				es[0].Data = mustJSON(t, &m)
				sig := entry{Name: SignatureName, Data: EncodeSignature(Sign(priv, es[0].Data)), Size: -1}
				return makeArchive(t, append([]entry{es[0], sig}, es[1:]...))
			}},
		{name: "forged manifest checked before parsing", want: ErrSignature, keys: []ed25519.PublicKey{pub},
			archive: edit(signed, func(es []entry) []entry { es[0].Data = []byte(`{"schema": 99}`); return es })},
		{name: "invalid manifest", want: ErrInvalid, msg: "labels: 1 given",
			archive: withManifest(func(m *Manifest) { m.Labels = m.Labels[:1] })},
		{name: "truncated gzip", want: ErrCorrupt, archive: func(t *testing.T) []byte {
			p := buildBytes(t, testBuilder(t, nil))
			return p[:len(p)/2]
		}},
		{name: "truncated gzip trailer", want: ErrCorrupt, archive: func(t *testing.T) []byte {
			p := buildBytes(t, testBuilder(t, nil))
			return p[:len(p)-3]
		}},
		{name: "trailing garbage", want: ErrCorrupt, archive: func(t *testing.T) []byte {
			return append(buildBytes(t, testBuilder(t, nil)), "garbage"...)
		}},
		{name: "data after tar end", want: ErrCorrupt, msg: "after the end", archive: func(t *testing.T) []byte {
			return gzipBytes(t, append(makeTar(t, unsigned(t)), "hidden"...))
		}},
		{name: "not gzip", want: ErrCorrupt, msg: "not a gzip", archive: func(t *testing.T) []byte {
			return makeTar(t, unsigned(t))
		}},
		{name: "empty input", want: ErrCorrupt, archive: func(*testing.T) []byte { return nil }},
	}
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range readCases() {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "pkg")
			_, err := Read(bytes.NewReader(tc.archive(t)), ReadOptions{TrustedKeys: tc.keys, Dir: dest, Limits: tc.limits})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to mention %q", err, tc.msg)
			}
			if left := listTree(t, parent); len(left) != 0 {
				t.Errorf("left behind after error: %v", left)
			}
		})
	}
}

func TestReadRoundTrip(t *testing.T) {
	pub, priv := testKey()
	otherPub, _ := otherKey()
	b := testBuilder(t, priv)
	dataPath := filepath.Join(t.TempDir(), "weights")
	writeFile(t, dataPath, fakeData)
	b.ModelDataPath = dataPath
	var buf bytes.Buffer
	built, err := b.Build(&buf)
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "v3")
	pkg, err := Read(bytes.NewReader(buf.Bytes()), ReadOptions{TrustedKeys: []ed25519.PublicKey{otherPub, pub}, Dir: dest})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pkg.Manifest, built) {
		t.Errorf("manifest read back differs:\n got %+v\nwant %+v", pkg.Manifest, built)
	}
	if !pkg.Signed || pkg.KeyID != KeyID(pub) || pkg.Dir != dest {
		t.Errorf("Signed=%v KeyID=%s Dir=%s, want true %s %s", pkg.Signed, pkg.KeyID, pkg.Dir, KeyID(pub), dest)
	}
	wantMembers := []string{ModelName, ModelDataName, ReportName, "golden/0.jpg", "golden/1.png"}
	var names []string
	for _, m := range pkg.Manifest.Members {
		names = append(names, m.Name)
	}
	if !reflect.DeepEqual(names, wantMembers) {
		t.Errorf("members %v, want %v", names, wantMembers)
	}
	if got := listTree(t, dest); !reflect.DeepEqual(got, []string{"golden", "golden/0.jpg", "golden/1.png", ModelName, ModelDataName, ReportName}) {
		t.Errorf("extracted %v", got)
	}
	checkFile(t, pkg.ModelPath(), fakeModel)
	checkFile(t, pkg.Path(ModelDataName), fakeData)
	if got, err := pkg.Report(); err != nil || !bytes.Equal(got, fakeReport) {
		t.Errorf("Report() = %q, %v", got, err)
	}
	for _, g := range pkg.Manifest.Golden {
		if got, err := pkg.Golden(g.File); err != nil || !bytes.Equal(got, fakeGolden[g.File]) {
			t.Errorf("Golden(%s) = %q, %v", g.File, got, err)
		}
	}
	if _, err := Read(bytes.NewReader(buf.Bytes()), ReadOptions{Dir: dest}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("reading into an existing dir: err = %v, want fs.ErrExist", err)
	}
	if err := pkg.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestReadUnsignedWithoutKey(t *testing.T) {
	_, priv := testKey()
	for _, key := range []ed25519.PrivateKey{nil, priv} {
		pkg, err := Read(bytes.NewReader(buildBytes(t, testBuilder(t, key))), ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pkg.Signed || pkg.KeyID != "" || pkg.Dir != "" || pkg.ModelPath() != "" {
			t.Errorf("read without key: Signed=%v KeyID=%q Dir=%q", pkg.Signed, pkg.KeyID, pkg.Dir)
		}
		if (pkg.Signature != nil) != (key != nil) {
			t.Errorf("Signature = %x for key %v", pkg.Signature, key != nil)
		}
		if _, err := pkg.Report(); !errors.Is(err, ErrMissing) {
			t.Errorf("Report() without Dir: err = %v, want ErrMissing", err)
		}
	}
}

func TestVerifyFile(t *testing.T) {
	pub, priv := testKey()
	path := filepath.Join(t.TempDir(), "package.tar.gz")
	if _, err := testBuilder(t, priv).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	pkg, err := VerifyFile(path, pub)
	if err != nil || !pkg.Signed {
		t.Fatalf("VerifyFile = %v, %v", pkg, err)
	}
	if _, err := VerifyFile(path); !errors.Is(err, ErrSignature) {
		t.Errorf("VerifyFile without key: err = %v, want ErrSignature", err)
	}
	if _, err := Read(bytes.NewReader(nil), ReadOptions{TrustedKeys: []ed25519.PublicKey{pub[:5]}}); !errors.Is(err, ErrKey) {
		t.Errorf("short trusted key: err = %v, want ErrKey", err)
	}
}
