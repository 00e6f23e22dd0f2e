package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// MissingGrants reads a KMS key policy and returns which of actions no
// statement allows account's principals, in the order given. It is a
// diagnosis, not an authorizer: it errs towards "allowed" so that it never
// blocks a copy KMS would allow. A statement allows account's principals
// when its Principal is "*" or names the account, its root or any
// principal of it; its conditions are taken to hold (the ones a key
// policy for EBS puts there, kms:GrantIsForAWSResource, kms:ViaService,
// kms:CallerAccount, do when EBS copies for the account); a Deny without
// conditions that names the account takes an action away.
//
// An action ending in * ("kms:ReEncrypt*") is asked as the operation EBS
// performs for a copy's source key (kms:ReEncryptFrom).
func MissingGrants(policy, account string, actions []string) ([]string, error) {
	stmts, err := parseKeyStatements(policy)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, want := range actions {
		op := want
		if strings.HasSuffix(op, "*") {
			op = strings.TrimSuffix(op, "*") + "From"
		}
		allowed, denied := false, false
		for _, s := range stmts {
			if !s.namesAccount(account) || !s.covers(op) {
				continue
			}
			switch {
			case s.Effect == "Deny" && len(s.Condition) == 0:
				denied = true
			case s.Effect == "Allow":
				allowed = true
			}
		}
		if !allowed || denied {
			missing = append(missing, want)
		}
	}
	return missing, nil
}

// keyStatement is a key policy statement, as far as MissingGrants reads
// it.
type keyStatement struct {
	Effect       string
	Principal    json.RawMessage
	NotPrincipal json.RawMessage
	Action       json.RawMessage
	NotAction    json.RawMessage
	Condition    map[string]json.RawMessage
}

func parseKeyStatements(policy string) ([]keyStatement, error) {
	var doc struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return nil, fmt.Errorf("the key policy is not JSON: %w", err)
	}
	var stmts []keyStatement
	raw := bytes.TrimSpace(doc.Statement)
	if bytes.HasPrefix(raw, []byte("{")) {
		var one keyStatement
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("the key policy's Statement: %w", err)
		}
		stmts = append(stmts, one)
	} else if err := json.Unmarshal(raw, &stmts); err != nil {
		return nil, fmt.Errorf("the key policy's Statement: %w", err)
	}
	return stmts, nil
}

// strings reads a string or a list of strings.
func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(raw, &many)
	return many
}

// principals reads a Principal element: "*" or {"AWS": …}.
func principals(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return []string{star}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return stringList(m["AWS"])
}

func (s keyStatement) namesAccount(account string) bool {
	named := func(ps []string) bool {
		for _, p := range ps {
			if p == "*" || p == account || strings.HasPrefix(p, "arn:aws:iam::"+account+":") ||
				strings.HasPrefix(p, "arn:aws:sts::"+account+":") || (strings.Contains(p, ":iam::"+account+":") && strings.HasPrefix(p, "arn:aws-")) {
				return true
			}
		}
		return false
	}
	if len(s.NotPrincipal) > 0 {
		return !named(principals(s.NotPrincipal))
	}
	return named(principals(s.Principal))
}

func (s keyStatement) covers(op string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(op)); ok {
				return true
			}
		}
		return false
	}
	if len(s.Action) > 0 {
		return match(stringList(s.Action))
	}
	return len(s.NotAction) > 0 && !match(stringList(s.NotAction))
}
