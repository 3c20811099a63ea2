package state

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autocv/autocv/protocol/fleet"
	"github.com/autocv/autocv/protocol/modelpkg"
)

func TestState(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Identity(); !errors.Is(err, ErrNotEnrolled) || !strings.Contains(err.Error(), "autocv-agent enroll") {
		t.Errorf("Identity before enrolment: %v", err)
	}
	if dep, err := d.Deployment(); err != nil || dep.Current != nil {
		t.Errorf("Deployment before any: %+v, %v", dep, err)
	}

	pub, _, _ := modelpkg.GenerateKey()
	pem, _ := modelpkg.MarshalPublicKey(pub)
	resp := &fleet.EnrollResponse{DeviceID: "dev-1", SigningPublicKey: string(pem), ServerURL: "http://cp:8080",
		MQTT: fleet.MQTTCredentials{URL: "tcp://cp:1883", Username: "dev-1", Password: "pw"}}
	bad := *resp
	bad.SigningPublicKey = strings.Replace(string(pem), "A", "B", 3) // still PEM, not a key
	if err := d.SaveEnrollment(&bad, time.Now()); err == nil || d.Enrolled() {
		t.Fatalf("an enrolment with a broken key was stored: %v", err)
	}
	if err := d.SaveEnrollment(resp, time.Now()); err != nil {
		t.Fatal(err)
	}
	id, err := d.Identity()
	if err != nil || id.DeviceID != "dev-1" || id.MQTT.URL != "tcp://cp:1883" {
		t.Errorf("Identity = %+v, %v", id, err)
	}
	if key, _, err := d.TrustKey(); err != nil || !key.Equal(pub) {
		t.Errorf("TrustKey: %v", err)
	}

	want := Deployment{
		Current:          &fleet.ModelRef{ID: "m", Version: 2, SHA256: strings.Repeat("b", 64)},
		Previous:         &fleet.ModelRef{ID: "m", Version: 1, SHA256: strings.Repeat("a", 64)},
		AppliedDesiredID: "d2", HandledDesiredID: "d3", LastError: "refused",
	}
	if err := d.SaveDeployment(want); err != nil {
		t.Fatal(err)
	}
	got, err := d.Deployment()
	if err != nil || *got.Current != *want.Current || *got.Previous != *want.Previous || got.HandledDesiredID != "d3" || got.LastError != "refused" {
		t.Errorf("Deployment = %+v, %v", got, err)
	}
}
