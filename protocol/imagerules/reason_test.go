package imagerules

import (
	"slices"
	"strings"
	"testing"
)

func TestMessages(t *testing.T) {
	for _, r := range Reasons() {
		en, zh := r.Message(LangEN), r.Message(LangZH)
		if en == "" || zh == "" || en == zh || en == string(r) {
			t.Errorf("%s: messages %q / %q", r, en, zh)
		}
		for _, lang := range []string{"zh", "ZH-cn", "zh-Hans", "zh_TW"} {
			if got := r.Message(lang); got != zh {
				t.Errorf("%s.Message(%q) = %q, want Chinese", r, lang, got)
			}
		}
		if got := r.Message("fr"); got != en {
			t.Errorf("%s.Message(fr) = %q, want English", r, got)
		}
	}
	if got := Reason("nope").Message(LangEN); got != "nope" {
		t.Errorf("unknown reason message %q", got)
	}
	for _, tc := range []struct {
		res      Result
		en, zh   string
		contains bool
	}{
		{Result{Reason: BadAspectRatio, Width: 500, Height: 146}, "(500×146)", "（500×146）", true},
		{Result{Reason: TooLarge, Size: 5 << 20}, "(5.0 MB)", "（5.0 MB）", true},
		{Result{Reason: UnsupportedFormat, Format: "gif"}, "(gif)", "（gif）", true},
		{Result{Reason: OK, Format: "png", Width: 64, Height: 48}, "image accepted", "图片符合要求", false},
	} {
		en, zh := tc.res.Message(LangEN), tc.res.Message(LangZH)
		if !strings.HasSuffix(en, tc.en) || !strings.HasSuffix(zh, tc.zh) {
			t.Errorf("%+v: messages %q / %q", tc.res, en, zh)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name             string
		image, supported bool
	}{
		{"ants/a.jpg", true, true},
		{`ants\B.JPEG`, true, true},
		{"x.Png", true, true},
		{"x.bmp", true, true},
		{"x.gif", true, false},
		{"x.webp", true, false},
		{"x.HEIC", true, false},
		{"notes.txt", false, false},
		{"Thumbs.db", false, false},
		{".DS_Store", false, false},
		{"jpg", false, false},
		{"dir.jpg/readme", false, false},
	} {
		if got := IsImageName(tc.name); got != tc.image {
			t.Errorf("IsImageName(%q) = %v", tc.name, got)
		}
		if got := HasSupportedExtension(tc.name); got != tc.supported {
			t.Errorf("HasSupportedExtension(%q) = %v", tc.name, got)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range SniffCases() {
		t.Run(tc.Name, func(t *testing.T) {
			if got := Sniff(tc.Data); got != tc.Format {
				t.Errorf("Sniff(%q) = %q, want %q", tc.Data, got, tc.Format)
			}
			// Check agrees: an unsupported format is refused as such
			// without decoding; a supported one goes to its decoder, which
			// refuses these first bytes (Corrupt, or UnsupportedFormat for
			// a variant it lacks, e.g. the BMP core header) with an Err.
			res := CheckBytes(tc.Data)
			decoded := res.Err != nil && (res.Reason == Corrupt || res.Reason == UnsupportedFormat)
			if res.Format != tc.Format || Supported(tc.Format) != decoded || (!decoded && res.Reason != UnsupportedFormat) {
				t.Errorf("CheckBytes = %s %q (%v), want the format %q", res.Reason, res.Format, res.Err, tc.Format)
			}
		})
	}
}

func TestSupportedAndLabel(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range SniffCases() {
		seen[tc.Format] = true
	}
	for f := range seen {
		if got := Supported(f); got != slices.Contains(Formats(), f) {
			t.Errorf("Supported(%q) = %v", f, got)
		}
		if f != "" && Label(f) == f {
			t.Errorf("format %q has no label", f)
		}
	}
	if len(seen) < 15 {
		t.Errorf("the table covers only %d formats", len(seen))
	}
	if Label("") != "" || Label("jpeg") != "JPEG" || Label("heif") != "HEIC/HEIF" {
		t.Errorf("labels: %q %q %q", Label(""), Label("jpeg"), Label("heif"))
	}
}
