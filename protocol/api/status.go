package api

import "time"

// Status is GET /api/v1/status: what keeps the system from working, for
// the console's banner.
type Status struct {
	Trainers TrainerStatus `json:"trainers" required:"true"`
}

// TrainerStatus counts the trainer workers this server heard from lately
// and says what stops the others.
type TrainerStatus struct {
	Active   int       `json:"active" required:"true" description:"workers that asked for a job or sent a heartbeat in the last 90 s and can train"`
	Problems []Problem `json:"problems" required:"true" description:"one entry per problem code that workers report; empty when none"`
}

// Problem is one reason trainers cannot train, with what to do about it.
type Problem struct {
	Code      string    `json:"code" required:"true" example:"no_backbones"`
	Message   string    `json:"message" required:"true" description:"what is wrong and what to do (zh-CN)"`
	MessageEN string    `json:"message_en" required:"true" description:"the same in English"`
	Since     time.Time `json:"since" required:"true" description:"when a worker first reported it (its earliest report still current)"`
	Workers   int       `json:"workers" required:"true" description:"how many workers report it"`
	Detail    string    `json:"detail,omitempty" description:"one worker's own words (English), e.g. the folders it looked in"`
}
