package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions returns the functions available in every expression: the
// go-cty standard library under the names Terraform gives them, plus env
// and file. Nothing here reads the clock, the network or a random source,
// so a condition's result depends only on the finding and the
// configuration.
func functions(readFile func(string) ([]byte, error), getenv func(string) (string, bool)) map[string]function.Function {
	return map[string]function.Function{
		// Numbers.
		"abs":      stdlib.AbsoluteFunc,
		"ceil":     stdlib.CeilFunc,
		"floor":    stdlib.FloorFunc,
		"log":      stdlib.LogFunc,
		"max":      stdlib.MaxFunc,
		"min":      stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc,
		"pow":      stdlib.PowFunc,
		"signum":   stdlib.SignumFunc,

		// Strings.
		"chomp":       stdlib.ChompFunc,
		"endswith":    endsWithFunc,
		"format":      stdlib.FormatFunc,
		"formatlist":  stdlib.FormatListFunc,
		"indent":      stdlib.IndentFunc,
		"join":        stdlib.JoinFunc,
		"lower":       stdlib.LowerFunc,
		"regex":       regexFunc,
		"regexall":    regexAllFunc,
		"replace":     replaceFunc,
		"split":       stdlib.SplitFunc,
		"startswith":  startsWithFunc,
		"strcontains": strContainsFunc,
		"strrev":      stdlib.ReverseFunc,
		"substr":      stdlib.SubstrFunc,
		"title":       stdlib.TitleFunc,
		"trim":        stdlib.TrimFunc,
		"trimprefix":  stdlib.TrimPrefixFunc,
		"trimspace":   stdlib.TrimSpaceFunc,
		"trimsuffix":  stdlib.TrimSuffixFunc,
		"upper":       stdlib.UpperFunc,

		// Collections.
		"alltrue":         allTrueFunc,
		"anytrue":         anyTrueFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"distinct":        stdlib.DistinctFunc,
		"element":         stdlib.ElementFunc,
		"flatten":         stdlib.FlattenFunc,
		"keys":            stdlib.KeysFunc,
		"length":          lengthFunc,
		"lookup":          stdlib.LookupFunc,
		"merge":           stdlib.MergeFunc,
		"range":           stdlib.RangeFunc,
		"reverse":         stdlib.ReverseListFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setproduct":      stdlib.SetProductFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setunion":        stdlib.SetUnionFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"values":          stdlib.ValuesFunc,
		"zipmap":          stdlib.ZipmapFunc,

		// Encoding.
		"csvdecode":  stdlib.CSVDecodeFunc,
		"jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc,

		// Type conversion.
		"tobool":   stdlib.MakeToFunc(cty.Bool),
		"tolist":   stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":    stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"toset":    stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring": stdlib.MakeToFunc(cty.String),

		// Errors.
		"can": tryfunc.CanFunc,
		"try": tryfunc.TryFunc,

		// Dates: formatting and arithmetic on given timestamps only.
		"formatdate": stdlib.FormatDateFunc,
		"timeadd":    stdlib.TimeAddFunc,

		// The environment.
		"env":  envFunc(getenv),
		"file": fileFunc(readFile),
	}
}

// unavailableFunctions are Terraform functions a user may reach for that
// cordon leaves out on purpose; calling one explains why.
var unavailableFunctions = map[string]string{
	"timestamp":     "it reads the clock",
	"plantimestamp": "it reads the clock",
	"uuid":          "it is random",
	"bcrypt":        "it is random",
}

// lengthFunc is Terraform's length: characters of a string, elements of a
// collection or attributes of an object (stdlib's length takes collections
// only).
var lengthFunc = function.New(&function.Spec{
	Description: "The length of a string, collection or object.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowDynamicType: true,
		AllowUnknown:     true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.String || ty == cty.DynamicPseudoType ||
			ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType():
			return cty.Number, nil
		default:
			return cty.NilType, function.NewArgErrorf(0, "argument must be a string, a collection type, or a structural type")
		}
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		ty := v.Type()
		switch {
		case ty == cty.DynamicPseudoType:
			return cty.UnknownVal(cty.Number), nil
		case ty == cty.String:
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Number), nil
			}
			return stdlib.Strlen(v)
		case ty.IsTupleType():
			return cty.NumberIntVal(int64(ty.Length())), nil
		case ty.IsObjectType():
			return cty.NumberIntVal(int64(len(ty.AttributeTypes()))), nil
		default:
			return v.Length(), nil
		}
	},
})

// replaceFunc is Terraform's replace: a substring wrapped in slashes is a
// regular expression.
var replaceFunc = function.New(&function.Spec{
	Description: "Replaces each occurrence of substring (or of /regex/) in str with replacement.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sub := args[1].AsString()
		if len(sub) > 1 && sub[0] == '/' && sub[len(sub)-1] == '/' {
			return stdlib.RegexReplace(args[0], cty.StringVal(sub[1:len(sub)-1]), args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})

func stringPredicate(desc, second string, f func(s, t string) bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params: []function.Parameter{
			{Name: "str", Type: cty.String},
			{Name: second, Type: cty.String},
		},
		Type: function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(f(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

var (
	startsWithFunc  = stringPredicate("Whether str starts with prefix.", "prefix", strings.HasPrefix)
	endsWithFunc    = stringPredicate("Whether str ends with suffix.", "suffix", strings.HasSuffix)
	strContainsFunc = stringPredicate("Whether str contains substr.", "substr", strings.Contains)
)

// allTrueFunc and anyTrueFunc are Terraform's alltrue and anytrue: a
// null element counts as false.
var (
	allTrueFunc = boolFold("Whether every element is true (true for an empty list).", true)
	anyTrueFunc = boolFold("Whether any element is true (false for an empty list).", false)
)

func boolFold(desc string, all bool) function.Function {
	return function.New(&function.Spec{
		Description: desc,
		Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:        function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			unknown := false
			for _, v := range args[0].AsValueSlice() {
				switch {
				case !v.IsKnown():
					unknown = true
				case all && (v.IsNull() || v.False()):
					return cty.False, nil
				case !all && !v.IsNull() && v.True():
					return cty.True, nil
				}
			}
			if unknown {
				return cty.UnknownVal(cty.Bool), nil
			}
			return cty.BoolVal(all), nil
		},
	})
}

// envFunc returns an environment variable's value, or "" when it is not
// set (as Packer's env does), so a configuration loads without secrets
// that only apply needs.
func envFunc(getenv func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "The value of an environment variable, or \"\" when it is not set.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, _ := getenv(args[0].AsString())
			return cty.StringVal(v), nil
		},
	})
}

// fileFunc reads a UTF-8 file relative to the configuration directory.
func fileFunc(readFile func(string) ([]byte, error)) function.Function {
	return function.New(&function.Spec{
		Description: "The contents of a file, relative to the configuration directory.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			data, err := readFile(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return cty.NilVal, function.NewArgErrorf(0, "no file exists at %q; paths are relative to the configuration directory", p)
			case err != nil:
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %q: %s", p, unwrapPathError(err))
			case !utf8.Valid(data):
				return cty.NilVal, function.NewArgErrorf(0, "%q is not valid UTF-8; file reads text files only", p)
			}
			return cty.StringVal(string(data)), nil
		},
	})
}

// unwrapPathError drops the operation and path fs.PathError repeats.
func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return fmt.Sprint(err)
}
