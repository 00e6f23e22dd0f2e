package policy

import (
	"reflect"

	"github.com/cordonhq/cordon/schema"
	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is what the policy input document (docs/policies.md) is built from.
type Input struct {
	Finding  *schema.Finding
	Resource *schema.Resource // the primary resource; nil means Finding.Resource
	Facts    ast.Value        // object keyed by collector block name; nil means {}
	Scope    string
	Rule     string
	Actions  []string // the rule's action block names
}

// Keys of the input document, allocated once.
var (
	keyFinding  = ast.StringTerm("finding")
	keyResource = ast.StringTerm("resource")
	keyFacts    = ast.StringTerm("facts")
	keyScope    = ast.StringTerm("scope")
	keyRule     = ast.StringTerm("rule")
	keyVerdict  = ast.StringTerm("verdict")
	keyName     = ast.StringTerm("name")
	keyActions  = ast.StringTerm("actions")

	keyID            = ast.StringTerm("id")
	keySource        = ast.StringTerm("source")
	keyType          = ast.StringTerm("type")
	keyTitle         = ast.StringTerm("title")
	keyDescription   = ast.StringTerm("description")
	keySeverity      = ast.StringTerm("severity")
	keySeverityScore = ast.StringTerm("severity_score")
	keyAccount       = ast.StringTerm("account")
	keyRegion        = ast.StringTerm("region")
	keyPartition     = ast.StringTerm("partition")
	keyCreatedAt     = ast.StringTerm("created_at")
	keyUpdatedAt     = ast.StringTerm("updated_at")
	keyCount         = ast.StringTerm("count")
	keySample        = ast.StringTerm("sample")
	keyResources     = ast.StringTerm("resources")
	keyNetwork       = ast.StringTerm("network")
	keyActor         = ast.StringTerm("actor")
	keyRaw           = ast.StringTerm("raw")

	keyARN     = ast.StringTerm("arn")
	keyTags    = ast.StringTerm("tags")
	keyDetails = ast.StringTerm("details")

	keyDirection     = ast.StringTerm("direction")
	keyProtocol      = ast.StringTerm("protocol")
	keyLocalIP       = ast.StringTerm("local_ip")
	keyLocalPort     = ast.StringTerm("local_port")
	keyRemoteIP      = ast.StringTerm("remote_ip")
	keyRemotePort    = ast.StringTerm("remote_port")
	keyRemoteCountry = ast.StringTerm("remote_country")
	keyDomain        = ast.StringTerm("domain")

	keyUser        = ast.StringTerm("user")
	keyAccessKeyID = ast.StringTerm("access_key_id")
	keyIP          = ast.StringTerm("ip")

	keyConfidence = ast.StringTerm("confidence")
	keyReasons    = ast.StringTerm("reasons")
	keySummary    = ast.StringTerm("summary")
	keyRootCause  = ast.StringTerm("root_cause")
	keyImpact     = ast.StringTerm("impact")
)

// BuildInput builds the input document of docs/policies.md as an OPA object,
// directly from the Go values: no reflection and no JSON round trip. Fields
// follow the JSON tags of schema.Finding: omitempty fields are left out when
// empty, and nil collections the schema requires ({} tags and details, []
// resources) are given empty. The primary resource is converted once and
// shared by input.resource and input.finding.resource.
//
// BuildInput converts everything; Set.BuildInput, which the engine uses,
// converts only what its policies can read.
func BuildInput(in *Input) ast.Object {
	return buildInput(in, nil)
}

// buildInput builds the input cut down by p (all of it when nil).
func buildInput(in *Input, p *projection) ast.Object {
	c := newConverter()
	base := c.mark()
	res := in.Resource
	var resTerm *ast.Term
	resProj, keepRes := p.child("resource")
	if in.Finding != nil {
		if res == nil {
			res = &in.Finding.Resource
		}
		if fp, ok := p.child("finding"); ok {
			var f *ast.Term
			f, resTerm = c.finding(in.Finding, res, fp, resProj)
			c.put(keyFinding, f)
		}
	}
	if res != nil && keepRes {
		if resTerm == nil {
			resTerm = c.resource(res, resProj)
		}
		c.put(keyResource, resTerm)
	}
	if p.has("facts") {
		facts := in.Facts
		if facts == nil {
			facts = ast.NewObject()
		}
		c.put(keyFacts, c.wrap(facts))
	}

	scope := c.mark()
	c.put(keyName, c.str(in.Scope))
	c.put(keyScope, c.object(scope))

	rule := c.mark()
	c.put(keyName, c.str(in.Rule))
	actions := make([]*ast.Term, len(in.Actions))
	for i, a := range in.Actions {
		actions[i] = c.str(a)
	}
	c.put(keyActions, c.wrap(ast.NewArray(actions...)))
	c.put(keyRule, c.object(rule))

	return ast.NewObject(c.kvs[base:]...)
}

// finding converts a finding as p keeps it; primary is the resource
// input.resource shows, kept as primaryProj says. When it is the
// finding's own resource, kept alike, its term is returned to be shared.
func (c *converter) finding(f *schema.Finding, primary *schema.Resource, p, primaryProj *projection) (finding, primaryTerm *ast.Term) {
	base := c.mark()
	if p.has("id") {
		c.put(keyID, c.str(f.ID))
	}
	if p.has("source") {
		c.put(keySource, c.str(f.Source))
	}
	if p.has("type") {
		c.put(keyType, c.str(f.Type))
	}
	if p.has("title") {
		c.putString(keyTitle, f.Title)
	}
	if p.has("description") {
		c.putString(keyDescription, f.Description)
	}
	if p.has("severity") {
		c.put(keySeverity, c.str(f.Severity))
	}
	if p.has("severity_score") {
		c.put(keySeverityScore, c.wrap(floatValue(f.SeverityScore)))
	}
	if p.has("account") {
		c.putString(keyAccount, f.Account)
	}
	if p.has("region") {
		c.putString(keyRegion, f.Region)
	}
	if p.has("partition") {
		c.putString(keyPartition, f.Partition)
	}
	if p.has("created_at") {
		c.putString(keyCreatedAt, f.CreatedAt)
	}
	if p.has("updated_at") {
		c.putString(keyUpdatedAt, f.UpdatedAt)
	}
	if p.has("count") {
		c.put(keyCount, ast.InternedTerm(f.Count))
	}
	if f.Sample && p.has("sample") {
		c.put(keySample, ast.InternedTerm(true))
	}

	var (
		own     *ast.Term
		ownProj *projection
	)
	if rp, ok := p.child("resource"); ok {
		own, ownProj = c.resource(&f.Resource, rp), rp
		if primary == &f.Resource && rp == primaryProj {
			primaryTerm = own
		}
		c.put(keyResource, own)
	}
	if rsp, ok := p.child("resources"); ok {
		elem := rsp
		if rsp != nil {
			elem = rsp.star
		}
		if rsp != nil && !rsp.all && rsp.star == nil {
			elem = nil // indexed only by string keys: keep the elements whole
		}
		resources := make([]*ast.Term, len(f.Resources))
		for i := range f.Resources {
			r := &f.Resources[i]
			if own != nil && sameResource(r, &f.Resource) && elem == ownProj {
				resources[i] = own
			} else {
				resources[i] = c.resource(r, elem)
			}
		}
		c.put(keyResources, c.wrap(ast.NewArray(resources...)))
	}

	if n := f.Network; n != nil && p.has("network") {
		net := c.mark()
		c.putString(keyDirection, n.Direction)
		c.putString(keyProtocol, n.Protocol)
		c.putString(keyLocalIP, n.LocalIP)
		c.putInt(keyLocalPort, n.LocalPort)
		c.putString(keyRemoteIP, n.RemoteIP)
		c.putInt(keyRemotePort, n.RemotePort)
		c.putString(keyRemoteCountry, n.RemoteCountry)
		c.putString(keyDomain, n.Domain)
		c.put(keyNetwork, c.object(net))
	}
	if a := f.Actor; a != nil && p.has("actor") {
		actor := c.mark()
		c.putString(keyType, a.Type)
		c.putString(keyUser, a.User)
		c.putString(keyAccessKeyID, a.AccessKeyID)
		c.putString(keyIP, a.IP)
		c.put(keyActor, c.object(actor))
	}
	if rawProj, ok := p.child("raw"); ok {
		if raw := c.raw(f, rawProj); raw != nil {
			c.put(keyRaw, c.wrap(raw))
		}
	}
	return c.object(base), primaryTerm
}

// resource converts a resource as p keeps it (all of it when nil).
func (c *converter) resource(r *schema.Resource, p *projection) *ast.Term {
	base := c.mark()
	if p.has("type") {
		c.put(keyType, c.str(r.Type))
	}
	if p.has("id") {
		c.put(keyID, c.str(r.ID))
	}
	if p.has("arn") {
		c.putString(keyARN, r.ARN)
	}
	if p.has("tags") {
		tags := c.mark()
		for k, v := range r.Tags {
			c.put(c.wrap(keyValue(k)), c.str(v))
		}
		c.put(keyTags, c.object(tags))
	}
	if dp, ok := p.child("details"); ok {
		if r.Details == nil {
			c.put(keyDetails, c.wrap(ast.NewObject()))
		} else if v := c.project(r.Details, dp); v != nil {
			c.put(keyDetails, c.wrap(v))
		} else {
			c.put(keyDetails, c.wrap(ast.NewObject()))
		}
	}
	return c.object(base)
}

// sameResource reports whether two resources are the same one, as the
// parsers make them: resources[0] is a copy of the primary resource,
// sharing its maps. Comparing the maps' identity is cheap and enough; a
// resource that merely looks alike is converted on its own, which is only
// slower.
func sameResource(a, b *schema.Resource) bool {
	return a.Type == b.Type && a.ID == b.ID && a.ARN == b.ARN &&
		sameMap(a.Tags, b.Tags) && sameMap(a.Details, b.Details)
}

func sameMap[V any](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// WithVerdict returns base plus "verdict": the normalized verdict document
// {verdict, confidence?, reasons, summary?, root_cause?, impact?} the
// response package sees. base's terms are shared, not copied.
func WithVerdict(base ast.Object, v *Verdict) ast.Object {
	kvs := make([][2]*ast.Term, 0, base.Len()+1)
	base.Foreach(func(k, val *ast.Term) {
		if !k.Equal(keyVerdict) {
			kvs = append(kvs, [2]*ast.Term{k, val})
		}
	})
	if v != nil {
		kvs = append(kvs, [2]*ast.Term{keyVerdict, verdictTerm(v)})
	}
	return ast.NewObject(kvs...)
}

func verdictTerm(v *Verdict) *ast.Term {
	c := newConverter()
	base := c.mark()
	c.put(keyVerdict, c.str(v.Verdict))
	if v.Confidence != nil {
		c.put(keyConfidence, c.wrap(floatValue(*v.Confidence)))
	}
	reasons := make([]*ast.Term, len(v.Reasons))
	for i, r := range v.Reasons {
		reasons[i] = c.str(r)
	}
	c.put(keyReasons, c.wrap(ast.NewArray(reasons...)))
	c.putString(keySummary, v.Summary)
	c.putString(keyRootCause, v.RootCause)
	c.putString(keyImpact, v.Impact)
	return c.object(base)
}
