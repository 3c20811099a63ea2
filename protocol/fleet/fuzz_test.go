package fleet

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
)

// FuzzDecode feeds every kind arbitrary payloads. Decode must never panic,
// and whatever it accepts must re-encode, decode again to an equal value,
// and encode to the same bytes (the encoding is canonical).
func FuzzDecode(f *testing.F) {
	kinds := Kinds()
	for _, tc := range wireCases {
		f.Add(uint8(slices.Index(kinds, tc.kind)), []byte(tc.json))
	}
	f.Add(uint8(0), []byte(`{"schema":1}`))
	for _, ts := range []string{"2026-11-25T10:30:00+01:00", "2026-11-25T10:30:00.123456789-00:00", "0000-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999999-23:59"} {
		f.Add(uint8(2), []byte(`{"schema":1,"id":"e","kind":"error","time":"`+ts+`"}`))
	}
	f.Add(uint8(5), []byte(`{"schema":1,"id":"c","transfer_id":"t","index":0,"total":1,"sha256":"`+sumHello+`","data":"aGVsbG8="}`))
	f.Fuzz(func(t *testing.T, k uint8, payload []byte) {
		kind := kinds[int(k)%len(kinds)]
		m, err := Decode(kind, payload)
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned a message and an error %v", err)
			}
			return
		}
		b1, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %s does not re-encode: %v\npayload %q", kind, err, payload)
		}
		m2, err := Decode(kind, b1)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v\n%s", kind, err, b1)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%s changed on a round trip:\n %#v\n %#v", kind, m, m2)
		}
		b2, err := Encode(m2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("%s encoding is not stable: %v\n%s\n%s", kind, err, b1, b2)
		}
	})
}
