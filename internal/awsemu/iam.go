package awsemu

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// IAM speaks awsQuery and is global: its state is per account.
var iamAPI = func() *api {
	a := queryErrors(&api{id: "iam", prefix: "iam", protocol: protoQuery, version: "2010-05-08",
		xmlns: "https://iam.amazonaws.com/doc/2010-05-08/", global: true})
	a.internal = errf(500, "ServiceFailure", "The request processing has failed because of an unknown error, exception or failure.")
	return a
}()

func init() {
	iamAPI.ops = map[string]handler{
		"ListAccessKeys":       listAccessKeys,
		"UpdateAccessKey":      updateAccessKey,
		"GetAccessKeyLastUsed": getAccessKeyLastUsed,
		"PutUserPolicy":        putPolicy(userKind),
		"GetUserPolicy":        getPolicy(userKind),
		"DeleteUserPolicy":     deletePolicy(userKind),
		"ListUserPolicies":     listPolicies(userKind),
		"PutRolePolicy":        putPolicy(roleKind),
		"GetRolePolicy":        getPolicy(roleKind),
		"DeleteRolePolicy":     deletePolicy(roleKind),
		"ListRolePolicies":     listPolicies(roleKind),
		"GetInstanceProfile":   getInstanceProfile,
		"TagUser":              tagEntity(userKind),
		"UntagUser":            untagEntity(userKind),
		"ListUserTags":         listEntityTags(userKind),
		"TagRole":              tagEntity(roleKind),
		"UntagRole":            untagEntity(roleKind),
		"ListRoleTags":         listEntityTags(roleKind),
		"GetUser":              getUser,
		"GetRole":              getRole,
	}
}

func validationError(format string, args ...any) *apiError {
	return errf(400, "ValidationError", format, args...)
}

func noSuchEntity(format string, args ...any) *apiError {
	return errf(404, "NoSuchEntity", format, args...)
}

var (
	iamNamePattern = regexp.MustCompile(`^[\w+=,.@-]+$`)
	accessKeyIDRE  = regexp.MustCompile(`^\w{16,128}$`)
)

// name reads a required IAM name parameter, with IAM's validation message.
func (r *request) name(param string, maxLen int) (string, error) {
	v := r.params.get(param)
	member := strings.ToLower(param[:1]) + param[1:]
	if v == "" {
		return "", validationError("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	if len(v) > maxLen {
		return "", validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, member, maxLen)
	}
	if !iamNamePattern.MatchString(v) {
		return "", validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", v, member)
	}
	return v, nil
}

// targetUser is the UserName parameter, or the calling user when it is
// left out, as IAM infers it.
func (r *request) targetUser() (*User, error) {
	if !r.params.has("UserName") {
		if r.caller.user == nil {
			return nil, validationError("Must specify userName when calling with non-User credentials")
		}
		if err := r.resources(r.caller.user.Name); err != nil {
			return nil, err
		}
		if err := r.authorize(r.action(), iamItem(r.caller.user.ARN, r.caller.user.Tags)); err != nil {
			return nil, err
		}
		return r.caller.user, nil
	}
	name, err := r.name("UserName", 128)
	if err != nil {
		return nil, err
	}
	if err := r.resources(name); err != nil {
		return nil, err
	}
	u := r.acct.Users[name]
	if u == nil {
		return nil, noSuchEntity("The user with name %s cannot be found.", name)
	}
	// Every user operation cordon makes has the user as its resource
	// (user* in the Service Authorization Reference).
	if err := r.authorize(r.action(), iamItem(u.ARN, u.Tags)); err != nil {
		return nil, err
	}
	return u, nil
}

func (r *request) targetRole() (*Role, error) {
	name, err := r.name("RoleName", 64)
	if err != nil {
		return nil, err
	}
	if err := r.resources(name); err != nil {
		return nil, err
	}
	role := r.acct.Roles[name]
	if role == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", name)
	}
	if err := r.authorize(r.action(), iamItem(role.ARN, role.Tags)); err != nil {
		return nil, err
	}
	return role, nil
}

// marker pages a sorted list with IAM's Marker and MaxItems.
func (r *request) marker(keys []string) (page []string, next string, err error) {
	max := 100
	if n, ok, perr := r.params.int("MaxItems"); perr != nil {
		return nil, "", validationError("Invalid MaxItems")
	} else if ok {
		if n < 1 || n > 1000 {
			return nil, "", validationError("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", n)
		}
		max = n
	}
	if m := r.params.get("Marker"); m != "" {
		last, ok := decodeToken(r.op, m)
		if !ok {
			return nil, "", validationError("Invalid Marker.")
		}
		i := sort.SearchStrings(keys, last)
		if i < len(keys) && keys[i] == last {
			i++
		}
		keys = keys[i:]
	}
	if len(keys) <= max {
		return keys, "", nil
	}
	return keys[:max], encodeToken(r.op, keys[max-1]), nil
}

// ---- XML shapes ------------------------------------------------------------

type qTag struct {
	Key   string
	Value string
}

func qTags(m map[string]string) []qTag {
	out := make([]qTag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, qTag{k, m[k]})
	}
	return out
}

type qUser struct {
	Path       string
	UserName   string
	UserId     string
	Arn        string
	CreateDate xmlTime
	Tags       []qTag `xml:"Tags>member"`
}

func qUserOf(u *User, withTags bool) qUser {
	q := qUser{Path: u.Path, UserName: u.Name, UserId: u.ID, Arn: u.ARN, CreateDate: xmlTime(u.Created)}
	if withTags {
		q.Tags = qTags(u.Tags)
	}
	return q
}

type qRole struct {
	Path                     string
	RoleName                 string
	RoleId                   string
	Arn                      string
	CreateDate               xmlTime
	AssumeRolePolicyDocument string
	MaxSessionDuration       int
	Tags                     []qTag `xml:"Tags>member"`
	RoleLastUsed             *struct {
		LastUsedDate *xmlTime
		Region       string `xml:",omitempty"`
	}
}

func qRoleOf(role *Role, withTags bool) qRole {
	q := qRole{Path: role.Path, RoleName: role.Name, RoleId: role.ID, Arn: role.ARN, CreateDate: xmlTime(role.Created),
		AssumeRolePolicyDocument: urlEncodePolicy(trustPolicy(role)), MaxSessionDuration: role.MaxSessionDuration}
	if withTags {
		q.Tags = qTags(role.Tags)
		q.RoleLastUsed = &struct {
			LastUsedDate *xmlTime
			Region       string `xml:",omitempty"`
		}{}
		if lu := role.LastUsed; lu != nil {
			q.RoleLastUsed.LastUsedDate, q.RoleLastUsed.Region = xmlTimePtr(lu.Time), lu.Region
		}
	}
	return q
}

// trustPolicy renders a role's trust as the document IAM would hold.
func trustPolicy(role *Role) string {
	var principals []string
	for _, t := range role.Trust {
		switch {
		case t == "*":
			principals = append(principals, "*")
		case accountRE.MatchString(t):
			principals = append(principals, "arn:aws:iam::"+t+":root")
		default:
			principals = append(principals, t)
		}
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": principals}, "Action": "sts:AssumeRole",
		}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// urlEncodePolicy encodes a policy document as IAM returns it: RFC 3986
// percent-encoding, spaces as %20.
func urlEncodePolicy(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

// ---- access keys -----------------------------------------------------------

func listAccessKeys(r *request) (any, error) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(u.AccessKeys))
	byID := map[string]*AccessKey{}
	for i, k := range u.AccessKeys {
		keys[i], byID[k.ID] = k.ID, k
	}
	sort.Strings(keys)
	page, next, err := r.marker(keys)
	if err != nil {
		return nil, err
	}
	type meta struct {
		UserName    string
		AccessKeyId string
		Status      string
		CreateDate  xmlTime
	}
	out := &struct {
		AccessKeyMetadata []meta `xml:"AccessKeyMetadata>member"`
		IsTruncated       bool
		Marker            string `xml:",omitempty"`
	}{IsTruncated: next != "", Marker: next}
	for _, id := range page {
		k := byID[id]
		out.AccessKeyMetadata = append(out.AccessKeyMetadata, meta{u.Name, k.ID, k.Status, xmlTime(k.Created)})
	}
	return out, nil
}

func updateAccessKey(r *request) (any, error) {
	id := r.params.get("AccessKeyId")
	if id == "" {
		return nil, validationError("1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
	}
	status := r.params.get("Status")
	if status != "Active" && status != "Inactive" {
		return nil, validationError("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	for _, k := range u.AccessKeys {
		if k.ID == id {
			k.Status = status
			return nil, nil
		}
	}
	return nil, noSuchEntity("The Access Key with id %s cannot be found.", id)
}

func getAccessKeyLastUsed(r *request) (any, error) {
	id := r.params.get("AccessKeyId")
	if !accessKeyIDRE.MatchString(id) {
		return nil, validationError("1 validation error detected: Value '%s' at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16", id)
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	u, k := r.acct.userKey(id)
	if k == nil {
		// IAM answers only for keys of the caller's own account.
		return nil, errf(403, "AccessDenied", "User: %s is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key %s", r.caller.arn, id)
	}
	if err := r.authorize(r.action(), iamItem(u.ARN, u.Tags)); err != nil {
		return nil, err
	}
	type lastUsed struct {
		LastUsedDate *xmlTime
		ServiceName  string
		Region       string
	}
	out := &struct {
		UserName          string
		AccessKeyLastUsed lastUsed
	}{UserName: u.Name, AccessKeyLastUsed: lastUsed{ServiceName: "N/A", Region: "N/A"}}
	if lu := k.LastUsed; lu != nil {
		out.AccessKeyLastUsed = lastUsed{xmlTimePtr(lu.Time), lu.Service, lu.Region}
	}
	return out, nil
}

// ---- users and roles -------------------------------------------------------

func getUser(r *request) (any, error) {
	u, err := r.targetUser()
	if err != nil {
		return nil, err
	}
	return &struct{ User qUser }{qUserOf(u, true)}, nil
}

func getRole(r *request) (any, error) {
	role, err := r.targetRole()
	if err != nil {
		return nil, err
	}
	return &struct{ Role qRole }{qRoleOf(role, true)}, nil
}

func getInstanceProfile(r *request) (any, error) {
	name, err := r.name("InstanceProfileName", 128)
	if err != nil {
		return nil, err
	}
	if err := r.resources(name); err != nil {
		return nil, err
	}
	ip := r.acct.InstanceProfiles[name]
	if ip == nil {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", name)
	}
	if err := r.authorize(r.action(), plainItem(ip.ARN)); err != nil {
		return nil, err
	}
	type profile struct {
		Path                string
		InstanceProfileName string
		InstanceProfileId   string
		Arn                 string
		CreateDate          xmlTime
		Roles               []qRole `xml:"Roles>member"`
	}
	p := profile{Path: ip.Path, InstanceProfileName: ip.Name, InstanceProfileId: ip.ID, Arn: ip.ARN, CreateDate: xmlTime(ip.Created), Roles: []qRole{}}
	if role := r.acct.Roles[ip.Role]; role != nil {
		p.Roles = append(p.Roles, qRoleOf(role, false))
	}
	return &struct{ InstanceProfile profile }{p}, nil
}

// ---- inline policies and tags of users and roles ---------------------------

// entityKind abstracts over users and roles, which IAM gives the same
// inline-policy and tag operations.
type entityKind struct {
	noun, param string
	limit       int // aggregate inline policy size
	find        func(r *request) (name string, policies *map[string]string, tags *map[string]string, err error)
}

var userKind = entityKind{noun: "user", param: "UserName", limit: userPolicyLimit,
	find: func(r *request) (string, *map[string]string, *map[string]string, error) {
		if _, err := r.name("UserName", 128); err != nil {
			return "", nil, nil, err
		}
		u, err := r.targetUser()
		if err != nil {
			return "", nil, nil, err
		}
		return u.Name, &u.Policies, &u.Tags, nil
	}}

var roleKind = entityKind{noun: "role", param: "RoleName", limit: rolePolicyLimit,
	find: func(r *request) (string, *map[string]string, *map[string]string, error) {
		role, err := r.targetRole()
		if err != nil {
			return "", nil, nil, err
		}
		return role.Name, &role.Policies, &role.Tags, nil
	}}

func (r *request) policyName() (string, error) {
	name := r.params.get("PolicyName")
	if name == "" {
		return "", validationError("1 validation error detected: Value null at 'policyName' failed to satisfy constraint: Member must not be null")
	}
	if !policyNameRE.MatchString(name) {
		return "", validationError("1 validation error detected: Value '%s' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	}
	return name, nil
}

func putPolicy(k entityKind) handler {
	return func(r *request) (any, error) {
		name, policies, _, err := k.find(r)
		if err != nil {
			return nil, err
		}
		pname, err := r.policyName()
		if err != nil {
			return nil, err
		}
		doc := r.params.get("PolicyDocument")
		if doc == "" {
			return nil, validationError("1 validation error detected: Value null at 'policyDocument' failed to satisfy constraint: Member must not be null")
		}
		if _, err := parsePolicy(doc); err != nil {
			return nil, errf(400, "MalformedPolicyDocument", "%v", err)
		}
		total := policySize(doc)
		for n, d := range *policies {
			if n != pname {
				total += policySize(d)
			}
		}
		if total > k.limit {
			return nil, errf(409, "LimitExceeded", "Maximum policy size of %d bytes exceeded for %s %s", k.limit, k.noun, name)
		}
		if *policies == nil {
			*policies = map[string]string{}
		}
		(*policies)[pname] = doc
		return nil, nil
	}
}

func getPolicy(k entityKind) handler {
	return func(r *request) (any, error) {
		name, policies, _, err := k.find(r)
		if err != nil {
			return nil, err
		}
		pname, err := r.policyName()
		if err != nil {
			return nil, err
		}
		doc, ok := (*policies)[pname]
		if !ok {
			return nil, noSuchEntity("The %s policy with name %s cannot be found.", k.noun, pname)
		}
		if k.noun == "user" {
			return &struct{ UserName, PolicyName, PolicyDocument string }{name, pname, urlEncodePolicy(doc)}, nil
		}
		return &struct{ RoleName, PolicyName, PolicyDocument string }{name, pname, urlEncodePolicy(doc)}, nil
	}
}

func deletePolicy(k entityKind) handler {
	return func(r *request) (any, error) {
		_, policies, _, err := k.find(r)
		if err != nil {
			return nil, err
		}
		pname, err := r.policyName()
		if err != nil {
			return nil, err
		}
		if _, ok := (*policies)[pname]; !ok {
			return nil, noSuchEntity("The %s policy with name %s cannot be found.", k.noun, pname)
		}
		delete(*policies, pname)
		return nil, nil
	}
}

func listPolicies(k entityKind) handler {
	return func(r *request) (any, error) {
		_, policies, _, err := k.find(r)
		if err != nil {
			return nil, err
		}
		page, next, err := r.marker(sortedKeys(*policies))
		if err != nil {
			return nil, err
		}
		return &struct {
			PolicyNames []string `xml:"PolicyNames>member"`
			IsTruncated bool
			Marker      string `xml:",omitempty"`
		}{append([]string{}, page...), next != "", next}, nil
	}
}

// tagCharsRE is the characters IAM allows in tag keys and values; their
// lengths (1–128 and 0–256 characters) are checked apart: a counted
// repetition of these classes compiles to a program of megabytes, which
// every cordon command would build at start.
var tagCharsRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func validTagKey(k string) bool {
	n := utf8.RuneCountInString(k)
	return n >= 1 && n <= 128 && tagCharsRE.MatchString(k)
}

func validTagValue(v string) bool {
	return utf8.RuneCountInString(v) <= 256 && tagCharsRE.MatchString(v)
}

func tagEntity(k entityKind) handler {
	return func(r *request) (any, error) {
		items := r.params.items("Tags.member")
		if len(items) == 0 {
			return nil, validationError("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
		}
		add := map[string]string{}
		for _, it := range items {
			key, value := r.params.get(it+".Key"), r.params.get(it+".Value")
			if !validTagKey(key) {
				return nil, errf(400, "InvalidInput", "The specified value for tagKey is invalid. It must contain only alphanumeric characters and/or the following characters: _.:/=+-@")
			}
			if strings.HasPrefix(strings.ToLower(key), "aws:") {
				return nil, errf(400, "InvalidInput", "User-defined tag keys can't start with 'aws:'.")
			}
			if !validTagValue(value) {
				return nil, errf(400, "InvalidInput", "The specified value for tagValue is invalid.")
			}
			add[key] = value
		}
		// The tags requested are condition keys of the authorization
		// find makes (aws:RequestTag, aws:TagKeys).
		r.setRequestTags(add)
		name, _, tags, err := k.find(r)
		if err != nil {
			return nil, err
		}
		n := len(*tags)
		for key := range add {
			if _, ok := (*tags)[key]; !ok {
				n++
			}
		}
		if n > 50 {
			return nil, errf(409, "LimitExceeded", "The number of tags has reached the maximum limit for %s %s.", k.noun, name)
		}
		if *tags == nil {
			*tags = map[string]string{}
		}
		for key, v := range add {
			(*tags)[key] = v
		}
		return nil, nil
	}
}

func untagEntity(k entityKind) handler {
	return func(r *request) (any, error) {
		keys := r.params.list("TagKeys.member")
		if len(keys) == 0 {
			return nil, validationError("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
		}
		r.setRequestKey("aws:TagKeys", keys...)
		_, _, tags, err := k.find(r)
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			delete(*tags, key)
		}
		return nil, nil
	}
}

func listEntityTags(k entityKind) handler {
	return func(r *request) (any, error) {
		_, _, tags, err := k.find(r)
		if err != nil {
			return nil, err
		}
		page, next, err := r.marker(sortedKeys(*tags))
		if err != nil {
			return nil, err
		}
		out := &struct {
			Tags        []qTag `xml:"Tags>member"`
			IsTruncated bool
			Marker      string `xml:",omitempty"`
		}{Tags: []qTag{}, IsTruncated: next != "", Marker: next}
		for _, key := range page {
			out.Tags = append(out.Tags, qTag{key, (*tags)[key]})
		}
		return out, nil
	}
}
