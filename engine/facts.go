package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agext/levenshtein"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/hcl/v2"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/cordonhq/cordon/collectors"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/schema"
)

// FactsFile is a `-facts FILE` (docs/collectors.md): facts by collector block name,
// either for every finding or per primary resource id. With one, no
// collector runs.
type FactsFile struct {
	Name        string
	Global      map[string]map[string]any
	PerResource map[string]map[string]map[string]any

	// describes are, for Global facts, the resources they say they
	// describe (an instance id), by collector name.
	describes map[string]describedResource

	// values caches the facts converted for policies, by collector and
	// resource: a file is read once and its facts serve every plan made
	// with it (scenario tests, repeated plans).
	values sync.Map // factsKey → ast.Value
}

// value returns facts converted for policies, converting them once.
func (ff *FactsFile) value(key factsKey, facts map[string]any) ast.Value {
	if v, ok := ff.values.Load(key); ok {
		return v.(ast.Value)
	}
	v, _ := ff.values.LoadOrStore(key, policy.ToValue(facts))
	return v.(ast.Value)
}

// ReadFactsFile reads and checks a facts file against the configuration:
// every key must name a declared collector, and every value must be an
// object, so a typo fails here instead of silently giving a policy {}.
func (e *Engine) ReadFactsFile(path string) (*FactsFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return e.ParseFacts(path, data)
}

// ParseFacts parses facts file bytes (name is used in errors). Each
// collector's facts are checked against its type's JSON Schema
// (schema/facts), and every error names the place as FILE:LINE:COLUMN.
func (e *Engine) ParseFacts(name string, data []byte) (*FactsFile, error) {
	var top map[string]json.RawMessage
	if err := decodeStrict(data, &top); err != nil {
		return nil, fmt.Errorf("%s: facts must be a JSON object keyed by collector name: %s", name, jsonErrorPosition(data, err))
	}
	if top == nil {
		return nil, fmt.Errorf("%s: facts must be a JSON object keyed by collector name, not null", name)
	}
	root, err := parseJSONPositions(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	at := func(off int) string {
		line, col := lineCol(data, off)
		return fmt.Sprintf("%s:%d:%d", name, line, col)
	}
	ff := &FactsFile{Name: name}
	if raw, ok := top["resources"]; ok && e.cfg.Collectors["resources"] == nil {
		if len(top) != 1 {
			return nil, fmt.Errorf(`%s: a facts file has either "resources" (facts per resource id) or collector names at the top level, not both`, at(root.off))
		}
		node := root.field("resources")
		var per map[string]map[string]json.RawMessage
		if err := decodeStrict(raw, &per); err != nil {
			return nil, fmt.Errorf(`%s: "resources" must map resource ids to objects keyed by collector name: %v`, at(node.off), err)
		}
		ff.PerResource = make(map[string]map[string]map[string]any, len(per))
		for _, rf := range node.fields {
			id := rf.key
			facts, err := e.checkFacts(at, `resources["`+id+`"].`, per[id], rf.val)
			if err != nil {
				return nil, err
			}
			// Facts filed under one resource that describe another would
			// be given to the other's finding's policies as its own.
			for c, described := range e.describedResources(facts) {
				if described.id != id {
					return nil, fmt.Errorf("%s: resources[%q].%s.%s is %q: these facts describe %s, not %s, under whose id they are filed",
						at(rf.val.field(c).field(described.field).off), id, c, described.field, described.id, described.id, id)
				}
			}
			ff.PerResource[id] = facts
		}
		return ff, nil
	}
	facts, err := e.checkFacts(at, "", top, root)
	if err != nil {
		return nil, err
	}
	ff.Global = facts
	ff.describes = e.describedResources(facts)
	return ff, nil
}

// checkFacts checks one object of facts keyed by collector name: every
// key names a declared collector, and every value is an object that
// matches its collector type's facts schema.
func (e *Engine) checkFacts(at func(int) string, prefix string, byCollector map[string]json.RawMessage, node *jsonNode) (map[string]map[string]any, error) {
	out := make(map[string]map[string]any, len(byCollector))
	var problems []string
	for _, f := range node.fields {
		n := f.key
		c := e.cfg.Collectors[n]
		if c == nil {
			return nil, fmt.Errorf("%s: %s%s is not a collector of this configuration%s", at(f.off), prefix, n, e.suggestCollector(n))
		}
		var facts map[string]any
		if err := decodeStrict(byCollector[n], &facts); err != nil || facts == nil {
			return nil, fmt.Errorf("%s: %s%s must be a JSON object of facts, not %s", at(f.val.off), prefix, n, f.val.describe())
		}
		s, err := factSchemaFor(c.Type)
		if err != nil {
			return nil, err
		}
		if s != nil {
			var errs []factError
			s.check(f.val, prefix+n, &errs)
			for _, fe := range errs {
				problems = append(problems, fmt.Sprintf("%s: %s %s", at(fe.off), fe.path, fe.msg))
			}
		}
		out[n] = facts
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("facts do not match their collectors' schemas (schema/facts):\n%s", strings.Join(problems, "\n"))
	}
	return out, nil
}

// describedResource is the resource a collector's facts say they
// describe, and the fact that says it.
type describedResource struct{ field, id string }

// resourceFacts names, by collector type, the fact that carries the id of
// the resource the facts describe.
var resourceFacts = map[string]string{"aws_ec2_describe": "instance_id"}

// describedResources returns, by collector name, the resources facts say
// they describe.
func (e *Engine) describedResources(facts map[string]map[string]any) map[string]describedResource {
	out := map[string]describedResource{}
	for n, f := range facts {
		c := e.cfg.Collectors[n]
		if c == nil {
			continue
		}
		field, ok := resourceFacts[c.Type]
		if !ok {
			continue
		}
		if id, ok := f[field].(string); ok && id != "" {
			out[n] = describedResource{field: field, id: id}
		}
	}
	return out
}

func (e *Engine) suggestCollector(name string) string {
	best, bestDist := "", 4
	names := make([]string, 0, len(e.cfg.Collectors))
	for n := range e.cfg.Collectors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if d := levenshtein.Distance(name, n, nil); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(names) == 0 {
		return " (it declares no collectors)"
	}
	return " (collectors: " + strings.Join(names, ", ") + ")"
}

// decodeStrict decodes one JSON value and rejects trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	// More is false at a stray ] or }: only the end of the input will do.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// jsonErrorPosition adds line:column to a JSON syntax error.
func jsonErrorPosition(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(data, int(se.Offset))
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	}
	return err.Error()
}

func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// factsSource gives an investigation its facts: from a facts file, or by
// running collectors once per (collector, resource) and sharing the result
// across rules and findings of one run.
type factsSource struct {
	engine *Engine
	file   *FactsFile
	aws    *awsclient.Factory
	// awsErr is why there is no AWS factory (aws nil): every collector
	// that calls AWS fails with it.
	awsErr error
	hook   PlanHook

	mu    sync.Mutex
	cache map[factsKey]*factsEntry
	// access holds the access check of each account collectors called
	// AWS in (see checkAccess).
	access map[string]*accessEntry
	// mismatched remembers the facts-file warnings given, once per
	// collector and resource.
	mismatched map[factsKey]bool
}

type factsKey struct{ collector, resource string }

type factsEntry struct {
	once      sync.Once
	facts     map[string]any
	value     ast.Value
	artefacts []collectors.Artefact
	err       error
	// failure is why a collector that is not required failed, its facts
	// being {"error": …}: the plan warns of it.
	failure *collectorFailure
}

// collectorFailure is a collector run that failed: the policies saw
// {"error": …} in place of its facts.
type collectorFailure struct {
	// Cause is why, in one line shared by the runs that failed alike
	// (every instance's triage on an endpoint that refuses connections).
	Cause string
	// Access is set when cordon could not call AWS at all in the
	// finding's account.
	Access bool
}

type accessEntry struct {
	once sync.Once
	err  error
}

func newFactsSource(e *Engine, file *FactsFile, opts PlanOptions) *factsSource {
	return &factsSource{
		engine: e, file: file, aws: opts.AWS, awsErr: opts.AWSError, hook: opts.Hook,
		cache: map[factsKey]*factsEntry{}, access: map[string]*accessEntry{}, mismatched: map[factsKey]bool{},
	}
}

var emptyFacts = ast.NewObject()

// get returns one collector's facts about f's primary resource, as a map
// and as the policy value, with the artefacts the collector kept. A
// failed collector gives {"error": …} unless it is required, in which
// case the error is returned.
func (s *factsSource) get(ctx context.Context, c *config.Collector, f *schema.Finding, incidentID string) (map[string]any, ast.Value, []collectors.Artefact, error) {
	if s.file != nil {
		if s.file.PerResource != nil {
			facts, ok := s.file.PerResource[f.Resource.ID][c.Name]
			if !ok {
				return map[string]any{}, emptyFacts, nil, nil
			}
			return facts, s.file.value(factsKey{c.Name, f.Resource.ID}, facts), nil, nil
		}
		if facts, ok := s.file.Global[c.Name]; ok {
			return facts, s.file.value(factsKey{c.Name, ""}, facts), nil, nil
		}
		return map[string]any{}, emptyFacts, nil, nil
	}
	ent := s.entry(c, f)
	ent.once.Do(func() {
		ent.facts, ent.artefacts, ent.failure, ent.err = s.collect(ctx, c, f, incidentID)
		if ent.err == nil {
			ent.value = policy.ToValue(ent.facts)
		}
	})
	return ent.facts, ent.value, ent.artefacts, ent.err
}

func (s *factsSource) entry(c *config.Collector, f *schema.Finding) *factsEntry {
	// Where the resource is belongs to the key: facts about an id in one
	// account are not another account's, nor is access to it.
	key := factsKey{c.Name, f.Account + "/" + f.Region + "/" + f.Resource.Type + "/" + f.Resource.ID}
	s.mu.Lock()
	defer s.mu.Unlock()
	ent := s.cache[key]
	if ent == nil {
		ent = &factsEntry{}
		s.cache[key] = ent
	}
	return ent
}

// failure returns why collector c failed for f's resource, nil when it
// did not run or succeeded. Call it after get.
func (s *factsSource) failure(c *config.Collector, f *schema.Finding) *collectorFailure {
	if s.file != nil {
		return nil
	}
	return s.entry(c, f).failure
}

// mismatch warns, once per collector and resource, when a facts file for
// every finding says its facts describe another resource than f's: the
// policies judge f on another resource's facts.
func (s *factsSource) mismatch(c *config.Collector, f *schema.Finding) *hcl.Diagnostic {
	if s.file == nil || s.file.Global == nil {
		return nil
	}
	d, ok := s.file.describes[c.Name]
	if !ok || d.id == f.Resource.ID {
		return nil
	}
	key := factsKey{c.Name, f.Resource.ID}
	s.mu.Lock()
	seen := s.mismatched[key]
	s.mismatched[key] = true
	s.mu.Unlock()
	if seen {
		return nil
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Facts describe another resource",
		Detail: fmt.Sprintf("%s gives every finding the same facts, and its %s.%s is %s, but finding %s is about %s %s: its policies were given %s's facts. Give facts per resource with {\"resources\": {\"%s\": {…}}}.",
			s.file.Name, c.Name, d.field, d.id, orNone(f.ID), orNone(f.Resource.Type), f.Resource.ID, d.id, f.Resource.ID),
	}
}

// prefetch runs the collectors an investigation needs concurrently, each
// under its own timeout, so evaluating the rules afterwards finds every
// result cached.
func (s *factsSource) prefetch(ctx context.Context, names []string, f *schema.Finding, incidentID string) {
	if s.file != nil || len(names) < 2 {
		return
	}
	var wg sync.WaitGroup
	for _, n := range names {
		c := s.engine.cfg.Collectors[n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.get(ctx, c, f, incidentID)
		}()
	}
	wg.Wait()
}

// callsAWS reports whether a collector calls AWS: those that do declare
// the IAM actions they call, for cordon iam-policy.
func callsAWS(c *config.Collector) bool {
	_, ok := c.Impl.(interface{ Permissions() []string })
	return ok
}

// checkAccess checks, once per account, that cordon can call AWS there
// (STS GetCallerIdentity with the credentials and role every call there
// uses). Collectors of an account where it cannot are not run: each would
// fail the same way, after its retries and timeout.
func (s *factsSource) checkAccess(ctx context.Context, account, region string) error {
	if s.aws == nil {
		if s.awsErr != nil {
			return &awsclient.AccessError{Err: s.awsErr}
		}
		return nil
	}
	s.mu.Lock()
	ent := s.access[account]
	if ent == nil {
		ent = &accessEntry{}
		s.access[account] = ent
	}
	s.mu.Unlock()
	ent.once.Do(func() {
		_, ent.err = s.aws.CheckAccess(ctx, account, region)
	})
	return ent.err
}

// accessFailures returns why, when every account checked refused access
// (or there was no AWS access at all), nil when any account was reachable
// or none was needed.
func (s *factsSource) accessFailures() []string {
	if s.file != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aws == nil {
		if s.awsErr != nil && s.usedAWS() {
			return []string{s.awsErr.Error()}
		}
		return nil
	}
	var causes []string
	for _, ent := range s.access {
		if ent.err == nil {
			return nil
		}
		causes = append(causes, ent.err.Error())
	}
	sort.Strings(causes)
	return causes
}

// usedAWS reports whether any collector run needed AWS. Call it with mu
// held.
func (s *factsSource) usedAWS() bool {
	for _, ent := range s.cache {
		if ent.failure != nil && ent.failure.Access {
			return true
		}
	}
	return false
}

func (s *factsSource) collect(ctx context.Context, c *config.Collector, f *schema.Finding, incidentID string) (map[string]any, []collectors.Artefact, *collectorFailure, error) {
	if c.Def.ResourceTypes != nil && !contains(c.Def.ResourceTypes, f.Resource.Type) {
		err := fmt.Errorf("collector type %s does not collect facts about %s resources", c.Type, orNone(f.Resource.Type))
		if c.Required {
			return nil, nil, nil, err
		}
		return map[string]any{"error": err.Error()}, nil, nil, nil
	}
	if callsAWS(c) {
		if err := s.checkAccess(ctx, f.Account, f.Region); err != nil {
			if c.Required {
				return nil, nil, nil, fmt.Errorf("required collector %s failed: %w", c.Name, err)
			}
			return map[string]any{"error": err.Error()}, nil, &collectorFailure{Cause: err.Error(), Access: true}, nil
		}
	}
	ev := CollectorEvent{Collector: c.Name, Type: c.Type, Incident: incidentID, Resource: f.Resource.ID, Started: time.Now()}
	if s.hook != nil {
		s.hook.CollectorStarted(ev)
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var (
		mu        sync.Mutex
		artefacts []collectors.Artefact
	)
	facts, err := c.Impl.Collect(ctx, &collectors.Request{
		IncidentID: incidentID,
		Finding:    f,
		Resource:   f.Resource,
		Dir:        s.engine.cfg.Dir,
		AWS:        s.aws,
		Keep: func(a collectors.Artefact) {
			mu.Lock()
			artefacts = append(artefacts, a)
			mu.Unlock()
		},
	})
	if err == nil && facts == nil {
		facts = map[string]any{}
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %s: %w", c.Timeout, err)
	}
	if s.hook != nil {
		s.hook.CollectorFinished(ev, err)
	}
	if err != nil {
		if c.Required {
			return nil, nil, nil, fmt.Errorf("required collector %s failed: %w", c.Name, err)
		}
		return map[string]any{"error": err.Error()}, artefacts, &collectorFailure{Cause: failureCause(err)}, nil
	}
	return facts, artefacts, nil, nil
}

// failureCause says why a collector failed in a line that the runs that
// failed for one reason share: AWS's error code and message, or the
// connection error, rather than the instance each run was about.
func failureCause(err error) string {
	var api smithy.APIError
	var op *net.OpError
	if errors.As(err, &api) || errors.As(err, &op) || awsclient.IsAccessError(err) {
		return awsclient.Cause(err)
	}
	return err.Error()
}

func contains(ss []string, s string) bool {
	for _, e := range ss {
		if e == s {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "untyped"
	}
	return s
}
