package bus

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/autocv/autocv/protocol/fleet"
)

// TestExternalBrokerDoc keeps EXTERNAL_BROKER.md equal to what the
// generators write; MosquittoACL itself is tested against a real
// Mosquitto in mosquitto_test.go.
func TestExternalBrokerDoc(t *testing.T) {
	doc, err := os.ReadFile("EXTERNAL_BROKER.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"MosquittoConfig": MosquittoConfig("0.0.0.0:1883", "/etc/mosquitto/autocv.passwd", "/etc/mosquitto/autocv.acl"),
		"MosquittoACL":    MosquittoACL("autocv-controlplane"),
		"EMQXACL":         EMQXACL("autocv-controlplane"),
	} {
		if !strings.Contains(string(doc), "```\n"+want+"```\n") {
			t.Errorf("EXTERNAL_BROKER.md does not show %s's current output:\n%s", name, want)
		}
	}
}

// TestACLsFollowAllowed checks that both ACLs give a device exactly the
// access fleet.Allowed gives it.
func TestACLsFollowAllowed(t *testing.T) {
	mosq, emqx := MosquittoACL(), EMQXACL()
	for _, k := range fleet.Kinds() {
		pub := fleet.Allowed("dev-x", topic(t, "dev-x", k), true)
		sub := fleet.Allowed("dev-x", topic(t, "dev-x", k), false)
		if pub == sub {
			t.Fatalf("%s: fleet.Allowed gives publish %v and subscribe %v", k, pub, sub)
		}
		access := map[bool]string{true: "write", false: "read"}[pub]
		if line := "pattern " + access + " " + deviceTopicTemplate(k, "%u") + "\n"; !strings.Contains(mosq, line) {
			t.Errorf("Mosquitto ACL lacks %q", line)
		}
		rule := map[bool]string{true: "{allow, all, publish, [", false: "{allow, all, subscribe, ["}[pub]
		_, rest, _ := strings.Cut(emqx, rule)
		rest, _, _ = strings.Cut(rest, "\n")
		if !strings.Contains(rest, `"`+deviceTopicTemplate(k, "${username}")+`"`) {
			t.Errorf("EMQX ACL: %s is not in the rule %s", k, rule)
		}
	}
	if strings.Contains(mosq, "\nuser ") || !strings.HasSuffix(emqx, "{deny, all}.\n") {
		t.Error("ACLs without control-plane users hold a user rule, or EMQX's does not end denying")
	}
}

func TestMosquittoPasswordLine(t *testing.T) {
	line, err := MosquittoPasswordLine("dev-1", "s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(line, "$")
	// "dev-1:" "7" "101" salt hash
	if len(parts) != 5 || parts[0] != "dev-1:" || parts[1] != "7" || parts[2] != "101" {
		t.Fatalf("line %q is not user:$7$101$salt$hash", line)
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[3])
	hash, err2 := base64.StdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(salt) != 12 || len(hash) != 64 {
		t.Fatalf("salt %d bytes (%v), hash %d bytes (%v); want 12 and 64", len(salt), err1, len(hash), err2)
	}
	want, _ := pbkdf2.Key(sha512.New, "s3cret pass", salt, 101, 64)
	if string(want) != string(hash) {
		t.Error("hash is not PBKDF2-SHA512 of the password")
	}
	again, _ := MosquittoPasswordLine("dev-1", "s3cret pass")
	if again == line {
		t.Error("two lines share a salt")
	}
	for _, tc := range [][2]string{{"", "pw"}, {"a:b", "pw"}, {"a\nb", "pw"}, {"dev", ""}, {"dev", "p\nw"}} {
		if _, err := MosquittoPasswordLine(tc[0], tc[1]); err == nil {
			t.Errorf("MosquittoPasswordLine(%q, %q) accepted", tc[0], tc[1])
		}
	}
}
