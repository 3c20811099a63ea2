package fleet

import (
	"errors"
	"strings"
	"testing"
)

func TestTopicRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		device string
		kind   Kind
		topic  string
	}{
		{"dev-1", KindDesired, "autocv/v1/devices/dev-1/desired"},
		{"dev-1", KindReported, "autocv/v1/devices/dev-1/reported"},
		{"A.b_c-9", KindEvents, "autocv/v1/devices/A.b_c-9/events"},
		{"0", KindTelemetry, "autocv/v1/devices/0/telemetry"},
		{"dev-1", KindTransferRequest, "autocv/v1/devices/dev-1/transfer/request"},
		{"dev-1", KindTransferChunks, "autocv/v1/devices/dev-1/transfer/chunks"},
		{strings.Repeat("x", MaxDeviceIDLen), KindDesired, "autocv/v1/devices/" + strings.Repeat("x", MaxDeviceIDLen) + "/desired"},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			got, err := Topic(tc.device, tc.kind)
			if err != nil || got != tc.topic {
				t.Fatalf("Topic(%q, %q) = %q, %v; want %q", tc.device, tc.kind, got, err, tc.topic)
			}
			id, kind, err := ParseTopic(tc.topic)
			if err != nil || id != tc.device || kind != tc.kind {
				t.Fatalf("ParseTopic(%q) = %q, %q, %v", tc.topic, id, kind, err)
			}
		})
	}
}

func TestParseTopicRejects(t *testing.T) {
	for _, topic := range []string{
		"",
		"autocv/v1/devices/",
		"autocv/v1/devices/dev-1",
		"autocv/v1/devices/dev-1/",
		"autocv/v2/devices/dev-1/reported",
		"/autocv/v1/devices/dev-1/reported",
		"autocv/v1/devices/+/reported",
		"autocv/v1/devices/#",
		"autocv/v1/devices/dev-1/#",
		"autocv/v1/devices/dev-1/reported/x",
		"autocv/v1/devices/dev-1/transfer",
		"autocv/v1/devices/dev-1/Reported",
		"autocv/v1/devices//reported",
		"autocv/v1/devices/$SYS/reported",
		"autocv/v1/devices/-dev/reported",
		"autocv/v1/devices/dev 1/reported",
		"autocv/v1/devices/設備/reported",
		"autocv/v1/devices/" + strings.Repeat("x", MaxDeviceIDLen+1) + "/reported",
		"$share/g/autocv/v1/devices/dev-1/reported",
	} {
		t.Run(topic, func(t *testing.T) {
			id, kind, err := ParseTopic(topic)
			if !errors.Is(err, ErrTopic) {
				t.Fatalf("ParseTopic(%q) = %q, %q, %v; want ErrTopic", topic, id, kind, err)
			}
		})
	}
	for _, id := range []string{"", "a/b", "a+b", "a#", ".hidden", "a b", strings.Repeat("x", MaxDeviceIDLen+1)} {
		if _, err := Topic(id, KindReported); !errors.Is(err, ErrTopic) {
			t.Errorf("Topic(%q) error = %v, want ErrTopic", id, err)
		}
	}
	if _, err := Topic("dev", "commands"); !errors.Is(err, ErrTopic) {
		t.Errorf("Topic with unknown kind: %v", err)
	}
}

func TestSubscriptions(t *testing.T) {
	got, err := Subscription(KindReported)
	if err != nil || got != "autocv/v1/devices/+/reported" {
		t.Errorf("Subscription = %q, %v", got, err)
	}
	got, err = SharedSubscription(SharedGroup, KindTransferRequest)
	if err != nil || got != "$share/autocv-controlplane/autocv/v1/devices/+/transfer/request" {
		t.Errorf("SharedSubscription = %q, %v", got, err)
	}
	for _, g := range []string{"", "a/b", "a+", "#"} {
		if _, err := SharedSubscription(g, KindTransferRequest); !errors.Is(err, ErrTopic) {
			t.Errorf("SharedSubscription(%q) error = %v", g, err)
		}
	}
	got, err = DeviceFilter("dev-1")
	if err != nil || got != "autocv/v1/devices/dev-1/#" {
		t.Errorf("DeviceFilter = %q, %v", got, err)
	}
	if _, err := Subscription("nope"); !errors.Is(err, ErrTopic) {
		t.Errorf("Subscription(nope) error = %v", err)
	}
}

func TestAllowed(t *testing.T) {
	for _, kind := range Kinds() {
		own, _ := Topic("dev-1", kind)
		other, _ := Topic("dev-2", kind)
		agentPublishes := kind != KindDesired && kind != KindTransferChunks
		if got := Allowed("dev-1", own, true); got != agentPublishes {
			t.Errorf("publish %s = %v", own, got)
		}
		if got := Allowed("dev-1", own, false); got == agentPublishes {
			t.Errorf("subscribe %s = %v", own, got)
		}
		if Allowed("dev-1", other, true) || Allowed("dev-1", other, false) {
			t.Errorf("dev-1 may touch %s", other)
		}
	}
	for _, filter := range []string{"autocv/v1/devices/+/desired", "autocv/v1/devices/dev-1/#", "#"} {
		if Allowed("dev-1", filter, false) {
			t.Errorf("dev-1 may subscribe to %s", filter)
		}
	}
	if !KindDesired.Retained() || !KindReported.Retained() || KindEvents.Retained() {
		t.Error("Retained is wrong")
	}
}
