package fleet

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const testPEM = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"

func goodEnrollRequest() EnrollRequest {
	return EnrollRequest{Token: "tok-123", Name: "产线 3 工控机", OS: "windows", Arch: "amd64", AgentVersion: "1.2.0"}
}

func goodEnrollResponse() EnrollResponse {
	return EnrollResponse{
		DeviceID:         "dev-1",
		MQTT:             MQTTCredentials{URL: "tcp://127.0.0.1:1883", Username: "dev-1", Password: "s3cret!"},
		SigningPublicKey: testPEM,
		ServerURL:        "https://cp.example",
	}
}

func TestEnrollRequestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(r *EnrollRequest)
		field string // "" = valid
	}{
		{"valid", func(*EnrollRequest) {}, ""},
		{"no token", func(r *EnrollRequest) { r.Token = "" }, "token is empty"},
		{"token with space", func(r *EnrollRequest) { r.Token = "a b" }, "token has a space"},
		{"long token", func(r *EnrollRequest) { r.Token = strings.Repeat("t", MaxTokenLen+1) }, "token is 513"},
		{"no name", func(r *EnrollRequest) { r.Name = "" }, "name is empty"},
		{"name padded", func(r *EnrollRequest) { r.Name = " pc" }, "name starts or ends"},
		{"name control", func(r *EnrollRequest) { r.Name = "pc\n2" }, "name has a control"},
		{"name bad utf8", func(r *EnrollRequest) { r.Name = "pc\xff" }, "UTF-8"},
		{"bad os", func(r *EnrollRequest) { r.OS = "win dows" }, "os has"},
		{"no arch", func(r *EnrollRequest) { r.Arch = "" }, "arch is empty"},
		{"bad version", func(r *EnrollRequest) { r.AgentVersion = "1.0 beta" }, "agent_version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodEnrollRequest()
			tc.edit(&r)
			checkValidate(t, r.Validate(), tc.field)
		})
	}
}

func TestEnrollResponseValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(r *EnrollResponse)
		field string
	}{
		{"valid", func(*EnrollResponse) {}, ""},
		{"mqtts", func(r *EnrollResponse) { r.MQTT.URL = "mqtts://broker.example:8883" }, ""},
		{"bad device id", func(r *EnrollResponse) { r.DeviceID = "dev/1" }, "device_id"},
		{"http broker", func(r *EnrollResponse) { r.MQTT.URL = "http://broker:1883" }, "mqtt.url"},
		{"broker without host", func(r *EnrollResponse) { r.MQTT.URL = "tcp://" }, "mqtt.url"},
		{"no username", func(r *EnrollResponse) { r.MQTT.Username = "" }, "mqtt.username is empty"},
		{"no password", func(r *EnrollResponse) { r.MQTT.Password = "" }, "mqtt.password is empty"},
		{"no key", func(r *EnrollResponse) { r.SigningPublicKey = "" }, "signing_public_key"},
		{"private key", func(r *EnrollResponse) {
			r.SigningPublicKey = strings.ReplaceAll(testPEM, "PUBLIC", "PRIVATE")
		}, "signing_public_key"},
		{"no server url", func(r *EnrollResponse) { r.ServerURL = "" }, "server_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodEnrollResponse()
			tc.edit(&r)
			checkValidate(t, r.Validate(), tc.field)
		})
	}
}

func checkValidate(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Validate = %v, want ErrInvalid mentioning %q", err, want)
	}
}

// TestEnrollWire pins the JSON field names of the contract.
func TestEnrollWire(t *testing.T) {
	req, _ := json.Marshal(goodEnrollRequest())
	if want := `{"token":"tok-123","name":"产线 3 工控机","os":"windows","arch":"amd64","agent_version":"1.2.0"}`; string(req) != want {
		t.Errorf("request JSON\n got %s\nwant %s", req, want)
	}
	resp, _ := json.Marshal(goodEnrollResponse())
	for _, key := range []string{`"device_id":`, `"mqtt":{"url":`, `"username":`, `"password":`, `"signing_public_key":`, `"server_url":`} {
		if !strings.Contains(string(resp), key) {
			t.Errorf("response JSON %s lacks %s", resp, key)
		}
	}
}
