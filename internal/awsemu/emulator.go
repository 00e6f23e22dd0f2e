// Package awsemu is an in-memory AWS that the unmodified aws-sdk-go-v2
// clients talk to over HTTP. It speaks the wire protocols of exactly the
// calls cordon makes (EC2 query, the awsQuery services IAM, STS,
// AutoScaling and both ELB APIs, the awsJson1_1 services SSM, CloudTrail
// and KMS, SQS's query-compatible awsJson1_0, and GuardDuty's
// restJson1), keeps state per account and
// region, returns the real error codes with the real HTTP statuses, and
// injects faults (throttling, 5xx, latency, per-resource failures).
//
// Tests point an SDK client's BaseEndpoint at an httptest.Server running
// an Emulator; `cordon emulator` and `cordon demo` serve it on a port. All
// services share one endpoint: a request's service is read from the
// credential scope of its SigV4 Authorization header, as AWS's own front
// ends route by host name. Signatures are not verified, but credentials
// are: an access key must belong to a seeded IAM user or to a session
// that STS AssumeRole handed out, and it acts in that principal's account.
//
// The emulator is safe for concurrent requests: one mutex guards all
// state, and every handler runs under it (handlers are microseconds; only
// injected latency and SQS long polls wait, and they wait outside the
// lock).
package awsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Emulator is the emulated cloud. It implements http.Handler.
type Emulator struct {
	mu    sync.Mutex // guards state, ids, opts and results
	state *State
	ids   *idGen
	opts  options
	clock func() time.Time
	// results are the registered outputs of SSM Run Command per instance.
	results map[string]CommandResult
	// memory says how each instance's host plays back a memory
	// acquisition, hostImages are the images hosts captured and still
	// hold, and playbacks cancel those running (ssm_memory.go).
	memory     map[string]MemoryHost
	hostImages map[string]hostImage
	playbacks  map[string]context.CancelFunc
	// policies caches parsed inline policies by document.
	policies map[string]*policy
	// enforced makes a request that no identity-based policy allows
	// denied, as in AWS (EnforcePolicies).
	enforced bool

	faults *Faults

	callsMu sync.Mutex
	calls   []Call
}

// Call is one request the emulator received.
type Call struct {
	Service     string    `json:"service"`   // IAM action prefix: ec2, iam, sts, ssm, elasticloadbalancing …
	Operation   string    `json:"operation"` // API operation name: DescribeInstances
	Region      string    `json:"region"`
	Account     string    `json:"account,omitempty"`
	Principal   string    `json:"principal,omitempty"` // caller ARN
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Time        time.Time `json:"time"`
	ResourceIDs []string  `json:"resource_ids,omitempty"` // resources the request named
	// Authorizations are what the caller's policies were evaluated
	// against, in order, up to the first denied one.
	Authorizations []Authorization `json:"authorizations,omitempty"`
	ErrorCode      string          `json:"error_code,omitempty"`
	Status         int             `json:"status"`
}

// Action is the call's IAM action name, "ec2:DescribeInstances".
func (c Call) Action() string { return c.Service + ":" + c.Operation }

// New returns an emulator holding the seed's state. The seed must be
// valid: ParseSeed and LoadSeed validate it, and a Seed built in Go can be
// checked with Seed.Validate. Like regexp.MustCompile, New panics on an
// invalid seed, which is a programming error. A nil seed is an empty cloud.
func New(seed *Seed) *Emulator {
	if seed == nil {
		seed = &Seed{}
	}
	ids := newIDGen()
	st, opts, err := buildState(seed, ids)
	if err != nil {
		panic("awsemu.New: invalid seed: " + err.Error())
	}
	e := &Emulator{
		state:    st,
		ids:      ids,
		opts:     opts,
		enforced: opts.enforcePolicies,
		clock:    time.Now,
		results:  map[string]CommandResult{},
		policies: map[string]*policy{},
		faults:   newFaults(),
	}
	for id, r := range opts.results {
		e.results[id] = r
	}
	e.memory, e.hostImages, e.playbacks = map[string]MemoryHost{}, map[string]hostImage{}, map[string]context.CancelFunc{}
	for id, h := range opts.memory {
		e.memory[id] = h
	}
	return e
}

// SetClock replaces the clock the emulator stamps resources, sessions and
// calls with (time.Now by default). Tests use a fixed clock so that their
// outputs compare byte for byte.
func (e *Emulator) SetClock(now func() time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = now
	// Messages may have become visible at the new time.
	e.wakeQueues()
}

func (e *Emulator) now() time.Time { return e.clock().UTC() }

// EnforcePolicies turns AWS's implicit deny on or off: on, every request
// needs an Allow in its caller's inline policies (as in AWS), so a test
// can prove that a policy grants all a run needs; off (the default unless
// the seed says otherwise), only explicit denies refuse requests.
func (e *Emulator) EnforcePolicies(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.enforced = on
}

// Faults returns the fault injector.
func (e *Emulator) Faults() *Faults { return e.faults }

// Calls returns every call received so far, in arrival order (the most
// recent 100,000 at most).
func (e *Emulator) Calls() []Call {
	e.callsMu.Lock()
	defer e.callsMu.Unlock()
	out := make([]Call, len(e.calls))
	copy(out, e.calls)
	return out
}

// ResetCalls forgets the calls received so far.
func (e *Emulator) ResetCalls() {
	e.callsMu.Lock()
	e.calls = nil
	e.callsMu.Unlock()
}

// Snapshot returns a deep copy of the state.
func (e *Emulator) Snapshot() *State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.clone()
}

// maxBody bounds request bodies; the largest legitimate one (an SSM
// script, an IAM policy) is far smaller.
const maxBody = 8 << 20

// ServeHTTP serves one AWS API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	// S3 streams object bodies, which the generic path reads whole.
	if isS3(hr) {
		e.serveS3(w, hr)
		return
	}
	e.mu.Lock()
	now := e.now()
	reqID := e.ids.requestID()
	e.mu.Unlock()

	body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, maxBody))
	call := Call{Time: now}
	cred, credErr := parseCredential(hr)
	call.Region, call.AccessKeyID = cred.region, cred.accessKey

	a, op, params, idErr := identify(hr, body, cred.service)
	if a != nil {
		call.Service, call.Operation = a.prefix, op
	}
	r := &request{e: e, api: a, op: op, params: params, body: body, http: hr, call: &call, now: now}

	var out any
	switch {
	case a == nil:
		call.ErrorCode, call.Status = idErr.Code, idErr.Status
		e.record(call)
		writeUnroutable(w, reqID, idErr)
		return
	case err != nil:
		out, err = nil, errf(400, "RequestEntityTooLarge", "Request body is larger than %d bytes", maxBody)
	case idErr != nil:
		err = idErr
	case credErr != nil:
		err = credErr.forAPI(a)
	default:
		out, err = e.serve(r, cred)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The client went away during injected latency; nobody reads a
		// response, but the call is still on record.
		call.ErrorCode = "RequestCanceled"
		e.record(call)
		return
	}
	// The call is on record before its response is written: a large
	// response reaches the client while the handler still writes it, and a
	// test that reads Calls as soon as its client returns must see it.
	if err != nil {
		ae := asAPIError(err)
		call.ErrorCode, call.Status = ae.Code, ae.Status
		e.record(call)
		writeError(w, a, reqID, ae)
	} else {
		call.Status = http.StatusOK
		e.record(call)
		writeResult(w, a, op, reqID, out)
	}
}

// maxCalls bounds the call record of a long-running emulator (`cordon
// emulator`): past it, the oldest half is forgotten.
const maxCalls = 100_000

func (e *Emulator) record(c Call) {
	e.callsMu.Lock()
	if len(e.calls) >= maxCalls {
		e.calls = append(e.calls[:0], e.calls[maxCalls/2:]...)
	}
	e.calls = append(e.calls, c)
	e.callsMu.Unlock()
}

// serve authenticates the caller, applies faults and policies, and runs the
// operation under the state lock.
func (e *Emulator) serve(r *request, cred credential) (any, error) {
	h := r.api.ops[r.op]
	if h == nil {
		return nil, r.api.unknownOperation(r.op)
	}
	action := r.api.prefix + ":" + r.op

	// Injected latency sleeps outside the lock so that it delays only its
	// own call, as a slow AWS endpoint would.
	if d := e.faults.latency(action); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.http.Context().Done():
			t.Stop()
			return nil, r.http.Context().Err()
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	r.now = e.now()
	r.call.Time = r.now

	caller, err := e.authenticate(r, cred)
	if err != nil {
		return nil, err
	}
	r.caller = caller
	r.acct = caller.account
	r.call.Account, r.call.Principal = caller.account.ID, caller.arn
	if !r.api.global {
		// A region the account has nothing in is empty; every write needs
		// an existing resource there, so it need not be kept.
		if r.region = r.acct.Regions[cred.region]; r.region == nil {
			r.region = newRegion(cred.region)
		}
	}

	if e.faults.consumeThrottle(action) {
		return nil, r.api.throttle
	}
	if e.faults.consumeServerError(action) {
		return nil, r.api.internal
	}
	if !resourceLevel[action] {
		if err := r.authorize(action, anyResource); err != nil {
			return nil, err
		}
	}
	out, err := h(r)
	if err == nil && !r.authorized {
		// A handler of an operation with resource-level permissions
		// that authorized nothing is a bug of the emulator's.
		return nil, &apiError{Status: 500, Code: "InternalFailure", Message: action + " was served without an authorization"}
	}
	return out, err
}

// request is one API call as a handler sees it.
type request struct {
	e      *Emulator
	api    *api
	op     string
	params params // query protocols: the form; restJson1: path parameters
	body   []byte // JSON protocols
	http   *http.Request
	call   *Call
	now    time.Time

	caller *principal
	acct   *Account
	region *Region // nil for global services

	// reqKeys are the request's own condition keys (aws:RequestTag/…,
	// aws:TagKeys, ec2:CreateAction …), added to every authorization.
	reqKeys map[string][]string
	// authorized is set once the request was authorized.
	authorized bool
}

// resources records the resources a request names and applies the Fail
// faults registered for them. Handlers call it once they know the ids,
// before they change anything.
func (r *request) resources(ids ...string) error {
	for _, id := range ids {
		if id == "" {
			continue
		}
		r.call.ResourceIDs = append(r.call.ResourceIDs, id)
	}
	if f, ok := r.e.faults.failure(r.api.prefix+":"+r.op, ids); ok {
		return &apiError{Status: r.api.statusOf(f.code), Code: f.code, Message: f.message}
	}
	return nil
}

// decode reads a JSON request body into v.
func (r *request) decode(v any) error {
	body := bytes.TrimSpace(r.body)
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(400, "SerializationException", "Could not parse the request body: %v", err)
	}
	return nil
}

// ---- errors ----------------------------------------------------------------

// apiError is an error as AWS returns it: a code, a message and the HTTP
// status it travels with.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// clientErr is a 400 error, the status of most client errors.
func clientErr(code, format string, args ...any) *apiError { return errf(400, code, format, args...) }

func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) && ae != nil {
		return ae
	}
	// A handler bug, not a modeled error: report it as AWS reports its own.
	return &apiError{Status: 500, Code: "InternalFailure", Message: err.Error()}
}

// ---- services --------------------------------------------------------------

type protocol int

const (
	protoEC2   protocol = iota // ec2query
	protoQuery                 // awsQuery
	protoJSON                  // awsJson1_1
	protoREST                  // restJson1
)

type handler func(*request) (any, error)

// api is one AWS API: its protocol, its operations and the error codes its
// front end uses for the failures every operation shares.
type api struct {
	id       string // ec2, elb, elbv2, autoscaling, iam, sts, ssm, cloudtrail, guardduty
	prefix   string // IAM action prefix, also the SigV4 signing name
	protocol protocol
	version  string // query protocols: the Version parameter
	xmlns    string
	global   bool // IAM: state per account, not per region
	ops      map[string]handler

	// awsJson: the protocol version, "1.1" when empty. queryErrorType,
	// for a service that moved from awsQuery (SQS), gives the __type a
	// legacy error code travels as; the code itself goes in the
	// x-amzn-query-error header, where the SDK reads it.
	jsonVersion    string
	queryErrorType func(code string) string
	// statuses are the HTTP statuses of this API's own error codes that
	// statusOf does not know.
	statuses map[string]int

	throttle     *apiError
	internal     *apiError
	badToken     *apiError // unknown or inactive access key
	expiredToken *apiError
	missingAuth  *apiError
	deniedCode   string
	deniedStatus int
}

func (a *api) unknownOperation(op string) *apiError {
	switch a.protocol {
	case protoJSON:
		return errf(400, "UnknownOperationException", "Operation %s is not supported by this emulator", op)
	case protoREST:
		return errf(404, "UnknownOperationException", "No operation matches %s", op)
	}
	return errf(400, "InvalidAction", "The action %s is not valid for this web service.", op)
}

func (a *api) accessDenied(action, arn, resource, why string) *apiError {
	on := ""
	if resource != "*" {
		on = " on resource: " + resource
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s%s %s", arn, action, on, why)
	if a.id == "ec2" {
		msg = "You are not authorized to perform this operation. " + msg
	}
	return &apiError{Status: a.deniedStatus, Code: a.deniedCode, Message: msg}
}

// statusOf is the HTTP status a service sends with code, for errors that
// Faults.Fail injects by code alone.
func (a *api) statusOf(code string) int {
	if s, ok := a.statuses[code]; ok {
		return s
	}
	switch code {
	case a.throttle.Code:
		return a.throttle.Status
	case a.internal.Code:
		return a.internal.Status
	case a.deniedCode:
		return a.deniedStatus
	case a.badToken.Code:
		return a.badToken.Status
	}
	switch code {
	case "UnauthorizedOperation", "AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch", "OptInRequired":
		return 403
	case "AuthFailure":
		return 401
	case "NoSuchEntity":
		return 404
	case "TooManyRequestsException":
		return 429
	case "InternalError", "InternalFailure", "ServiceFailure", "InternalServerError", "InternalServerErrorException":
		return 500
	case "RequestLimitExceeded", "ServiceUnavailable", "Unavailable":
		return 503
	}
	return 400
}

// apis is every API the emulator serves, each built by its service's file.
var apis = []*api{ec2API, autoscalingAPI, elbAPI, elbv2API, iamAPI, stsAPI, ssmAPI, cloudtrailAPI, guarddutyAPI, sqsAPI, kmsAPI, s3API}

var (
	apiBySigningName = map[string][]*api{}
	apiByVersion     = map[string]*api{}
	apiByTarget      = map[string]*api{}
)

func init() {
	for _, a := range apis {
		apiBySigningName[a.prefix] = append(apiBySigningName[a.prefix], a)
		if a.version != "" {
			apiByVersion[a.version] = a
		}
	}
	apiByTarget["AmazonSSM"] = ssmAPI
	apiByTarget["CloudTrail_20131101"] = cloudtrailAPI
	apiByTarget["com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"] = cloudtrailAPI
	apiByTarget["AmazonSQS"] = sqsAPI
	apiByTarget["TrentService"] = kmsAPI
}

// queryErrors and jsonErrors fill the error codes the query and JSON front
// ends share.
func queryErrors(a *api) *api {
	a.throttle = errf(400, "Throttling", "Rate exceeded")
	a.internal = errf(500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure.")
	a.badToken = errf(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	a.expiredToken = errf(403, "ExpiredToken", "The security token included in the request is expired")
	a.missingAuth = errf(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
	a.deniedCode, a.deniedStatus = "AccessDenied", 403
	return a
}

func jsonErrors(a *api) *api {
	a.throttle = errf(400, "ThrottlingException", "Rate exceeded")
	a.internal = errf(500, "InternalServerError", "An internal error occurred.")
	a.badToken = errf(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
	a.expiredToken = errf(400, "ExpiredTokenException", "The security token included in the request is expired")
	a.missingAuth = errf(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
	a.deniedCode, a.deniedStatus = "AccessDeniedException", 400
	return a
}

// ---- routing ---------------------------------------------------------------

// identify finds the API and operation of a request: by the credential
// scope's service name first, then by X-Amz-Target, the GuardDuty paths,
// or the query Version.
func identify(hr *http.Request, body []byte, signingName string) (*api, string, params, *apiError) {
	if t := hr.Header.Get("X-Amz-Target"); t != "" {
		i := strings.LastIndexByte(t, '.')
		if i < 0 {
			return nil, "", nil, errf(400, "UnknownOperationException", "Malformed X-Amz-Target %q", t)
		}
		a := apiByTarget[t[:i]]
		if a == nil {
			return nil, "", nil, errf(400, "UnknownOperationException", "Unknown X-Amz-Target %q", t)
		}
		if signingName != "" && signingName != a.prefix {
			return a, t[i+1:], nil, errf(400, "InvalidSignatureException", "Credential should be scoped to correct service: '%s'.", a.prefix)
		}
		return a, t[i+1:], nil, nil
	}
	if signingName == "guardduty" || (signingName == "" && strings.HasPrefix(hr.URL.Path, "/detector")) {
		op, pp := routeGuardDuty(hr.Method, hr.URL)
		return guarddutyAPI, op, pp, nil
	}

	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, "", nil, errf(400, "MalformedQueryString", "The request body is not a valid form: %v", err)
	}
	for k, v := range hr.URL.Query() {
		if _, dup := form[k]; !dup {
			form[k] = v
		}
	}
	p := params(form)
	action, version := p.get("Action"), p.get("Version")

	var a *api
	if cands := apiBySigningName[signingName]; len(cands) == 1 {
		a = cands[0]
	} else if len(cands) > 1 {
		// Both ELB APIs sign as elasticloadbalancing; the version tells them apart.
		for _, c := range cands {
			if c.version == version {
				a = c
			}
		}
		if a == nil {
			a = cands[0]
			if version != "" {
				return a, action, p, errf(400, "NoSuchVersion", "The requested version (%s) of service %s does not exist.", version, signingName)
			}
		}
	} else if signingName != "" {
		return nil, "", nil, errf(400, "UnknownService", "The credential scope names service %q, which this emulator does not serve", signingName)
	} else if a = apiByVersion[version]; a == nil {
		return nil, "", nil, errf(400, "UnknownService", "Cannot tell the service of this request: no credential scope and unknown Version %q", version)
	}
	if action == "" {
		return a, "", p, errf(400, "MissingAction", "The request must contain the parameter Action.")
	}
	if version == "" {
		return a, action, p, errf(400, "MissingParameter", "The request must contain the parameter Version.")
	}
	if version != a.version {
		return a, action, p, errf(400, "NoSuchVersion", "The requested version (%s) of service %s does not exist.", version, a.prefix)
	}
	return a, action, p, nil
}

// ---- authentication --------------------------------------------------------

// credential is what the SigV4 Authorization header (or presigned query)
// says about the caller.
type credential struct {
	accessKey, date, region, service string
	token                            string
}

// credError is an authentication failure found before the service is known;
// it becomes the service's own error code.
type credError struct{ missing bool }

func (c *credError) forAPI(a *api) *apiError {
	if c.missing {
		return a.missingAuth
	}
	return &apiError{Status: 403, Code: "IncompleteSignature", Message: "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters, and a credential scope of the form KEY/DATE/REGION/SERVICE/aws4_request."}
}

func parseCredential(hr *http.Request) (credential, *credError) {
	c := credential{token: hr.Header.Get("X-Amz-Security-Token")}
	var scope string
	if h := hr.Header.Get("Authorization"); h != "" {
		alg, rest, _ := strings.Cut(h, " ")
		if alg != "AWS4-HMAC-SHA256" {
			return c, &credError{}
		}
		var haveHeaders, haveSig bool
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "Credential":
				scope = v
			case "SignedHeaders":
				haveHeaders = v != ""
			case "Signature":
				haveSig = v != ""
			}
		}
		if !haveHeaders || !haveSig {
			return c, &credError{}
		}
	} else if q := hr.URL.Query(); q.Get("X-Amz-Credential") != "" {
		scope = q.Get("X-Amz-Credential")
		if c.token == "" {
			c.token = q.Get("X-Amz-Security-Token")
		}
	} else {
		return c, &credError{missing: true}
	}
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return c, &credError{}
	}
	c.accessKey, c.date, c.region, c.service = parts[0], parts[1], parts[2], parts[3]
	return c, nil
}

// principal is an authenticated caller.
type principal struct {
	account     *Account
	arn         string
	userID      string
	user        *User    // long-term keys
	session     *Session // AssumeRole credentials
	role        *Role    // the session's role
	accessKeyID string
}

// authenticate maps the request's access key to its principal, as AWS's
// front end does before any service sees the request.
func (e *Emulator) authenticate(r *request, c credential) (*principal, error) {
	for _, acct := range e.state.sortedAccounts() {
		if u, k := acct.userKey(c.accessKey); k != nil {
			if k.Status != "Active" {
				return nil, r.api.badToken
			}
			k.LastUsed = &KeyUse{Time: r.now, Service: r.api.prefix, Region: c.region}
			return &principal{account: acct, arn: u.ARN, userID: u.ID, user: u, accessKeyID: k.ID}, nil
		}
		if s := acct.Sessions[c.accessKey]; s != nil {
			if c.token != s.SessionToken {
				return nil, r.api.badToken
			}
			if !r.now.Before(s.Expiration) {
				return nil, r.api.expiredToken
			}
			role := acct.Roles[s.RoleName]
			if role == nil {
				// The role was deleted: its sessions no longer work.
				return nil, r.api.badToken
			}
			role.LastUsed = &KeyUse{Time: r.now, Region: c.region}
			return &principal{account: acct, arn: s.ARN, userID: s.AssumedRoleID, session: s, role: role, accessKeyID: s.AccessKeyID}, nil
		}
	}
	return nil, r.api.badToken
}

// ---- query parameters ------------------------------------------------------

// params are the flattened parameters of a query-protocol request:
// "InstanceId.1", "Filter.2.Value.1", "Targets.member.1.Id".
type params url.Values

func (p params) get(k string) string {
	if v := p[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p params) has(k string) bool { _, ok := p[k]; return ok }

// indexes returns the list indexes present under prefix ("Filter" →
// 1, 2 for Filter.1.Name and Filter.2.Name), in order.
func (p params) indexes(prefix string) []int {
	prefix += "."
	seen := map[int]bool{}
	var out []int
	for k := range p {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		seg, _, _ := strings.Cut(k[len(prefix):], ".")
		n, err := strconv.Atoi(seg)
		if err != nil || n < 1 || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns the values of a list of strings: prefix.1, prefix.2 …
func (p params) list(prefix string) []string {
	var out []string
	for _, i := range p.indexes(prefix) {
		if v, ok := p[prefix+"."+strconv.Itoa(i)]; ok && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// items returns the key prefixes of a list of structures: prefix.1, prefix.2 …
func (p params) items(prefix string) []string {
	idx := p.indexes(prefix)
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = prefix + "." + strconv.Itoa(n)
	}
	return out
}

// int reads an optional integer parameter.
func (p params) int(k string) (v int, ok bool, err error) {
	s := p.get(k)
	if !p.has(k) {
		return 0, false, nil
	}
	n, perr := strconv.Atoi(s)
	if perr != nil {
		return 0, true, errf(400, "InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected an integer.", s, k)
	}
	return n, true, nil
}

// bool reads an optional boolean parameter.
func (p params) bool(k string) (v bool, ok bool, err error) {
	if !p.has(k) {
		return false, false, nil
	}
	switch s := strings.ToLower(p.get(k)); s {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	default:
		return false, true, errf(400, "InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected a boolean.", p.get(k), k)
	}
}

// ---- rendering -------------------------------------------------------------

// xmlTime renders timestamps the way the XML services do.
type xmlTime time.Time

func (t xmlTime) MarshalText() ([]byte, error) {
	return []byte(time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z")), nil
}

func xmlTimePtr(t time.Time) *xmlTime {
	if t.IsZero() {
		return nil
	}
	x := xmlTime(t)
	return &x
}

// epochTime renders timestamps as the JSON services do: seconds since the
// epoch, with milliseconds.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

func epochPtr(t time.Time) *epochTime {
	if t.IsZero() {
		return nil
	}
	x := epochTime(t)
	return &x
}

// ec2Response starts every EC2 response body; the handler's output embeds it.
type ec2Response struct {
	RequestID string `xml:"requestId"`
}

func (r *ec2Response) setRequestID(id string) { r.RequestID = id }

type requestIDSetter interface{ setRequestID(string) }

// ec2Return is the body of EC2 operations whose only result is success.
type ec2Return struct {
	ec2Response
	Return bool `xml:"return"`
}

func writeResult(w http.ResponseWriter, a *api, op, reqID string, out any) {
	var buf bytes.Buffer
	switch a.protocol {
	case protoEC2:
		if out == nil {
			out = &ec2Return{Return: true}
		}
		if s, ok := out.(requestIDSetter); ok {
			s.setRequestID(reqID)
		}
		buf.WriteString(xml.Header)
		enc := xml.NewEncoder(&buf)
		start := xml.StartElement{Name: xml.Name{Local: op + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: a.xmlns}}}
		if err := enc.EncodeElement(out, start); err != nil {
			panic(fmt.Sprintf("awsemu: encoding %s response: %v", op, err))
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	case protoQuery:
		buf.WriteString(xml.Header)
		enc := xml.NewEncoder(&buf)
		root := xml.StartElement{Name: xml.Name{Local: op + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: a.xmlns}}}
		must(enc.EncodeToken(root))
		if out != nil {
			if err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
				panic(fmt.Sprintf("awsemu: encoding %s response: %v", op, err))
			}
		}
		must(enc.EncodeElement(struct {
			RequestID string `xml:"RequestId"`
		}{reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}))
		must(enc.EncodeToken(root.End()))
		must(enc.Flush())
		w.Header().Set("Content-Type", "text/xml")
	case protoJSON, protoREST:
		if out == nil {
			out = struct{}{}
		}
		b, err := json.Marshal(out)
		if err != nil {
			panic(fmt.Sprintf("awsemu: encoding %s response: %v", op, err))
		}
		buf.Write(b)
		w.Header().Set("Content-Type", a.jsonContentType())
	}
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func must(err error) {
	if err != nil {
		panic("awsemu: encoding response: " + err.Error())
	}
}

// writeError renders err in the protocol of a.
func writeError(w http.ResponseWriter, a *api, reqID string, err *apiError) {
	var buf bytes.Buffer
	switch a.protocol {
	case protoEC2:
		buf.WriteString(xml.Header)
		must(xml.NewEncoder(&buf).Encode(ec2ErrorBody{Code: err.Code, Message: err.Message, RequestID: reqID}))
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	case protoQuery:
		typ := "Sender"
		if err.Status >= 500 {
			typ = "Receiver"
		}
		buf.WriteString(xml.Header)
		must(xml.NewEncoder(&buf).Encode(queryErrorBody{Xmlns: a.xmlns, Type: typ, Code: err.Code, Message: err.Message, RequestID: reqID}))
		w.Header().Set("Content-Type", "text/xml")
	case protoJSON, protoREST:
		typ := err.Code
		if a.queryErrorType != nil {
			typ = a.queryErrorType(err.Code)
			fault := "Sender"
			if err.Status >= 500 {
				fault = "Receiver"
			}
			w.Header().Set("X-Amzn-Query-Error", err.Code+";"+fault)
		}
		b, _ := json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{typ, err.Message})
		buf.Write(b)
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.Header().Set("Content-Type", a.jsonContentType())
	}
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(err.Status)
	w.Write(buf.Bytes())
}

func (a *api) jsonContentType() string {
	switch {
	case a.protocol == protoREST:
		return "application/json"
	case a.jsonVersion != "":
		return "application/x-amz-json-" + a.jsonVersion
	}
	return "application/x-amz-json-1.1"
}

type ec2ErrorBody struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

type queryErrorBody struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// writeUnroutable answers a request whose service cannot be told, in the
// awsQuery error shape (the most common one).
func writeUnroutable(w http.ResponseWriter, reqID string, err *apiError) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	must(xml.NewEncoder(&buf).Encode(queryErrorBody{Type: "Sender", Code: err.Code, Message: err.Message, RequestID: reqID}))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(err.Status)
	w.Write(buf.Bytes())
}
