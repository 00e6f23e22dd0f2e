package serve

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cordonhq/cordon/actions"
	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/config"
	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
)

// reactionWindow is docs/daemon.md's re-action rule: a target acted on within
// it is not acted on again by another finding's plan without approval.
const reactionWindow = time.Hour

// holdReason says why a plan must wait for a person's approval, or "" when
// it may be applied at once (docs/daemon.md, "Approvals" and "Guardrails"):
//   - a rule that planned one of its actions has approval = "manual";
//   - the circuit breaker is open: more actions were applied within its
//     window than it allows, which is what a burst of forged findings or a
//     detector misfire looks like;
//   - one of its targets was acted on within the last hour by another
//     incident's plan.
//
// max_actions_per_hour is not a hold: it withholds the actions past the
// budget at apply, in the same transaction that counts them.
func (d *Daemon) holdReason(ctx context.Context, eng *engine.Engine, inc *plan.Incident) (string, error) {
	var reasons []string
	manual := map[string]bool{}
	for _, a := range inc.Actions {
		if a.Approval == config.ApprovalManual {
			for _, r := range a.Rules {
				manual[r] = true
			}
		}
	}
	if len(manual) > 0 {
		reasons = append(reasons, fmt.Sprintf("rule %s requires manual approval", joinSorted(manual)))
	}
	if cb := eng.Config().Serve.CircuitBreaker; cb != nil {
		n, err := d.store.CountActions(ctx, d.now().Add(-cb.Window), "")
		if err != nil {
			return "", err
		}
		open := n >= cb.MaxActions
		d.setCircuit(open)
		if open {
			reasons = append(reasons, fmt.Sprintf("the circuit breaker is open: %d actions were applied in the last %s (max_actions = %d)", n, cb.Window, cb.MaxActions))
		}
	}
	seen := map[string]bool{}
	for _, a := range inc.Actions {
		if a.Phase == actions.Notify.String() {
			continue
		}
		key := state.TargetLockKey(a.Target)
		if seen[key] {
			continue
		}
		seen[key] = true
		other, err := d.store.TargetActedOn(ctx, key, d.now().Add(-reactionWindow), inc.ID)
		if err != nil {
			return "", err
		}
		if other != "" {
			reasons = append(reasons, fmt.Sprintf("%s %s was acted on within the last hour by incident %s", a.Target.Type, a.Target.ID, other))
		}
	}
	return strings.Join(reasons, "; "), nil
}

// setCircuit records the breaker's state in the metrics, logging when it
// changes.
func (d *Daemon) setCircuit(open bool) {
	if d.circuit.Swap(open) == open {
		return
	}
	if open {
		d.metrics.circuitOpen.Set(1)
		d.log.Warn("circuit breaker open: every plan now waits for approval")
	} else {
		d.metrics.circuitOpen.Set(0)
		d.log.Info("circuit breaker closed")
	}
}

func joinSorted(set map[string]bool) string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
