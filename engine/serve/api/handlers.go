package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cordonhq/cordon/engine/plan"
	"github.com/cordonhq/cordon/engine/state"
	"github.com/cordonhq/cordon/sources"
)

type handlers struct {
	svc  Service
	opts Options
}

// Errors the service returns that the API maps to statuses.
var (
	// ErrUnavailable: state or the daemon cannot take the request now
	// (503; the client retries, SQS redelivers).
	ErrUnavailable = errors.New("unavailable")
)

// findingTypes are the media types POST /v1/findings accepts: JSON (one
// finding, an array, an envelope) and NDJSON.
var findingTypes = map[string]bool{
	"application/json":     true,
	"application/x-ndjson": true,
	"application/ndjson":   true,
	"application/jsonl":    true,
}

// FindingsResponse is POST /v1/findings' 202 body.
type FindingsResponse struct {
	Deliveries []sources.Delivery `json:"deliveries"`
	Accepted   int                `json:"accepted"`
	Duplicates int                `json:"duplicates"`
}

func (h *handlers) v1FindingsPost(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !findingTypes[mt] {
		writeError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			fmt.Sprintf("Content-Type %q is not accepted; send findings as application/json or application/x-ndjson", r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("the body is larger than %d bytes; send findings in several requests", h.opts.MaxBody))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "reading the body: "+err.Error())
		return
	}
	rec, err := h.svc.Sink().Accept(r.Context(), sources.Batch{Source: "http", Data: body})
	var rej *sources.RejectedError
	switch {
	case errors.As(err, &rej):
		writeJSON(w, http.StatusBadRequest, ErrorBody{Error: ErrorDetail{Code: CodeInvalidFinding, Message: rej.Reason, Rejection: rej.ID}})
		return
	case err != nil:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "findings were not recorded: "+err.Error())
		return
	}
	out := FindingsResponse{Deliveries: rec.Deliveries}
	if out.Deliveries == nil {
		out.Deliveries = []sources.Delivery{}
	}
	for _, d := range rec.Deliveries {
		if d.Duplicate {
			out.Duplicates++
		} else {
			out.Accepted++
		}
	}
	writeJSON(w, http.StatusAccepted, out)
}

// IncidentsResponse is GET /v1/incidents' body.
type IncidentsResponse struct {
	Incidents []state.IncidentSummary `json:"incidents"`
}

func (h *handlers) v1IncidentsList(w http.ResponseWriter, r *http.Request) {
	f := state.IncidentFilter{Limit: 100}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, "limit must be a number from 1 to 10000")
			return
		}
		f.Limit = n
	}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeInvalidRequest, "since must be an RFC 3339 time")
			return
		}
		f.Since = t
	}
	for _, s := range r.URL.Query()["status"] {
		f.Status = append(f.Status, state.IncidentStatus(s))
	}
	list, err := h.svc.Store().Incidents(r.Context(), f)
	if err != nil {
		h.internal(w, err)
		return
	}
	if list == nil {
		list = []state.IncidentSummary{}
	}
	writeJSON(w, http.StatusOK, IncidentsResponse{Incidents: list})
}

func (h *handlers) v1IncidentGet(w http.ResponseWriter, r *http.Request) {
	d, err := h.svc.Store().Incident(r.Context(), r.PathValue("id"))
	if errors.Is(err, state.ErrNotFound) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no incident "+r.PathValue("id"))
		return
	}
	if err != nil {
		h.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// PlansResponse is GET /v1/plans' body.
type PlansResponse struct {
	Plans []state.PlanRecord `json:"plans"`
}

var planStatuses = map[string]bool{
	string(state.PlanPending): true, string(state.PlanApproved): true, string(state.PlanRejected): true,
	string(state.PlanExpired): true, string(state.PlanApplied): true, string(state.PlanFailed): true,
	string(state.PlanDryRun): true, string(state.PlanStale): true,
}

func (h *handlers) v1PlansList(w http.ResponseWriter, r *http.Request) {
	var f state.PlanFilter
	for _, s := range r.URL.Query()["status"] {
		for _, one := range strings.Split(s, ",") {
			if !planStatuses[one] {
				writeError(w, http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("unknown plan status %q", one))
				return
			}
			f.Status = append(f.Status, state.PlanStatus(one))
		}
	}
	f.IncidentID = r.URL.Query().Get("incident")
	list, err := h.svc.Store().Plans(r.Context(), f)
	if err != nil {
		h.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, PlansResponse{Plans: list})
}

// PlanResponse is GET /v1/plans/{id}'s body: the record, and the plan
// itself (docs/plan-and-apply.md's plan JSON), which is what an approver reviews.
type PlanResponse struct {
	Plan    state.PlanRecord `json:"plan"`
	Content *plan.Plan       `json:"content"`
}

func (h *handlers) v1PlanGet(w http.ResponseWriter, r *http.Request) {
	rec, ok := h.plan(w, r)
	if !ok {
		return
	}
	f, err := plan.Decode(rec.File)
	if err != nil {
		h.internal(w, fmt.Errorf("stored plan %s is unreadable: %w", rec.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, PlanResponse{Plan: *rec, Content: f.Plan})
}

func (h *handlers) plan(w http.ResponseWriter, r *http.Request) (*state.PlanRecord, bool) {
	rec, err := h.svc.Store().Plan(r.Context(), r.PathValue("id"))
	if errors.Is(err, state.ErrNotFound) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no plan "+r.PathValue("id"))
		return nil, false
	}
	if err != nil {
		h.internal(w, err)
		return nil, false
	}
	return rec, true
}

// DecisionRequest is the body of approve and reject: who decides, and why.
type DecisionRequest struct {
	Approver string `json:"approver"`
	Note     string `json:"note"`
}

func (h *handlers) v1PlanApprove(w http.ResponseWriter, r *http.Request) {
	h.decide(w, r, state.PlanApproved)
}

func (h *handlers) v1PlanReject(w http.ResponseWriter, r *http.Request) {
	h.decide(w, r, state.PlanRejected)
}

// maxDecisionBody bounds an approve or reject body.
const maxDecisionBody = 16 << 10

func (h *handlers) decide(w http.ResponseWriter, r *http.Request, status state.PlanStatus) {
	var req DecisionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDecisionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest,
			`the body must be JSON like {"approver": "alice", "note": "checked the triage"}: `+err.Error())
		return
	}
	req.Approver = strings.TrimSpace(req.Approver)
	if req.Approver == "" || len(req.Approver) > 200 {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "approver must name who decides (1 to 200 characters)")
		return
	}
	rec, err := h.svc.Decide(r.Context(), r.PathValue("id"), state.PlanDecision{Status: status, By: req.Approver, Note: req.Note})
	switch {
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "no plan "+r.PathValue("id"))
	case errors.Is(err, state.ErrPlanDecided):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case err != nil:
		h.internal(w, err)
	default:
		writeJSON(w, http.StatusOK, struct {
			Plan *state.PlanRecord `json:"plan"`
		}{rec})
	}
}

// RejectionsResponse is GET /v1/rejections' body.
type RejectionsResponse struct {
	Rejections []state.Rejection `json:"rejections"`
}

func (h *handlers) v1RejectionsList(w http.ResponseWriter, r *http.Request) {
	list, err := h.svc.Store().Rejections(r.Context(), 100)
	if err != nil {
		h.internal(w, err)
		return
	}
	if list == nil {
		list = []state.Rejection{}
	}
	writeJSON(w, http.StatusOK, RejectionsResponse{Rejections: list})
}

func (h *handlers) v1Reload(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Reload(r.Context()); err != nil {
		writeError(w, http.StatusUnprocessableEntity, CodeReloadFailed, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Reloaded bool `json:"reloaded"`
	}{true})
}

// internal reports an unexpected failure: logged in full, answered as 500
// (or 503 when state is unreachable).
func (h *handlers) internal(w http.ResponseWriter, err error) {
	h.opts.Logger.Error("api request failed", "error", err)
	if errors.Is(err, ErrUnavailable) {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	writeError(w, http.StatusInternalServerError, CodeInternal, "internal error; see the daemon's log")
}
