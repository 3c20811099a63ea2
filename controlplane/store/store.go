// Package store is the control plane's system of record: accounts and
// credentials, datasets and their images, models, versions, the training job
// queue, cloud services, SDK requests, enrolment tokens and devices.
//
// One implementation over database/sql serves two databases with the same
// schema and the same conformance tests: SQLite (modernc.org/sqlite, pure Go,
// the embedded default) and PostgreSQL (pgx). Queries are written once with
// "?" placeholders; the PostgreSQL dialect rebinds them to $n. The job queue
// leases with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL and inside an
// immediate (write-locked) transaction on SQLite, so any number of control
// plane replicas and workers can share one database.
//
// Ids are random strings made here (a short prefix and 20 base32 characters),
// never database sequences, so both databases produce the same shapes. Times
// are stored as Unix milliseconds (UTC). Secrets (passwords, tokens, keys) are
// never stored: users get a bcrypt hash, tokens a SHA-256 of the secret.
//
// # Choosing the database
//
// autocv-server keeps its metadata in SQLite (DATA_DIR/autocv.db) by default. To
// share one database between replicas, point it at PostgreSQL:
//
//	autocv-server --database postgres://autocv:secret@db.example.com:5432/autocv
//
// Open takes postgres://… or postgresql://… (any pgx connection URL, e.g.
// with ?sslmode=require), sqlite:PATH, or a plain file path. SQLite runs in
// WAL mode with foreign keys on, a 15 s busy timeout, and write transactions
// that take the write lock up front (BEGIN IMMEDIATE).
//
// # Schema
//
// Migrations are numbered files in migrations/ (embedded), applied in order
// by Open, each in its own transaction and recorded in schema_migrations;
// PostgreSQL replicas starting together serialise on an advisory lock. The
// tables: users, tokens; datasets, images (live while deleted_rev is 0; a
// partial unique index keeps (dataset, label, sha256) unique among live
// images), imports; models, versions (primary key (model_id, number)), jobs
// (the queue; spec holds the protocol/jobs Job as JSON), job_images (which
// images a job's spec uses, so a dataset in use cannot be deleted);
// services (unique path), service_usage (calls per service and minute,
// summed over replicas), sdks; enrollment_tokens, devices. Times are BIGINT
// Unix milliseconds (0 = unset), JSON is TEXT.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/autocv/autocv/protocol/jobs"
)

// Errors callers test with errors.Is. Implementations wrap them with what
// was looked for.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique name or path is taken, or the row is in a state
	// that forbids the change (e.g. deleting a dataset a queued job uses).
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost: the job is not leased by that lease id any more (expired,
	// re-leased, cancelled or ended).
	ErrLeaseLost = errors.New("lease lost")
)

// Token kinds.
const (
	TokenSession = "session" // console login; expires
	TokenAPIKey  = "apikey"  // a user's API key for scripts and /infer
	TokenTrainer = "trainer" // the job API only (protocol/jobs)
)

// Dataset statuses.
const (
	DatasetProcessing = "processing"
	DatasetReady      = "ready"
	DatasetFailed     = "failed"
)

// Version statuses.
const (
	VersionQueued    = "queued"
	VersionTraining  = "training"
	VersionStopping  = "stopping" // a stop was asked; the trainer has not acknowledged it yet
	VersionSucceeded = "succeeded"
	VersionFailed    = "failed"
	VersionStopped   = "stopped"
)

// SDK request statuses.
const (
	SDKBuilding = "building"
	SDKReady    = "ready"
	SDKFailed   = "failed"
)

// User is an account. The first admin is "admin".
type User struct {
	ID           string
	Username     string
	PasswordHash string // bcrypt
	Admin        bool
	CreatedAt    time.Time
}

// Token is a credential: a session, an API key or a trainer token. The
// secret itself is only ever shown once, when it is made; Hash is the hex
// SHA-256 of it.
type Token struct {
	ID        string
	Kind      string
	UserID    string // owner; trainer tokens belong to the admin that made them
	Name      string // for people: "ci key", "gpu-node-3"
	Hash      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	LastUsed  time.Time
	// Scopes are what an API key may do (api.Scope… values); Services the
	// service paths an inference key may call (none: all the owner's).
	// Sessions and trainer tokens carry none.
	Scopes   []string
	Services []string
}

// Dataset is a 数据中心 entry. Its images carry the dataset Revision in which
// they were added and removed, so a version records exactly what it saw.
type Dataset struct {
	ID        string
	OwnerID   string
	Name      string
	Status    string
	Error     string
	Revision  int             // bumped by every change of its images
	Report    json.RawMessage // the latest import report (import_report)
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Image is one stored photo of a dataset; the bytes are in the blob store
// under SHA256. Removed images keep their rows (Deleted true) so frozen job
// image lists stay valid.
type Image struct {
	ID        string
	DatasetID string
	Label     string
	SHA256    string
	Size      int64
	Width     int
	Height    int
	Source    string // path inside the zip, or the uploaded file's name
	Deleted   bool
	CreatedAt time.Time
}

// LabelCount is one label of a dataset with its live image count.
type LabelCount struct {
	Name  string
	Count int
}

// Import is the pending import work of a dataset: an uploaded file kept on
// disk until the import finishes, so a restarted server can finish it.
type Import struct {
	ID        string
	DatasetID string
	Kind      string // "zip" or "images"
	Path      string // the upload on disk
	Label     string // for Kind "images"
	CreatedAt time.Time
}

// Model is a 模型列表 entry.
type Model struct {
	ID          string
	OwnerID     string
	Name        string
	Contact     string
	Description string
	CreatedAt   time.Time
}

// Version is one trained (or training) version of a model; Number counts
// from 1 per model.
type Version struct {
	ModelID       string
	Number        int
	AppType       string // jobs.CloudGeneral …
	Metric        string
	Status        string
	Progress      jobs.Progress
	Error         string
	JobID         string
	Labels        []string
	PackageSHA256 string // the signed package in the blob store, once succeeded
	ReportSHA256  string // report.json in the blob store
	Metrics       map[string]float64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Job is a queued training job; Spec is the frozen, split image list the
// worker gets.
type Job struct {
	ID              string
	ModelID         string
	Version         int
	Spec            jobs.Job
	State           string // queued | leased | done | failed | cancelled
	LeaseID         string
	LeaseExpires    time.Time
	WorkerID        string
	Attempts        int
	CancelRequested bool
	CreatedAt       time.Time
}

// Job states.
const (
	JobQueued    = "queued"
	JobLeased    = "leased"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
)

// Service is a published cloud API: POST /api/v1/infer/{Path}.
type Service struct {
	ID        string
	OwnerID   string
	Name      string
	Path      string // unique
	ModelID   string
	Version   int
	Online    bool
	Notes     string // 其他要求, ≤ MaxNotes characters
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SDKRequest is an offline SDK build of a version for one platform.
type SDKRequest struct {
	ModelID   string
	Version   int
	Platform  string // linux-amd64 | windows-amd64 | linux-arm64
	Status    string
	Error     string
	SHA256    string // the zip in the blob store when ready
	Notes     string // 其他要求 of the request that started the build (kept while it builds)
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EnrollmentToken lets devices enrol into a group; the secret is hashed.
type EnrollmentToken struct {
	ID        string
	Hash      string
	Group     string
	UsesLeft  int
	ExpiresAt time.Time
	CreatedBy string
	CreatedAt time.Time
}

// Device is an enrolled agent.
type Device struct {
	ID           string
	Name         string
	Group        string
	OS           string
	Arch         string
	AgentVersion string
	// MQTTPasswordHash is the hex SHA-256 of the device's broker password
	// (random, 32 bytes, so a fast hash is enough).
	MQTTPasswordHash string
	// BrokerCredential is the device's password_file line for an
	// external Mosquitto ("" when none is kept): user:$7$… as
	// mosquitto_passwd writes it, a salted hash, never the password.
	BrokerCredential string
	EnrolledAt       time.Time
	Online           bool
	LastSeen         time.Time
	Reported         json.RawMessage // the last retained reported message
	// Desired model; zero when none.
	DesiredModelID string
	DesiredVersion int
	DesiredID      string          // the desired message id last published
	Desired        json.RawMessage // the desired message last published
}

// Page selects part of a list: Offset rows skipped, at most Limit returned
// (Limit ≤ 0 means 50).
type Page struct {
	Offset, Limit int
}

// Store is the metadata store. Every method is safe for concurrent use, and
// methods that change several rows do it in one transaction.
type Store interface {
	Close() error
	// Ping checks the database answers (for /readyz).
	Ping(ctx context.Context) error

	// Users.
	CreateUser(ctx context.Context, u *User) error // sets ID, CreatedAt; ErrConflict on a taken username
	UserByName(ctx context.Context, username string) (*User, error)
	User(ctx context.Context, id string) (*User, error)
	SetPassword(ctx context.Context, userID, hash string) error
	CountUsers(ctx context.Context) (int, error)

	// Tokens.
	CreateToken(ctx context.Context, t *Token) error // sets ID, CreatedAt
	// TokenByHash returns the token unless it expired (ErrNotFound then) and
	// records LastUsed (at most once a minute per token).
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	Tokens(ctx context.Context, userID, kind string) ([]Token, error)
	DeleteToken(ctx context.Context, userID, id string) error // userID "" = any owner (admin)

	// Datasets. ownerID "" lists every owner's (admin).
	CreateDataset(ctx context.Context, d *Dataset) error // sets ID, times, Revision 0
	Dataset(ctx context.Context, id string) (*Dataset, error)
	Datasets(ctx context.Context, ownerID string, p Page) ([]Dataset, int, error) // rows, total
	RenameDataset(ctx context.Context, id, name string) error
	SetDatasetStatus(ctx context.Context, id, status, errMsg string, report json.RawMessage) error
	// DeleteDataset removes the dataset, its images and imports; ErrConflict
	// while a queued or leased job uses one of its images.
	DeleteDataset(ctx context.Context, id string) error

	// AddImages adds images to a dataset in one transaction and bumps its
	// Revision; an image whose (label, sha256) is already live in the dataset
	// is left out. It returns the images added (with IDs).
	AddImages(ctx context.Context, datasetID string, ims []Image) ([]Image, error)
	// Images lists live images of a dataset, label "" meaning all, ordered
	// by (label, created, id).
	Images(ctx context.Context, datasetID, label string, p Page) ([]Image, int, error)
	Image(ctx context.Context, id string) (*Image, error)
	// DeleteImage marks one image deleted and bumps the Revision.
	DeleteImage(ctx context.Context, datasetID, imageID string) error
	// MoveImage gives a live image another label (one the dataset has
	// live images of) and bumps the Revision; ErrConflict when that label
	// has the same photo already. Frozen job specs keep their own labels.
	MoveImage(ctx context.Context, datasetID, imageID, label string) (*Image, error)
	// RenameLabel gives a label's live images the label to; when to has
	// live images already it is ErrConflict unless merge, which moves the
	// images there and deletes those whose sha256 to has. It returns how
	// many moved and how many were dropped as duplicates; ErrNotFound when
	// from has no live images.
	RenameLabel(ctx context.Context, datasetID, from, to string, merge bool) (moved, dropped int, err error)
	// DeleteLabel marks a label's live images deleted (one revision) and
	// returns how many; ErrNotFound when it has none.
	DeleteLabel(ctx context.Context, datasetID, label string) (int, error)
	Labels(ctx context.Context, datasetID string) ([]LabelCount, error)

	// Imports (pending background work that must survive a restart).
	CreateImport(ctx context.Context, im *Import) error // sets ID, CreatedAt
	Imports(ctx context.Context) ([]Import, error)      // all pending, oldest first
	DeleteImport(ctx context.Context, id string) error

	// Models and versions.
	CreateModel(ctx context.Context, m *Model) error
	Model(ctx context.Context, id string) (*Model, error)
	Models(ctx context.Context, ownerID string, p Page) ([]Model, int, error)
	DeleteModel(ctx context.Context, id string) error // ErrConflict while a version trains or is published
	// CreateVersions adds one version per entry (Number assigned in order,
	// counting on from the model's last) and, for each, its queued job
	// (jobs[i] belongs to vs[i]; its ID, ModelID and Version are filled in)
	// in one transaction.
	CreateVersions(ctx context.Context, modelID string, vs []Version, js []jobs.Job) ([]Version, error)
	Version(ctx context.Context, modelID string, number int) (*Version, error)
	Versions(ctx context.Context, modelID string) ([]Version, error)

	// Job queue. Lease takes the oldest queued job, or a leased one whose
	// lease expired (counting an attempt), and leases it to workerID for
	// ttl; nil, nil when there is none. Jobs that used maxAttempts fail with
	// their version.
	Lease(ctx context.Context, workerID string, ttl time.Duration, maxAttempts int) (*Job, error)
	Job(ctx context.Context, id string) (*Job, error)
	// Heartbeat renews a lease and stores progress on the version (status
	// training). It returns the new expiry and whether a stop was asked;
	// ErrLeaseLost when leaseID no longer holds the job.
	Heartbeat(ctx context.Context, jobID, leaseID string, p jobs.Progress, ttl time.Duration) (time.Time, bool, error)
	// CheckLease returns the job if leaseID holds it and it has not expired.
	CheckLease(ctx context.Context, jobID, leaseID string) (*Job, error)
	// LeasedImage returns the sha256 of one image of a job held by leaseID
	// without reading the job's spec (workers fetch every image this way);
	// ErrLeaseLost when the lease does not hold (or the job is gone),
	// ErrNotFound when the image is not the job's.
	LeasedImage(ctx context.Context, jobID, leaseID, imageID string) (string, error)
	// CompleteJob ends the job done and its version succeeded with the given
	// blobs and metrics; FailJob ends both failed with msg. Both ErrLeaseLost
	// when leaseID no longer holds the job.
	CompleteJob(ctx context.Context, jobID, leaseID, packageSHA, reportSHA string, metrics map[string]float64) error
	FailJob(ctx context.Context, jobID, leaseID, msg string) error
	// StopVersion cancels a version's job: a queued one ends cancelled at
	// once (version stopped); a leased one is flagged (version stopping)
	// so its next heartbeat answers cancel, and ends cancelled (version
	// stopped) then, or when its lease expires.
	StopVersion(ctx context.Context, modelID string, number int) error
	// EndExpiredStops ends cancelled (version stopped) every stopped job
	// whose lease ran out before its trainer acknowledged the stop, and
	// says how many. The server calls it on a timer: without it such a
	// version stays stopping until some trainer leases again.
	EndExpiredStops(ctx context.Context) (int, error)
	// ReleaseWorker puts the jobs leased by workerID back in the queue (a
	// worker that stopped cleanly), without counting an attempt.
	ReleaseWorker(ctx context.Context, workerID string) error

	// Services.
	CreateService(ctx context.Context, s *Service) error // ErrConflict on a taken path
	Service(ctx context.Context, id string) (*Service, error)
	ServiceByPath(ctx context.Context, path string) (*Service, error)
	Services(ctx context.Context, ownerID string) ([]Service, error)
	// UpdateService stores Online, ModelID and Version (and bumps UpdatedAt).
	UpdateService(ctx context.Context, s *Service) error
	DeleteService(ctx context.Context, id string) error // and its usage
	// Usage of services per minute (usage.go): AddUsage adds counts to the
	// stored minutes (replicas sum), Usage reads one service's minutes from
	// since on, PruneUsage drops minutes older than before.
	AddUsage(ctx context.Context, minutes []ServiceMinute) error
	Usage(ctx context.Context, serviceID string, since time.Time) ([]ServiceMinute, error)
	PruneUsage(ctx context.Context, before time.Time) (int64, error)

	// SDK requests: PutSDK inserts or replaces the (model, version, platform) row.
	PutSDK(ctx context.Context, r *SDKRequest) error
	SDK(ctx context.Context, modelID string, version int, platform string) (*SDKRequest, error)
	SDKs(ctx context.Context, modelID string, version int) ([]SDKRequest, error)

	// Enrolment and devices.
	CreateEnrollmentToken(ctx context.Context, t *EnrollmentToken) error
	// Enroll consumes one use of the token with that hash (ErrNotFound when
	// unknown, used up or expired) and creates the device, in one
	// transaction; d.Group is set from the token.
	Enroll(ctx context.Context, tokenHash string, d *Device) error
	// EnrollmentTokens lists every token, newest first (hashes included;
	// callers must not show them).
	EnrollmentTokens(ctx context.Context) ([]EnrollmentToken, error)
	DeleteEnrollmentToken(ctx context.Context, id string) error
	Device(ctx context.Context, id string) (*Device, error)
	Devices(ctx context.Context, group string) ([]Device, error)
	// CreateGroup records a device group (ErrConflict when it exists);
	// Groups lists them with device counts, Group reads one.
	CreateGroup(ctx context.Context, g *Group) error
	Groups(ctx context.Context) ([]Group, error)
	Group(ctx context.Context, name string) (*Group, error)
	// Rollouts (rollouts.go): created with their devices, read, leased to
	// one replica at a time, and updated as they go.
	CreateRollout(ctx context.Context, r *Rollout, devs []RolloutDevice) error
	Rollout(ctx context.Context, id string) (*Rollout, []RolloutDevice, error)
	Rollouts(ctx context.Context) ([]Rollout, error)
	ClaimRollouts(ctx context.Context, owner string, ttl time.Duration) ([]string, error)
	SetRollout(ctx context.Context, r *Rollout, from string) error
	SetRolloutDevice(ctx context.Context, rolloutID string, d *RolloutDevice) error
	RolloutDeviceProgress(ctx context.Context, deviceID, desiredID, state, reason string, percent float64) (bool, error)
	// SetDeviceSeen records presence and, when reported is not nil, the
	// reported state.
	SetDeviceSeen(ctx context.Context, id string, online bool, at time.Time, reported json.RawMessage) error
	// SetDesired stores a device's desired model and the message published.
	SetDesired(ctx context.Context, id, modelID string, version int, msgID string, msg json.RawMessage) error
	DeleteDevice(ctx context.Context, id string) error
}
