package api

import "time"

// Rollout statuses.
const (
	RolloutRunning    = "running"
	RolloutPaused     = "paused"
	RolloutSucceeded  = "succeeded"
	RolloutFailed     = "failed" // stopped by a failure; devices were rolled back
	RolloutAborted    = "aborted"
	RolloutRolledBack = "rolled_back"
)

// Rollout device states.
const (
	DevicePending      = "pending"      // its wave has not started
	DeviceDeploying    = "deploying"    // told to install; nothing heard yet
	DeviceTransferring = "transferring" // downloading the package (Percent)
	DeviceVerifying    = "verifying"
	DeviceSwapping     = "swapping" // starting, self-testing and switching
	DeviceHealthy      = "healthy"
	DeviceFailed       = "failed" // Reason says why
	DeviceRolledBack   = "rolled_back"
)

// RolloutStrategy says how a rollout moves through its group: all at
// once; a canary (Canary devices, or CanaryPercent of the group) and then
// the rest; or waves of WaveSize. After each wave it waits until every
// device of it is healthy or failed (a device that says nothing within
// HealthTimeoutSeconds has failed), then PauseSeconds; more failed
// devices than FailureBudget stop the rollout and roll every device it
// changed back.
type RolloutStrategy struct {
	Type                 string  `json:"type" enum:"all,canary,waves" example:"canary" description:"default all"`
	Canary               int     `json:"canary,omitempty" minimum:"0" example:"2" description:"canary: devices in the first wave"`
	CanaryPercent        float64 `json:"canary_percent,omitempty" minimum:"0" maximum:"100" description:"canary: or this share of the group (at least one device)"`
	WaveSize             int     `json:"wave_size,omitempty" minimum:"0" description:"waves (and the rest after a canary): devices per wave; 0: the rest at once"`
	PauseSeconds         int     `json:"pause_seconds,omitempty" minimum:"0" description:"wait between waves"`
	FailureBudget        int     `json:"failure_budget,omitempty" minimum:"0" description:"failed devices tolerated; default 0"`
	HealthTimeoutSeconds int     `json:"health_timeout_seconds,omitempty" minimum:"0" description:"how long a device may take to become healthy; default 600"`
}

// CreateRolloutRequest rolls a trained version out to a device group.
type CreateRolloutRequest struct {
	ModelID  string          `json:"model_id" required:"true"`
	Version  int             `json:"version" required:"true" minimum:"1"`
	Group    string          `json:"group" required:"true" example:"车间A"`
	Strategy RolloutStrategy `json:"strategy"`
}

// RolloutDevice is one device's progress in a rollout.
type RolloutDevice struct {
	DeviceID  string    `json:"device_id" required:"true"`
	Wave      int       `json:"wave" required:"true"`
	State     string    `json:"state" required:"true" enum:"pending,deploying,transferring,verifying,swapping,healthy,failed,rolled_back"`
	Reason    string    `json:"reason,omitempty"`
	Percent   float64   `json:"percent" required:"true" description:"transfer progress, 0–100"`
	UpdatedAt time.Time `json:"updated_at" required:"true"`
}

// Rollout is a rollout, its devices counted by state and (GET
// /rollouts/{id}) listed.
type Rollout struct {
	ID        string          `json:"id" required:"true" example:"ro_01j9z3k4"`
	ModelID   string          `json:"model_id" required:"true"`
	Version   int             `json:"version" required:"true"`
	Group     string          `json:"group" required:"true"`
	Strategy  RolloutStrategy `json:"strategy" required:"true"`
	Status    string          `json:"status" required:"true" enum:"running,paused,succeeded,failed,aborted,rolled_back"`
	Error     string          `json:"error,omitempty"`
	Wave      int             `json:"wave" required:"true" description:"the wave going out (from 0)"`
	Waves     int             `json:"waves" required:"true"`
	Devices   map[string]int  `json:"devices" required:"true" description:"devices by state"`
	CreatedAt time.Time       `json:"created_at" required:"true"`
	UpdatedAt time.Time       `json:"updated_at" required:"true"`
	Members   []RolloutDevice `json:"members,omitempty"`
}

// RolloutList is GET /rollouts.
type RolloutList struct {
	Items []Rollout `json:"items" required:"true"`
	Total int       `json:"total" required:"true"`
}
