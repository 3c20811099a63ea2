package imagerules

// SniffCase is one entry of the shared table of magic-byte cases: the first
// bytes of a file and the format Sniff names them.
type SniffCase struct {
	Name   string
	Data   []byte
	Format string // what Sniff returns
}

// SniffCases is the one table of magic-byte cases. This package's tests
// check Sniff against it; the packages that act on Sniff's answer
// (plugins/onnx/preprocess, the agent's HTTP API) run the same table
// through their own refusals, so they cannot drift apart. Only the first
// bytes are real: a case named a supported format is not a decodable
// image. Each call returns a fresh copy.
func SniffCases() []SniffCase {
	bmp := func(infoSize byte) []byte {
		b := []byte("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00")
		return append(b, infoSize, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 1, 0, 24, 0)
	}
	ftyp := func(major string, compatible ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compatible))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compatible {
			b = append(b, c...)
		}
		return b
	}
	return []SniffCase{
		{"jpeg jfif", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), FormatJPEG},
		{"jpeg exif", []byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00"), FormatJPEG},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), FormatPNG},
		{"bmp v3", bmp(40), FormatBMP},
		{"bmp core", bmp(12), FormatBMP},
		{"bmp v5", bmp(124), FormatBMP},
		{"bmp unknown header size", bmp(99), ""},
		{"bmp too short", []byte("BM\x00\x00"), ""},
		{"text starting BM", []byte("BMW 320i, 2019, blue, 45000 km"), ""},
		{"gif87a", []byte("GIF87a\x01\x00\x01\x00"), FormatGIF},
		{"gif89a", []byte("GIF89a\x01\x00\x01\x00"), FormatGIF},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), FormatWebP},
		{"riff wave", []byte("RIFF\x10\x00\x00\x00WAVEfmt "), ""},
		{"webp without riff", []byte("XXXX\x00\x00\x00\x00WEBPVP8 "), ""},
		{"tiff little-endian", []byte("II*\x00\x08\x00\x00\x00"), FormatTIFF},
		{"tiff big-endian", []byte("MM\x00*\x00\x00\x00\x08"), FormatTIFF},
		{"ico", []byte("\x00\x00\x01\x00\x01\x00\x10\x10"), FormatICO},
		{"heic", ftyp("heic", "mif1", "heic"), FormatHEIF},
		{"heix", ftyp("heix"), FormatHEIF},
		{"hevc sequence", ftyp("hevc"), FormatHEIF},
		{"heif mif1", ftyp("mif1", "mif1", "heic"), FormatHEIF},
		{"avif", ftyp("avif", "mif1", "miaf"), FormatAVIF},
		{"avif sequence", ftyp("avis"), FormatAVIF},
		{"avif with major brand mif1", ftyp("mif1", "mif1", "avif", "miaf"), FormatAVIF},
		{"mp4 video", ftyp("isom", "isom", "mp41"), ""},
		{"jpeg 2000 jp2", []byte("\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00"), FormatJPEG2000},
		{"jpeg 2000 codestream", []byte("\xff\x4f\xff\x51\x00\x2f"), FormatJPEG2000},
		{"jpeg xl codestream", []byte("\xff\x0a\xfa\x7f"), FormatJPEGXL},
		{"jpeg xl container", []byte("\x00\x00\x00\x0cJXL \r\n\x87\n"), FormatJPEGXL},
		{"psd", []byte("8BPS\x00\x01\x00\x00"), FormatPSD},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3"), FormatPDF},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg">`), FormatSVG},
		{"svg with xml prolog", []byte("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\">"), FormatSVG},
		{"xml that is not svg", []byte("<?xml version=\"1.0\"?>\n<note>hello</note>"), ""},
		{"zip", []byte("PK\x03\x04\x14\x00"), ""},
		{"jpeg without its third byte", []byte("\xff\xd8"), ""},
		{"text", []byte("hello, this is not a photo"), ""},
		{"empty", nil, ""},
	}
}
