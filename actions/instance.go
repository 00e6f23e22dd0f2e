package actions

import (
	"sort"

	"github.com/cordonhq/cordon/schema"
)

// instanceView answers questions about an instance from the best source
// available offline: the aws_ec2_describe facts when that collector ran
// (fresh, from the API), else the finding's own resource details (as the
// detector saw them). ok is false when neither knows.
type instanceView struct {
	facts   map[string]any // aws_ec2_describe facts, nil if absent
	details map[string]any // finding resource details
}

func viewInstance(req *Request) instanceView {
	v := instanceView{facts: req.FactsOf("aws_ec2_describe"), details: req.Resource.Details}
	// Facts about another instance (a -facts file shared by every finding)
	// must not describe this one.
	if id, _ := v.facts["instance_id"].(string); id != "" && id != req.Target.ID {
		v.facts = nil
	}
	return v
}

// securityGroups returns the instance's security groups: per ENI (nil when
// only the union is known) and their union in first-seen order.
func (v instanceView) securityGroups() (perENI map[string][]string, union []string, ok bool) {
	if enis, found := v.facts["network_interfaces"].([]any); found {
		return groupsOf(enis)
	}
	if enis, found := v.details["network_interfaces"].([]any); found && len(enis) > 0 {
		return groupsOf(enis)
	}
	if sgs, found := v.details["security_groups"]; found {
		if l := stringList(sgs); l != nil {
			return nil, l, true
		}
	}
	return nil, nil, false
}

func groupsOf(enis []any) (map[string][]string, []string, bool) {
	per := map[string][]string{}
	var union []string
	seen := map[string]bool{}
	for _, e := range enis {
		eni, _ := e.(map[string]any)
		id, _ := eni["id"].(string)
		groups := stringList(eni["security_groups"])
		if id != "" {
			per[id] = groups
		}
		for _, g := range groups {
			if !seen[g] {
				seen[g] = true
				union = append(union, g)
			}
		}
	}
	if len(per) == 0 {
		per = nil
	}
	return per, union, true
}

// interfaceVPCs returns the VPC of each interface the facts describe, and
// under "" the instance's VPC (from the facts or the finding), which an
// instance's interfaces share unless they were added from another VPC.
func (v instanceView) interfaceVPCs() map[string]string {
	out := map[string]string{}
	if enis, found := v.facts["network_interfaces"].([]any); found {
		for _, e := range enis {
			eni, _ := e.(map[string]any)
			id, _ := eni["id"].(string)
			vpc, _ := eni["vpc_id"].(string)
			if id != "" && vpc != "" {
				out[id] = vpc
			}
		}
	}
	if vpc, ok := v.str("vpc_id", "vpc_id"); ok {
		out[""] = vpc
	}
	return out
}

// str returns a string attribute, preferring facts under factsKey over
// details under detailsKey.
func (v instanceView) str(factsKey, detailsKey string) (string, bool) {
	if s, ok := v.facts[factsKey].(string); ok && s != "" {
		return s, true
	}
	if detailsKey != "" {
		if s, ok := v.details[detailsKey].(string); ok && s != "" {
			return s, true
		}
	}
	return "", false
}

// volumes returns the ids of the instance's attached volumes and their
// DeleteOnTermination flags, known only from describe facts.
func (v instanceView) volumes() (ids []string, deleteOnTermination map[string]bool, ok bool) {
	vols, found := v.facts["volumes"].([]any)
	if !found {
		return nil, nil, false
	}
	deleteOnTermination = map[string]bool{}
	for _, e := range vols {
		vol, _ := e.(map[string]any)
		id, _ := vol["id"].(string)
		if id == "" {
			continue
		}
		ids = append(ids, id)
		if b, ok := vol["delete_on_termination"].(bool); ok {
			deleteOnTermination[id] = b
		}
	}
	return ids, deleteOnTermination, true
}

// stringList converts a JSON list of strings ([]any or []string) to
// []string; anything else gives nil.
func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// list converts strings to the []any form plans hold after a JSON round
// trip, so a fresh plan and a loaded one compare and render alike.
func list(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tagsOf returns the resource's tags from describe facts when they describe
// it, else from the finding.
func tagsOf(req *Request) map[string]string {
	if req.Target.Type == schema.ResourceInstance {
		if v := viewInstance(req); v.facts != nil {
			if t, ok := v.facts["tags"].(map[string]any); ok {
				out := make(map[string]string, len(t))
				for k, val := range t {
					if s, ok := val.(string); ok {
						out[k] = s
					}
				}
				return out
			}
		}
	}
	return req.Resource.Tags
}
