// Package sources holds the finding sources of `cordon serve` (docs/daemon.md):
// an SQS queue fed by EventBridge, GuardDuty polling, and the registry
// through which the configuration finds them. It is the third plug-in
// family beside actions and collectors: a source type is one file with a
// Definition registered from init, and the daemon never switches on type
// names.
//
// A source only reads: it hands what it received to a Sink, which parses
// it, records it durably and returns only once it is committed; then, and
// only then, the source acknowledges it where it came from (deletes the
// SQS message, moves the poll cursor). A crash between the two makes the
// source deliver it again, and the sink's de-duplication drops the copy.
package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/registry"
)

// Definition describes a source type.
type Definition struct {
	// Type is the block's first label: `source "sqs" "name"`.
	Type string
	// Summary is one line for documentation.
	Summary string
	// Attributes is the schema of the block's attributes.
	Attributes hcldec.ObjectSpec
	// IAMActions are the AWS calls the source makes, for `cordon
	// iam-policy`.
	IAMActions []string
	// New builds a configured source from the decoded attributes. An
	// *AttributeError points the diagnostic at one attribute.
	New func(config cty.Value) (Source, error)
}

// Source receives findings and hands them to a sink until its context is
// done.
type Source interface {
	// Run receives until ctx is done, then returns nil once what it was
	// handing to the sink is committed or given back. It returns an error
	// only for a failure it cannot recover from; a transient failure (a
	// throttled call, a database that is restarting) is retried with
	// backoff and reported through env.Status.
	Run(ctx context.Context, env *Env) error
}

// Env is what a running source is given.
type Env struct {
	// Name is the source's address, "sqs.guardduty_events": the route
	// deliveries record and metrics are labelled with.
	Name string
	Sink Sink
	// AWS builds the SDK clients, from the provider block.
	AWS    *awsclient.Factory
	Logger *slog.Logger
	Status *Status
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Sink takes what sources receive. Implementations are safe for concurrent
// use.
type Sink interface {
	// Accept parses a batch and records its findings durably. It returns
	// once they are committed: the caller may then acknowledge the batch.
	// Input that is not findings of an accepted format is recorded as a
	// rejection, with its reason, and Accept returns a *RejectedError: the
	// caller acknowledges it all the same, so it never blocks the source.
	// Any other error means nothing was recorded, and the caller must not
	// acknowledge (SQS delivers the message again).
	Accept(ctx context.Context, b Batch) (*Receipt, error)
	// Cursor returns a position a poller stored with an earlier batch.
	Cursor(ctx context.Context, name string) (value string, ok bool, err error)
}

// Batch is what a source received at once.
type Batch struct {
	// Source is the source's address (Env.Name).
	Source string
	// Data is findings in any accepted format (docs/findings.md): one, an array,
	// NDJSON, an EventBridge event. It may be empty when only the cursor
	// moves.
	Data []byte
	// Cursor, when set, moves in the same transaction as the findings are
	// recorded.
	Cursor *Cursor
}

// Cursor is a poller's position, kept in state.
type Cursor struct {
	Name  string
	Value string
}

// Receipt says what became of a batch's findings.
type Receipt struct {
	Deliveries []Delivery `json:"deliveries"`
}

// Delivery is one finding of a batch as recorded.
type Delivery struct {
	ID         int64  `json:"id"`
	FindingID  string `json:"finding_id"`
	IncidentID string `json:"incident_id"`
	// Duplicate is true when the same update of the finding was already
	// received: it is not processed again.
	Duplicate bool `json:"duplicate"`
}

// RejectedError is a batch the sink recorded as rejected.
type RejectedError struct {
	// ID is the rejection's record.
	ID     int64
	Reason string
}

func (e *RejectedError) Error() string { return "rejected: " + e.Reason }

// ErrRejected matches a *RejectedError with errors.Is.
var ErrRejected = errors.New("rejected")

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// AttributeError is a configuration error about one attribute of a block.
type AttributeError struct {
	Attribute string
	Summary   string
	Detail    string
}

func (e *AttributeError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %s", e.Attribute, e.Summary)
	}
	return fmt.Sprintf("%s: %s: %s", e.Attribute, e.Summary, e.Detail)
}

var definitions = registry.New[*Definition]("sources")

// Register adds a source type. It panics on a duplicate or incomplete
// definition, which is a programming error caught by any test run.
func Register(d *Definition) {
	if d.Type == "" || d.New == nil {
		panic("sources: incomplete definition")
	}
	if d.Attributes == nil {
		d.Attributes = hcldec.ObjectSpec{}
	}
	definitions.Add(d.Type, d)
}

// Lookup returns the definition of a source type.
func Lookup(typ string) (*Definition, bool) { return definitions.Lookup(typ) }

// Types returns the registered type names, sorted.
func Types() []string { return definitions.Types() }

// Health is a running source's condition, as /readyz reports it.
type Health string

// Conditions, as OPA's plug-ins report theirs.
const (
	NotReady Health = "NOT_READY"
	OK       Health = "OK"
	Error    Health = "ERROR"
)

// Status is a source's condition and why. It is safe for concurrent use.
type Status struct {
	mu      sync.Mutex
	health  Health
	message string
	since   time.Time
}

// NewStatus returns a status that is not ready yet.
func NewStatus() *Status { return &Status{health: NotReady, since: time.Now()} }

// Set records a condition; a change of condition restarts Since.
func (s *Status) Set(h Health, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h != s.health {
		s.since = time.Now()
	}
	s.health, s.message = h, message
}

// Get returns the condition, its message and since when it holds.
func (s *Status) Get() (Health, string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health, s.message, s.since
}
