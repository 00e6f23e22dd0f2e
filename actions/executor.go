package actions

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/evidence"
)

// Env is what actions need to act: AWS clients per account and region, an
// HTTP client for notifications, the clock, and where debug lines go.
type Env struct {
	AWS  *awsclient.Factory
	HTTP *http.Client
	Now  func() time.Time
	// Debug receives debug lines (never secrets); nil discards them.
	Debug io.Writer
	// Incident is the summary a notification sends.
	Incident *IncidentSummary
	// Delivery is the notification's delivery key (DeliveryKey), sent as
	// X-Cordon-Delivery: the same whenever this notification is sent
	// again, so its receiver can drop a copy. Empty: a new random key.
	Delivery string
	// Forensic is where snapshots taken as evidence are copied (the
	// evidence block's forensic_account and kms_key_id); nil: nowhere.
	Forensic *evidence.Forensic
}

// IncidentSummary is the JSON a notification posts: what happened, what
// cordon concluded, and what it did so far in this apply.
type IncidentSummary struct {
	IncidentID string          `json:"incident_id"`
	Finding    FindingBrief    `json:"finding"`
	Verdicts   []VerdictBrief  `json:"verdicts"`
	Actions    []ActionOutcome `json:"actions"`
	Summary    string          `json:"summary,omitempty"`
	// Approval is set when the notification asks a person to approve a
	// plan the daemon holds; Actions are then the planned ones, with
	// result "pending".
	Approval *ApprovalRequest `json:"approval,omitempty"`
}

// ApprovalRequest is a plan waiting for a person, in a notification.
type ApprovalRequest struct {
	PlanID string `json:"plan_id"`
	// Reason says why it waits: the rule asks for manual approval, the
	// circuit breaker is open, the target was acted on recently.
	Reason string `json:"reason"`
	// ExpiresAt is when it is rejected unless approved (RFC 3339).
	ExpiresAt string `json:"expires_at"`
	// Approve and Reject are the commands that decide it.
	Approve string `json:"approve"`
	Reject  string `json:"reject"`
}

// FindingBrief identifies the finding in a notification.
type FindingBrief struct {
	ID       string `json:"id"`
	Source   string `json:"source"`
	Type     string `json:"type"`
	Title    string `json:"title,omitempty"`
	Severity string `json:"severity"`
	Account  string `json:"account"`
	Region   string `json:"region"`
	Resource Target `json:"resource"`
}

// VerdictBrief is one rule's verdict in a notification.
type VerdictBrief struct {
	Rule       string   `json:"rule"`
	Verdict    string   `json:"verdict"`
	Confidence *float64 `json:"confidence,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	RootCause  string   `json:"root_cause,omitempty"`
	Impact     string   `json:"impact,omitempty"`
}

// ActionOutcome is an action of the incident and what became of it.
type ActionOutcome struct {
	Address string `json:"address"`
	Result  string `json:"result"`
	Error   string `json:"error,omitempty"`
}

// now returns the environment's clock, defaulting to the wall clock.
func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Executor is an action that can act: read the target's live state, apply
// the change, and say which IAM actions it calls. Every registered type
// implements it; Describe (Action) is the offline half.
type Executor interface {
	Action
	// Read returns the target's live state, with the attributes Describe
	// uses, so the engine can tell drift (live differs from the plan's
	// before) from a change already made (live equals the plan's after).
	Read(ctx context.Context, env *Env, req *Request) (map[string]any, error)
	// Apply makes the change and returns the after-state. live is what
	// Read returned just before. Apply is idempotent: when the target is
	// already in the after-state it calls nothing that changes it and
	// returns changed = false.
	Apply(ctx context.Context, env *Env, req *Request, live map[string]any) (after map[string]any, changed bool, err error)
	// Permissions lists the IAM actions Read, Apply and Revert call, for
	// `cordon iam-policy`.
	Permissions() []string
}

// Reverter is an Executor whose change can be undone.
type Reverter interface {
	Executor
	// Revert restores before, the state recorded before Apply; after is
	// the state Apply recorded. The engine has checked that the live state
	// still equals after (else the revert is reported as drifted and not
	// attempted). It returns the restored state.
	Revert(ctx context.Context, env *Env, req *Request, before, after map[string]any) (map[string]any, error)
}

// ErrRefused is returned (wrapped) by an action that refuses to act on a
// target, such as disabling cordon's own access key. It is never retried.
var ErrRefused = errors.New("refused")
