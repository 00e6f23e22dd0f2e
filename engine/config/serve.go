package config

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/sources"
)

// Source is a `source "TYPE" "NAME"` block: where `cordon serve` receives
// findings from (docs/daemon.md).
type Source struct {
	Type, Name string
	Def        *sources.Definition
	Impl       sources.Source
	// Config is the decoded attributes.
	Config    cty.Value
	DeclRange hcl.Range
}

// Address is the source's name in deliveries, logs and metrics:
// "sqs.guardduty_events".
func (s *Source) Address() string { return s.Type + "." + s.Name }

// Serve is the `serve` block: the daemon's guardrails and limits.
type Serve struct {
	// DryRun plans and records "would have", never applies.
	DryRun bool
	// MaxConcurrent bounds the investigations run at once.
	MaxConcurrent int
	// CircuitBreaker, when set, makes every plan wait for approval while
	// more than MaxActions actions were applied within Window.
	CircuitBreaker *CircuitBreaker
	// ApprovalTimeout is how long a plan waits for approval before it
	// expires (is rejected).
	ApprovalTimeout time.Duration
	DeclRange       hcl.Range
}

// CircuitBreaker is serve's circuit_breaker.
type CircuitBreaker struct {
	MaxActions int
	Window     time.Duration
}

// Serve defaults.
const (
	DefaultMaxConcurrent   = 4
	DefaultApprovalTimeout = 24 * time.Hour
)

var serveSpec = hcldec.ObjectSpec{
	"dry_run":          &hcldec.AttrSpec{Name: "dry_run", Type: cty.Bool},
	"max_concurrent":   &hcldec.AttrSpec{Name: "max_concurrent", Type: cty.Number},
	"circuit_breaker":  &hcldec.AttrSpec{Name: "circuit_breaker", Type: cty.Object(map[string]cty.Type{"max_actions": cty.Number, "window": cty.String})},
	"approval_timeout": &hcldec.AttrSpec{Name: "approval_timeout", Type: cty.String},
}

func (l *loader) decodeServe() {
	l.cfg.Serve = Serve{MaxConcurrent: DefaultMaxConcurrent, ApprovalTimeout: DefaultApprovalTimeout}
	blocks := l.blocks["serve"]
	for _, b := range blocks[min(1, len(blocks)):] {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate serve block",
			Detail:   fmt.Sprintf("A serve block was already declared at %s. A configuration has at most one.", blocks[0].DefRange.String()),
			Subject:  b.DefRange.Ptr(),
		})
	}
	if len(blocks) == 0 {
		return
	}
	b := blocks[0]
	sv := &l.cfg.Serve
	sv.DeclRange = b.DefRange
	val, diags := hcldec.Decode(b.Body, serveSpec, l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return
	}
	val, _ = val.UnmarkDeep() // the daemon's settings are not recorded
	if v := val.GetAttr("dry_run"); !v.IsNull() {
		sv.DryRun = v.True()
	}
	if v := val.GetAttr("max_concurrent"); !v.IsNull() {
		if n, ok := l.positiveInt(v, attrRange(b, "max_concurrent"), "max_concurrent", "investigations run at once"); ok {
			sv.MaxConcurrent = n
		}
	}
	if v := val.GetAttr("approval_timeout"); !v.IsNull() {
		if d, ok := l.duration(v.AsString(), attrRange(b, "approval_timeout")); ok {
			sv.ApprovalTimeout = d
		}
	}
	if v := val.GetAttr("circuit_breaker"); !v.IsNull() {
		rng := attrRange(b, "circuit_breaker")
		cb := &CircuitBreaker{}
		ok := true
		if m := v.GetAttr("max_actions"); m.IsNull() {
			ok = false
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid circuit_breaker",
				Detail: "circuit_breaker needs max_actions, like { max_actions = 50, window = \"10m\" }.", Subject: rng.Ptr()})
		} else if n, good := l.positiveInt(m, rng, "circuit_breaker.max_actions", "actions applied within the window"); good {
			cb.MaxActions = n
		} else {
			ok = false
		}
		if w := v.GetAttr("window"); w.IsNull() {
			ok = false
			l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid circuit_breaker",
				Detail: "circuit_breaker needs a window, like { max_actions = 50, window = \"10m\" }.", Subject: rng.Ptr()})
		} else if d, good := l.duration(w.AsString(), rng); good {
			cb.Window = d
		} else {
			ok = false
		}
		if ok {
			sv.CircuitBreaker = cb
		}
	}
}

// positiveInt reads a whole number above zero.
func (l *loader) positiveInt(v cty.Value, rng hcl.Range, name, what string) (int, bool) {
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if !bf.IsInt() || acc != 0 || n <= 0 || n > 1<<31 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + name,
			Detail:   fmt.Sprintf("%s is the number of %s: a whole number above zero, not %s.", name, what, bf.Text('g', 10)),
			Subject:  rng.Ptr(),
		})
		return 0, false
	}
	return int(n), true
}

// duration reads a positive Go duration ("30s", "10m", "24h").
func (l *loader) duration(s string, rng hcl.Range) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("%q is not a positive duration like \"30s\", \"10m\" or \"24h\".", s),
			Subject:  rng.Ptr(),
		})
		return 0, false
	}
	return d, true
}

// decodeSources decodes `source "TYPE" "NAME"` blocks. A type and name
// pair is declared once; names follow the same rules as other blocks.
func (l *loader) decodeSources() {
	seen := map[string]*hcl.Block{}
	for _, b := range l.blocks["source"] {
		typ, name := b.Labels[0], b.Labels[1]
		def, known := sources.Lookup(typ)
		if !known {
			types := sources.Types()
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported source type",
				Detail: fmt.Sprintf("There is no source type %q.%s The source types are %s (POST /v1/findings is always on).",
					typ, didYouMean(typ, types), quotedList(types, "and")),
				Subject: b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if !hclsyntax.ValidIdentifier(name) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid source name",
				Detail:   "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
				Subject:  b.LabelRanges[1].Ptr(),
			})
			continue
		}
		addr := typ + "." + name
		if prev, dup := seen[addr]; dup {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate source %q", addr),
				Detail:   fmt.Sprintf("A source %s was already declared at %s. Source names must be unique per type.", addr, prev.DefRange.String()),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		seen[addr] = b
		val, diags := hcldec.Decode(b.Body, def.Attributes, l.ctx)
		l.diags = append(l.diags, diags...)
		if diags.HasErrors() || !val.IsWhollyKnown() {
			continue
		}
		// A source's settings (a queue, a token) are used, never recorded.
		val, _ = val.UnmarkDeep()
		impl, err := newSource(def, val)
		if err != nil {
			l.diags = append(l.diags, pluginError(b, "source", err))
			continue
		}
		l.cfg.Sources = append(l.cfg.Sources, &Source{Type: typ, Name: name, Def: def, Impl: impl, Config: val, DeclRange: b.DefRange})
	}
}

func newSource(def *sources.Definition, cfg cty.Value) (impl sources.Source, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in source type %s: %v", def.Type, r)
		}
	}()
	return def.New(cfg)
}
