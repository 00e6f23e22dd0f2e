package awsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The emulator evaluates the caller's inline policies as IAM evaluates
// identity-based policies, against every authorization of a request (see
// authz.go): the action, the resource's ARN (Resource and NotResource
// patterns match part by part, with wildcards) and the condition keys of
// the request, the resource and the caller (aws:TokenIssueTime,
// aws:PrincipalArn, ec2:ResourceTag/…, aws:TagKeys …), with IAM's
// operators, IfExists and set qualifiers. An explicit Deny always wins.
// By default a request no statement allows is still allowed, so that a
// seed need not grant anything; with identity policies enforced (the
// seed's enforce_policies option, Emulator.EnforcePolicies) it is denied,
// as in AWS. Resource-based policies, permissions boundaries, SCPs and
// session policies are not modelled.

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
	// Set is the set qualifier of a multivalued key: ForAllValues,
	// ForAnyValue or "".
	Set string
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
			op, set := opName, ""
			if i := strings.Index(op, ":"); i >= 0 {
				// ForAnyValue: / ForAllValues: qualify multivalued keys
				// (aws:TagKeys).
				if set = op[:i]; set != "ForAnyValue" && set != "ForAllValues" {
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
				s.Conditions = append(s.Conditions, condition{Op: op, Key: strings.ToLower(key), Values: vals, IfExists: ifExists, Set: set})
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

// evaluate applies the caller's inline policies to one authorization the
// way IAM evaluates identity-based policies: an explicit Deny wins; else,
// when identity policies are enforced, an Allow is needed; else (the
// emulator's default, so that a seed need not grant anything) the request
// is allowed. It returns why the request is denied, "" when it is not.
// The caller holds e.mu.
func (e *Emulator) evaluate(r *request, az Authorization) string {
	var policies map[string]string
	switch {
	case r.caller.user != nil:
		policies = r.caller.user.Policies
	case r.caller.role != nil:
		policies = r.caller.role.Policies
	}
	parsed := make([]*policy, 0, len(policies))
	for _, name := range sortedKeys(policies) {
		if p := e.parsed(policies[name]); p != nil {
			parsed = append(parsed, p)
		}
	}
	ctx := liveContext{r: r, keys: az.Context}
	allowed, denied := decide(parsed, az, ctx)
	switch {
	case denied:
		return "with an explicit deny in an identity-based policy"
	case allowed || !e.enforced || needsNoPermission[az.Action]:
		return ""
	}
	return "because no identity-based policy allows the " + az.Action + " action"
}

// needsNoPermission are the actions IAM allows without any policy.
var needsNoPermission = map[string]bool{"sts:GetCallerIdentity": true}

// decide reports whether some statement of the policies allows az and
// whether one denies it.
func decide(policies []*policy, az Authorization, ctx conditionContext) (allowed, denied bool) {
	for _, p := range policies {
		for _, s := range p.Statements {
			if !s.appliesTo(az.Action) || !s.coversResource(az.Resource) || !s.conditionsHold(ctx) {
				continue
			}
			if s.Effect == "Deny" {
				return allowed, true
			}
			allowed = true
		}
	}
	return allowed, false
}

// Allows reports whether the identity-based policy documents grant every
// authorization of a recorded call, as IAM would evaluate them for a
// principal holding exactly those policies: each authorization needs an
// Allow and no Deny. why names the first authorization refused. Condition
// keys of the caller are evaluated from what the call recorded: its
// region (aws:RequestedRegion), account (aws:PrincipalAccount) and time
// (aws:CurrentTime, aws:EpochTime); others are absent.
func Allows(docs []string, c Call) (ok bool, why string, err error) {
	var policies []*policy
	for i, d := range docs {
		p, err := parsePolicy(d)
		if err != nil {
			return false, "", fmt.Errorf("policy %d: %w", i+1, err)
		}
		policies = append(policies, p)
	}
	azs := c.Authorizations
	if len(azs) == 0 {
		// A call refused before its handler authorized anything (or
		// one the emulator could not route) is judged by its action.
		azs = []Authorization{{Action: c.Action(), Resource: "*"}}
	}
	for _, az := range azs {
		allowed, denied := decide(policies, az, recordedContext{call: c, keys: az.Context})
		switch {
		case denied:
			return false, fmt.Sprintf("%s on %s is explicitly denied", az.Action, az.Resource), nil
		case !allowed && !needsNoPermission[az.Action]:
			return false, fmt.Sprintf("no statement allows %s on %s (context %v)", az.Action, az.Resource, az.Context), nil
		}
	}
	return true, "", nil
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

// coversResource reports whether the statement's Resource (or
// NotResource) element takes in resource. An action without
// resource-level permissions is authorized against "*", which only a
// Resource of "*" covers.
func (s statement) coversResource(resource string) bool {
	matched := false
	for _, p := range s.Resources {
		if arnMatches(p, resource) {
			matched = true
			break
		}
	}
	if s.NotResource {
		return !matched
	}
	return matched
}

// arnMatches matches an ARN against a Resource pattern as IAM does: "*"
// matches anything; otherwise each of the six colon-separated parts
// (arn, partition, service, region, account, resource) is matched
// separately, with * and ? as wildcards within a part (the resource part
// may itself contain colons).
func arnMatches(pattern, arn string) bool {
	if pattern == "*" {
		return true
	}
	if arn == "*" {
		return false
	}
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !policyGlob(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// policyGlob matches a policy string with * and ? wildcards. ${*}, ${?}
// and ${$} stand for a literal *, ? and $, as in IAM policies; a
// backslash is an ordinary character.
func policyGlob(pattern, s string) bool {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c == '$' && i+3 < len(pattern) && pattern[i+1] == '{' && pattern[i+3] == '}' {
			switch lit := pattern[i+2]; lit {
			case '*', '?':
				b.WriteByte('\\')
				b.WriteByte(lit)
				i += 3
				continue
			case '$':
				b.WriteByte('$')
				i += 3
				continue
			}
		}
		if c == '\\' {
			b.WriteString(`\\`)
			continue
		}
		b.WriteByte(c)
	}
	return glob(b.String(), s)
}

// policyLiteral resolves the escapes IAM reads in policy strings: ${$},
// ${*} and ${?} stand for $, * and ?.
func policyLiteral(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return strings.NewReplacer("${$}", "$", "${*}", "*", "${?}", "?").Replace(s)
}

// conditionContext gives the values of condition keys (lower case).
type conditionContext interface {
	values(key string) ([]string, bool)
}

// liveContext is a request being served: its recorded keys, then the
// global keys of its caller.
type liveContext struct {
	r    *request
	keys map[string][]string
}

func (c liveContext) values(key string) ([]string, bool) {
	if v, ok := c.keys[key]; ok {
		return v, true
	}
	if v, ok := c.r.contextValue(key); ok {
		return []string{v}, true
	}
	return nil, false
}

// recordedContext is a recorded call: its keys and what the call record
// says of its caller.
type recordedContext struct {
	call Call
	keys map[string][]string
}

func (c recordedContext) values(key string) ([]string, bool) {
	if v, ok := c.keys[key]; ok {
		return v, true
	}
	switch key {
	case "aws:requestedregion":
		return []string{c.call.Region}, c.call.Region != ""
	case "aws:principalaccount":
		return []string{c.call.Account}, c.call.Account != ""
	case "aws:currenttime":
		return []string{c.call.Time.UTC().Format(time.RFC3339)}, true
	case "aws:epochtime":
		return []string{strconv.FormatInt(c.call.Time.Unix(), 10)}, true
	}
	return nil, false
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

func (s statement) conditionsHold(ctx conditionContext) bool {
	for _, c := range s.Conditions {
		have, ok := ctx.values(c.Key)
		if !c.holds(have, ok) {
			return false
		}
	}
	return true
}

// holds evaluates the condition on the key's values (present: whether
// the request has the key at all). Without a set qualifier a key with
// several values (aws:TagKeys) matches when any of them does; with
// ForAnyValue one value must match; with ForAllValues every value must,
// which an absent or empty key does vacuously.
func (c condition) holds(have []string, present bool) bool {
	if c.Op == "Null" {
		return len(c.Values) == 1 && strings.EqualFold(c.Values[0], strconv.FormatBool(!present))
	}
	negated := strings.Contains(c.Op, "Not")
	switch c.Set {
	case "ForAllValues":
		for _, v := range have {
			if !c.matchValue(v, negated) {
				return false
			}
		}
		return true
	case "ForAnyValue":
		for _, v := range have {
			if c.matchValue(v, negated) {
				return true
			}
		}
		return false
	}
	if !present {
		return c.IfExists || negated
	}
	for _, v := range have {
		if c.matchValue(v, negated) {
			return true
		}
	}
	return false
}

// matchValue applies the operator to one value of the request: a
// positive operator matches when the value equals (or is like …) one of
// the condition's values, a negated one when it matches none.
func (c condition) matchValue(v string, negated bool) bool {
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
	case "StringEquals":
		return have == policyLiteral(want)
	case "BinaryEquals":
		return have == want
	case "ArnEquals", "ArnLike":
		// IAM matches ARNs part by part, with wildcards, for both.
		return arnMatches(want, have)
	case "StringEqualsIgnoreCase":
		return strings.EqualFold(have, policyLiteral(want))
	case "StringLike":
		return policyGlob(want, have)
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
