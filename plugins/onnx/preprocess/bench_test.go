package preprocess

import (
	"image"
	"testing"
)

// The benchmark photo is a typical dataset JPEG: 500x375, 4:2:0.

func BenchmarkDecode(b *testing.B) {
	data := readPhoto(b, photoBench)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTensor(b *testing.B) {
	img, err := Decode(readPhoto(b, photoBench))
	if err != nil {
		b.Fatal(err)
	}
	benchTensor(b, img, View{})
}

func BenchmarkTensorView(b *testing.B) {
	img, err := Decode(readPhoto(b, photoBench))
	if err != nil {
		b.Fatal(err)
	}
	benchTensor(b, img, View{Flip: true, Crop: Box{0, 0, 0.8, 0.8}, Brightness: 1.2, Contrast: 0.8, Saturation: 1.2})
}

// BenchmarkTensorLarge is a 2592x1944 camera photo: the filter is 10 pixels
// wide and most of the photo is read.
func BenchmarkTensorLarge(b *testing.B) {
	img, err := Decode(readPhoto(b, []string{"datasets", "hymenoptera", "val", "ants",
		"ants-devouring-remains-of-large-dead-insect-on-red-tile-in-Stellenbosch-South-Africa-closeup-1-DHD.jpg"}))
	if err != nil {
		b.Fatal(err)
	}
	benchTensor(b, img, View{})
}

func benchTensor(b *testing.B, img image.Image, v View) {
	s := ImageNet()
	dst := make([]float32, s.Len())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.TensorView(img, v, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTensor(b *testing.B) {
	data := readPhoto(b, photoBench)
	s := ImageNet()
	dst := make([]float32, s.Len())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.DecodeTensor(data, dst); err != nil {
			b.Fatal(err)
		}
	}
}
