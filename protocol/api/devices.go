package api

import (
	"encoding/json"
	"time"

	"github.com/autocv/autocv/protocol/fleet"
)

// EnrollmentTokenRequest creates an enrolment token.
type EnrollmentTokenRequest struct {
	Group     string `json:"group" example:"shop-floor" description:"devices enrolled with it join this group"`
	Uses      int    `json:"uses" minimum:"1" example:"10" description:"default 1"`
	ExpiresIn int    `json:"expires_in" minimum:"60" maximum:"31536000" example:"86400" description:"seconds; default one day"`
}

// EnrollmentToken is an enrolment token. Token and Command carry the
// secret in the answer that creates it, and never again.
type EnrollmentToken struct {
	ID        string    `json:"id" required:"true"`
	Group     string    `json:"group" required:"true"`
	UsesLeft  int       `json:"uses_left" required:"true"`
	ExpiresAt time.Time `json:"expires_at" required:"true"`
	Expired   bool      `json:"expired" required:"true"`
	CreatedAt time.Time `json:"created_at" required:"true"`
	Token     string    `json:"token,omitempty"`
	Command   string    `json:"command,omitempty" example:"autocv-agent enroll --server http://10.0.0.5:8080 --token acve_…"`
}

// EnrollmentTokenList is GET /enrollment-tokens.
type EnrollmentTokenList struct {
	Items []EnrollmentToken `json:"items" required:"true"`
	Total int               `json:"total" required:"true"`
}

// EnrollRequest is the agent's fleet.EnrollRequest; hostname is read as
// name, and capabilities are accepted and kept for later.
type EnrollRequest struct {
	fleet.EnrollRequest
	Hostname     string          `json:"hostname,omitempty"`
	Capabilities json.RawMessage `json:"capabilities,omitempty"`
}

// Device is an enrolled device, what it last reported and what it is
// told to run.
type Device struct {
	ID           string          `json:"id" required:"true" example:"dev_01j9z3k4"`
	Name         string          `json:"name" required:"true"`
	Group        string          `json:"group" required:"true"`
	OS           string          `json:"os" required:"true" example:"linux"`
	Arch         string          `json:"arch" required:"true" example:"amd64"`
	AgentVersion string          `json:"agent_version" required:"true"`
	Online       bool            `json:"online" required:"true"`
	EnrolledAt   time.Time       `json:"enrolled_at" required:"true"`
	LastSeen     *time.Time      `json:"last_seen,omitempty"`
	Reported     *fleet.Reported `json:"reported,omitempty"`
	Desired      *DesiredRef     `json:"desired,omitempty"`
}

// DesiredRef is the model version a device is told to run.
type DesiredRef struct {
	ModelID   string `json:"model_id" required:"true"`
	ModelName string `json:"model_name" required:"true" description:"the model's name (\"\" once deleted)"`
	Version   int    `json:"version" required:"true"`
	ID        string `json:"id" required:"true" description:"the desired state's id, echoed in the device's reports"`
}

// DeviceList is GET /devices.
type DeviceList struct {
	Items []Device `json:"items" required:"true"`
	Total int      `json:"total" required:"true"`
}

// DesiredRequest tells a device which model version to run.
type DesiredRequest struct {
	ModelID string `json:"model_id" required:"true"`
	Version int    `json:"version" required:"true" minimum:"1"`
}

// CreateGroupRequest creates a device group.
type CreateGroupRequest struct {
	Name        string `json:"name" required:"true" example:"车间A" description:"1–64 letters (any script), digits, '_', '-', '.' or inner spaces"`
	Description string `json:"description,omitempty" maxLength:"500"`
}

// Group is a device group with its device counts.
type Group struct {
	Name        string    `json:"name" required:"true" example:"车间A"`
	Description string    `json:"description" required:"true"`
	CreatedAt   time.Time `json:"created_at" required:"true"`
	Devices     int       `json:"devices" required:"true" description:"devices in the group"`
	Online      int       `json:"online" required:"true" description:"of them, online now"`
}

// GroupList is GET /groups.
type GroupList struct {
	Items []Group `json:"items" required:"true"`
	Total int     `json:"total" required:"true"`
}

// GroupDetail is GET /groups/{name}: the group and its devices.
type GroupDetail struct {
	Group
	Members []Device `json:"members" required:"true"`
}
