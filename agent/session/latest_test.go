package session

import (
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"

	"github.com/autocv/autocv/protocol/fleet"
)

// message is an incoming MQTT message, as paho hands it to onMessage.
type message struct {
	topic   string
	payload []byte
}

func (m message) Duplicate() bool   { return false }
func (m message) Qos() byte         { return fleet.QoS }
func (m message) Retained() bool    { return false }
func (m message) Topic() string     { return m.topic }
func (m message) MessageID() uint16 { return 1 }
func (m message) Payload() []byte   { return m.payload }
func (m message) Ack()              {}

var _ mqtt.Message = message{}

// Three desired states arrive before the agent reads any: it reads only
// the latest, once.
func TestLatestDesiredWins(t *testing.T) {
	s := &Session{log: zap.NewNop(), topics: map[fleet.Kind]string{}, desired: make(chan *fleet.Desired, 1)}
	s.topics[fleet.KindDesired] = topic(fleet.KindDesired)
	for _, id := range []string{"d2", "d3", "d4"} {
		b, err := fleet.Encode(&fleet.Desired{Header: fleet.Header{ID: id}})
		if err != nil {
			t.Fatal(err)
		}
		s.onMessage(nil, message{topic: s.topics[fleet.KindDesired], payload: b})
	}
	select {
	case d := <-s.desired:
		if d.ID != "d4" {
			t.Errorf("read %s, want the latest, d4", d.ID)
		}
	default:
		t.Fatal("no desired state")
	}
	select {
	case d := <-s.desired:
		t.Errorf("a second read gave %s", d.ID)
	default:
	}
}
