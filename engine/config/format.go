package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src formatted the way `terraform fmt` formats HCL:
// canonical indentation and spacing, aligned equals signs. A file that
// does not parse is not formatted; its syntax errors are returned instead,
// since formatting tokens around a syntax error can change its meaning.
func Format(filename string, src []byte) ([]byte, hcl.Diagnostics) {
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return hclwrite.Format(src), nil
}
