package awsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// KMS holds the keys EBS encrypts volumes and snapshots with, per account
// and region, each with its key policy. It speaks awsJson1_1
// (X-Amz-Target: TrentService.DescribeKey) for the two calls cordon makes,
// DescribeKey and GetKeyPolicy; EC2's CopySnapshot uses the keys through
// the same key policy evaluation (keyAllows), as AWS KMS authorizes the
// grants EBS creates on the caller's behalf.
//
// Key policies are resource-based: a statement names principals
// ("Principal": {"AWS": [...]}) and is evaluated with the identity
// statement machinery of policy.go. A key policy that allows an account
// ("arn:aws:iam::111122223333:root" or "111122223333") delegates to that
// account's IAM policies, which must allow the caller too; one that names
// the caller's role allows it outright. An explicit Deny wins.
var kmsAPI = jsonErrors(&api{id: "kms", prefix: "kms", protocol: protoJSON,
	statuses: map[string]int{"KMSInternalException": 500, "DependencyTimeoutException": 503}})

func init() {
	kmsAPI.internal = errf(500, "KMSInternalException", "An internal error has occurred.")
	kmsAPI.ops = map[string]handler{
		"DescribeKey":  describeKey,
		"GetKeyPolicy": getKeyPolicy,
	}
}

// KMSKey is a KMS key of one account and region.
type KMSKey struct {
	ID          string    `json:"id"`
	ARN         string    `json:"arn"`
	Description string    `json:"description,omitempty"`
	State       string    `json:"state"`   // Enabled | Disabled | PendingDeletion
	Manager     string    `json:"manager"` // CUSTOMER | AWS (aws/ebs, created with the first volume encrypted by default)
	Aliases     []string  `json:"aliases,omitempty"`
	Policy      string    `json:"policy"`
	Created     time.Time `json:"created"`
}

func (k *KMSKey) clone() *KMSKey {
	x := *k
	x.Aliases = slices.Clone(k.Aliases)
	return &x
}

var (
	kmsKeyIDRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	kmsAliasRE  = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)
	kmsKeyARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)/(.+)$`)
)

// kmsRef is a key reference as KMS and EBS accept it: a key id, a key
// ARN, an alias name or an alias ARN. account and region are set by ARNs.
type kmsRef struct {
	account, region string
	keyID, alias    string
}

func parseKMSRef(s string) (kmsRef, bool) {
	if m := kmsKeyARNRE.FindStringSubmatch(s); m != nil {
		ref := kmsRef{region: m[1], account: m[2]}
		if m[3] == "key" {
			ref.keyID = m[4]
			return ref, kmsKeyIDRE.MatchString(m[4])
		}
		ref.alias = "alias/" + m[4]
		return ref, kmsAliasRE.MatchString(ref.alias)
	}
	if kmsKeyIDRE.MatchString(s) {
		return kmsRef{keyID: s}, true
	}
	if kmsAliasRE.MatchString(s) {
		return kmsRef{alias: s}, true
	}
	return kmsRef{}, false
}

// kmsKey finds the key ref names in account and region, nil when there
// is none.
func (s *State) kmsKey(ref kmsRef, account, region string) *KMSKey {
	if ref.account != "" {
		account = ref.account
	}
	if ref.region != "" {
		region = ref.region
	}
	a := s.Accounts[account]
	if a == nil || a.Regions[region] == nil {
		return nil
	}
	r := a.Regions[region]
	if ref.keyID != "" {
		return r.KMSKeys[ref.keyID]
	}
	for _, id := range sortedKeys(r.KMSKeys) {
		if slices.Contains(r.KMSKeys[id].Aliases, ref.alias) {
			return r.KMSKeys[id]
		}
	}
	return nil
}

// keyByARN finds a key by its ARN anywhere.
func (s *State) keyByARN(arn string) *KMSKey {
	ref, ok := parseKMSRef(arn)
	if !ok || ref.account == "" {
		return nil
	}
	return s.kmsKey(ref, "", "")
}

// ---- key policies ----------------------------------------------------------

// keyPolicy is a parsed key policy: statements with their principals.
type keyPolicy struct {
	Statements []keyStatement
}

type keyStatement struct {
	statement
	// Principals are the statement's AWS principals ("*", account ids,
	// account root, user and role ARNs); Not makes it NotPrincipal.
	Principals []string
	Not        bool
}

// parseKeyPolicy parses and validates a key policy with KMS's
// MalformedPolicyDocumentException messages.
func parseKeyPolicy(doc string) (*keyPolicy, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(doc))
	if err := dec.Decode(&top); err != nil || top == nil || dec.More() {
		return nil, fmt.Errorf("the key policy is not a JSON object")
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, fmt.Errorf("unknown element %s", k)
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, fmt.Errorf("the key policy has no Statement")
	}
	var stmts []map[string]json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &one) != nil {
			return nil, fmt.Errorf("syntax error in Statement")
		}
		stmts = append(stmts, one)
	} else if json.Unmarshal(raw, &stmts) != nil {
		return nil, fmt.Errorf("syntax error in Statement")
	}
	p := &keyPolicy{}
	for i, st := range stmts {
		ks := keyStatement{}
		praw, isP := st["Principal"]
		nraw, isNot := st["NotPrincipal"]
		switch {
		case isP == isNot:
			return nil, fmt.Errorf("statement %d: a key policy statement needs exactly one of Principal and NotPrincipal", i+1)
		case isNot:
			praw, ks.Not = nraw, true
		}
		principals, err := parsePrincipals(praw)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %v", i+1, err)
		}
		ks.Principals = principals
		rest := make(map[string]json.RawMessage, len(st))
		for k, v := range st {
			if k != "Principal" && k != "NotPrincipal" {
				rest[k] = v
			}
		}
		if ks.statement, err = parseStatement(rest); err != nil {
			return nil, fmt.Errorf("statement %d: %v", i+1, err)
		}
		p.Statements = append(p.Statements, ks)
	}
	return p, nil
}

// parsePrincipals reads a Principal element: "*" or {"AWS": one or many,
// "Service": …}. Only AWS principals are kept: service principals never
// call as cordon does.
func parsePrincipals(raw json.RawMessage) ([]string, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, fmt.Errorf("Principal %q: a principal is \"*\" or an object", star)
		}
		return []string{"*"}, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, fmt.Errorf("Principal must be \"*\" or an object")
	}
	var out []string
	for _, k := range sortedKeys(m) {
		vals, err := stringOrList(m[k])
		if err != nil {
			return nil, fmt.Errorf("Principal.%s: %v", k, err)
		}
		switch k {
		case "AWS":
			for _, v := range vals {
				if v != "*" && !accountRE.MatchString(v) && !strings.HasPrefix(v, "arn:") {
					return nil, fmt.Errorf("Principal.AWS %q is not an account id, an ARN or \"*\"", v)
				}
			}
			out = append(out, vals...)
		case "Service", "Federated", "CanonicalUser":
		default:
			return nil, fmt.Errorf("unknown principal type %s", k)
		}
	}
	return out, nil
}

// principalMatch says how a statement's principals name a caller:
// matchNone, matchAccount (the caller's account: its IAM policies decide)
// or matchCaller (the caller itself, or everyone).
type principalMatch int

const (
	matchNone principalMatch = iota
	matchAccount
	matchCaller
)

func (s keyStatement) names(c *principal) principalMatch {
	best := matchNone
	for _, p := range s.Principals {
		m := matchNone
		switch {
		case p == "*":
			m = matchCaller
		case p == c.account.ID || p == "arn:aws:iam::"+c.account.ID+":root":
			m = matchAccount
		case p == c.arn || (c.role != nil && p == c.role.ARN) || (c.user != nil && p == c.user.ARN):
			m = matchCaller
		}
		best = max(best, m)
	}
	if s.Not {
		// NotPrincipal: everyone but those named.
		if best == matchNone {
			return matchCaller
		}
		return matchNone
	}
	return best
}

// keyContext is the context a key policy is evaluated in: the request's
// global keys and the KMS keys EBS's use brings (kms:CallerAccount,
// kms:ViaService, kms:GrantIsForAWSResource …).
type keyContext struct {
	r    *request
	keys map[string][]string
}

func (c keyContext) values(key string) ([]string, bool) {
	if v, ok := c.keys[key]; ok {
		return v, true
	}
	if key == "kms:calleraccount" {
		return []string{c.r.caller.account.ID}, true
	}
	if v, ok := c.r.contextValue(key); ok {
		return []string{v}, true
	}
	return nil, false
}

// keyAllows evaluates key k's policy and, where it delegates to the
// caller's account or the key is another account's, the caller's identity
// policies, for action with the condition keys extra. It returns "" when
// allowed, else why not. The identity authorization is recorded on the
// call (so a test can check that a policy covers it) without failing the
// request: the caller decides what a refusal means (KMS answers
// AccessDeniedException, EC2 fails a copy asynchronously). The key's
// state is the caller's to check.
func (r *request) keyAllows(k *KMSKey, action string, extra map[string][]string) string {
	kp, err := parseKeyPolicy(k.Policy)
	if err != nil {
		return fmt.Sprintf("key %s has an invalid key policy: %v", k.ARN, err)
	}
	keys := map[string][]string{}
	for key, v := range extra {
		keys[strings.ToLower(key)] = v
	}
	ctx := keyContext{r: r, keys: keys}
	byKey, viaAccount := false, false
	for _, s := range kp.Statements {
		m := s.names(r.caller)
		if m == matchNone || !s.appliesTo(action) || !s.conditionsHold(ctx) {
			continue
		}
		if s.Effect == "Deny" {
			return fmt.Sprintf("the key policy of %s explicitly denies %s", k.ARN, action)
		}
		if m == matchCaller {
			byKey = true
		} else {
			viaAccount = true
		}
	}
	// The identity policies are asked in any case, as AWS asks them, and
	// recorded: an explicit deny there refuses whatever the key says, and
	// a key of another account needs them to allow too.
	az := Authorization{Action: action, Resource: k.ARN, Context: keys}
	if len(keys) == 0 {
		az.Context = nil
	}
	r.call.Authorizations = append(r.call.Authorizations, az)
	allowed, denied := r.identityDecision(az)
	ref, _ := parseKMSRef(k.ARN)
	switch {
	case denied:
		return fmt.Sprintf("an identity-based policy of %s explicitly denies %s on %s", r.caller.arn, action, k.ARN)
	case !byKey && !viaAccount:
		return fmt.Sprintf("the key policy of %s does not allow %s to call %s", k.ARN, r.caller.arn, action)
	case byKey && ref.account == r.caller.account.ID:
		return ""
	case !allowed:
		return fmt.Sprintf("no identity-based policy of %s allows %s on %s", r.caller.arn, action, k.ARN)
	}
	return ""
}

// identityDecision evaluates the caller's identity policies for az: an
// explicit deny, or an allow (always, unless policies are enforced, as
// evaluate decides).
func (r *request) identityDecision(az Authorization) (allowed, denied bool) {
	why := r.e.evaluate(r, az)
	return why == "", strings.Contains(why, "explicit deny")
}

// defaultKeyPolicy is the policy KMS gives a key created without one:
// the account's IAM policies decide.
func defaultKeyPolicy(account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, account)
}

// awsManagedEBSPolicy is the policy of an account's aws/ebs key: EBS in
// this region on behalf of this account's principals, and reads. No other
// account can use it, which is why EC2 refuses to share a snapshot
// encrypted under it.
func awsManagedEBSPolicy(account, region string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Id":"auto-ebs-2","Statement":[`+
		`{"Sid":"Allow access through EBS for all principals in the account that are authorized to use EBS","Effect":"Allow","Principal":{"AWS":"*"},`+
		`"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*",`+
		`"Condition":{"StringEquals":{"kms:CallerAccount":"%s","kms:ViaService":"ec2.%s.amazonaws.com"}}},`+
		`{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},`+
		`"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}]}`, account, region, account)
}

// ---- API -------------------------------------------------------------------

type xKeyMetadata struct {
	AWSAccountID          string     `json:"AWSAccountId"`
	KeyID                 string     `json:"KeyId"`
	Arn                   string     `json:"Arn"`
	CreationDate          *epochTime `json:"CreationDate,omitempty"`
	Enabled               bool       `json:"Enabled"`
	Description           string     `json:"Description"`
	KeyUsage              string     `json:"KeyUsage"`
	KeyState              string     `json:"KeyState"`
	Origin                string     `json:"Origin"`
	KeyManager            string     `json:"KeyManager"`
	KeySpec               string     `json:"KeySpec"`
	CustomerMasterKeySpec string     `json:"CustomerMasterKeySpec"`
	EncryptionAlgorithms  []string   `json:"EncryptionAlgorithms"`
	MultiRegion           bool       `json:"MultiRegion"`
}

// kmsKeyParam resolves a request's KeyId. Keys of other accounts are
// reached only by ARN, and only where the operation allows it
// (crossAccount).
func (r *request) kmsKeyParam(keyID string, crossAccount bool) (*KMSKey, error) {
	if keyID == "" {
		return nil, clientErr("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	if err := r.resources(keyID); err != nil {
		return nil, err
	}
	ref, ok := parseKMSRef(keyID)
	if !ok {
		if strings.HasPrefix(keyID, "arn:") {
			return nil, clientErr("InvalidArnException", "%s is not a valid ARN.", keyID)
		}
		return nil, clientErr("NotFoundException", "Invalid keyId '%s'", keyID)
	}
	if ref.region != "" && ref.region != r.region.Name {
		return nil, clientErr("NotFoundException", "Key '%s' does not exist", keyID)
	}
	if ref.account != "" && ref.account != r.acct.ID && !crossAccount {
		return nil, clientErr("NotFoundException", "Key '%s' does not exist", keyID)
	}
	k := r.e.state.kmsKey(ref, r.acct.ID, r.region.Name)
	if k == nil {
		if ref.alias != "" {
			return nil, clientErr("NotFoundException", "Alias %s is not found.", keyID)
		}
		return nil, clientErr("NotFoundException", "Key '%s' does not exist", keyID)
	}
	return k, nil
}

// authorizeKey authorizes a KMS API call on k by its key policy and the
// caller's identity policies, failing the request as KMS does. Metadata
// calls work on a key in any state.
func (r *request) authorizeKey(k *KMSKey, action string) error {
	r.authorized = true
	if why := r.keyAllows(k, action, nil); why != "" {
		return errf(400, "AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s because %s", r.caller.arn, action, k.ARN, why)
	}
	return nil
}

func describeKey(r *request) (any, error) {
	var in struct {
		KeyID       string   `json:"KeyId"`
		GrantTokens []string `json:"GrantTokens"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	k, err := r.kmsKeyParam(in.KeyID, true)
	if err != nil {
		return nil, err
	}
	if err := r.authorizeKey(k, "kms:DescribeKey"); err != nil {
		return nil, err
	}
	ref, _ := parseKMSRef(k.ARN)
	return map[string]any{"KeyMetadata": xKeyMetadata{
		AWSAccountID: ref.account, KeyID: k.ID, Arn: k.ARN, CreationDate: epochPtr(k.Created), Enabled: k.State == "Enabled",
		Description: k.Description, KeyUsage: "ENCRYPT_DECRYPT", KeyState: k.State, Origin: "AWS_KMS", KeyManager: k.Manager,
		KeySpec: "SYMMETRIC_DEFAULT", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT", EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"},
	}}, nil
}

func getKeyPolicy(r *request) (any, error) {
	var in struct {
		KeyID      string `json:"KeyId"`
		PolicyName string `json:"PolicyName"`
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	// GetKeyPolicy is not a cross-account operation.
	k, err := r.kmsKeyParam(in.KeyID, false)
	if err != nil {
		return nil, err
	}
	if in.PolicyName == "" {
		in.PolicyName = "default"
	}
	if in.PolicyName != "default" {
		return nil, clientErr("NotFoundException", "No such policy exists")
	}
	if err := r.authorizeKey(k, "kms:GetKeyPolicy"); err != nil {
		return nil, err
	}
	return map[string]any{"Policy": k.Policy, "PolicyName": "default"}, nil
}

// ---- seed ------------------------------------------------------------------

// SeedKMSKey is a customer managed KMS key of a region.
type SeedKMSKey struct {
	// ID is the key id, a UUID; default generated.
	ID          string `json:"id"`
	Description string `json:"description"`
	// Aliases are the key's alias names ("alias/forensics"); "alias/aws/"
	// is reserved for AWS managed keys.
	Aliases []string `json:"aliases"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
	// Policy is the key policy (an object); default: the account's IAM
	// policies decide, as KMS's default key policy says.
	Policy json.RawMessage `json:"policy"`
}

// kmsKeys builds a region's customer managed keys.
func (b *builder) kmsKeys(path string, a *Account, r *Region, keys []SeedKMSKey) {
	aliases := map[string]bool{}
	for i, sk := range keys {
		p := fmt.Sprintf("%s.kms_keys[%d]", path, i)
		id := sk.ID
		if id == "" {
			id = b.ids.uuid("kms-key", a.ID+"/"+r.Name)
		} else if !b.pattern(p+".id", id, kmsKeyIDRE, "a KMS key id (a UUID)") {
			continue
		}
		if !b.claim(p+".id", id) {
			continue
		}
		k := &KMSKey{ID: id, ARN: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", r.Name, a.ID, id), Description: sk.Description,
			State: "Enabled", Manager: "CUSTOMER", Created: b.epoch, Policy: defaultKeyPolicy(a.ID)}
		if sk.Enabled != nil && !*sk.Enabled {
			k.State = "Disabled"
		}
		for j, al := range sk.Aliases {
			ap := fmt.Sprintf("%s.aliases[%d]", p, j)
			switch {
			case !kmsAliasRE.MatchString(al):
				b.errorf(ap, "%q is not an alias name (alias/ and up to 250 of A-Z a-z 0-9 / _ -)", al)
			case strings.HasPrefix(al, "alias/aws/"):
				b.errorf(ap, "%q: alias/aws/ is reserved for AWS managed keys", al)
			case aliases[al]:
				b.errorf(ap, "alias %q is used twice in %s", al, r.Name)
			default:
				aliases[al] = true
				k.Aliases = append(k.Aliases, al)
			}
		}
		if len(sk.Policy) > 0 {
			if _, err := parseKeyPolicy(string(sk.Policy)); err != nil {
				b.errorf(p+".policy", "%v", err)
				continue
			}
			var c bytes.Buffer
			json.Compact(&c, sk.Policy)
			if c.Len() > 32768 {
				b.errorf(p+".policy", "the key policy is %d bytes, more than KMS's 32768", c.Len())
			}
			k.Policy = c.String()
		}
		r.KMSKeys[id] = k
	}
}

// volumeKey returns the ARN of the key a seeded volume is encrypted with:
// the key ref names in its region, or the account's AWS managed aws/ebs
// key, created with the first volume that needs it as EBS creates it.
func (b *builder) volumeKey(path string, a *Account, r *Region, encrypted bool, ref string) string {
	if ref != "" {
		if !encrypted {
			b.errorf(path, "kms_key_id needs \"encrypted\": true")
			return ""
		}
		kr, ok := parseKMSRef(ref)
		if !ok {
			b.errorf(path, "%q is not a key id, key ARN, alias name or alias ARN", ref)
			return ""
		}
		if (kr.account != "" && kr.account != a.ID) || (kr.region != "" && kr.region != r.Name) {
			b.errorf(path, "key %s is not of account %s in %s", ref, a.ID, r.Name)
			return ""
		}
		k := b.st.kmsKey(kr, a.ID, r.Name)
		if k == nil {
			b.errorf(path, "key %q is not defined in kms_keys of %s", ref, r.Name)
			return ""
		}
		return k.ARN
	}
	if !encrypted {
		return ""
	}
	for _, id := range sortedKeys(r.KMSKeys) {
		if slices.Contains(r.KMSKeys[id].Aliases, "alias/aws/ebs") {
			return r.KMSKeys[id].ARN
		}
	}
	id := b.ids.uuid("kms", a.ID)
	k := &KMSKey{ID: id, ARN: fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", r.Name, a.ID, id), Description: "Default key that protects my EBS volumes when no other key is defined",
		State: "Enabled", Manager: "AWS", Aliases: []string{"alias/aws/ebs"}, Created: b.epoch, Policy: awsManagedEBSPolicy(a.ID, r.Name)}
	r.KMSKeys[id] = k
	return k.ARN
}
