package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/agext/levenshtein"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/cordonhq/cordon/collectors"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/policy"
	"github.com/cordonhq/cordon/internal/awsclient"
	"github.com/cordonhq/cordon/schema"
)

// FactsFile is a `-facts FILE` (SPEC §4): facts by collector block name,
// either for every finding or per primary resource id. With one, no
// collector runs.
type FactsFile struct {
	Name        string
	Global      map[string]map[string]any
	PerResource map[string]map[string]map[string]any

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

// ParseFacts parses facts file bytes (name is used in errors).
func (e *Engine) ParseFacts(name string, data []byte) (*FactsFile, error) {
	var top map[string]json.RawMessage
	if err := decodeStrict(data, &top); err != nil {
		return nil, fmt.Errorf("%s: facts must be a JSON object keyed by collector name: %s", name, jsonErrorPosition(data, err))
	}
	if top == nil {
		return nil, fmt.Errorf("%s: facts must be a JSON object keyed by collector name, not null", name)
	}
	ff := &FactsFile{Name: name}
	if raw, ok := top["resources"]; ok && e.cfg.Collectors["resources"] == nil {
		if len(top) != 1 {
			return nil, fmt.Errorf(`%s: a facts file has either "resources" (facts per resource id) or collector names at the top level, not both`, name)
		}
		var per map[string]map[string]json.RawMessage
		if err := decodeStrict(raw, &per); err != nil {
			return nil, fmt.Errorf(`%s: "resources" must map resource ids to objects keyed by collector name: %v`, name, err)
		}
		ff.PerResource = make(map[string]map[string]map[string]any, len(per))
		for id, byCollector := range per {
			facts, err := e.checkFacts(name, `resources["`+id+`"].`, byCollector)
			if err != nil {
				return nil, err
			}
			ff.PerResource[id] = facts
		}
		return ff, nil
	}
	facts, err := e.checkFacts(name, "", top)
	if err != nil {
		return nil, err
	}
	ff.Global = facts
	return ff, nil
}

func (e *Engine) checkFacts(file, prefix string, byCollector map[string]json.RawMessage) (map[string]map[string]any, error) {
	out := make(map[string]map[string]any, len(byCollector))
	names := make([]string, 0, len(byCollector))
	for n := range byCollector {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if e.cfg.Collectors[n] == nil {
			return nil, fmt.Errorf("%s: %s%s is not a collector of this configuration%s", file, prefix, n, e.suggestCollector(n))
		}
		var facts map[string]any
		if err := decodeStrict(byCollector[n], &facts); err != nil || facts == nil {
			return nil, fmt.Errorf("%s: %s%s must be a JSON object of facts", file, prefix, n)
		}
		out[n] = facts
	}
	return out, nil
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
	if dec.More() {
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

	mu    sync.Mutex
	cache map[factsKey]*factsEntry
}

type factsKey struct{ collector, resource string }

type factsEntry struct {
	once      sync.Once
	facts     map[string]any
	value     ast.Value
	artefacts []collectors.Artefact
	err       error
}

func newFactsSource(e *Engine, file *FactsFile, aws *awsclient.Factory) *factsSource {
	return &factsSource{engine: e, file: file, aws: aws, cache: map[factsKey]*factsEntry{}}
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

	key := factsKey{c.Name, f.Resource.Type + "/" + f.Resource.ID}
	s.mu.Lock()
	ent := s.cache[key]
	if ent == nil {
		ent = &factsEntry{}
		s.cache[key] = ent
	}
	s.mu.Unlock()
	ent.once.Do(func() {
		ent.facts, ent.artefacts, ent.err = s.collect(ctx, c, f, incidentID)
		if ent.err == nil {
			ent.value = policy.ToValue(ent.facts)
		}
	})
	return ent.facts, ent.value, ent.artefacts, ent.err
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

func (s *factsSource) collect(ctx context.Context, c *config.Collector, f *schema.Finding, incidentID string) (map[string]any, []collectors.Artefact, error) {
	if c.Def.ResourceTypes != nil && !contains(c.Def.ResourceTypes, f.Resource.Type) {
		err := fmt.Errorf("collector type %s does not collect facts about %s resources", c.Type, orNone(f.Resource.Type))
		if c.Required {
			return nil, nil, err
		}
		return map[string]any{"error": err.Error()}, nil, nil
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
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s: %w", c.Timeout, err)
		}
		if c.Required {
			return nil, nil, fmt.Errorf("required collector %s failed: %w", c.Name, err)
		}
		return map[string]any{"error": err.Error()}, artefacts, nil
	}
	return facts, artefacts, nil
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
