package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cordonhq/cordon/engine"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/schema"
	"github.com/cordonhq/cordon/sources"
)

// MaxBatchFindings bounds the findings of one batch (a POST, a message):
// a 1 MiB body of tiny records cannot become an unbounded transaction.
const MaxBatchFindings = 1000

// inbox is the daemon's Sink: it parses what sources receive, records each
// finding as a delivery and returns once the transaction that holds it has
// committed (docs/daemon.md, "durable before acknowledged").
//
// Commits are grouped: concurrent batches waiting to be recorded are
// written in one transaction, so the fsync every commit costs is shared
// (SQLite has no group commit of its own). A batch never waits for others
// to arrive: the committer takes what is waiting when it is free.
type inbox struct {
	d    *Daemon
	reqs chan *acceptReq
}

type acceptReq struct {
	deliveries []state.Delivery
	cursor     *state.Cursor
	done       chan acceptRes
}

type acceptRes struct {
	accepted []state.Accepted
	err      error
}

var _ sources.Sink = (*inbox)(nil)

// maxGroup bounds the deliveries of one grouped transaction.
const maxGroup = 2000

// commitsInFlight is how many grouped transactions the inbox has open at
// once (see run). A source waits for its batch's commit before it sends
// the next, so one source's cursors still commit in order.
const commitsInFlight = 4

func newInbox(d *Daemon) *inbox {
	return &inbox{d: d, reqs: make(chan *acceptReq, 256)}
}

// run commits batches until ctx is done. Batches already taken are
// committed before it returns.
//
// Up to commitsInFlight groups are committed at once. With one, the
// batches arriving while a group waits behind the workers' writes (the
// SQLite store has one writer) would wait for two transactions; with two
// the next group is queued while the last commits, and joins the writer's
// next transaction.
func (in *inbox) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	slots := make(chan struct{}, commitsInFlight)
	var commits sync.WaitGroup
	defer commits.Wait()
	commit := func(group []*acceptReq) {
		if len(group) == 0 {
			return
		}
		slots <- struct{}{}
		commits.Add(1)
		go func() {
			defer commits.Done()
			defer func() { <-slots }()
			in.commit(ctx, group)
		}()
	}
	for {
		var first *acceptReq
		select {
		case <-ctx.Done():
			// Sources and the API are stopped before this: commit what
			// they handed over last, then stop.
			for {
				select {
				case r := <-in.reqs:
					commit([]*acceptReq{r})
				default:
					return
				}
			}
		case first = <-in.reqs:
		}
		group := []*acceptReq{first}
		n := len(first.deliveries)
		// A batch with a cursor commits alone: one cursor per transaction.
		for first.cursor == nil && n < maxGroup {
			select {
			case r := <-in.reqs:
				if r.cursor != nil {
					commit(group)
					group, n = nil, 0
					commit([]*acceptReq{r})
					continue
				}
				group = append(group, r)
				n += len(r.deliveries)
				continue
			default:
			}
			break
		}
		commit(group)
	}
}

func (in *inbox) commit(ctx context.Context, group []*acceptReq) {
	if len(group) == 0 {
		return
	}
	var all []state.Delivery
	for _, r := range group {
		all = append(all, r.deliveries...)
	}
	// The write must not be abandoned half-way by a shutdown: the caller
	// waits for it.
	accepted, err := in.d.store.AcceptDeliveries(context.WithoutCancel(ctx), all, group[0].cursor)
	off := 0
	for _, r := range group {
		res := acceptRes{err: err}
		if err == nil {
			res.accepted = accepted[off : off+len(r.deliveries)]
		}
		off += len(r.deliveries)
		r.done <- res
	}
	if err == nil {
		in.d.dispatch.notify()
	}
}

// Accept implements sources.Sink.
func (in *inbox) Accept(ctx context.Context, b sources.Batch) (*sources.Receipt, error) {
	d := in.d
	if d.draining.Load() {
		return nil, ErrDraining
	}
	findings, err := parseBatch(b)
	if err != nil {
		id, rerr := d.store.RecordRejection(ctx, state.Rejection{
			Source: b.Source, Reason: err.Error(), Excerpt: b.Data, Size: int64(len(b.Data)), ReceivedAt: d.now(),
		})
		if rerr != nil {
			return nil, fmt.Errorf("recording a rejection: %w", rerr)
		}
		d.metrics.rejected.WithLabelValues(metricSource(b.Source)).Inc()
		d.log.Warn("rejected input", "source", b.Source, "rejection", id, "size", len(b.Data), "reason", err.Error())
		return nil, &sources.RejectedError{ID: id, Reason: err.Error()}
	}
	now := d.now()
	req := &acceptReq{done: make(chan acceptRes, 1)}
	if b.Cursor != nil {
		req.cursor = &state.Cursor{Name: b.Cursor.Name, Value: b.Cursor.Value}
	}
	rec := &sources.Receipt{Deliveries: make([]sources.Delivery, len(findings))}
	for i, f := range findings {
		inc := engine.IncidentID(f)
		req.deliveries = append(req.deliveries, state.Delivery{
			Key: DeliveryKey(f), Source: b.Source, IncidentID: inc,
			FindingID: f.ID, FindingSource: f.Source, FindingType: f.Type, FindingUpdatedAt: f.UpdatedAt,
			Record: f.Raw, ReceivedAt: now,
		})
		rec.Deliveries[i] = sources.Delivery{FindingID: f.ID, IncidentID: inc}
	}
	if len(req.deliveries) == 0 && req.cursor == nil {
		return rec, nil
	}
	select {
	case in.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the commit is waited for even if the caller gives up:
	// a source that stops must know whether what it handed over is safe.
	res := <-req.done
	if res.err != nil {
		d.log.Error("recording deliveries failed", "source", b.Source, "findings", len(findings), "error", res.err)
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, res.err)
	}
	dups := 0
	for i, a := range res.accepted {
		rec.Deliveries[i].ID, rec.Deliveries[i].Duplicate = a.ID, a.Duplicate
		if a.Duplicate {
			dups++
		}
	}
	d.metrics.received.WithLabelValues(metricSource(b.Source)).Add(float64(len(findings)))
	if dups > 0 {
		d.metrics.deduplicated.Add(float64(dups))
	}
	return rec, nil
}

// Cursor implements sources.Sink.
func (in *inbox) Cursor(ctx context.Context, name string) (string, bool, error) {
	return in.d.store.Cursor(ctx, name)
}

// Errors Accept returns besides rejections.
var (
	// ErrDraining: the daemon is shutting down and takes nothing new.
	ErrDraining = errors.New("cordon serve is shutting down")
	// ErrUnavailable: state cannot be written; nothing was recorded.
	ErrUnavailable = errors.New("state is unavailable")
)

// parseBatch splits and normalizes a batch: every finding, or the first
// error naming its record.
func parseBatch(b sources.Batch) ([]*schema.Finding, error) {
	if len(b.Data) == 0 {
		if b.Cursor != nil {
			return nil, nil
		}
		return nil, errors.New("empty input: no findings")
	}
	ff, err := engine.SplitFindings(b.Source, b.Data)
	if err != nil {
		return nil, err
	}
	var out []*schema.Finding
	for _, r := range ff.Records {
		fs, err := schema.ParseRecord(b.Source, r)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			f.ReleaseDecoded()
		}
		out = append(out, fs...)
		if len(out) > MaxBatchFindings {
			return nil, fmt.Errorf("more than %d findings in one request; send them in several", MaxBatchFindings)
		}
	}
	return out, nil
}

// DeliveryKey is a delivery's de-duplication key (docs/daemon.md): the incident
// the finding is (its producing product's finding id, whatever route it
// came by) and its update time. The same update delivered twice, by the
// same route or two, is one delivery; a re-publication with a newer
// updated_at is a new one.
func DeliveryKey(f *schema.Finding) string {
	h := sha256.New()
	h.Write([]byte(engine.IncidentID(f)))
	h.Write([]byte{0})
	h.Write([]byte(f.UpdatedAt))
	if f.ID == "" {
		// Without an id the incident is a digest of the content already.
		h.Write(f.Raw)
	}
	return "dk-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// metricSource is a source's metric label: its type and name, which the
// configuration bounds.
func metricSource(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.ToLower(s)
}
