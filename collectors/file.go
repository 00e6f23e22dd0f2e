package collectors

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// fileCollector reads facts from a JSON file: evidence gathered by other
// tools, or recorded facts for offline plans.
type fileCollector struct {
	path string
}

func init() {
	Register(&Definition{
		Type:        "file",
		Summary:     "Facts read from a JSON file",
		FactsSchema: "file",
		Attributes: hcldec.ObjectSpec{
			"path": &hcldec.AttrSpec{Name: "path", Type: cty.String, Required: true},
		},
		New: func(cfg cty.Value) (Collector, error) {
			p := cfg.GetAttr("path").AsString()
			if p == "" {
				return nil, &AttributeError{Attribute: "path", Summary: "Empty path", Detail: "The file collector needs the path of a JSON file."}
			}
			return fileCollector{path: p}, nil
		},
	})
}

func (c fileCollector) Collect(ctx context.Context, req *Request) (map[string]any, error) {
	p := c.path
	if !filepath.IsAbs(p) {
		p = filepath.Join(req.Dir, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var facts map[string]any
	if err := json.Unmarshal(data, &facts); err != nil {
		return nil, fmt.Errorf("%s: facts must be a JSON object: %w", p, err)
	}
	if facts == nil {
		return nil, fmt.Errorf("%s: facts must be a JSON object, not null", p)
	}
	return facts, nil
}
