// Package state is cordon's state backend (docs/state.md): the durable record of
// every incident, every apply and revert, each action with its before-state,
// after-state, timestamps, result and error, the evidence collected, and the
// locks that keep two applies off one target.
//
// The record is an audit trail first. An action is recorded as started, in a
// committed transaction, before the call that makes the change; a crash at
// any point therefore leaves each action started, done or failed, never
// unknown, and `cordon state recover` can find the ones left started.
//
// Store is the interface the engine uses. OpenSQLite opens the default
// backend; a PostgreSQL backend for daemons sharing one state implements the
// same interface. What is common to backends (the types, their validation,
// how an incident's status follows from its actions) lives in this file and
// status.go; everything SQLite-specific lives in the sqlite*.go files.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine/plan"
)

// Store is everything a state backend keeps: the apply journal, what
// commands read back, the target locks, the daemon's inbox and approvals,
// and the counts guardrails are enforced from. Every backend implements all
// of it, so every command works against either backend. Every write is one
// transaction. Methods are safe for concurrent use; the engine applies
// targets concurrently and records their actions from many goroutines.
//
// The writes that record something that already happened (ActionFinished,
// FinishApply, the release of a lock) are not abandoned when ctx is
// cancelled: an interrupted apply must still record what it did.
type Store interface {
	Journal
	Reader
	Locker
	Inbox
	Approvals
	Guardrails
	// Close releases the locks this store holds and closes the backend.
	Close() error
}

// Journal is what an apply writes: the apply, its incidents, each action
// before and after its call, and the evidence.
type Journal interface {
	// BeginApply records the start of applying a plan or a revert and
	// returns the apply's id. A plan is applied at most once: it fails with
	// ErrAlreadyApplied when the plan has a finished apply, whatever its
	// status. An apply left running by a crash is resumed (its id returned)
	// when start.Resume is set, and refused with ErrApplyInterrupted
	// otherwise; one still running in a live process on this host is
	// refused with ErrApplyInProgress. Call it holding the plan's target
	// locks: then a running apply of the same plan on another host is
	// necessarily a crashed one, since a live one would hold the locks.
	BeginApply(ctx context.Context, start ApplyStart) (int64, error)
	// FinishApply records the end of an apply: applied, failed or partial,
	// with the engine's summary JSON (may be nil).
	FinishApply(ctx context.Context, applyID int64, status ApplyStatus, summary json.RawMessage) error
	// PutIncident inserts or updates an incident by id. The store computes
	// the facts digest; CreatedAt is kept from the first insert, and the
	// finding's update time and count only move forward.
	PutIncident(ctx context.Context, inc Incident) error
	// ActionStarted records an action about to be applied or reverted and
	// returns its record id. It has committed when it returns: call it
	// before the call that makes the change.
	//
	// With start.Limits, it first counts, in the same transaction, the
	// actions each limited rule started within the last hour; when one has
	// reached its limit the action is recorded as skipped (withheld) and
	// the error is a *WithheldError (errors.Is ErrWithheld) with the
	// record's id returned all the same. The count and the insert are one
	// transaction, so concurrent applies cannot both take the last slot.
	ActionStarted(ctx context.Context, start ActionStart) (int64, error)
	// ActionFinished records an action's outcome. A record is finished
	// once; finishing it again is ErrActionFinished.
	ActionFinished(ctx context.Context, actionID int64, out Outcome) error
	// PutEvidence records a fact or artefact of an incident with its
	// SHA-256 digest, and appends the entry that records it to the
	// incident's custody log in the same transaction (see custody.go).
	// Evidence is append-only: the same item recorded twice is one record
	// (and one entry), and a record is never changed.
	PutEvidence(ctx context.Context, ev Evidence) error
	// AppendCustody appends a custody event that is not an evidence record
	// (a report written, with its digest; a snapshot copied to a forensic
	// account) to its incident's custody log, and returns the entry as
	// appended: numbered, linked and hashed. PutEvidence appends the entry
	// of each new evidence record itself, in the record's transaction. An
	// incident's entries are appended one at a time whatever process
	// appends them, so the log never forks.
	AppendCustody(ctx context.Context, e CustodyEntry) (CustodyEntry, error)
	// AddIncidentEvent appends an event to an incident's timeline (a
	// recurrence, a plan held for approval, a decision). Events are
	// append-only.
	AddIncidentEvent(ctx context.Context, ev IncidentEvent) error
}

// Reader reads back what was recorded.
type Reader interface {
	// Incidents lists incidents, newest first.
	Incidents(ctx context.Context, filter IncidentFilter) ([]IncidentSummary, error)
	// Incident returns everything recorded about one incident, or
	// ErrNotFound.
	Incident(ctx context.Context, id string) (*IncidentDetail, error)
	// FindingVersion returns the update time and count of the finding an
	// incident was last planned from (ok false when there is no such
	// incident): the daemon ignores an update older than it.
	FindingVersion(ctx context.Context, incidentID string) (updatedAt string, count int, ok bool, err error)
	// StartedActions returns the actions left started, oldest first: ones
	// in flight in a running apply, or ones a crash interrupted. `cordon
	// state recover` tells them apart by taking the target's lock first.
	StartedActions(ctx context.Context) ([]ActionRecord, error)
	// RunningApplies returns the applies not yet finished, oldest first.
	RunningApplies(ctx context.Context) ([]ApplyRecord, error)
	// DoneActions returns the finished actions of a plan's apply, the latest
	// record of each planned action: what a resumed apply must not repeat.
	DoneActions(ctx context.Context, planID string) (map[ActionKey]ActionRecord, error)
	// AppliedActions returns an incident's actions that changed their
	// target (applied or recovered) and have not been reverted, oldest
	// first: what `cordon revert` undoes, newest first.
	AppliedActions(ctx context.Context, incidentID string) ([]ActionRecord, error)
	// Evidence returns an incident's evidence with its data, oldest first.
	Evidence(ctx context.Context, incidentID string) ([]Evidence, error)
	// Custody returns an incident's custody log, by sequence number, as
	// stored: VerifyCustody checks it. An unknown incident is ErrNotFound.
	Custody(ctx context.Context, incidentID string) ([]CustodyEntry, error)
}

// Locker keeps two applies off one target.
type Locker interface {
	// Lock takes the locks on keys (see TargetLockKey) for owner, all or
	// none, waiting up to timeout for holders to release them (0 fails at
	// once). A lock whose holder is dead (LivenessDead: a process of this
	// host that no longer runs, judged by its pid, the host's boot id and
	// the process's start time) is stale: it is taken over, and the
	// takeover recorded as a LockEvent. On timeout the error is a
	// *LockError (errors.Is ErrLockTimeout) naming the key, its holder and
	// the lock's id. The returned function releases exactly the locks
	// taken here.
	Lock(ctx context.Context, keys []string, owner string, timeout time.Duration) (release func() error, err error)
	// Locks lists the locks held, by key, each with its id and what this
	// process can tell of its holder (Liveness).
	Locks(ctx context.Context) ([]LockInfo, error)
	// ForceUnlock removes the lock whose id (LockInfo.ID) is id, whatever
	// its holder: for a holder on another host that crashed, `terraform
	// force-unlock`'s counterpart. It records, in the same transaction, a
	// LockEvent saying who forced it (by: user@host) and whose lock it
	// was, and returns the lock removed. An id no lock has (released, or
	// released and taken again, which gives a new id) is ErrNotFound.
	ForceUnlock(ctx context.Context, id, by string) (LockInfo, error)
	// LockEvents returns the locks removed from their holders, forced or
	// taken over, oldest first. They are append-only.
	LockEvents(ctx context.Context) ([]LockEvent, error)
}

// Errors the engine tells apart. They are wrapped with the specifics (the
// plan, the action, the path); test with errors.Is.
var (
	ErrNotFound         = errors.New("not found")
	ErrAlreadyApplied   = errors.New("plan was already applied")
	ErrApplyInterrupted = errors.New("an apply of this plan was interrupted")
	ErrApplyInProgress  = errors.New("plan is being applied by another process")
	ErrActionFinished   = errors.New("action record is already finished")
	ErrLockTimeout      = errors.New("state lock is held")
	ErrSchemaTooNew     = errors.New("schema is newer than this cordon supports")
	ErrNotStateDatabase = errors.New("not a cordon state database")
	ErrWithheld         = errors.New("action withheld by a guardrail")
	ErrApplyTakenOver   = errors.New("apply was taken over by another process")
	ErrPlanDecided      = errors.New("plan is not pending")
)

// WithheldError is an action ActionStarted recorded as skipped because a
// rule's max_actions_per_hour was reached. It matches ErrWithheld.
type WithheldError struct {
	Rule    string
	PerHour int
}

func (e *WithheldError) Error() string {
	return fmt.Sprintf("withheld: rule %s reached its max_actions_per_hour (%d actions in the last hour)", e.Rule, e.PerHour)
}

// Is makes errors.Is(err, ErrWithheld) true.
func (e *WithheldError) Is(target error) bool { return target == ErrWithheld }

// Kind says whether an apply (and its actions) applies a plan or reverts an
// incident's applied actions.
type Kind string

// Kinds of apply.
const (
	KindApply  Kind = "apply"
	KindRevert Kind = "revert"
)

// ApplyStatus is where an apply stands.
type ApplyStatus string

// Apply statuses. Running is the only unfinished one.
const (
	ApplyRunning ApplyStatus = "running"
	// ApplyApplied: every action ended applied or no_change.
	ApplyApplied ApplyStatus = "applied"
	// ApplyFailed: no action changed anything and some failed.
	ApplyFailed ApplyStatus = "failed"
	// ApplyPartial: some actions changed their targets, others did not.
	ApplyPartial ApplyStatus = "partial"
)

// Result is what became of an action.
type Result string

// Action results. Started is the only unfinished one.
const (
	ResultStarted Result = "started"
	// ResultApplied: the change was made (or, for a revert, undone).
	ResultApplied Result = "applied"
	// ResultNoChange: the target was already in the desired state.
	ResultNoChange Result = "no_change"
	// ResultDrifted: the live state no longer matched the plan's before
	// (or, for a revert, the recorded after), so nothing was attempted.
	ResultDrifted Result = "drifted"
	ResultFailed  Result = "failed"
	// ResultSkipped: not attempted because an earlier phase failed for the
	// target.
	ResultSkipped Result = "skipped"
	// ResultInterrupted: left started by a crash, and recovery found the
	// change was not made.
	ResultInterrupted Result = "interrupted"
	// ResultRecovered: left started by a crash, and recovery found the
	// change was made; it counts as applied.
	ResultRecovered Result = "recovered"
)

// finished reports whether r ends an action record.
func (r Result) finished() bool {
	switch r {
	case ResultApplied, ResultNoChange, ResultDrifted, ResultFailed,
		ResultSkipped, ResultInterrupted, ResultRecovered:
		return true
	}
	return false
}

// changed reports whether an action with result r changed its target.
func (r Result) changed() bool { return r == ResultApplied || r == ResultRecovered }

// ApplyStart is what BeginApply records.
type ApplyStart struct {
	// PlanID is the plan file's id (plan.File.ID), or the id the engine
	// gives a revert plan.
	PlanID        string
	Kind          Kind
	ConfigDigest  string
	CordonVersion string
	// Owner says who applies: user@host and the command, for people
	// reading the record. The store adds its process id and host name.
	Owner string
	// Resume lets BeginApply resume an apply of this plan a crash left
	// running.
	Resume bool
	// StartedAt defaults to now.
	StartedAt time.Time
}

// ApplyRecord is an apply as recorded.
type ApplyRecord struct {
	ID            int64           `json:"id"`
	PlanID        string          `json:"plan_id"`
	Kind          Kind            `json:"kind"`
	ConfigDigest  string          `json:"config_digest"`
	CordonVersion string          `json:"cordon_version"`
	Owner         string          `json:"owner"`
	PID           int             `json:"pid"`
	Host          string          `json:"host"`
	Status        ApplyStatus     `json:"status"`
	Summary       json.RawMessage `json:"summary,omitempty"`
	StartedAt     time.Time       `json:"started_at"`
	// ResumedAt is when the apply was last resumed after a crash.
	ResumedAt  *time.Time `json:"resumed_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Incident is an incident as the plan describes it, with its facts.
type Incident struct {
	ID       string              `json:"id"`
	Finding  plan.FindingSummary `json:"finding"`
	Matches  []plan.Match        `json:"matches"`
	Verdicts []plan.Verdict      `json:"verdicts"`
	// FindingData is the normalized finding (schema.Finding) as JSON, for
	// reports. May be nil.
	FindingData json.RawMessage `json:"finding_data,omitempty"`
	// Facts are the investigation's facts by collector, as JSON. May be
	// nil.
	Facts json.RawMessage `json:"facts,omitempty"`
	// FactsSHA256 is the hex SHA-256 of Facts, set by the store. When the
	// caller sets it, PutIncident checks it against Facts.
	FactsSHA256 string `json:"facts_sha256"`
	// FindingUpdatedAt and FindingCount are the finding's update time
	// (RFC 3339) and occurrence count as last planned: a re-published
	// finding has a newer time and a higher count, and never makes a new
	// incident.
	FindingUpdatedAt string `json:"finding_updated_at,omitempty"`
	FindingCount     int    `json:"finding_count,omitempty"`
	// CreatedAt and UpdatedAt default to now. UpdatedAt also advances as
	// the incident's actions finish.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ActionStart is what ActionStarted records, before the call that makes
// the change.
type ActionStart struct {
	ApplyID    int64
	IncidentID string
	Address    string
	Action     string // the action block's name
	Type       string // the action type
	Phase      string
	Target     actions.Target
	// Reversible is whether the action type can be reverted; it decides
	// whether an incident whose reverts all succeeded is fully reverted.
	Reversible bool
	// RevertOf is, in a revert, the id of the applied action being undone;
	// zero in an apply.
	RevertOf int64
	// Before is the target's state before the change (for a revert, the
	// state being restored).
	Before json.RawMessage
	// Config is the action block's configuration, which a revert needs.
	// The store keeps what it is given: secrets must already be removed.
	Config json.RawMessage
	// Planned is the planned change (actions.Change as JSON), which
	// recovery compares live state with to tell a change made from one not
	// made. May be nil.
	Planned json.RawMessage
	// Rules are the rules that planned the action, which guardrails count
	// it against. Empty for a revert.
	Rules []string
	// Limits are the max_actions_per_hour of the limited rules among
	// Rules. An action that would exceed one is withheld (see
	// Journal.ActionStarted). Nil for records that change nothing (a
	// target found already in its planned state, a drift, a skip).
	Limits []RuleLimit
	// StartedAt defaults to now.
	StartedAt time.Time
}

// RuleLimit is a rule's max_actions_per_hour.
type RuleLimit struct {
	Rule    string
	PerHour int
}

// Outcome is what ActionFinished records.
type Outcome struct {
	Result Result
	// After is the target's state after the action (may be nil).
	After json.RawMessage
	// Error is the error's text, for failed and drifted actions.
	Error string
	// FinishedAt defaults to now.
	FinishedAt time.Time
}

// ActionRecord is an action as recorded.
type ActionRecord struct {
	ID         int64           `json:"id"`
	ApplyID    int64           `json:"apply_id"`
	PlanID     string          `json:"plan_id"`
	Kind       Kind            `json:"kind"`
	IncidentID string          `json:"incident_id"`
	Address    string          `json:"address"`
	Action     string          `json:"action"`
	Type       string          `json:"type"`
	Phase      string          `json:"phase"`
	Target     actions.Target  `json:"target"`
	Reversible bool            `json:"reversible"`
	RevertOf   int64           `json:"revert_of,omitempty"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	Config     json.RawMessage `json:"config,omitempty"`
	Planned    json.RawMessage `json:"planned,omitempty"`
	Rules      []string        `json:"rules,omitempty"`
	Result     Result          `json:"result"`
	Error      string          `json:"error,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// ActionKey identifies a planned action within a plan: the same address can
// appear in two incidents of one plan (two findings about one instance).
type ActionKey struct {
	IncidentID string
	Address    string
}

// Key returns the record's ActionKey.
func (r *ActionRecord) Key() ActionKey {
	return ActionKey{IncidentID: r.IncidentID, Address: r.Address}
}

// IncidentStatus summarises what was done about an incident.
type IncidentStatus string

// Incident statuses (see deriveStatus).
const (
	// StatusPlanned: recorded, no action started yet.
	StatusPlanned IncidentStatus = "planned"
	// StatusApplying: some action is started and not finished, either in
	// flight or interrupted by a crash and awaiting recovery.
	StatusApplying IncidentStatus = "applying"
	// StatusResponded: every planned action applied or found no change.
	StatusResponded IncidentStatus = "responded"
	// StatusFailed: some planned action's latest outcome is failed,
	// drifted or interrupted. A skip (approval, not configured) is no
	// outcome: the action keeps the one it had.
	StatusFailed IncidentStatus = "failed"
	// StatusReverted: every reversible change was reverted.
	StatusReverted IncidentStatus = "reverted"
	// StatusPartiallyReverted: some reversible changes were reverted, some
	// not.
	StatusPartiallyReverted IncidentStatus = "partially reverted"
)

// IncidentFilter selects incidents to list.
type IncidentFilter struct {
	// Status keeps incidents with one of these statuses; empty keeps all.
	Status []IncidentStatus
	// Since keeps incidents created at or after it; zero keeps all.
	Since time.Time
	// Limit caps the number listed; zero lists all.
	Limit int
}

// IncidentSummary is an incident in a list.
type IncidentSummary struct {
	ID       string              `json:"id"`
	Finding  plan.FindingSummary `json:"finding"`
	Verdicts []plan.Verdict      `json:"verdicts"`
	Status   IncidentStatus      `json:"status"`
	// Actions counts the incident's planned actions by the result of their
	// latest record.
	Actions map[Result]int `json:"actions"`
	// Reverted counts the changes reverted.
	Reverted  int       `json:"reverted"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IncidentDetail is everything recorded about an incident.
type IncidentDetail struct {
	Incident Incident       `json:"incident"`
	Status   IncidentStatus `json:"status"`
	// Applies are the applies and reverts that recorded actions for the
	// incident, oldest first.
	Applies []ApplyRecord `json:"applies"`
	// Actions are every action record, in the order they started.
	Actions []ActionRecord `json:"actions"`
	// Evidence lists the evidence without its data (see Store.Evidence).
	Evidence []Evidence `json:"evidence"`
	// Events are the incident's timeline events (recurrences, approvals),
	// oldest first.
	Events []IncidentEvent `json:"events"`
	// Plans are the daemon's plans for the incident, oldest first, without
	// their files.
	Plans []PlanRecord `json:"plans"`
}

// Evidence is a fact or artefact collected for an incident, with its
// digest for the chain of custody.
type Evidence struct {
	ID         int64  `json:"id"`
	IncidentID string `json:"incident_id"`
	// Kind is what it is: "facts", "snapshot", "screenshot", ….
	Kind string `json:"kind"`
	Name string `json:"name"`
	// SHA256 is the hex SHA-256 of the artefact. With Data, the store
	// computes it (and checks it when set); without, it is the digest of an
	// artefact kept elsewhere, or empty when there is none to take (an EBS
	// snapshot is described by Meta).
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Data is the artefact itself, up to MaxEvidenceSize bytes; nil when it
	// is kept elsewhere.
	Data []byte `json:"data,omitempty"`
	// Meta describes it as JSON: where it is kept, what collected it.
	Meta      json.RawMessage `json:"meta,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// MaxEvidenceSize bounds the evidence data kept in state. Larger artefacts
// (memory images, disk snapshots) belong in object storage, with their
// digest recorded here.
const MaxEvidenceSize = 64 << 20

// LockInfo describes a lock and its holder.
type LockInfo struct {
	// ID names this acquisition of the lock: `cordon state unlock ID`
	// removes it. A lock released and taken again has another id, so an
	// unlock meant for a dead holder cannot remove its successor's lock.
	ID    string `json:"id"`
	Key   string `json:"key"`
	Owner string `json:"owner"`
	PID   int    `json:"pid"`
	Host  string `json:"host"`
	// BootID and ProcessStart identify the holder beyond its pid: the
	// host's boot id and the process's start time as its kernel reports
	// it (on Linux, clock ticks since boot). Empty when the holder's
	// platform could not tell, or for a lock an older cordon took.
	BootID       string    `json:"boot_id,omitempty"`
	ProcessStart string    `json:"process_start,omitempty"`
	AcquiredAt   time.Time `json:"acquired_at"`
	// Liveness is what the process that read the lock can tell of its
	// holder.
	Liveness Liveness `json:"liveness"`
}

// Liveness is whether a lock's holder still runs, as far as the process
// judging it can tell.
type Liveness string

// Liveness values.
const (
	// LivenessAlive: the holder is on this host, and a process with its
	// pid runs (started at the recorded time, where one was recorded).
	LivenessAlive Liveness = "alive"
	// LivenessDead: the holder was on this host and is gone (no process
	// with its pid, another process under its pid, or a reboot since). The
	// next Lock of its key takes the lock over.
	LivenessDead Liveness = "dead"
	// LivenessUnknown: the holder is on another host, so it is never
	// presumed dead; only `cordon state unlock` removes its lock.
	LivenessUnknown Liveness = "unknown"
)

// LockEventKind says how a lock was removed from its holder.
type LockEventKind string

// Lock event kinds.
const (
	// LockForced: a person removed it with `cordon state unlock`.
	LockForced LockEventKind = "forced"
	// LockTakenOver: Lock found its holder dead and took the lock over.
	LockTakenOver LockEventKind = "taken_over"
)

// LockEvent records a lock removed from its holder by someone else: the
// audit trail of forced unlocks and takeovers.
type LockEvent struct {
	ID   int64         `json:"id"`
	Kind LockEventKind `json:"kind"`
	// Lock is the lock removed, its holder, and what the remover could
	// tell of the holder then (Liveness).
	Lock LockInfo `json:"lock"`
	// By is who removed it: user@host for a forced unlock, the new
	// holder's owner for a takeover. ByPID and ByHost are its process.
	By     string    `json:"by"`
	ByPID  int       `json:"by_pid"`
	ByHost string    `json:"by_host"`
	At     time.Time `json:"at"`
}

// lockID is the id of the lock on key taken with token (one Lock call's
// rows share a token): short enough to type, and derived from the token,
// so each acquisition of the key has its own. It is not the token, which
// stays the holder's.
func lockID(key, token string) string {
	sum := sha256.Sum256([]byte(token + "\x00" + key))
	return hex.EncodeToString(sum[:6])
}

// LockError is a lock not acquired: its key is held by Holder. It matches
// ErrLockTimeout with errors.Is.
type LockError struct {
	Holder  LockInfo
	Timeout time.Duration
}

func (e *LockError) Error() string {
	h := e.Holder
	msg := fmt.Sprintf("state lock %q is held by %s (pid %d on %s) since %s",
		h.Key, h.Owner, h.PID, h.Host, h.AcquiredAt.UTC().Format(time.RFC3339))
	if e.Timeout > 0 {
		msg += fmt.Sprintf("; gave up after waiting %s", e.Timeout)
	}
	if h.ID != "" {
		msg += fmt.Sprintf("; lock id %s: if its holder is gone, `cordon state unlock %s` removes it", h.ID, h.ID)
	}
	return msg
}

// Is makes errors.Is(err, ErrLockTimeout) true.
func (e *LockError) Is(target error) bool { return target == ErrLockTimeout }

// TargetLockKey is the lock key of an action's target. Applies, reverts and
// recovery lock the same keys for the same target.
func TargetLockKey(t actions.Target) string {
	return "target/" + t.Account + "/" + t.Region + "/" + t.Type + "/" + t.ID
}

// validate checks an ApplyStart.
func (s *ApplyStart) validate() error {
	if s.PlanID == "" {
		return errors.New("apply: plan id is empty")
	}
	if s.Kind != KindApply && s.Kind != KindRevert {
		return fmt.Errorf("apply of %s: kind %q is neither %q nor %q", s.PlanID, s.Kind, KindApply, KindRevert)
	}
	if s.Owner == "" {
		return fmt.Errorf("apply of %s: owner is empty", s.PlanID)
	}
	return nil
}

// validate checks an Incident.
func (inc *Incident) validate() error {
	if inc.ID == "" {
		return errors.New("incident: id is empty")
	}
	if inc.Finding.ID == "" {
		return fmt.Errorf("incident %s: finding id is empty", inc.ID)
	}
	if err := checkJSON(inc.FindingData); err != nil {
		return fmt.Errorf("incident %s: finding data: %w", inc.ID, err)
	}
	if err := checkJSON(inc.Facts); err != nil {
		return fmt.Errorf("incident %s: facts: %w", inc.ID, err)
	}
	return nil
}

// validate checks an ActionStart.
func (s *ActionStart) validate() error {
	switch {
	case s.ApplyID <= 0:
		return fmt.Errorf("action %s: apply id %d is not an apply's", s.Address, s.ApplyID)
	case s.IncidentID == "":
		return fmt.Errorf("action %s: incident id is empty", s.Address)
	case s.Address == "":
		return errors.New("action: address is empty")
	case s.Action == "" || s.Type == "":
		return fmt.Errorf("action %s: action name and type are required", s.Address)
	case s.RevertOf < 0:
		return fmt.Errorf("action %s: revert_of %d is not an action's", s.Address, s.RevertOf)
	}
	if _, ok := actions.ParsePhase(s.Phase); !ok {
		return fmt.Errorf("action %s: unknown phase %q", s.Address, s.Phase)
	}
	if err := checkJSON(s.Before); err != nil {
		return fmt.Errorf("action %s: before: %w", s.Address, err)
	}
	if err := checkJSON(s.Config); err != nil {
		return fmt.Errorf("action %s: config: %w", s.Address, err)
	}
	if err := checkJSON(s.Planned); err != nil {
		return fmt.Errorf("action %s: planned change: %w", s.Address, err)
	}
	return nil
}

// validate checks an Outcome.
func (o *Outcome) validate(actionID int64) error {
	if !o.Result.finished() {
		return fmt.Errorf("action %d: %q is not a result that finishes an action", actionID, o.Result)
	}
	if err := checkJSON(o.After); err != nil {
		return fmt.Errorf("action %d: after: %w", actionID, err)
	}
	return nil
}

// checkJSON accepts nil (recorded as NULL) or a valid JSON document.
func checkJSON(raw json.RawMessage) error {
	if raw != nil && !json.Valid(raw) {
		return errors.New("not valid JSON")
	}
	return nil
}
