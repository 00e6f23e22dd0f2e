package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/collectors"
	"github.com/cordonhq/cordon/sources"
)

// typeSchema finds a block's type before its definition gives the rest.
var typeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "type", Required: true}},
}

// DefaultCollectorTimeout applies to a collector whose block and type set
// none.
const DefaultCollectorTimeout = time.Minute

// pluginBlock is what collector and action blocks share: a registered
// type whose definition gives the schema of the other attributes.
type pluginBlock struct {
	typ    string
	config cty.Value
	ok     bool
}

// decodePlugin decodes a collector or action block: first `type`, then
// the whole body against the type's attributes plus common, so HCL's own
// diagnostics report missing, mistyped and unknown attributes (with
// suggestions among all of them).
func (l *loader) decodePlugin(b *hcl.Block, kind string, types []string, lookup func(string) (hcldec.ObjectSpec, bool), common hcldec.ObjectSpec) pluginBlock {
	content, _, diags := b.Body.PartialContent(typeSchema)
	l.diags = append(l.diags, diags...)
	a := attr(content, "type")
	if a == nil {
		return pluginBlock{}
	}
	typ, ok := l.stringValue(a)
	if !ok {
		return pluginBlock{}
	}
	spec, known := lookup(typ)
	if !known {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Unsupported %s type", kind),
			Detail: fmt.Sprintf("There is no %s type %q.%s The %s types are %s.",
				kind, typ, didYouMean(typ, types), kind, quotedList(types, "and")),
			Subject: a.Expr.Range().Ptr(),
		})
		return pluginBlock{typ: typ}
	}
	// The common attributes are reserved: a type's own attribute of the
	// same name is ignored.
	full := make(hcldec.ObjectSpec, len(spec)+len(common))
	for k, s := range spec {
		full[k] = s
	}
	for k, s := range common {
		full[k] = s
	}
	val, diags := hcldec.Decode(b.Body, full, l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return pluginBlock{typ: typ}
	}
	return pluginBlock{typ: typ, config: val, ok: true}
}

// only keeps the attributes of obj named in spec but not in common: the
// type's own configuration.
func only(obj cty.Value, spec, common hcldec.ObjectSpec) cty.Value {
	attrs := make(map[string]cty.Value, len(spec))
	for k := range spec {
		if _, reserved := common[k]; !reserved {
			attrs[k] = obj.GetAttr(k)
		}
	}
	if len(attrs) == 0 {
		return cty.EmptyObjectVal
	}
	return cty.ObjectVal(attrs)
}

var (
	collectorCommon = hcldec.ObjectSpec{
		"type":     &hcldec.AttrSpec{Name: "type", Type: cty.String, Required: true},
		"timeout":  &hcldec.AttrSpec{Name: "timeout", Type: cty.String},
		"required": &hcldec.AttrSpec{Name: "required", Type: cty.Bool},
	}
	actionCommon = hcldec.ObjectSpec{
		"type": &hcldec.AttrSpec{Name: "type", Type: cty.String, Required: true},
	}
)

func (l *loader) decodeCollector(b *hcl.Block) {
	p := l.decodePlugin(b, "collector", collectors.Types(), func(t string) (hcldec.ObjectSpec, bool) {
		d, ok := collectors.Lookup(t)
		if !ok {
			return nil, false
		}
		return d.Attributes, true
	}, collectorCommon)
	if !p.ok {
		return
	}
	// Collectors record what they gather, and often what they were
	// configured with, as facts, which plans and state keep.
	if attr, ok := firstSensitive(p.config, nil); ok {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Sensitive value not allowed here",
			Detail: fmt.Sprintf("Attribute %q of collector %s takes its value from a sensitive variable. Collectors record what they gather as facts, which plan files and state keep, so they take no sensitive values.",
				attr, b.Labels[0]),
			Subject: attrRange(b, attr).Ptr(),
		})
		return
	}
	def, _ := collectors.Lookup(p.typ)
	c := &Collector{Name: b.Labels[0], Type: p.typ, Def: def, Timeout: def.DefaultTimeout, DeclRange: b.DefRange}
	if c.Timeout <= 0 {
		c.Timeout = DefaultCollectorTimeout
	}
	failed := false
	if v := p.config.GetAttr("timeout"); !v.IsNull() {
		d, err := time.ParseDuration(v.AsString())
		if err != nil || d <= 0 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid timeout",
				Detail:   fmt.Sprintf("%q is not a positive duration like \"30s\" or \"3m\".", v.AsString()),
				Subject:  attrRange(b, "timeout").Ptr(),
			})
			failed = true
		}
		c.Timeout = d
	}
	if v := p.config.GetAttr("required"); !v.IsNull() {
		c.Required = v.True()
	}
	impl, err := newCollector(def, only(p.config, def.Attributes, collectorCommon))
	fromEvidence := false
	if err == nil {
		if u, ok := impl.(collectors.EvidenceUser); ok {
			err = u.UseEvidence(l.cfg.evidenceFor())
			fromEvidence = err != nil
		}
	}
	if err != nil {
		unset := l.unsetFor(b, def, err, fromEvidence)
		if len(unset) == 0 {
			l.diags = append(l.diags, pluginError(b, "collector", err))
			return
		}
		impl = l.notConfiguredCollector(b, c, unset)
	}
	c.Impl = impl
	if !failed {
		l.cfg.Collectors[c.Name] = c
	}
}

// unsetAttr is an attribute whose value is an empty string taken from
// variables: declared, but not set yet.
type unsetAttr struct {
	name string
	// evidence marks an attribute of the evidence block, which the
	// collector takes where its own block sets none.
	evidence bool
	vars     []string
	rng      hcl.Range
}

// unsetStrings lists the attributes of body named in names whose value
// is an empty string taken from variables, in the order of names.
func (l *loader) unsetStrings(body hcl.Body, names []string, evidence bool) []unsetAttr {
	schema := &hcl.BodySchema{}
	for _, n := range names {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n})
	}
	content, _, _ := body.PartialContent(schema)
	var out []unsetAttr
	for _, n := range names {
		a := attr(content, n)
		if a == nil {
			continue
		}
		vars := variablesOf(a.Expr)
		if len(vars) == 0 {
			continue
		}
		v, diags := a.Expr.Value(l.ctx)
		if diags.HasErrors() {
			continue
		}
		v, _ = v.UnmarkDeep()
		if v.Type() == cty.String && v.IsKnown() && !v.IsNull() && v.AsString() == "" {
			out = append(out, unsetAttr{name: n, evidence: evidence, vars: vars, rng: a.Expr.Range()})
		}
	}
	return out
}

// unsetFor says whether a collector's configuration error comes from
// values not set yet: the attribute the error names is an empty string
// taken from variables, in the collector block or, for one the block
// leaves to the evidence block (a type's attribute named like one of the
// evidence block's, bucket or prefix, takes its value from there), in the
// evidence block. It then returns every such attribute, so one warning
// names all the variables to set; else nil: the collector is wrong, not
// unfinished.
func (l *loader) unsetFor(b *hcl.Block, def *collectors.Definition, err error, fromEvidence bool) []unsetAttr {
	var cae *collectors.AttributeError
	if !errors.As(err, &cae) {
		return nil
	}
	var names []string
	for _, n := range sortedKeys(def.Attributes) {
		if _, reserved := collectorCommon[n]; !reserved {
			names = append(names, n)
		}
	}
	unset := l.unsetStrings(b.Body, names, false)
	explained := false
	for _, u := range unset {
		explained = explained || u.name == cae.Attribute
	}
	for _, u := range l.unsetEvidence() {
		if _, typed := def.Attributes[u.name]; !typed || hasAttribute(b, u.name) {
			continue
		}
		unset = append(unset, u)
		explained = explained || (fromEvidence && u.name == cae.Attribute)
	}
	if !explained {
		return nil
	}
	return unset
}

// hasAttribute reports whether a block sets attribute name.
func hasAttribute(b *hcl.Block, name string) bool {
	content, _, _ := b.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	return attr(content, name) != nil
}

// unsetEvidence lists the evidence block's attributes not set yet.
func (l *loader) unsetEvidence() []unsetAttr {
	if l.cfg.Evidence == nil || len(l.blocks["cordon"]) == 0 {
		return nil
	}
	content, _, _ := l.blocks["cordon"][0].Body.PartialContent(cordonSchema)
	for _, eb := range content.Blocks {
		if eb.Type == "evidence" {
			var names []string
			for _, a := range evidenceSchema.Attributes {
				names = append(names, a.Name)
			}
			return l.unsetStrings(eb.Body, names, true)
		}
	}
	return nil
}

// variablesOf names the input variables an expression refers to, in
// order, each once.
func variablesOf(expr hcl.Expression) []string {
	var out []string
	for _, t := range expr.Variables() {
		if t.RootName() != "var" || len(t) < 2 {
			continue
		}
		if ga, ok := t[1].(hcl.TraverseAttr); ok && !slices.Contains(out, ga.Name) {
			out = append(out, ga.Name)
		}
	}
	return out
}

// notConfiguredCollector warns about a collector declared before it can
// work, naming the variables to set, and returns what it runs as until
// they are: a collector that fails with the same words, so the rules
// that collect it see why in its error fact.
func (l *loader) notConfiguredCollector(b *hcl.Block, c *Collector, unset []unsetAttr) collectors.Collector {
	var own, ev, vars []string
	for _, u := range unset {
		if u.evidence {
			ev = append(ev, u.name)
		} else {
			own = append(own, u.name)
		}
		for _, v := range u.vars {
			if !slices.Contains(vars, v) {
				vars = append(vars, v)
			}
		}
	}
	labels := own
	if len(labels) > 0 {
		labels[0] = "its " + labels[0]
	}
	for _, e := range ev {
		labels = append(labels, "the evidence block's "+e)
	}
	reason := plainList(labels) + " is empty"
	if len(labels) > 1 {
		reason = plainList(labels) + " are empty"
	}
	remedy := "set variable " + vars[0]
	if len(vars) > 1 {
		remedy = "set variables " + plainList(vars)
	}
	until := "Until it is set, the rules that collect it get its error as facts"
	if len(vars) > 1 {
		until = "Until they are set, the rules that collect it get its error as facts"
	}
	if c.Def.Volatile != nil {
		until += ", and the disruptions that wait for its evidence are withheld"
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Collector not configured",
		Detail: fmt.Sprintf("Collector %s (type %s) cannot run: %s. %s. %s (for example with %s%s, or -var).",
			c.Name, c.Type, reason, until, capitalize(remedy), EnvVarPrefix, vars[0]),
		Subject: unset[0].rng.Ptr(),
	})
	return &collectors.NotConfigured{Reason: reason, Remedy: remedy}
}

// plainList renders names as a, b and c.
func plainList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func (l *loader) decodeAction(b *hcl.Block) {
	p := l.decodePlugin(b, "action", actions.Types(), func(t string) (hcldec.ObjectSpec, bool) {
		d, ok := actions.Lookup(t)
		if !ok {
			return nil, false
		}
		return d.Attributes, true
	}, actionCommon)
	if !p.ok {
		return
	}
	def, _ := actions.Lookup(p.typ)
	a := &Action{Name: b.Labels[0], Type: p.typ, Def: def, Config: only(p.config, def.Attributes, actionCommon), DeclRange: b.DefRange}
	// Only the attributes a type never shows nor records may take a
	// sensitive value; the others are shown in plans or recorded in state
	// (as the target's state, or to revert the change).
	if attr, ok := firstSensitive(a.Config, def.SensitiveAttributes); ok {
		detail := fmt.Sprintf("Action type %s takes no sensitive values: what it is configured with is shown in plans or recorded in state.", def.Type)
		if len(def.SensitiveAttributes) > 0 {
			detail = fmt.Sprintf("Of action type %s, only %s may take sensitive values: it shows or records the others in plans or state.",
				def.Type, quotedList(def.SensitiveAttributes, "and"))
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Sensitive value not allowed here",
			Detail:   fmt.Sprintf("Attribute %q of action %s takes its value from a sensitive variable. %s", attr, a.Name, detail),
			Subject:  attrRange(b, attr).Ptr(),
		})
		return
	}
	// The constructor gets the marks, to know what not to show.
	impl, err := newAction(def, a.Config)
	if err != nil {
		diag := pluginError(b, "action", err)
		diag.Detail = redactSensitive(diag.Detail, a.Config)
		l.diags = append(l.diags, diag)
		return
	}
	a.Impl = impl
	l.cfg.Actions[a.Name] = a
	if u, ok := impl.(actions.Unconfigured); ok {
		if attr, why := u.NotConfigured(); why != "" {
			l.diags = append(l.diags, notConfigured(b, a, attr, why))
		}
	}
}

// notConfigured warns about an action declared before it can work, naming
// the variable to set when the attribute takes its value from one: a
// placeholder left unset is flagged by validate, plan and serve alike.
func notConfigured(b *hcl.Block, a *Action, attr, why string) *hcl.Diagnostic {
	set := fmt.Sprintf("Set %s in the action block", attr)
	if sb, ok := b.Body.(*hclsyntax.Body); ok {
		if at, ok := sb.Attributes[attr]; ok {
			if vars := variablesOf(at.Expr); len(vars) > 0 {
				set = fmt.Sprintf("Set variable %s (for example with %s%s, or -var)", vars[0], EnvVarPrefix, vars[0])
			}
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Action not configured",
		Detail: fmt.Sprintf("Action %s (type %s) cannot run: %s. Plans still list it, and apply skips it until it is set. %s.",
			a.Name, a.Type, why, set),
		Subject: attrRange(b, attr).Ptr(),
	}
}

// newCollector and newAction call a type's constructor, turning a panic
// into an error: a bug in one type must not crash validate.
func newCollector(def *collectors.Definition, cfg cty.Value) (impl collectors.Collector, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in collector type %s: %v", def.Type, r)
		}
	}()
	return def.New(cfg)
}

func newAction(def *actions.Definition, cfg cty.Value) (impl actions.Action, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in action type %s: %v", def.Type, r)
		}
	}()
	return def.New(cfg)
}

// pluginError turns a constructor's error into a diagnostic, at the
// attribute it names when it is an AttributeError.
func pluginError(b *hcl.Block, kind string, err error) *hcl.Diagnostic {
	var (
		cae *collectors.AttributeError
		aae *actions.AttributeError
		sae *sources.AttributeError
	)
	switch {
	case errors.As(err, &sae):
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: sae.Summary, Detail: sae.Detail, Subject: attrRange(b, sae.Attribute).Ptr()}
	case errors.As(err, &cae):
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: cae.Summary, Detail: cae.Detail, Subject: attrRange(b, cae.Attribute).Ptr()}
	case errors.As(err, &aae):
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: aae.Summary, Detail: aae.Detail, Subject: attrRange(b, aae.Attribute).Ptr()}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s configuration", kind),
		Detail:   capitalize(strings.TrimSuffix(err.Error(), ".")) + ".",
		Subject:  b.DefRange.Ptr(),
	}
}
