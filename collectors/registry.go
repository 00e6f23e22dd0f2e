// Package collectors holds cordon's collector types (docs/collectors.md), which gather
// facts about an investigation's resource, and the registry through which
// the engine finds them.
//
// A collector type is one file: a Definition (configuration schema, facts
// schema, the resources its facts reveal) definitions from init.
package collectors

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/internal/registry"
	"github.com/cordonhq/cordon/schema"
)

// Definition describes a collector type to the engine.
type Definition struct {
	// Type is the name used in `collector "x" { type = "…" }`.
	Type string
	// Summary is one line for documentation.
	Summary string
	// ResourceTypes are the primary resource types the collector can gather
	// facts about; nil means any.
	ResourceTypes []string
	// DefaultTimeout applies when the block sets no `timeout`.
	DefaultTimeout time.Duration
	// Attributes is the schema of the block's attributes other than the
	// common `type`, `timeout` and `required`.
	Attributes hcldec.ObjectSpec
	// FactsSchema names the JSON Schema in package schema that describes
	// the facts (schema.FactsSchema), so policies on them are type-checked.
	FactsSchema string
	// Resources lists the resources the facts reveal (an instance's volumes,
	// its role), which a response may target besides the finding's own.
	// Nil when the facts reveal none.
	Resources func(facts map[string]any, primary schema.Resource) []schema.Resource
	// New builds a configured collector from the decoded attributes.
	New func(config cty.Value) (Collector, error)
	// Volatile is set for collectors of evidence that disrupting the
	// resource destroys (memory, lost when an instance stops): it returns
	// why the facts do not confirm that the evidence was kept, "" when
	// they do. The planner withholds a disrupt-phase action on the
	// resource while a collector of one of the action's rules has not
	// confirmed it, and apply checks the plan again.
	Volatile func(facts map[string]any) string
}

// Collector is one configured collector block. Collectors that call AWS
// also implement Permissions() []string (the IAM actions they call) for
// `cordon iam-policy`.
type Collector interface {
	// Collect gathers the facts about req's resource. It must honour ctx's
	// deadline (the block's timeout) and never change the resource unless
	// its type says so (aws_ebs_acquire snapshots volumes).
	Collect(ctx context.Context, req *Request) (map[string]any, error)
}

// NotConfigured is what a collector block declared before it can work
// runs as: an attribute it needs takes its value from a variable nobody
// has set yet (the starter configuration's memory acquisition tool).
// Loading the configuration warns, naming the variables; every run fails
// with Reason and Remedy, so the rules that collect it get an error fact
// (and a disruption waiting for its evidence stays withheld, see
// Definition.Volatile) instead of a configuration error stopping
// everything else.
type NotConfigured struct {
	// Reason says what is missing: "its tool_s3_uri and tool_sha256 are
	// empty".
	Reason string
	// Remedy says what to set: "set variables memory_tool_s3_uri and
	// memory_tool_sha256".
	Remedy string
}

// Collect fails: there is nothing to run until the variables are set.
func (n *NotConfigured) Collect(context.Context, *Request) (map[string]any, error) {
	return nil, fmt.Errorf("not configured: %s; %s", n.Reason, n.Remedy)
}

// Request is what a collector sees of one investigation.
type Request struct {
	IncidentID string
	Finding    *schema.Finding
	// Resource is the investigation's primary resource.
	Resource schema.Resource
	// Dir is the configuration directory, against which relative paths in
	// collector blocks resolve.
	Dir string
	// AWS builds SDK clients per account and region; nil when the plan
	// runs without AWS access.
	AWS *awsclient.Factory
	// Keep records an artefact as evidence of the incident (a console
	// screenshot, a snapshot id): the engine carries it in the plan and
	// stores it in state, with its SHA-256, when the plan is applied. Nil
	// when nobody keeps evidence (cordon test).
	Keep func(Artefact)
	// Now is the clock (lookback windows); nil means time.Now.
	Now func() time.Time
}

// Artefact is a piece of evidence a collector gathered besides its facts.
type Artefact struct {
	// Kind is what it is: "screenshot", "snapshot", "console-output", ….
	Kind string `json:"kind"`
	// Name identifies it within the incident ("console.png",
	// "snap-0…").
	Name string `json:"name"`
	// Data is the artefact's bytes, when cordon keeps them (bounded by
	// the state backend); nil for artefacts kept elsewhere (an EBS
	// snapshot), which Meta then describes.
	Data []byte `json:"data,omitempty"`
	// Meta describes it: where it is, what it is of.
	Meta map[string]any `json:"meta,omitempty"`
}

// keep records an artefact when someone keeps evidence.
func (r *Request) keep(a Artefact) {
	if r.Keep != nil {
		r.Keep(a)
	}
}

// now returns the request's clock.
func (r *Request) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

var definitions = registry.New[*Definition]("collectors")

// Register adds a collector type; it panics on a duplicate or incomplete
// definition, a programming error any test run catches.
func Register(d *Definition) {
	if d.Type == "" || d.New == nil {
		panic("collectors: incomplete definition")
	}
	if d.Attributes == nil {
		d.Attributes = hcldec.ObjectSpec{}
	}
	definitions.Add(d.Type, d)
}

// Lookup returns the definition of a collector type.
func Lookup(typ string) (*Definition, bool) { return definitions.Lookup(typ) }

// Types returns the registered type names, sorted.
func Types() []string { return definitions.Types() }

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
