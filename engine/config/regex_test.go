package config

import (
	"fmt"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// regex and regexall, which compile each pattern once, give what cty's
// give: the same values, types and errors, every time.
func TestCachedRegexIsCtys(t *testing.T) {
	cases := []struct{ pattern, str cty.Value }{
		{cty.StringVal(`^Backdoor:EC2/`), cty.StringVal("Backdoor:EC2/C&CActivity.B!DNS")},
		{cty.StringVal(`^Backdoor:EC2/`), cty.StringVal("Recon:IAMUser/MaliciousIPCaller")}, // no match
		{cty.StringVal(`(\w+):(\w+)/`), cty.StringVal("Recon:IAMUser/x Impact:EC2/y")},      // unnamed groups
		{cty.StringVal(`(?P<family>\w+):(?P<res>\w+)/`), cty.StringVal("Recon:IAMUser/x")},  // named groups
		{cty.StringVal(`(a)|(b)`), cty.StringVal("b")},                                      // a group not taking part
		{cty.StringVal(`(?P<a>x)(y)`), cty.StringVal("xy")},                                 // named and unnamed mixed
		{cty.StringVal(`(`), cty.StringVal("x")},                                            // invalid
		{cty.UnknownVal(cty.String), cty.StringVal("x")},                                    // unknown pattern
		{cty.StringVal(`x`), cty.UnknownVal(cty.String)},                                    // unknown string
		{cty.StringVal(`é+`), cty.StringVal("café éé")},                                     // UTF-8
		{cty.StringVal(``), cty.StringVal("")},                                              // empty
	}
	for _, fn := range []struct {
		name       string
		ours, ctys function.Function
	}{{"regex", regexFunc, stdlib.RegexFunc}, {"regexall", regexAllFunc, stdlib.RegexAllFunc}} {
		for i, tc := range cases {
			args := []cty.Value{tc.pattern, tc.str}
			want, wantErr := fn.ctys.Call(args)
			for range 2 { // the second call is served from the cache
				got, err := fn.ours.Call(args)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("%s case %d: error %v, cty's %v", fn.name, i, err, wantErr)
					continue
				}
				if err == nil && !got.RawEquals(want) {
					t.Errorf("%s case %d: %#v, cty's %#v", fn.name, i, got, want)
				}
				if ae, ok := err.(function.ArgError); ok {
					if we, ok := wantErr.(function.ArgError); !ok || we.Index != ae.Index {
						t.Errorf("%s case %d: argument error %d, cty's %#v", fn.name, i, ae.Index, wantErr)
					}
				}
			}
		}
	}
}

func BenchmarkConditionRegex(b *testing.B) {
	args := []cty.Value{cty.StringVal(`^(Backdoor|CryptoCurrency|Trojan):EC2/`), cty.StringVal("Backdoor:EC2/C&CActivity.B!DNS")}
	for _, fn := range []struct {
		name string
		f    function.Function
	}{{"cached", regexFunc}, {"cty", stdlib.RegexFunc}} {
		b.Run(fn.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fn.f.Call(args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
