package awsemu

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GuardDuty speaks restJson1: the operation is in the method and path.
var guarddutyAPI = &api{
	id: "guardduty", prefix: "guardduty", protocol: protoREST,
	throttle:     errf(429, "TooManyRequestsException", "Rate exceeded"),
	internal:     errf(500, "InternalServerErrorException", "Internal server error"),
	badToken:     errf(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
	expiredToken: errf(403, "ExpiredTokenException", "The security token included in the request is expired"),
	missingAuth:  errf(403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
	deniedCode:   "AccessDeniedException", deniedStatus: 403,
}

func init() {
	guarddutyAPI.ops = map[string]handler{
		"ListDetectors": listDetectors,
		"ListFindings":  listFindings,
		"GetFindings":   getFindings,
	}
}

// routeGuardDuty maps a request to its operation, with the path
// parameters and query string as params.
func routeGuardDuty(method string, u *url.URL) (string, params) {
	p := params(u.Query())
	parts := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i, s := range parts {
		if v, err := url.PathUnescape(s); err == nil {
			parts[i] = v
		}
	}
	switch {
	case method == "GET" && len(parts) == 1 && parts[0] == "detector":
		return "ListDetectors", p
	case method == "POST" && len(parts) == 3 && parts[0] == "detector" && parts[2] == "findings":
		p["detectorId"] = []string{parts[1]}
		return "ListFindings", p
	case method == "POST" && len(parts) == 4 && parts[0] == "detector" && parts[2] == "findings" && parts[3] == "get":
		p["detectorId"] = []string{parts[1]}
		return "GetFindings", p
	}
	return method + " " + u.Path, p
}

func badRequest(format string, args ...any) *apiError {
	return errf(400, "BadRequestException", format, args...)
}

// detector is the request's detector, which must be the caller's.
func (r *request) detector() (*Detector, error) {
	id := r.params.get("detectorId")
	if err := r.resources(id); err != nil {
		return nil, err
	}
	d := r.region.Detectors[id]
	if d == nil {
		return nil, badRequest("The request is rejected because the input detectorId is not owned by the current account.")
	}
	// ListFindings and GetFindings act on the detector (detector*).
	arn := fmt.Sprintf("arn:aws:guardduty:%s:%s:detector/%s", r.region.Name, r.acct.ID, d.ID)
	if err := r.authorize(r.action(), plainItem(arn)); err != nil {
		return nil, err
	}
	return d, nil
}

func pageSize(n *int, def int) (int, error) {
	if n == nil {
		return def, nil
	}
	if *n < 1 || *n > 50 {
		return 0, badRequest("The request is rejected because an invalid or out-of-range value is specified as an input parameter: maxResults must be between 1 and 50.")
	}
	return *n, nil
}

func listDetectors(r *request) (any, error) {
	if err := r.resources(); err != nil {
		return nil, err
	}
	var max *int
	if s := r.params.get("maxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, badRequest("maxResults must be a number.")
		}
		max = &n
	}
	size, err := pageSize(max, 50)
	if err != nil {
		return nil, err
	}
	ids := sortedKeys(r.region.Detectors)
	if tok := r.params.get("nextToken"); tok != "" {
		last, ok := decodeToken(r.op, tok)
		if !ok {
			return nil, badRequest("The request is rejected because the nextToken is not valid.")
		}
		i := sort.SearchStrings(ids, last)
		if i < len(ids) && ids[i] == last {
			i++
		}
		ids = ids[i:]
	}
	out := struct {
		DetectorIDs []string `json:"detectorIds"`
		NextToken   string   `json:"nextToken,omitempty"`
	}{DetectorIDs: []string{}}
	if len(ids) > size {
		out.NextToken = encodeToken(r.op, ids[size-1])
		ids = ids[:size]
	}
	out.DetectorIDs = append(out.DetectorIDs, ids...)
	return out, nil
}

// findingAttributes are the FindingCriteria attributes the emulator
// filters on: a documented subset of GuardDuty's.
var findingAttributes = map[string]bool{
	"accountId": true, "region": true, "id": true, "type": true, "severity": true, "confidence": true,
	"updatedAt": true, "createdAt": true,
	"resource.resourceType":                                                          true,
	"resource.accessKeyDetails.accessKeyId":                                          true,
	"resource.accessKeyDetails.principalId":                                          true,
	"resource.accessKeyDetails.userName":                                             true,
	"resource.accessKeyDetails.userType":                                             true,
	"resource.instanceDetails.instanceId":                                            true,
	"resource.instanceDetails.imageId":                                               true,
	"resource.instanceDetails.iamInstanceProfile.id":                                 true,
	"resource.instanceDetails.tags.key":                                              true,
	"resource.instanceDetails.tags.value":                                            true,
	"resource.instanceDetails.networkInterfaces.publicIp":                            true,
	"resource.instanceDetails.networkInterfaces.publicDnsName":                       true,
	"resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress": true,
	"resource.instanceDetails.networkInterfaces.securityGroups.groupId":              true,
	"resource.instanceDetails.networkInterfaces.securityGroups.groupName":            true,
	"resource.instanceDetails.networkInterfaces.subnetId":                            true,
	"resource.instanceDetails.networkInterfaces.vpcId":                               true,
	"resource.s3BucketDetails.name":                                                  true,
	"resource.eksClusterDetails.name":                                                true,
	"resource.lambdaDetails.functionName":                                            true,
	"resource.rdsDbInstanceDetails.dbInstanceIdentifier":                             true,
	"service.action.actionType":                                                      true,
	"service.action.awsApiCallAction.api":                                            true,
	"service.action.awsApiCallAction.callerType":                                     true,
	"service.action.awsApiCallAction.serviceName":                                    true,
	"service.action.awsApiCallAction.remoteIpDetails.ipAddressV4":                    true,
	"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4":             true,
	"service.additionalInfo.threatListName":                                          true,
	"service.archived":                                                               true,
	"service.resourceRole":                                                           true,
}

// namingAttributes name the resource a finding is about: a ListFindings
// call selecting on them names those resources (for Faults.Fail).
var namingAttributes = map[string]bool{
	"resource.instanceDetails.instanceId":                true,
	"resource.accessKeyDetails.accessKeyId":              true,
	"resource.accessKeyDetails.userName":                 true,
	"resource.s3BucketDetails.name":                      true,
	"resource.eksClusterDetails.name":                    true,
	"resource.lambdaDetails.functionName":                true,
	"resource.rdsDbInstanceDetails.dbInstanceIdentifier": true,
}

// timeAttributes compare as epoch milliseconds.
var timeAttributes = map[string]bool{"updatedAt": true, "createdAt": true}

type gdCondition struct {
	Eq                 []string `json:"eq"`
	Neq                []string `json:"neq"`
	Equals             []string `json:"equals"`
	NotEquals          []string `json:"notEquals"`
	Gt                 *int64   `json:"gt"`
	Gte                *int64   `json:"gte"`
	Lt                 *int64   `json:"lt"`
	Lte                *int64   `json:"lte"`
	GreaterThan        *int64   `json:"greaterThan"`
	GreaterThanOrEqual *int64   `json:"greaterThanOrEqual"`
	LessThan           *int64   `json:"lessThan"`
	LessThanOrEqual    *int64   `json:"lessThanOrEqual"`
}

// values collects the values at a dotted path of a finding, through arrays.
func values(doc any, path []string) []any {
	if len(path) == 0 {
		if list, ok := doc.([]any); ok {
			return list
		}
		return []any{doc}
	}
	switch v := doc.(type) {
	case map[string]any:
		return values(v[path[0]], path[1:])
	case []any:
		var out []any
		for _, it := range v {
			out = append(out, values(it, path)...)
		}
		return out
	}
	return nil
}

func valueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func valueNumber(attr string, v any) (float64, bool) {
	if timeAttributes[attr] {
		s, _ := v.(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false
		}
		return float64(t.UnixMilli()), true
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func (c gdCondition) matches(attr string, doc map[string]any) bool {
	vals := values(doc, strings.Split(attr, "."))
	eq := append(append([]string{}, c.Eq...), c.Equals...)
	if len(eq) > 0 {
		found := false
		for _, v := range vals {
			if contains(eq, valueString(v)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	for _, v := range vals {
		if contains(c.Neq, valueString(v)) || contains(c.NotEquals, valueString(v)) {
			return false
		}
	}
	bounds := []struct {
		limit *int64
		ok    func(have, limit float64) bool
	}{
		{c.Gt, func(h, l float64) bool { return h > l }}, {c.GreaterThan, func(h, l float64) bool { return h > l }},
		{c.Gte, func(h, l float64) bool { return h >= l }}, {c.GreaterThanOrEqual, func(h, l float64) bool { return h >= l }},
		{c.Lt, func(h, l float64) bool { return h < l }}, {c.LessThan, func(h, l float64) bool { return h < l }},
		{c.Lte, func(h, l float64) bool { return h <= l }}, {c.LessThanOrEqual, func(h, l float64) bool { return h <= l }},
	}
	for _, b := range bounds {
		if b.limit == nil {
			continue
		}
		found := false
		for _, v := range vals {
			if n, ok := valueNumber(attr, v); ok && b.ok(n, float64(*b.limit)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

type gdSort struct {
	AttributeName string `json:"attributeName"`
	OrderBy       string `json:"orderBy"`
}

// findingSortKey is where a finding sorts: its sort attribute as a number and
// as a string, then its id, so that the order is total and a page token
// can say where the previous page ended even after that finding changed.
type findingSortKey struct {
	n     float64
	s, id string
}

func (s *gdSort) key(f *Finding) findingSortKey {
	vals := values(f.doc, strings.Split(s.AttributeName, "."))
	if len(vals) == 0 {
		return findingSortKey{id: f.ID}
	}
	n, _ := valueNumber(s.AttributeName, vals[0])
	return findingSortKey{n, valueString(vals[0]), f.ID}
}

// less orders keys as the sort criteria say.
func (s *gdSort) less(a, b findingSortKey) bool {
	if s.OrderBy == "DESC" {
		a, b = b, a
	}
	switch {
	case a.n != b.n:
		return a.n < b.n
	case a.s != b.s:
		return a.s < b.s
	}
	return a.id < b.id
}

func (s *gdSort) valid() error {
	if s.OrderBy != "" && s.OrderBy != "ASC" && s.OrderBy != "DESC" {
		return badRequest("The request is rejected because orderBy must be ASC or DESC.")
	}
	return nil
}

// sortFindings orders findings by an attribute, as GuardDuty's sortCriteria.
func sortFindings(fs []*Finding, s *gdSort) error {
	if s == nil || s.AttributeName == "" {
		return nil
	}
	if err := s.valid(); err != nil {
		return err
	}
	sort.SliceStable(fs, func(i, j int) bool { return s.less(s.key(fs[i]), s.key(fs[j])) })
	return nil
}

// A sorted listing's page token holds the sort and the key of the page's
// last finding: the next page starts after that key, so a finding updated
// between pages (a new updatedAt) moves without making the next page skip
// or repeat the others, as a poller keeping an updatedAt cursor needs.
func (s *gdSort) token(op string, f *Finding) string {
	k := s.key(f)
	return encodeToken(op+"/sorted", strings.Join([]string{s.AttributeName, s.OrderBy, strconv.FormatFloat(k.n, 'g', -1, 64), k.s, k.id}, "\x00"))
}

func (s *gdSort) after(op, tok string, fs []*Finding) ([]*Finding, bool) {
	raw, ok := decodeToken(op+"/sorted", tok)
	parts := strings.Split(raw, "\x00")
	if !ok || len(parts) != 5 || parts[0] != s.AttributeName || parts[1] != s.OrderBy {
		return nil, false
	}
	n, err := strconv.ParseFloat(parts[2], 64)
	if err != nil {
		return nil, false
	}
	last := findingSortKey{n, parts[3], parts[4]}
	i := sort.Search(len(fs), func(i int) bool { return s.less(last, s.key(fs[i])) })
	return fs[i:], true
}

func listFindings(r *request) (any, error) {
	d, err := r.detector()
	if err != nil {
		return nil, err
	}
	var in struct {
		FindingCriteria *struct {
			Criterion map[string]gdCondition `json:"criterion"`
		} `json:"findingCriteria"`
		SortCriteria *gdSort `json:"sortCriteria"`
		MaxResults   *int    `json:"maxResults"`
		NextToken    string  `json:"nextToken"`
	}
	if err := r.decode(&in); err != nil {
		return nil, badRequest("The request is rejected because the JSON could not be processed.")
	}
	size, err := pageSize(in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	var crit map[string]gdCondition
	if in.FindingCriteria != nil {
		crit = in.FindingCriteria.Criterion
	}
	var named []string
	for attr, c := range crit {
		if !findingAttributes[attr] {
			return nil, badRequest("The request is rejected because the FindingCriteria attribute %s is not supported.", attr)
		}
		if namingAttributes[attr] {
			named = append(named, c.Eq...)
			named = append(named, c.Equals...)
		}
	}
	sort.Strings(named)
	if err := r.resources(named...); err != nil {
		return nil, err
	}
	var fs []*Finding
	for _, f := range d.Findings {
		keep := true
		for attr, c := range crit {
			if !c.matches(attr, f.doc) {
				keep = false
				break
			}
		}
		if keep {
			fs = append(fs, f)
		}
	}
	if err := sortFindings(fs, in.SortCriteria); err != nil {
		return nil, err
	}
	sorted := in.SortCriteria != nil && in.SortCriteria.AttributeName != ""
	if in.NextToken != "" && sorted {
		var ok bool
		if fs, ok = in.SortCriteria.after(r.op, in.NextToken, fs); !ok {
			return nil, badRequest("The request is rejected because the nextToken is not valid.")
		}
	} else if in.NextToken != "" {
		last, ok := decodeToken(r.op, in.NextToken)
		i := 0
		for ; ok && i < len(fs); i++ {
			if fs[i].ID == last {
				break
			}
		}
		if !ok || i == len(fs) {
			return nil, badRequest("The request is rejected because the nextToken is not valid.")
		}
		fs = fs[i+1:]
	}
	out := struct {
		FindingIDs []string `json:"findingIds"`
		NextToken  string   `json:"nextToken,omitempty"`
	}{FindingIDs: []string{}}
	if len(fs) > size {
		out.NextToken = encodeToken(r.op, fs[size-1].ID)
		if sorted {
			out.NextToken = in.SortCriteria.token(r.op, fs[size-1])
		}
		fs = fs[:size]
	}
	for _, f := range fs {
		out.FindingIDs = append(out.FindingIDs, f.ID)
	}
	return out, nil
}

func getFindings(r *request) (any, error) {
	d, err := r.detector()
	if err != nil {
		return nil, err
	}
	var in struct {
		FindingIDs   []string `json:"findingIds"`
		SortCriteria *gdSort  `json:"sortCriteria"`
	}
	if err := r.decode(&in); err != nil {
		return nil, badRequest("The request is rejected because the JSON could not be processed.")
	}
	if len(in.FindingIDs) == 0 {
		return nil, badRequest("The request is rejected because findingIds is required.")
	}
	if len(in.FindingIDs) > 50 {
		return nil, badRequest("The request is rejected because the number of findingIds exceeds 50.")
	}
	if err := r.resources(in.FindingIDs...); err != nil {
		return nil, err
	}
	var fs []*Finding
	for _, id := range in.FindingIDs {
		for _, f := range d.Findings {
			if f.ID == id {
				fs = append(fs, f)
				break
			}
		}
	}
	if err := sortFindings(fs, in.SortCriteria); err != nil {
		return nil, err
	}
	out := struct {
		Findings []json.RawMessage `json:"findings"`
	}{Findings: []json.RawMessage{}}
	for _, f := range fs {
		out.Findings = append(out.Findings, f.Raw)
	}
	return out, nil
}

// detector finds a detector for the direct methods.
func (e *Emulator) detector(account, region, detectorID string) (*Detector, error) {
	a := e.state.Accounts[account]
	if a == nil {
		return nil, fmt.Errorf("awsemu: no account %s", account)
	}
	var d *Detector
	if r := a.Regions[region]; r != nil {
		d = r.Detectors[detectorID]
	}
	if d == nil {
		return nil, fmt.Errorf("awsemu: no detector %s in %s/%s", detectorID, account, region)
	}
	return d, nil
}

// PutFinding publishes a GuardDuty finding (GetFindings shape) to a
// detector, as GuardDuty does when it detects activity: a finding with a
// new id is added, and one with the id of an existing finding replaces it
// (GuardDuty updates a finding it sees again: service.count up, a newer
// updatedAt), so that ListFindings and GetFindings see the new version.
// Findings are never changed in place: snapshots taken before keep the
// old version.
func (e *Emulator) PutFinding(account, region, detectorID string, finding json.RawMessage) error {
	f, err := parseFinding(finding, account, region)
	if err != nil {
		return fmt.Errorf("awsemu: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.detector(account, region, detectorID)
	if err != nil {
		return err
	}
	for i, x := range d.Findings {
		if x.ID == f.ID {
			d.Findings[i] = f
			return nil
		}
	}
	d.Findings = append(d.Findings, f)
	return nil
}
