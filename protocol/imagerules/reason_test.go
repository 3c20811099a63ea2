package imagerules

import (
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
	for _, tc := range []struct{ b, want string }{
		{"\xff\xd8\xff\xe0", "jpeg"},
		{"\x89PNG\r\n\x1a\n", "png"},
		{"BM\x00", "bmp"},
		{"GIF89a", "gif"},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"},
		{"XXXX\x00\x00\x00\x00WEBP", ""},
		{"II*\x00", "tiff"},
		{"\x00\x00\x00\x18ftypheic", "heif"},
		{"\xff\xd8", ""},
		{"", ""},
	} {
		if got := Sniff([]byte(tc.b)); got != tc.want {
			t.Errorf("Sniff(%q) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
