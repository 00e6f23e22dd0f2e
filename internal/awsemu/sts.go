package awsemu

import (
	"regexp"
	"strings"
	"time"
)

// STS speaks awsQuery. Its state is the sessions it hands out, kept in the
// account of the role assumed.
var stsAPI = queryErrors(&api{id: "sts", prefix: "sts", protocol: protoQuery, version: "2011-06-15",
	xmlns: "https://sts.amazonaws.com/doc/2011-06-15/", global: true})

func init() {
	stsAPI.ops = map[string]handler{
		"AssumeRole":        assumeRole,
		"GetCallerIdentity": getCallerIdentity,
	}
}

var (
	roleARNRE     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role(/(?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func assumeRole(r *request) (any, error) {
	roleARN := r.params.get("RoleArn")
	sessionName := r.params.get("RoleSessionName")
	if roleARN == "" {
		return nil, validationError("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if sessionName == "" {
		return nil, validationError("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	}
	if !sessionNameRE.MatchString(sessionName) {
		return nil, validationError("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessionName)
	}
	if err := r.resources(roleARN); err != nil {
		return nil, err
	}
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, validationError("%s is invalid", roleARN)
	}
	denied := errf(403, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", r.caller.arn, roleARN)
	acct := r.e.state.Accounts[m[1]]
	if acct == nil {
		return nil, denied
	}
	role := acct.Roles[m[3]]
	if role == nil && acct.AllowAnyRole {
		role = &Role{Name: m[3], Path: m[2], ID: r.e.ids.iamID("AROA", acct.ID+"/"+m[3]), ARN: roleARN,
			Created: r.now, Trust: []string{"*"}, MaxSessionDuration: 3600}
		acct.Roles[role.Name] = role
	}
	if role == nil || role.ARN != roleARN || !trusts(role, r.caller) {
		return nil, denied
	}
	// The caller's own policies must allow sts:AssumeRole on the role,
	// as well as the role's trust policy the caller.
	if err := r.authorize(r.action(), authzItem{arn: role.ARN, keys: tagKeys(role.Tags, "aws:ResourceTag/")}); err != nil {
		return nil, err
	}

	duration := 3600
	if n, ok, err := r.params.int("DurationSeconds"); err != nil {
		return nil, validationError("DurationSeconds must be an integer")
	} else if ok {
		if n < 900 || n > 43200 {
			return nil, validationError("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", n)
		}
		duration = n
	}
	if r.caller.session != nil && duration > 3600 {
		return nil, validationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > role.MaxSessionDuration {
		return nil, validationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	packed := 0
	if doc := r.params.get("Policy"); doc != "" {
		if _, err := parsePolicy(doc); err != nil {
			return nil, errf(400, "MalformedPolicyDocument", "%v", err)
		}
		packed = min(100, policySize(doc)*100/2048)
		if packed >= 100 {
			return nil, errf(400, "PackedPolicyTooLarge", "Packed size of consumed policies exceeds 100%% of limit.")
		}
	}

	key := roleARN + "/" + sessionName
	s := &Session{
		AccessKeyID:     r.e.ids.iamID("ASIA", key),
		SecretAccessKey: r.e.ids.secret("session-secret", key, 40),
		SessionToken:    "IQoJb3JpZ2luX2Vj" + r.e.ids.secret("session-token", key, 300),
		RoleName:        role.Name,
		SessionName:     sessionName,
		AssumedRoleID:   role.ID + ":" + sessionName,
		ARN:             "arn:aws:sts::" + acct.ID + ":assumed-role/" + role.Name + "/" + sessionName,
		SourceARN:       r.caller.arn,
		Issued:          r.now,
		Expiration:      r.now.Add(time.Duration(duration) * time.Second),
	}
	acct.Sessions[s.AccessKeyID] = s

	type credentials struct {
		AccessKeyId     string
		SecretAccessKey string
		SessionToken    string
		Expiration      xmlTime
	}
	out := &struct {
		Credentials     credentials
		AssumedRoleUser struct {
			AssumedRoleId string
			Arn           string
		}
		PackedPolicySize *int `xml:",omitempty"`
	}{Credentials: credentials{s.AccessKeyID, s.SecretAccessKey, s.SessionToken, xmlTime(s.Expiration)}}
	out.AssumedRoleUser.AssumedRoleId, out.AssumedRoleUser.Arn = s.AssumedRoleID, s.ARN
	if r.params.get("Policy") != "" {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

// trusts reports whether a role's trust lets the caller assume it.
func trusts(role *Role, c *principal) bool {
	for _, t := range role.Trust {
		switch {
		case t == "*", t == c.account.ID, t == "arn:aws:iam::"+c.account.ID+":root", t == c.arn:
			return true
		case c.role != nil && t == c.role.ARN:
			return true
		case strings.HasSuffix(t, "*") && strings.HasPrefix(c.arn, strings.TrimSuffix(t, "*")):
			return true
		}
	}
	return false
}

func getCallerIdentity(r *request) (any, error) {
	return &struct {
		UserId  string
		Account string
		Arn     string
	}{r.caller.userID, r.caller.account.ID, r.caller.arn}, nil
}
