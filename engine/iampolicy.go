package engine

import (
	"fmt"
	"sort"
	"strings"
)

// IAMPolicy is an IAM policy document.
type IAMPolicy struct {
	Version   string         `json:"Version"`
	Statement []IAMStatement `json:"Statement"`
}

// IAMStatement is one statement of an IAMPolicy.
type IAMStatement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource string   `json:"Resource"`
}

// permissioner is what action and collector implementations expose for
// the IAM policy: the API actions their code paths call.
type permissioner interface{ Permissions() []string }

// IAMPolicy returns the least-privilege policy for the identity cordon
// acts as (the role it assumes in each account, or its own): one
// statement per configured action, collector and source type, listing
// exactly the API actions that type's code calls. Types that call no AWS
// API (webhooks, files) have no statement.
func (e *Engine) IAMPolicy() IAMPolicy {
	byType := map[string][]string{}
	for _, a := range e.cfg.Actions {
		if p, ok := a.Impl.(permissioner); ok {
			byType[a.Type] = p.Permissions()
		}
	}
	for _, c := range e.cfg.Collectors {
		if p, ok := c.Impl.(permissioner); ok {
			byType[c.Type] = p.Permissions()
		}
	}
	// The daemon's sources read with the same identity (the role in the
	// queue's or the detectors' account). Their statements are named
	// apart from the action and collector types: CordonSourceSqs.
	for _, s := range e.cfg.Sources {
		byType["source_"+s.Type] = s.Def.IAMActions
	}
	types := make([]string, 0, len(byType))
	for t, perms := range byType {
		if len(perms) > 0 {
			types = append(types, t)
		}
	}
	sort.Strings(types)
	pol := IAMPolicy{Version: "2012-10-17", Statement: []IAMStatement{}}
	for _, t := range types {
		perms := append([]string(nil), byType[t]...)
		sort.Strings(perms)
		pol.Statement = append(pol.Statement, IAMStatement{
			Sid: sid(t), Effect: "Allow", Action: compactSorted(perms), Resource: "*",
		})
	}
	return pol
}

// CallerPolicy is the policy of the identity cordon starts from when it
// assumes a role per account: only sts:AssumeRole on that role.
func (e *Engine) CallerPolicy() (IAMPolicy, error) {
	p := e.cfg.Provider
	if p == nil || p.AssumeRoleARN == "" {
		return IAMPolicy{}, fmt.Errorf("the provider block sets no assume_role_arn, so cordon acts as its own identity: give it the policy of `cordon iam-policy`")
	}
	return IAMPolicy{Version: "2012-10-17", Statement: []IAMStatement{{
		Sid: "CordonAssumeResponderRole", Effect: "Allow", Action: []string{"sts:AssumeRole"},
		Resource: strings.ReplaceAll(p.AssumeRoleARN, "{account}", "*"),
	}}}, nil
}

// PolicyActions lists every API action of a policy.
func (p IAMPolicy) PolicyActions() map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			out[a] = true
		}
	}
	return out
}

// sid turns a type name into a statement id: aws_ec2_isolate →
// CordonAwsEc2Isolate.
func sid(typ string) string {
	var b strings.Builder
	b.WriteString("Cordon")
	for _, part := range strings.Split(typ, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func compactSorted(ss []string) []string {
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}
