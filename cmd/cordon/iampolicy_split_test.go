package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// manyAccountsConfig is a configuration whose policy is over IAM's limit
// for a managed policy: most action and collector types that call AWS,
// in a scope naming that many production accounts in those regions and another
// naming half as many staging accounts, so that statements list many
// ARNs each (with many, some too large to fit a document alone).
func manyAccountsConfig(t *testing.T, accounts int, regions ...string) string {
	t.Helper()
	quoted := func(n, base int) string {
		var ids []string
		for i := range n {
			ids = append(ids, strconv.Quote(fmt.Sprintf("%012d", base+i)))
		}
		return strings.Join(ids, ", ")
	}
	return writeConfig(t, map[string]string{"cordon.hcl": `
provider "aws" {
  region          = "us-west-2"
  assume_role_arn = "arn:aws:iam::{account}:role/cordon-responder"
}

scope "prod" {
  accounts       = [` + quoted(accounts, 100000000000) + `]
  regions        = [` + quotedList(regions) + `]
  resource_types = ["aws_instance"]
  tags           = { Environment = "prod" }
  exclude_tags   = { "cordon:exempt" = "true" }
}

scope "staging" {
  accounts       = [` + quoted(accounts/2, 200000000000) + `]
  regions        = ["us-west-2"]
  resource_types = ["aws_instance", "aws_iam_user"]
}

collector "describe" { type = "aws_ec2_describe" }
collector "triage" { type = "aws_ssm_triage" }
collector "trail" { type = "aws_cloudtrail_events" }
collector "disk" { type = "aws_ebs_acquire" }

action "tag" { type = "aws_ec2_tag" }
action "protect" { type = "aws_ec2_termination_protection" }
action "isolate" {
  type    = "aws_ec2_isolate"
  untrack = true
}
action "profile" {
  type            = "aws_ec2_instance_profile"
  revoke_sessions = true
}
action "snapshot" { type = "aws_ec2_snapshot" }
action "stop" { type = "aws_ec2_stop" }
action "deny" { type = "aws_iam_deny_all" }

rule "prod" {
  scopes  = [scope.prod]
  collect = [collector.describe, collector.triage, collector.trail, collector.disk]
  actions = [action.tag, action.protect, action.isolate, action.profile, action.snapshot, action.stop]
}

rule "staging" {
  scopes  = [scope.staging]
  collect = [collector.describe]
  actions = [action.tag, action.isolate, action.deny]
}
`,
		"policies/verdict.rego": "package cordon.verdict\n\nverdict := \"malicious\"\n",
	})
}

func quotedList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// policyDoc is an IAM policy document as AWS reads it.
type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string][]string `json:",omitempty"`
}

// iamSize is a document's size as IAM counts it against its limits:
// every character but white space.
func iamSize(doc []byte) int {
	n := 0
	for _, r := range string(doc) {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// partSuffix is what splitting a statement by its resources appends to
// its id.
var partSuffix = regexp.MustCompile(`Part[0-9]+$`)

// TestIAMPolicySplit runs `cordon iam-policy -split` on configurations
// over and under IAM's limit: every document is valid JSON within the
// limit, and together they grant exactly what the one policy does, in its
// order; without -split, a policy over the limit warns on stderr.
func TestIAMPolicySplit(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		// docs is the least number of documents -split must print.
		docs    int
		warning bool
		// parts: a statement is too large alone and is split.
		parts bool
		// tooMany: more documents than a role can hold without a quota
		// increase, which -split warns of.
		tooMany string
	}{
		{"very many accounts", manyAccountsConfig(t, 40, "us-west-2", "us-east-1", "eu-west-1"), 21, true, true,
			"more than IAM attaches to one role even with its quota raised (20)"},
		{"many accounts", manyAccountsConfig(t, 24, "us-west-2", "us-east-1"), 11, true, true,
			"IAM attaches at most 10 to a role unless its quota is raised (to 20 at most"},
		{"several accounts", manyAccountsConfig(t, 6, "us-west-2"), 2, true, false, ""},
		{"every type, two accounts", "../../engine/testdata/iampolicy", 2, true, false, ""},
		{"small", "../../engine/testdata/apply", 1, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cordon(t, "iam-policy", "-config", tt.dir)
			if code != 0 {
				t.Fatalf("iam-policy: exit %d\n%s", code, errOut)
			}
			var whole policyDoc
			if err := json.Unmarshal([]byte(out), &whole); err != nil || len(whole.Statement) == 0 {
				t.Fatalf("iam-policy printed no policy (%v):\n%s", err, out)
			}
			size := iamSize([]byte(out))
			if tt.warning != (size > 6144) {
				t.Fatalf("the policy is %d characters: the case does not test what it says", size)
			}
			warned := strings.Contains(errOut, "Warning: Policy too large for one managed policy")
			if warned != tt.warning {
				t.Errorf("warning %v for %d characters:\n%s", warned, size, errOut)
			}
			if tt.warning {
				for _, want := range []string{"The policy is " + strconv.Itoa(size) + " characters", "limit of 6144", "cordon iam-policy -split"} {
					if !strings.Contains(errOut, want) {
						t.Errorf("the warning does not say %q:\n%s", want, errOut)
					}
				}
			}

			for _, args := range [][]string{{"-split"}, {"-split", "-json"}} {
				code, out, errOut := cordon(t, append([]string{"iam-policy", "-config", tt.dir}, args...)...)
				if code != 0 {
					t.Fatalf("iam-policy %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
				}
				if strings.Contains(errOut, "Policy too large") {
					t.Errorf("-split warns the policy is too large:\n%s", errOut)
				}
				if tt.tooMany != "" && !strings.Contains(errOut, tt.tooMany) || tt.tooMany == "" && errOut != "" {
					t.Errorf("iam-policy %s: stderr\n%s\nwant a warning saying %q", strings.Join(args, " "), errOut, tt.tooMany)
				}
				var raw []json.RawMessage
				if err := json.Unmarshal([]byte(out), &raw); err != nil {
					t.Fatalf("-split did not print a JSON array: %v\n%s", err, out)
				}
				if len(raw) < tt.docs {
					t.Errorf("%d documents, want at least %d", len(raw), tt.docs)
				}
				var statements []policyStatement
				for i, r := range raw {
					var doc policyDoc
					dec := json.NewDecoder(strings.NewReader(string(r)))
					dec.DisallowUnknownFields()
					if err := dec.Decode(&doc); err != nil {
						t.Errorf("document %d is not a policy document: %v\n%s", i, err, r)
						continue
					}
					if n := iamSize(r); n > 6144 || doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
						t.Errorf("document %d: %d characters, version %q, %d statements", i, n, doc.Version, len(doc.Statement))
					}
					sids := map[string]bool{}
					for _, st := range doc.Statement {
						if sids[st.Sid] {
							t.Errorf("document %d repeats the statement id %s", i, st.Sid)
						}
						sids[st.Sid] = true
					}
					statements = append(statements, doc.Statement...)
				}
				if msg := sameGrants(whole.Statement, statements); msg != "" {
					t.Error(msg)
				}
				split := slices.ContainsFunc(statements, func(s policyStatement) bool { return partSuffix.MatchString(s.Sid) })
				if split != tt.parts {
					t.Errorf("a statement split in parts: %v, want %v", split, tt.parts)
				}
			}
		})
	}
}

// sameGrants says how split differs from whole, "" when it grants (and
// denies) exactly the same, in the same order: each statement of whole is
// in split as it is, or as consecutive parts with numbered ids (Sid +
// PartN) that differ from it only by holding its resources in turn.
func sameGrants(whole, split []policyStatement) string {
	i := 0
	for _, w := range whole {
		var resources []string
		for i < len(split) {
			s := split[i]
			if s.Sid != w.Sid && !(partSuffix.MatchString(s.Sid) && partSuffix.ReplaceAllString(s.Sid, "") == w.Sid) {
				break
			}
			rest := withoutResource(s)
			rest.Sid = w.Sid
			if !equalStatements(rest, withoutResource(w)) {
				return fmt.Sprintf("statement %s: part %s differs beyond its resources:\n%+v\n%+v", w.Sid, s.Sid, s, w)
			}
			resources = append(resources, s.Resource...)
			i++
			if s.Sid == w.Sid {
				break
			}
		}
		if !slices.Equal(resources, w.Resource) {
			return fmt.Sprintf("statement %s: the split documents grant it on %d resources, the policy on %d", w.Sid, len(resources), len(w.Resource))
		}
	}
	if i != len(split) {
		return fmt.Sprintf("the split documents hold %d statements the policy does not have, from %s", len(split)-i, split[i].Sid)
	}
	return ""
}

func withoutResource(s policyStatement) policyStatement {
	s.Resource = nil
	return s
}

func equalStatements(a, b policyStatement) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// -split applies to the policy printed: the caller's, and the forensic
// role's; one that fits is an array of itself.
func TestIAMPolicySplitOtherPolicies(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"caller", []string{"-config", "../../engine/testdata/iampolicy", "-caller"}},
		{"forensic", []string{"-config", "../../engine/testdata/evidence", "-forensic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, whole, errOut := cordon(t, append([]string{"iam-policy"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, errOut)
			}
			code, out, errOut := cordon(t, append([]string{"iam-policy", "-split"}, tt.args...)...)
			var docs []json.RawMessage
			if err := json.Unmarshal([]byte(out), &docs); code != 0 || err != nil || len(docs) != 1 {
				t.Fatalf("-split: exit %d, %v, %d documents\n%s\n%s", code, err, len(docs), out, errOut)
			}
			var a, b policyDoc
			json.Unmarshal([]byte(whole), &a)
			json.Unmarshal(docs[0], &b)
			if len(a.Statement) == 0 || !slices.EqualFunc(a.Statement, b.Statement, equalStatements) {
				t.Errorf("the one document is not the policy:\n%s\n%s", whole, docs[0])
			}
		})
	}
	// The flags that choose the policy still conflict with -split.
	code, _, errOut := cordon(t, "iam-policy", "-config", "../../engine/testdata/evidence", "-split", "-caller", "-forensic")
	if code != 1 || !strings.Contains(errOut, "give one") {
		t.Errorf("-split -caller -forensic: exit %d\n%s", code, errOut)
	}
}
