// Package actions holds cordon's response action types (docs/actions.md) and the
// registry through which the engine finds them.
//
// An action type is one file: a Definition (its configuration schema,
// accepted target types, phase and reversibility) definitions from init, and a
// value implementing Action for each configured block. The engine never
// switches on type names; it asks the registry.
package actions

import (
	"fmt"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/internal/registry"
)

// Definition describes an action type to the engine.
type Definition struct {
	// Type is the name used in `action "x" { type = "…" }`.
	Type string
	// Summary is one line for documentation and `cordon validate` output.
	Summary string
	// Phase is when, in an apply, actions of this type run.
	Phase Phase
	// TargetTypes are the resource types this action accepts. Nil means the
	// action is not about a resource (notifications): its target is the
	// incident's primary resource, whatever its type.
	TargetTypes []string
	// Reversible reports whether `cordon revert` can undo the change.
	Reversible bool
	// Attributes is the schema of the block's attributes other than `type`.
	// Decoding against it gives the diagnostics for missing and mistyped
	// attributes, with their source ranges.
	Attributes hcldec.ObjectSpec
	// New builds a configured action from the decoded attributes (an object
	// conforming to Attributes). An *AttributeError points the diagnostic at
	// one attribute.
	New func(config cty.Value) (Action, error)
	// SensitiveAttributes may take a sensitive variable's value: the type
	// never shows, logs nor records them, nor anything derived from them,
	// except as SensitiveValue. Their values reach New marked (with cty
	// marks: IsMarked, Unmark) and no other attribute's is.
	SensitiveAttributes []string
}

// SensitiveValue is what is shown and recorded instead of a sensitive
// value.
const SensitiveValue = "(sensitive value)"

// Accepts reports whether the action can target a resource of type t.
func (d *Definition) Accepts(t string) bool {
	if d.TargetTypes == nil {
		return true
	}
	for _, tt := range d.TargetTypes {
		if tt == t {
			return true
		}
	}
	return false
}

// Action is one configured action block.
type Action interface {
	// Describe says what applying the action to req's target would change,
	// from what is known without calling AWS: the finding's resource details
	// and the investigation's facts. Attributes it cannot know offline are
	// listed as unknown rather than guessed.
	Describe(req *Request) Change
}

// Unconfigured is implemented by an action that may be declared before it
// can work: a notification whose URL comes from a variable nobody has set
// yet (the starter configuration's). NotConfigured says why it cannot
// work, naming the attribute, or returns "" when it can. Loading the
// configuration warns about it, plans show it and apply skips it, so an
// unset placeholder is flagged everywhere and fails nothing.
type Unconfigured interface {
	NotConfigured() (attribute, reason string)
}

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

var definitions = registry.New[*Definition]("actions")

// Register adds an action type. It panics on a duplicate or malformed
// definition, which is a programming error caught by any test run.
func Register(d *Definition) {
	if d.Type == "" || d.New == nil {
		panic("actions: incomplete definition")
	}
	if d.Attributes == nil {
		d.Attributes = hcldec.ObjectSpec{}
	}
	definitions.Add(d.Type, d)
}

// Lookup returns the definition of an action type.
func Lookup(typ string) (*Definition, bool) { return definitions.Lookup(typ) }

// Types returns the registered type names, sorted.
func Types() []string { return definitions.Types() }
