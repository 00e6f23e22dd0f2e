package collectors

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"

	"github.com/cordonhq/cordon/schema"
)

// The AWS collector types. Their definitions live here so configurations
// using them validate and type-check offline; gathering needs AWS access.

func init() {
	for _, d := range []*Definition{
		{
			Type:           "aws_ssm_triage",
			Summary:        "A read-only triage script run by SSM Run Command: processes, connections, logins, cron, changed files",
			ResourceTypes:  []string{schema.ResourceInstance},
			DefaultTimeout: 3 * time.Minute,
			FactsSchema:    "aws_ssm_triage",
			Attributes: hcldec.ObjectSpec{
				"max_output_bytes": &hcldec.AttrSpec{Name: "max_output_bytes", Type: cty.Number},
			},
		},
	} {
		d.New = offlineOnly(d.Type)
		Register(d)
	}
}

// offlineCollector is an AWS collector in a run without AWS access.
type offlineCollector struct{ typ string }

func offlineOnly(typ string) func(cty.Value) (Collector, error) {
	return func(cty.Value) (Collector, error) { return offlineCollector{typ: typ}, nil }
}

func (c offlineCollector) Collect(context.Context, *Request) (map[string]any, error) {
	return nil, fmt.Errorf("collector type %s needs AWS access; run plan with -facts to plan offline", c.typ)
}
