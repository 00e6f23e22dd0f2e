package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Inbox is the daemon's durable record of what it received (docs/daemon.md): a
// finding is written here, in a committed transaction, before the source
// that delivered it is acknowledged (the HTTP 202, the SQS DeleteMessage,
// the GuardDuty cursor). Processing reads it back, so a crash at any point
// loses no delivery.
type Inbox interface {
	// AcceptDeliveries records deliveries in one transaction, and with
	// cursor set, moves that cursor in the same transaction (a poller's
	// position advances exactly when what it read is committed). A
	// delivery whose key is already recorded is not stored again: its
	// result says Duplicate, and the first delivery's duplicate count goes
	// up.
	AcceptDeliveries(ctx context.Context, ds []Delivery, cursor *Cursor) ([]Accepted, error)
	// QueuedDeliveries returns deliveries not yet processed with an id
	// above afterID, oldest first, at most limit (0: all).
	QueuedDeliveries(ctx context.Context, afterID int64, limit int) ([]Delivery, error)
	// Delivery returns one delivery with its record, or ErrNotFound.
	Delivery(ctx context.Context, id int64) (*Delivery, error)
	// Deliveries lists deliveries without their records, newest first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// StartDelivery counts an attempt to process a queued delivery and
	// returns the attempts so far, this one included: a delivery that
	// crashes the daemon every time is given up after a few.
	StartDelivery(ctx context.Context, id int64) (int, error)
	// FinishDelivery records what processing a delivery came to. The
	// result's incident and events, and the plan, are recorded in the same
	// transaction (a plan's incident must be recorded, by the result or
	// before), so a crash leaves either a queued delivery or everything
	// its processing decided, never a delivery done with its plan lost.
	// Finishing a delivery that is not queued is an error.
	FinishDelivery(ctx context.Context, id int64, res DeliveryResult, plan *PlanRecord) error
	// RecordRejection records input a source could not accept (a malformed
	// body, a message of unknown shape), with its reason. Rejections are
	// append-only.
	RecordRejection(ctx context.Context, r Rejection) (int64, error)
	// Rejections lists rejections, newest first, at most limit (0: all).
	Rejections(ctx context.Context, limit int) ([]Rejection, error)
	// Cursor returns a poller's position; ok is false before the first.
	Cursor(ctx context.Context, name string) (value string, ok bool, err error)
	// SetCursor moves a poller's position when it read nothing to record.
	SetCursor(ctx context.Context, c Cursor) error
}

// Approvals are the daemon's plans: applied at once, or held for a person
// to approve (docs/daemon.md).
type Approvals interface {
	// PutPlan stores a plan outside of a delivery (an approval that
	// re-plans). The incident must be recorded.
	PutPlan(ctx context.Context, p PlanRecord) error
	// Plan returns a plan with its file, or ErrNotFound.
	Plan(ctx context.Context, id string) (*PlanRecord, error)
	// Plans lists plans without their files, oldest first.
	Plans(ctx context.Context, f PlanFilter) ([]PlanRecord, error)
	// DecidePlan approves, rejects or expires a pending plan, and records
	// the decision on the incident's timeline in the same transaction. A
	// plan that is not pending is ErrPlanDecided, naming its status.
	DecidePlan(ctx context.Context, id string, d PlanDecision) (*PlanRecord, error)
	// FinishPlan records the end of applying an approved plan: applied or
	// failed, with the apply that ran it (0 when none did).
	FinishPlan(ctx context.Context, id string, status PlanStatus, applyID int64, note string) error
}

// Guardrails are the counts the daemon's guardrails are enforced from.
// They are read from state, so a restart does not reset them and every
// replica sharing the state sees the same.
type Guardrails interface {
	// CountActions counts the applied actions started at or after since
	// that may have changed their target (started, applied, recovered or
	// failed; notifications excluded), for one rule or, with rule "", all.
	CountActions(ctx context.Context, since time.Time, rule string) (int, error)
	// TargetActedOn returns an incident other than exceptIncident whose
	// applied action changed (or may have changed) target at or after
	// since, or "" when there is none.
	TargetActedOn(ctx context.Context, lockKey string, since time.Time, exceptIncident string) (string, error)
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryQueued DeliveryStatus = "queued"
	DeliveryDone   DeliveryStatus = "done"
)

// DeliveryOutcome is what processing a delivery came to.
type DeliveryOutcome string

// Delivery outcomes.
const (
	// OutcomePlanned: a plan was made and approved to apply (see the plan).
	OutcomePlanned DeliveryOutcome = "planned"
	// OutcomePending: a plan was made and waits for approval.
	OutcomePending DeliveryOutcome = "pending"
	// OutcomeDryRun: a plan was made and recorded, never to be applied.
	OutcomeDryRun DeliveryOutcome = "dry_run"
	// OutcomeNoActions: the policies planned nothing.
	OutcomeNoActions DeliveryOutcome = "no_actions"
	// OutcomeUnmatched: no rule matched the finding.
	OutcomeUnmatched DeliveryOutcome = "unmatched"
	// OutcomeStale: an update older than (or the same as) one already
	// planned for the incident; ignored.
	OutcomeStale DeliveryOutcome = "stale"
	// OutcomeFailed: the investigation failed (see the error).
	OutcomeFailed DeliveryOutcome = "failed"
)

// Delivery is one finding as a source delivered it.
type Delivery struct {
	ID int64 `json:"id"`
	// Key de-duplicates deliveries: the same finding update delivered
	// twice has one key (docs/daemon.md).
	Key string `json:"key"`
	// Source is the route it came by: "http", "sqs.NAME", "guardduty.NAME".
	Source string `json:"source"`
	// IncidentID is the incident the finding is (engine.IncidentID).
	IncidentID       string `json:"incident_id"`
	FindingID        string `json:"finding_id"`
	FindingSource    string `json:"finding_source"`
	FindingType      string `json:"finding_type"`
	FindingUpdatedAt string `json:"finding_updated_at"`
	// Record is the finding's JSON as received (one finding).
	Record     json.RawMessage `json:"record,omitempty"`
	Status     DeliveryStatus  `json:"status"`
	Outcome    DeliveryOutcome `json:"outcome,omitempty"`
	PlanID     string          `json:"plan_id,omitempty"`
	Error      string          `json:"error,omitempty"`
	Attempts   int             `json:"attempts"`
	Duplicates int             `json:"duplicates"`
	ReceivedAt time.Time       `json:"received_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// Accepted is what became of one delivery given to AcceptDeliveries.
type Accepted struct {
	ID        int64 `json:"id"`
	Duplicate bool  `json:"duplicate"`
}

// DeliveryFilter selects deliveries to list.
type DeliveryFilter struct {
	IncidentID string
	Status     DeliveryStatus
	Limit      int
}

// DeliveryResult is what FinishDelivery records.
type DeliveryResult struct {
	Outcome DeliveryOutcome
	PlanID  string
	Error   string
	// Incident, when set, is recorded (inserted or updated) first.
	Incident *Incident
	// Events are appended to their incidents' timelines.
	Events []IncidentEvent
	// ApplyJobDelay, with a plan stored approved, delays its apply job
	// (see Job): the caller applies the plan itself at once, and the job
	// is the safety net that applies it if the caller dies first.
	ApplyJobDelay time.Duration
	FinishedAt    time.Time
}

// Rejection is input a source could not accept.
type Rejection struct {
	ID     int64  `json:"id"`
	Source string `json:"source"`
	Reason string `json:"reason"`
	// Excerpt is the beginning of what was rejected, at most
	// MaxRejectionExcerpt bytes, for a person to see what it was.
	Excerpt    []byte    `json:"excerpt,omitempty"`
	Size       int64     `json:"size"`
	ReceivedAt time.Time `json:"received_at"`
}

// MaxRejectionExcerpt bounds what a rejection keeps of its input.
const MaxRejectionExcerpt = 4 << 10

// Cursor is a poller's position (a GuardDuty updatedAt, in epoch
// milliseconds, per source, account, region and detector).
type Cursor struct {
	Name  string
	Value string
}

// PlanStatus is where a daemon plan stands.
type PlanStatus string

// Plan statuses. Pending waits for a person; approved waits to be applied.
const (
	PlanPending  PlanStatus = "pending"
	PlanApproved PlanStatus = "approved"
	PlanRejected PlanStatus = "rejected"
	PlanExpired  PlanStatus = "expired"
	PlanApplied  PlanStatus = "applied"
	PlanFailed   PlanStatus = "failed"
	PlanDryRun   PlanStatus = "dry_run"
	// PlanStale: the configuration changed before the plan was applied;
	// the finding was planned again.
	PlanStale PlanStatus = "stale"
)

// PlanRecord is a plan the daemon made.
type PlanRecord struct {
	ID         string     `json:"id"`
	IncidentID string     `json:"incident_id"`
	DeliveryID int64      `json:"delivery_id,omitempty"`
	Status     PlanStatus `json:"status"`
	// Reason says why the plan waits for approval (or was held).
	Reason       string `json:"reason,omitempty"`
	ConfigDigest string `json:"config_digest"`
	// Actions is the number of actions planned.
	Actions int `json:"actions"`
	// File is the plan file (plan.Encode), what apply needs; nil in lists.
	File       []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	DecidedBy  string     `json:"decided_by,omitempty"`
	Note       string     `json:"note,omitempty"`
	ApplyID    int64      `json:"apply_id,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// PlanFilter selects plans to list.
type PlanFilter struct {
	Status     []PlanStatus
	IncidentID string
	Limit      int
}

// PlanDecision is a person's (or the clock's) decision on a pending plan.
type PlanDecision struct {
	// Status is approved, rejected or expired.
	Status PlanStatus
	By     string
	Note   string
	At     time.Time
}

// IncidentEvent is an entry of an incident's timeline that is not an
// action: a recurrence of its finding, a plan held or decided.
type IncidentEvent struct {
	ID         int64           `json:"id"`
	IncidentID string          `json:"incident_id"`
	Kind       string          `json:"kind"`
	Summary    string          `json:"summary"`
	Detail     json.RawMessage `json:"detail,omitempty"`
	At         time.Time       `json:"at"`
}

// Incident event kinds.
const (
	EventReceived   = "received"
	EventRecurrence = "recurrence"
	EventHeld       = "held"
	EventApproved   = "approved"
	EventRejected   = "rejected"
	EventExpired    = "expired"
	EventDryRun     = "dry_run"
	EventWithheld   = "withheld"
	// EventApplyFailed: a plan's apply failed before or without recording
	// its actions (no AWS access): the timeline says so, not only the log.
	EventApplyFailed = "apply_failed"
)

func (d *Delivery) validate() error {
	switch {
	case d.Key == "":
		return errors.New("delivery: key is empty")
	case d.Source == "":
		return fmt.Errorf("delivery %s: source is empty", d.Key)
	case d.IncidentID == "":
		return fmt.Errorf("delivery %s: incident id is empty", d.Key)
	case len(d.Record) == 0 || !json.Valid(d.Record):
		return fmt.Errorf("delivery %s: record is not valid JSON", d.Key)
	}
	return nil
}

func (r *DeliveryResult) validate(id int64) error {
	switch r.Outcome {
	case OutcomePlanned, OutcomePending, OutcomeDryRun, OutcomeNoActions, OutcomeUnmatched, OutcomeStale, OutcomeFailed:
		return nil
	}
	return fmt.Errorf("delivery %d: unknown outcome %q", id, r.Outcome)
}

func (p *PlanRecord) validate() error {
	switch {
	case p.ID == "":
		return errors.New("plan: id is empty")
	case p.IncidentID == "":
		return fmt.Errorf("plan %s: incident id is empty", p.ID)
	case len(p.File) == 0:
		return fmt.Errorf("plan %s: no plan file", p.ID)
	}
	switch p.Status {
	case PlanPending, PlanApproved, PlanDryRun:
		return nil
	}
	return fmt.Errorf("plan %s: a new plan is pending, approved or dry_run, not %q", p.ID, p.Status)
}

func (d *PlanDecision) validate(id string) error {
	switch d.Status {
	case PlanApproved, PlanRejected, PlanExpired:
	default:
		return fmt.Errorf("plan %s: a decision approves, rejects or expires, not %q", id, d.Status)
	}
	if d.By == "" {
		return fmt.Errorf("plan %s: the decision names nobody who made it", id)
	}
	return nil
}

// eventFor is the timeline event of a decision.
func (d *PlanDecision) eventKind() string {
	switch d.Status {
	case PlanApproved:
		return EventApproved
	case PlanRejected:
		return EventRejected
	}
	return EventExpired
}
