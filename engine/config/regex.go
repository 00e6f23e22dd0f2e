package config

import (
	"errors"
	"regexp"
	"sync"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// regex and regexall are cty's, with each pattern compiled once. cty
// compiles the pattern on every call, twice (for the result type, then
// for the match), and conditions run on every finding: the starter's
// catch-all rule, which tests the finding's type against a list of
// patterns, spent most of its matching time compiling them. Results and
// errors are cty's own (a test compares the two).

// compiledPattern is a pattern's regexp and the type its match has, or
// why the pattern is invalid (cty's error).
type compiledPattern struct {
	re  *regexp.Regexp
	ty  cty.Type
	err error
}

// maxCachedPatterns bounds the cache: patterns come from the
// configuration, but one built from a finding's own data could differ on
// every call.
const maxCachedPatterns = 1024

var patternCache = struct {
	sync.RWMutex
	m map[string]*compiledPattern
}{m: map[string]*compiledPattern{}}

func compilePattern(pattern string) *compiledPattern {
	patternCache.RLock()
	p := patternCache.m[pattern]
	patternCache.RUnlock()
	if p != nil {
		return p
	}
	p = &compiledPattern{}
	// cty's regex decides the type and the error message.
	p.ty, p.err = stdlib.RegexFunc.ReturnTypeForValues([]cty.Value{cty.StringVal(pattern), cty.UnknownVal(cty.String)})
	if p.err == nil {
		p.re, p.err = regexp.Compile(pattern)
	}
	patternCache.Lock()
	if len(patternCache.m) < maxCachedPatterns {
		patternCache.m[pattern] = p
	}
	patternCache.Unlock()
	return p
}

var regexParams = []function.Parameter{
	{Name: "pattern", Type: cty.String},
	{Name: "string", Type: cty.String},
}

var regexFunc = function.New(&function.Spec{
	Description: stdlib.RegexFunc.Description(),
	Params:      regexParams,
	Type: func(args []cty.Value) (cty.Type, error) {
		if !args[0].IsKnown() {
			return cty.DynamicPseudoType, nil
		}
		p := compilePattern(args[0].AsString())
		return p.ty, p.err
	},
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		if retType == cty.DynamicPseudoType {
			return cty.DynamicVal, nil
		}
		p := compilePattern(args[0].AsString())
		if p.err != nil {
			return cty.NilVal, p.err
		}
		str := args[1].AsString()
		idx := p.re.FindStringSubmatchIndex(str)
		if idx == nil {
			return cty.NilVal, errors.New("pattern did not match any part of the given string")
		}
		return matchValue(p.re, str, idx, retType), nil
	},
})

var regexAllFunc = function.New(&function.Spec{
	Description: stdlib.RegexAllFunc.Description(),
	Params:      regexParams,
	Type: func(args []cty.Value) (cty.Type, error) {
		if !args[0].IsKnown() {
			return cty.List(cty.DynamicPseudoType), nil
		}
		p := compilePattern(args[0].AsString())
		if p.err != nil {
			return cty.NilType, p.err
		}
		return cty.List(p.ty), nil
	},
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		ety := retType.ElementType()
		if ety == cty.DynamicPseudoType {
			return cty.DynamicVal, nil
		}
		p := compilePattern(args[0].AsString())
		if p.err != nil {
			return cty.NilVal, p.err
		}
		str := args[1].AsString()
		all := p.re.FindAllStringSubmatchIndex(str, -1)
		if len(all) == 0 {
			return cty.ListValEmpty(ety), nil
		}
		elems := make([]cty.Value, len(all))
		for i, idx := range all {
			elems[i] = matchValue(p.re, str, idx, ety)
		}
		return cty.ListVal(elems), nil
	},
})

// matchValue is one match as its pattern's type says: the matched string
// without groups, a tuple of unnamed groups, or an object of named ones; a
// group that took no part in the match is null.
func matchValue(re *regexp.Regexp, str string, idx []int, ty cty.Type) cty.Value {
	group := func(i int) cty.Value {
		start, end := idx[2*i], idx[2*i+1]
		if start < 0 || end < 0 {
			return cty.NullVal(cty.String)
		}
		return cty.StringVal(str[start:end])
	}
	switch {
	case ty == cty.String:
		return group(0)
	case ty.IsTupleType():
		vals := make([]cty.Value, re.NumSubexp())
		for i := range vals {
			vals[i] = group(i + 1)
		}
		return cty.TupleVal(vals)
	default: // object: every group is named
		vals := map[string]cty.Value{}
		for i, name := range re.SubexpNames()[1:] {
			vals[name] = group(i + 1)
		}
		return cty.ObjectVal(vals)
	}
}
