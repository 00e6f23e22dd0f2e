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
			Type:           "aws_ec2_describe",
			Summary:        "Instance state, network interfaces and their security groups, volumes, IAM profile, tags, ASG and load balancer membership",
			ResourceTypes:  []string{schema.ResourceInstance},
			DefaultTimeout: 30 * time.Second,
			FactsSchema:    "aws_ec2_describe",
			Resources:      describedResources,
		},
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
		{
			Type:           "aws_cloudtrail_events",
			Summary:        "CloudTrail events naming the resource or principal within lookback",
			DefaultTimeout: time.Minute,
			FactsSchema:    "aws_cloudtrail_events",
			Attributes: hcldec.ObjectSpec{
				"lookback":   &hcldec.AttrSpec{Name: "lookback", Type: cty.String},
				"max_events": &hcldec.AttrSpec{Name: "max_events", Type: cty.Number},
			},
		},
		{
			Type:           "aws_guardduty_related",
			Summary:        "Other GuardDuty findings on the same resource",
			DefaultTimeout: 30 * time.Second,
			FactsSchema:    "aws_guardduty_related",
			Attributes: hcldec.ObjectSpec{
				"detector_id":  &hcldec.AttrSpec{Name: "detector_id", Type: cty.String},
				"max_findings": &hcldec.AttrSpec{Name: "max_findings", Type: cty.Number},
			},
		},
		{
			Type:           "aws_ebs_acquire",
			Summary:        "Full disk acquisition: snapshots of every attached volume, tagged with the incident id",
			ResourceTypes:  []string{schema.ResourceInstance},
			DefaultTimeout: 2 * time.Minute,
			FactsSchema:    "aws_ebs_acquire",
			Attributes: hcldec.ObjectSpec{
				"tags": &hcldec.AttrSpec{Name: "tags", Type: cty.Map(cty.String)},
			},
		},
		{
			Type:           "aws_ec2_console",
			Summary:        "Console output and a console screenshot (kept as evidence)",
			ResourceTypes:  []string{schema.ResourceInstance},
			DefaultTimeout: 30 * time.Second,
			FactsSchema:    "aws_ec2_console",
			Attributes: hcldec.ObjectSpec{
				"screenshot": &hcldec.AttrSpec{Name: "screenshot", Type: cty.Bool},
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

// describedResources lists what aws_ec2_describe facts reveal besides the
// instance: its volumes and its instance profile's role, which responses
// may tag or contain.
func describedResources(facts map[string]any, primary schema.Resource) []schema.Resource {
	var out []schema.Resource
	if vols, ok := facts["volumes"].([]any); ok {
		for _, e := range vols {
			vol, _ := e.(map[string]any)
			id, _ := vol["id"].(string)
			if id == "" {
				continue
			}
			details := map[string]any{"volume_id": id, "instance_id": primary.ID}
			if dev, ok := vol["device"].(string); ok {
				details["device_name"] = dev
			}
			out = append(out, schema.Resource{Type: schema.ResourceEBSVolume, ID: id, Tags: map[string]string{}, Details: details})
		}
	}
	if p, ok := facts["iam_instance_profile"].(map[string]any); ok {
		if role, _ := p["role_name"].(string); role != "" {
			out = append(out, schema.Resource{Type: schema.ResourceIAMRole, ID: role, Tags: map[string]string{},
				Details: map[string]any{"role_name": role, "instance_profile_arn": p["arn"]}})
		}
	}
	return out
}
