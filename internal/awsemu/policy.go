package awsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The emulator allows every call, except those an explicit Deny in the
// caller's inline policies forbids. That is enough to see cordon's deny-all
// and revoke-older-sessions policies take effect, without emulating all of
// IAM's evaluation: Deny statements whose Resource is "*" are evaluated
// against the call's action and its request context (aws:TokenIssueTime,
// aws:CurrentTime, aws:PrincipalArn …); statements naming specific
// resources are accepted but not enforced.

// IAM's limits on the aggregate size of a principal's inline policies,
// counted in characters other than white space.
const (
	userPolicyLimit = 2048
	rolePolicyLimit = 10240
)

var policyNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

// policy is a parsed identity-based policy.
type policy struct {
	Statements []statement
}

type statement struct {
	Effect      string
	Actions     []string
	NotActions  []string
	Resources   []string
	NotResource bool
	Conditions  []condition
}

type condition struct {
	Op     string // operator without IfExists and set qualifiers: DateLessThan
	Key    string // lower case: aws:tokenissuetime
	Values []string
	// IfExists makes a missing key match.
	IfExists bool
}

var conditionOps = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "BinaryEquals": true, "IpAddress": true, "NotIpAddress": true,
	"ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true, "Null": true,
}

var actionRE = regexp.MustCompile(`^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$`)

// parsePolicy parses and validates a policy document, with IAM's
// MalformedPolicyDocument messages.
func parsePolicy(doc string) (*policy, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(doc))
	if err := dec.Decode(&top); err != nil || top == nil {
		return nil, fmt.Errorf("Syntax errors in policy.")
	}
	if dec.More() {
		return nil, fmt.Errorf("Syntax errors in policy.")
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, fmt.Errorf("Syntax errors in policy. Unknown element %s.", k)
		}
	}
	if v, ok := top["Version"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || (s != "2012-10-17" && s != "2008-10-17") {
			return nil, fmt.Errorf("The policy failed legacy parsing")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, fmt.Errorf("Syntax errors in policy. The policy has no Statement.")
	}
	var stmts []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &one) != nil {
			return nil, fmt.Errorf("Syntax errors in policy.")
		}
		stmts = append(stmts, one)
	} else if json.Unmarshal(raw, &stmts) != nil {
		return nil, fmt.Errorf("Syntax errors in policy.")
	}
	p := &policy{}
	for _, st := range stmts {
		s, err := parseStatement(st)
		if err != nil {
			return nil, err
		}
		p.Statements = append(p.Statements, s)
	}
	return p, nil
}

func parseStatement(st map[string]json.RawMessage) (statement, error) {
	var s statement
	for k := range st {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return s, fmt.Errorf("Policy document should not specify a principal.")
		default:
			return s, fmt.Errorf("Syntax errors in policy. Unknown element %s.", k)
		}
	}
	if json.Unmarshal(st["Effect"], &s.Effect) != nil || (s.Effect != "Allow" && s.Effect != "Deny") {
		return s, fmt.Errorf("Invalid effect: %s", strings.Trim(string(st["Effect"]), `"`))
	}
	var err error
	if s.Actions, err = stringOrList(st["Action"]); err != nil {
		return s, err
	}
	if s.NotActions, err = stringOrList(st["NotAction"]); err != nil {
		return s, err
	}
	if len(s.Actions) == 0 && len(s.NotActions) == 0 {
		return s, fmt.Errorf("Policy statement must contain actions.")
	}
	for _, a := range append(append([]string{}, s.Actions...), s.NotActions...) {
		if !actionRE.MatchString(a) {
			return s, fmt.Errorf("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
		}
	}
	if s.Resources, err = stringOrList(st["Resource"]); err != nil {
		return s, err
	}
	notRes, err := stringOrList(st["NotResource"])
	if err != nil {
		return s, err
	}
	if len(s.Resources) == 0 && len(notRes) == 0 {
		return s, fmt.Errorf("Policy statement must contain resources.")
	}
	if len(notRes) > 0 {
		s.NotResource, s.Resources = true, notRes
	}
	if raw, ok := st["Condition"]; ok {
		var conds map[string]map[string]json.RawMessage
		if json.Unmarshal(raw, &conds) != nil {
			return s, fmt.Errorf("Syntax errors in policy. Condition must be an object of operators.")
		}
		for _, opName := range sortedKeys(conds) {
			op := opName
			if i := strings.Index(op, ":"); i >= 0 {
				// ForAnyValue: / ForAllValues: qualify multi-valued keys;
				// every key the emulator knows has one value.
				if q := op[:i]; q != "ForAnyValue" && q != "ForAllValues" {
					return s, fmt.Errorf("Invalid Condition type : %s", opName)
				}
				op = op[i+1:]
			}
			ifExists := strings.HasSuffix(op, "IfExists") && op != "IfExists"
			op = strings.TrimSuffix(op, "IfExists")
			if !conditionOps[op] {
				return s, fmt.Errorf("Invalid Condition type : %s", opName)
			}
			for _, key := range sortedKeys(conds[opName]) {
				vals, err := conditionValues(conds[opName][key])
				if err != nil {
					return s, err
				}
				s.Conditions = append(s.Conditions, condition{Op: op, Key: strings.ToLower(key), Values: vals, IfExists: ifExists})
			}
		}
	}
	return s, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, fmt.Errorf("Syntax errors in policy. Expected a string or a list of strings, got %s.", raw)
	}
	return list, nil
}

// conditionValues reads a condition's values: strings, numbers or booleans,
// alone or in a list.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil, fmt.Errorf("Syntax errors in policy.")
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, x)
		case bool:
			out = append(out, strconv.FormatBool(x))
		case float64:
			out = append(out, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			return nil, fmt.Errorf("Syntax errors in policy. Condition values must be strings, numbers or booleans.")
		}
	}
	return out, nil
}

// policySize counts a document's characters as IAM does, without white space.
func policySize(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// deniedBy returns where an explicit Deny of action for the caller comes
// from, or "" when nothing denies it.
func (e *Emulator) deniedBy(r *request, action string) string {
	var policies map[string]string
	switch {
	case r.caller.user != nil:
		policies = r.caller.user.Policies
	case r.caller.role != nil:
		policies = r.caller.role.Policies
	}
	if len(policies) == 0 {
		return ""
	}
	names := make([]string, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := e.parsed(policies[name])
		if p == nil {
			continue // validated on the way in; unreachable
		}
		for _, s := range p.Statements {
			if s.Effect == "Deny" && s.appliesTo(action) && s.allResources() && s.conditionsHold(r) {
				return "an identity-based policy"
			}
		}
	}
	return ""
}

// parsed returns a policy document parsed, parsing each document once.
// The caller holds e.mu.
func (e *Emulator) parsed(doc string) *policy {
	if p, ok := e.policies[doc]; ok {
		return p
	}
	p, err := parsePolicy(doc)
	if err != nil {
		p = nil
	}
	if len(e.policies) > 1024 {
		clear(e.policies) // documents come and go; keep the cache small
	}
	e.policies[doc] = p
	return p
}

func (s statement) appliesTo(action string) bool {
	if len(s.Actions) > 0 {
		return actionMatches(s.Actions, action)
	}
	return !actionMatches(s.NotActions, action)
}

func actionMatches(patterns []string, action string) bool {
	for _, p := range patterns {
		// Action names are case-insensitive.
		if glob(strings.ToLower(p), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

func (s statement) allResources() bool {
	if s.NotResource {
		return false
	}
	for _, r := range s.Resources {
		if r == "*" {
			return true
		}
	}
	return false
}

// contextValue returns a global condition key's value for the request.
func (r *request) contextValue(key string) (string, bool) {
	c := r.caller
	switch key {
	case "aws:currenttime":
		return r.now.Format(time.RFC3339), true
	case "aws:epochtime":
		return strconv.FormatInt(r.now.Unix(), 10), true
	case "aws:tokenissuetime":
		if c.session != nil {
			return c.session.Issued.Format(time.RFC3339), true
		}
	case "aws:principalarn":
		if c.role != nil {
			return c.role.ARN, true
		}
		return c.arn, true
	case "aws:principalaccount":
		return c.account.ID, true
	case "aws:principaltype":
		if c.session != nil {
			return "AssumedRole", true
		}
		return "User", true
	case "aws:userid":
		return c.userID, true
	case "aws:username":
		if c.user != nil {
			return c.user.Name, true
		}
	case "aws:requestedregion":
		return r.call.Region, true
	case "aws:sourceip":
		if host, _, err := net.SplitHostPort(r.http.RemoteAddr); err == nil {
			return host, true
		}
	case "aws:securetransport":
		return strconv.FormatBool(r.http.TLS != nil), true
	}
	return "", false
}

func (s statement) conditionsHold(r *request) bool {
	for _, c := range s.Conditions {
		if !c.holds(r) {
			return false
		}
	}
	return true
}

func (c condition) holds(r *request) bool {
	v, ok := r.contextValue(c.Key)
	if c.Op == "Null" {
		return len(c.Values) == 1 && strings.EqualFold(c.Values[0], strconv.FormatBool(!ok))
	}
	negated := strings.Contains(c.Op, "Not")
	if !ok {
		return c.IfExists || negated
	}
	match := false
	for _, want := range c.Values {
		if c.compare(v, want) {
			match = true
			break
		}
	}
	if negated {
		return !match
	}
	return match
}

// compare applies the positive form of the operator to one value.
func (c condition) compare(have, want string) bool {
	switch strings.Replace(c.Op, "Not", "", 1) {
	case "StringEquals", "ArnEquals", "BinaryEquals":
		return have == want
	case "StringEqualsIgnoreCase":
		return strings.EqualFold(have, want)
	case "StringLike", "ArnLike":
		return glob(want, have)
	case "Bool":
		return strings.EqualFold(have, want)
	case "DateEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals":
		h, err1 := parsePolicyDate(have)
		w, err2 := parsePolicyDate(want)
		if err1 != nil || err2 != nil {
			return false
		}
		switch c.Op {
		case "DateEquals", "DateNotEquals":
			return h.Equal(w)
		case "DateLessThan":
			return h.Before(w)
		case "DateLessThanEquals":
			return !h.After(w)
		case "DateGreaterThan":
			return h.After(w)
		case "DateGreaterThanEquals":
			return !h.Before(w)
		}
	case "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals":
		h, err1 := strconv.ParseFloat(have, 64)
		w, err2 := strconv.ParseFloat(want, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch c.Op {
		case "NumericEquals", "NumericNotEquals":
			return h == w
		case "NumericLessThan":
			return h < w
		case "NumericLessThanEquals":
			return h <= w
		case "NumericGreaterThan":
			return h > w
		case "NumericGreaterThanEquals":
			return h >= w
		}
	case "IpAddress":
		ip := net.ParseIP(have)
		_, n, err := net.ParseCIDR(want)
		if err != nil {
			return ip != nil && ip.Equal(net.ParseIP(want))
		}
		return ip != nil && n.Contains(ip)
	}
	return false
}

// parsePolicyDate reads a policy date: ISO 8601 or seconds since the epoch.
func parsePolicyDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("not a date: %q", s)
}
