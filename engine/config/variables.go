package config

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/cordonhq/cordon/actions"
)

// EnvVarPrefix prefixes the environment variables that set input
// variables: CORDON_VAR_isolation_sg sets var.isolation_sg.
const EnvVarPrefix = "CORDON_VAR_"

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
}

// SensitiveMark marks the value of a sensitive variable in the evaluation
// context. As in Terraform, cty carries marks through expressions, so
// whatever is derived from the value (a local, a format() of it, an
// action attribute) carries it too: what is shown or recorded checks for
// it. Only actions keep it past loading (Action.Config).
const SensitiveMark = valueMark("sensitive")

type valueMark string

// SensitiveValue is what is shown instead of a sensitive value.
const SensitiveValue = actions.SensitiveValue

// variableDecl is a variable while its value is being resolved.
type variableDecl struct {
	v *Variable
	// literal is Terraform's parsing mode for values given as strings
	// (-var, CORDON_VAR_): a primitive-typed variable (or one without a
	// type) takes the string as it is; any other type parses it as an HCL
	// expression, so -var 'ids=["a","b"]' sets a list.
	literal  bool
	defaults *typeexpr.Defaults
	// given is the value of highest precedence seen so far, and where it
	// came from; it is converted to the type once all sources are read.
	given *givenValue
}

type givenValue struct {
	val cty.Value
	// failed means the source could not be parsed (already diagnosed).
	failed bool
	// source says where the value came from, for messages.
	source string
	// subject is the value's range when it came from a file.
	subject *hcl.Range
}

// decodeVariables reads the variable declarations.
func (l *loader) decodeVariables() {
	for _, b := range l.blocks["variable"] {
		name := b.Labels[0]
		v := &Variable{Name: name, Type: cty.DynamicPseudoType, DeclRange: b.DefRange}
		d := &variableDecl{v: v, literal: true}
		l.cfg.Variables[name] = v
		l.varDecls[name] = d

		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		if a, ok := content.Attributes["description"]; ok {
			if s, ok := l.constString(a); ok {
				v.Description = s
			}
		}
		if a, ok := content.Attributes["sensitive"]; ok {
			v.Sensitive = l.constBool(a)
		}
		if a, ok := content.Attributes["type"]; ok {
			ty, defaults, literal, diags := decodeVariableType(a.Expr)
			l.diags = append(l.diags, diags...)
			v.Type, d.defaults, d.literal = ty, defaults, literal
		}
		if a, ok := content.Attributes["default"]; ok {
			val, diags := a.Expr.Value(nil)
			l.diags = append(l.diags, diags...)
			if diags.HasErrors() {
				val = cty.DynamicVal
			}
			if d.defaults != nil {
				val = d.defaults.Apply(val)
			}
			conv, err := convert.Convert(val, v.Type)
			if err == nil && hasNumberOutOfRange(conv) {
				l.diags = append(l.diags, numberRangeError(a.Expr.Range(), "The default value has a number that is too large or too small."))
				conv = cty.DynamicVal
			} else if err != nil {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", convertError(err)),
					Subject:  a.Expr.Range().Ptr(),
				})
				conv = cty.DynamicVal
			}
			v.Default = conv
		}
	}
}

// decodeVariableType reads a type constraint the way Terraform does,
// including its bare `list` and `map` shorthands.
func decodeVariableType(expr hcl.Expression) (cty.Type, *typeexpr.Defaults, bool, hcl.Diagnostics) {
	switch hcl.ExprAsKeyword(expr) {
	case "list":
		return cty.List(cty.DynamicPseudoType), nil, false, nil
	case "map":
		return cty.Map(cty.DynamicPseudoType), nil, false, nil
	}
	ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(expr)
	if diags.HasErrors() {
		return cty.DynamicPseudoType, nil, false, diags
	}
	return ty, defaults, ty.IsPrimitiveType(), diags
}

// resolveVariables gives every variable its value: the default, then
// CORDON_VAR_name, then each -var-file, then each -var, a later source
// overriding an earlier one.
func (l *loader) resolveVariables() {
	names := sortedKeys(l.varDecls)
	for _, name := range names {
		d := l.varDecls[name]
		env := EnvVarPrefix + name
		if raw, ok := l.opts.Getenv(env); ok {
			d.given = l.parseRaw(d, raw, "the environment variable "+env)
		}
	}
	for _, p := range l.opts.VarFiles {
		l.readVarFile(p)
	}
	for _, raw := range l.opts.Vars {
		l.parseVarOption(raw)
	}
	source := l.opts.ValuesSource
	if source == "" {
		source = "a given value"
	}
	for _, name := range sortedKeys(l.opts.Values) {
		d, declared := l.varDecls[name]
		if !declared {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("A variable named %q was assigned by %s, but the configuration does not declare it.%s",
					name, source, didYouMean(name, sortedKeys(l.varDecls))),
			})
			continue
		}
		d.given = &givenValue{val: l.opts.Values[name], source: source}
	}

	values := make(map[string]cty.Value, len(names))
	for _, name := range names {
		d := l.varDecls[name]
		v := d.v
		v.Given = d.given != nil
		switch {
		case d.given != nil && d.given.failed:
			v.Value = cty.DynamicVal
		case d.given != nil:
			v.Value = l.convertGiven(d)
		case v.Default != cty.NilVal:
			v.Value = v.Default
		default:
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("The input variable %q is not set, and has no default value. Set it with -var '%s=…', "+
					"a -var-file, or the environment variable %s%s.", name, name, EnvVarPrefix, name),
				Subject: v.DeclRange.Ptr(),
			})
			v.Value = cty.DynamicVal
		}
		values[name] = v.Value
		if v.Sensitive {
			values[name] = v.Value.Mark(SensitiveMark)
		}
	}
	l.setObject("var", values)
}

// constBool decodes a variable's sensitive attribute: a constant true or
// false.
func (l *loader) constBool(a *hcl.Attribute) bool {
	v, diags := a.Expr.Value(nil)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return false
	}
	if v.Type() != cty.Bool || v.IsNull() || !v.IsKnown() {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for sensitive",
			Detail:   fmt.Sprintf("A variable's %s must be true or false, not %s.", a.Name, describeConst(v)),
			Subject:  a.Expr.Range().Ptr(),
		})
		return false
	}
	return v.True()
}

// describeConst names a constant's kind for a message.
func describeConst(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return "a string (write true without quotes)"
	}
	return "a " + v.Type().FriendlyName()
}

// firstSensitive returns the first attribute, by name, of the object cfg
// whose value is or holds a sensitive value, leaving out those allowed.
func firstSensitive(cfg cty.Value, allowed []string) (string, bool) {
	if cfg.IsNull() || !cfg.Type().IsObjectType() {
		return "", false
	}
	names := make([]string, 0, len(cfg.Type().AttributeTypes()))
	for n := range cfg.Type().AttributeTypes() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if cfg.GetAttr(n).ContainsMarked() && !contains(allowed, n) {
			return n, true
		}
	}
	return "", false
}

// sensitiveStrings returns the strings in v that are sensitive: marked
// strings, and the keys and elements of marked collections.
func sensitiveStrings(v cty.Value) []string {
	var out []string
	cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if !v.IsMarked() {
			return true, nil
		}
		u, _ := v.UnmarkDeep()
		cty.Walk(u, func(_ cty.Path, e cty.Value) (bool, error) {
			if e.IsNull() || !e.IsKnown() {
				return false, nil
			}
			switch {
			case e.Type() == cty.String && e.AsString() != "":
				out = append(out, e.AsString())
			case e.Type().IsMapType():
				for it := e.ElementIterator(); it.Next(); {
					if k, _ := it.Element(); k.AsString() != "" {
						out = append(out, k.AsString())
					}
				}
			}
			return true, nil
		})
		return false, nil
	})
	// Longest first, so a value containing another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redactSensitive replaces the sensitive strings of v in text, for a
// message about it. Strings of fewer than 4 bytes are left: they cannot be
// told from the message's own words, and hide nothing worth hiding.
func redactSensitive(text string, v cty.Value) string {
	var pairs []string
	for _, s := range sensitiveStrings(v) {
		if len(s) >= 4 {
			pairs = append(pairs, s, SensitiveValue)
		}
	}
	if len(pairs) == 0 {
		return text
	}
	// One pass, so that what is put in is not replaced again.
	return strings.NewReplacer(pairs...).Replace(text)
}

// convertGiven converts a given value to its variable's type.
func (l *loader) convertGiven(d *variableDecl) cty.Value {
	val := d.given.val
	if d.defaults != nil {
		val = d.defaults.Apply(val)
	}
	conv, err := convert.Convert(val, d.v.Type)
	subject := d.given.subject
	if subject == nil || d.v.Sensitive {
		// A snippet of where a sensitive value was given would show it.
		subject = d.v.DeclRange.Ptr()
	}
	if err == nil && hasNumberOutOfRange(conv) {
		l.diags = append(l.diags, numberRangeError(*subject,
			fmt.Sprintf("The value for var.%s given by %s has a number that is too large or too small.", d.v.Name, d.given.source)))
		return cty.DynamicVal
	}
	if err == nil {
		return conv
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for input variable",
		Detail: fmt.Sprintf("The value for var.%s given by %s is not suitable for its type %s: %s.",
			d.v.Name, d.given.source, typeexpr.TypeString(d.v.Type), convertError(err)),
		Subject: subject,
	})
	return cty.DynamicVal
}

// parseRaw parses a value given as a string (-var, CORDON_VAR_name).
func (l *loader) parseRaw(d *variableDecl, raw, source string) *givenValue {
	if d.literal {
		return &givenValue{val: cty.StringVal(raw), source: source}
	}
	filename := fmt.Sprintf("<value for var.%s>", d.v.Name)
	expr, diags := hclsyntax.ParseExpression([]byte(raw), filename, hcl.InitialPos)
	if !diags.HasErrors() {
		var val cty.Value
		val, diags = expr.Value(nil)
		if !diags.HasErrors() {
			return &givenValue{val: val, source: source}
		}
	}
	if d.v.Sensitive {
		// The parser's messages quote the value.
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for input variable",
			Detail: fmt.Sprintf("The value for var.%s given by %s must be an HCL expression, since its type is %s, and it is not one (the variable is sensitive, so its value is not shown).",
				d.v.Name, source, typeexpr.TypeString(d.v.Type)),
			Subject: d.v.DeclRange.Ptr(),
		})
		return &givenValue{failed: true, source: source}
	}
	for _, diag := range diags {
		diag.Detail = fmt.Sprintf("The value for var.%s given by %s must be an HCL expression, since its type is %s: %s",
			d.v.Name, source, typeexpr.TypeString(d.v.Type), diag.Detail)
	}
	l.diags = append(l.diags, diags...)
	return &givenValue{failed: true, source: source}
}

// parseVarOption reads one -var 'name=value'.
func (l *loader) parseVarOption(raw string) {
	name, value, ok := strings.Cut(raw, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid -var option",
			Detail:   fmt.Sprintf("The given -var option %q is not correctly specified. It must be a variable name and value separated by an equals sign, like -var 'isolation_sg=sg-0123'.", raw),
		})
		return
	}
	d, declared := l.varDecls[name]
	if !declared {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Value for undeclared variable",
			Detail: fmt.Sprintf("A variable named %q was assigned with -var, but the configuration does not declare it.%s "+
				"To use this value, add a variable block to the configuration.", name, didYouMean(name, sortedKeys(l.varDecls))),
		})
		return
	}
	d.given = l.parseRaw(d, value, "-var")
}

// readVarFile reads a -var-file: HCL `name = value` attributes, or JSON
// when the name ends in .json. The values must be constants.
func (l *loader) readVarFile(p string) {
	src, err := os.ReadFile(p)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read variables file",
			Detail:   fmt.Sprintf("Cannot read the -var-file %s: %s.", p, unwrapPathError(err)),
		})
		return
	}
	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	if strings.HasSuffix(p, ".json") {
		f, diags = hcljson.Parse(src, p)
	} else {
		f, diags = hclsyntax.ParseConfig(src, p, hcl.InitialPos)
	}
	l.diags = append(l.diags, diags...)
	if f == nil || diags.HasErrors() {
		return
	}
	l.cfg.Files[p] = f
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	list := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Range.Start.Byte < list[j].Range.Start.Byte })
	for _, a := range list {
		d, declared := l.varDecls[a.Name]
		if !declared {
			// A warning, as in Terraform: one file of values is often
			// shared by several configurations.
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("The configuration does not declare a variable named %q, but a value was found in %s.%s "+
					"To use this value, add a variable block to the configuration; otherwise remove it.", a.Name, p, didYouMean(a.Name, sortedKeys(l.varDecls))),
				Subject: a.NameRange.Ptr(),
			})
			continue
		}
		val, diags := a.Expr.Value(nil)
		rng := a.Expr.Range()
		if d.v.Sensitive && diags.HasErrors() {
			// Snippets of the file would show the value.
			diags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for input variable",
				Detail:   fmt.Sprintf("The value for var.%s at %s must be a constant (the variable is sensitive, so its value is not shown).", d.v.Name, rng.String()),
				Subject:  d.v.DeclRange.Ptr(),
			}}
		}
		l.diags = append(l.diags, diags...)
		given := &givenValue{val: val, source: rng.String(), subject: rng.Ptr()}
		if diags.HasErrors() {
			given.failed = true
		}
		d.given = given
	}
}

// convertError renders a cty conversion error with where in the value it
// applies: `element 1: a number is required`.
func convertError(err error) string {
	pe, ok := err.(cty.PathError)
	if !ok || len(pe.Path) == 0 {
		return err.Error()
	}
	var b strings.Builder
	for i, step := range pe.Path {
		switch s := step.(type) {
		case cty.GetAttrStep:
			if i == 0 {
				fmt.Fprintf(&b, "attribute %q", s.Name)
			} else {
				fmt.Fprintf(&b, ".%s", s.Name)
			}
		case cty.IndexStep:
			key := "…"
			switch {
			case !s.Key.IsKnown() || s.Key.IsNull():
			case s.Key.Type() == cty.String:
				key = fmt.Sprintf("%q", s.Key.AsString())
			case s.Key.Type() == cty.Number:
				key = s.Key.AsBigFloat().Text('f', -1)
			}
			if i == 0 {
				fmt.Fprintf(&b, "element %s", key)
			} else {
				fmt.Fprintf(&b, "[%s]", key)
			}
		}
	}
	return b.String() + ": " + pe.Error()
}
