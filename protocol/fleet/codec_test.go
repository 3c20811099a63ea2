package fleet

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	for _, tc := range wireCases {
		if tc.decodeOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.msg.MessageKind(); got != tc.kind {
				t.Fatalf("MessageKind() = %q, want %q", got, tc.kind)
			}
			b, err := Encode(tc.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(b) != tc.json {
				t.Errorf("Encode:\n got %s\nwant %s", b, tc.json)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.kind, []byte(tc.json))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(m, tc.msg) {
				t.Errorf("Decode:\n got %#v\nwant %#v", m, tc.msg)
			}
			typed, err := decodeTyped(tc.kind, []byte(tc.json))
			if err != nil {
				t.Fatalf("typed decode: %v", err)
			}
			if !reflect.DeepEqual(typed, tc.msg) {
				t.Errorf("typed decode:\n got %#v\nwant %#v", typed, tc.msg)
			}
		})
	}
}

// decodeTyped calls the DecodeXxx function of the kind.
func decodeTyped(kind Kind, b []byte) (Message, error) {
	switch kind {
	case KindDesired:
		return DecodeDesired(b)
	case KindReported:
		return DecodeReported(b)
	case KindEvents:
		return DecodeEvent(b)
	case KindTelemetry:
		return DecodeTelemetry(b)
	case KindTransferRequest:
		return DecodeTransferRequest(b)
	case KindTransferChunks:
		return DecodeTransferChunk(b)
	}
	panic("unknown kind " + kind)
}

func TestEncodeSetsSchema(t *testing.T) {
	m := &TransferRequest{Header: Header{ID: "q"}, TransferID: "t", Window: 1}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if m.Schema != SchemaVersion || !bytes.HasPrefix(b, []byte(`{"schema":1,`)) {
		t.Errorf("schema not set: %s", b)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	_, err := Encode(&TransferRequest{Header: Header{ID: "q"}, TransferID: "t", Window: 65})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "window") {
		t.Errorf("got %v, want ErrInvalid naming window", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		json string
		want error
		text string // in the error message
	}{
		{"no schema", KindDesired, `{"id":"d"}`, ErrSchema, "no schema field"},
		{"null schema", KindDesired, `{"schema":null,"id":"d"}`, ErrSchema, "no schema field"},
		{"schema 0", KindReported, `{"schema":0,"id":"r"}`, ErrSchema, "schema 0 (supported: [1])"},
		{"schema 2", KindEvents, `{"schema":2,"id":"e","kind":"ack","ref":"d"}`, ErrSchema, "schema 2 (supported: [1])"},
		{"schema string", KindTelemetry, `{"schema":"1","id":"t"}`, ErrSchema, `schema "1", not an integer`},
		{"schema float", KindTelemetry, `{"schema":1.5,"id":"t"}`, ErrSchema, "not an integer"},
		{"not json", KindDesired, `schema=1`, ErrInvalid, "not a JSON object"},
		{"array", KindDesired, `[{"schema":1}]`, ErrInvalid, "not a JSON object"},
		{"wrong type", KindTransferRequest, `{"schema":1,"id":"q","transfer_id":"t","window":"8"}`, ErrInvalid, "window"},
		{"no id", KindTransferRequest, `{"schema":1,"transfer_id":"t","window":8}`, ErrInvalid, "id is empty"},
		{"bad id", KindEvents, `{"schema":1,"id":"a/b","kind":"error"}`, ErrInvalid, "id has '/'"},
		{"short sha256", KindDesired, `{"schema":1,"id":"d","model":{"id":"m","version":1,"sha256":"abc","size":1,"transfer_id":"t"}}`, ErrInvalid, "model.sha256"},
		{"upper sha256", KindDesired, `{"schema":1,"id":"d","model":{"id":"m","version":1,"sha256":"` + strings.ToUpper(sumPkg) + `","size":1,"transfer_id":"t"}}`, ErrInvalid, "lowercase hex"},
		{"negative size", KindDesired, `{"schema":1,"id":"d","agent":{"version":"1.0","sha256":"` + sumPkg + `","size":-1,"url":"https://x/a"}}`, ErrInvalid, "agent.size"},
		{"no source", KindDesired, `{"schema":1,"id":"d","model":{"id":"m","version":1,"sha256":"` + sumPkg + `","size":1}}`, ErrInvalid, "transfer_id or a url"},
		{"agent signature not base64", KindDesired, `{"schema":1,"id":"d","agent":{"version":"1","sha256":"` + sumAgent + `","size":1,"transfer_id":"t","signature":"!!"}}`, ErrInvalid, "agent.signature"},
		{"agent signature short", KindDesired, `{"schema":1,"id":"d","agent":{"version":"1","sha256":"` + sumAgent + `","size":1,"transfer_id":"t","signature":"AAEC"}}`, ErrInvalid, "agent.signature is 3 bytes"},
		{"bad url", KindDesired, `{"schema":1,"id":"d","model":{"id":"m","version":1,"sha256":"` + sumPkg + `","size":1,"url":"file:///etc/passwd"}}`, ErrInvalid, "model.url"},
		{"model version 0", KindDesired, `{"schema":1,"id":"d","model":{"id":"m","version":0,"sha256":"` + sumPkg + `","size":1,"transfer_id":"t"}}`, ErrInvalid, "model.version"},
		{"agent version spaces", KindDesired, `{"schema":1,"id":"d","agent":{"version":"1.0 beta","sha256":"` + sumPkg + `","size":1,"transfer_id":"t"}}`, ErrInvalid, "agent.version"},
		{"unknown state", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","os":"linux","arch":"amd64","state":"dancing"}`, ErrInvalid, `unknown state "dancing"`},
		{"no protocol", KindReported, `{"schema":1,"id":"r","agent_version":"1","os":"linux","arch":"amd64","state":"idle"}`, ErrInvalid, "protocol"},
		{"no os", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","arch":"amd64","state":"idle"}`, ErrInvalid, "reported: os"},
		{"bad plugin name", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","os":"linux","arch":"amd64","state":"idle","plugins":["onnx cpu"]}`, ErrInvalid, "reported: plugins entry 0 has ' '"},
		{"provider twice", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","os":"linux","arch":"amd64","state":"idle","execution_providers":["cpu","cpu"]}`, ErrInvalid, `execution_providers lists "cpu" twice`},
		{"negative cpus", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","os":"linux","arch":"amd64","state":"idle","cpus":-1}`, ErrInvalid, "reported: cpus"},
		{"gpu not a bool", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","os":"linux","arch":"amd64","state":"idle","gpu":"yes"}`, ErrInvalid, "gpu"},
		{"bad previous model", KindReported, `{"schema":1,"id":"r","protocol":1,"agent_version":"1","os":"linux","arch":"amd64","state":"idle","previous_model":{"id":"m","version":1,"sha256":""}}`, ErrInvalid, "previous_model.sha256"},
		{"unknown event kind", KindEvents, `{"schema":1,"id":"e","kind":"exploded"}`, ErrInvalid, "event kind"},
		{"ack without ref", KindEvents, `{"schema":1,"id":"e","kind":"ack"}`, ErrInvalid, "ref is required"},
		{"percent over 100", KindEvents, `{"schema":1,"id":"e","kind":"progress","ref":"d","percent":100.5}`, ErrInvalid, "percent"},
		{"negative requests", KindTelemetry, `{"schema":1,"id":"t","requests":-1}`, ErrInvalid, "requests"},
		{"time before 1970", KindTelemetry, `{"schema":1,"id":"t","time":"1969-12-31T23:59:59Z"}`, ErrInvalid, "telemetry: time 1969"},
		{"cpu over 1", KindTelemetry, `{"schema":1,"id":"t","cpu":1.5}`, ErrInvalid, "cpu"},
		{"window 0", KindTransferRequest, `{"schema":1,"id":"q","transfer_id":"t","window":0}`, ErrInvalid, "window"},
		{"window 65", KindTransferRequest, `{"schema":1,"id":"q","transfer_id":"t","window":65}`, ErrInvalid, "window"},
		{"negative from", KindTransferRequest, `{"schema":1,"id":"q","transfer_id":"t","from_chunk":-1,"window":1}`, ErrInvalid, "from_chunk"},
		{"index = total", KindTransferChunks, `{"schema":1,"id":"c","transfer_id":"t","index":2,"total":2,"sha256":"` + sumHello + `","data":"aGVsbG8="}`, ErrInvalid, "index"},
		{"chunk sha mismatch", KindTransferChunks, `{"schema":1,"id":"c","transfer_id":"t","index":0,"total":1,"sha256":"` + sumPkg + `","data":"aGVsbG8="}`, ErrInvalid, "data sha256 is " + sumHello},
		{"chunk no data", KindTransferChunks, `{"schema":1,"id":"c","transfer_id":"t","index":0,"total":1,"sha256":"` + sumHello + `"}`, ErrInvalid, "data"},
		{"chunk bad base64", KindTransferChunks, `{"schema":1,"id":"c","transfer_id":"t","index":0,"total":1,"sha256":"` + sumHello + `","data":"!!"}`, ErrInvalid, "base64"},
		{"too large", KindEvents, `{"schema":1,"id":"e","kind":"error","message":"` + strings.Repeat("x", MaxPayload) + `"}`, ErrTooLarge, "at most 65536"},
		{"unknown kind", Kind("commands"), `{"schema":1,"id":"x"}`, ErrTopic, "commands"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.kind, []byte(tc.json))
			if err == nil {
				t.Fatalf("decoded %#v, want an error", m)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q is not %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
		})
	}
}

func TestChunks(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want int
	}{{0, 0}, {1, 1}, {DefaultChunkSize, 1}, {DefaultChunkSize + 1, 2}, {5 << 30, 20480}} {
		if got := ChunkCount(tc.size, DefaultChunkSize); got != tc.want {
			t.Errorf("ChunkCount(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
	// A full-size chunk fits its payload limit, and so does the largest.
	for _, n := range []int{DefaultChunkSize, MaxChunkSize} {
		c := NewChunk(strings.Repeat("t", MaxNameLen), 1<<20, 1<<20+1, bytes.Repeat([]byte{0xff}, n))
		b, err := Encode(c)
		if err != nil {
			t.Fatalf("chunk of %d bytes: %v", n, err)
		}
		back, err := DecodeTransferChunk(b)
		if err != nil || !bytes.Equal(back.Data, c.Data) {
			t.Fatalf("chunk of %d bytes does not round-trip: %v", n, err)
		}
	}
	if _, err := Encode(NewChunk("t", 0, 1, make([]byte, MaxChunkSize+1))); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized chunk: got %v, want ErrInvalid", err)
	}
}
