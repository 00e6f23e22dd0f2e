package api

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// route is one entry of the route table: method, pattern, and a constant
// name that labels its log lines.
type route struct {
	method, pattern, name string
	handler               http.HandlerFunc
}

// New returns the API's handler: the /v1/ routes behind the token, and the
// unauthenticated health and metrics endpoints.
func New(svc Service, opts Options) http.Handler {
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handlers{svc: svc, opts: opts}
	routes := []route{
		{"POST", "/v1/findings", "v1FindingsPost", h.v1FindingsPost},
		{"GET", "/v1/incidents", "v1IncidentsList", h.v1IncidentsList},
		{"GET", "/v1/incidents/{id}", "v1IncidentGet", h.v1IncidentGet},
		{"GET", "/v1/plans", "v1PlansList", h.v1PlansList},
		{"GET", "/v1/plans/{id}", "v1PlanGet", h.v1PlanGet},
		{"POST", "/v1/plans/{id}/approve", "v1PlanApprove", h.v1PlanApprove},
		{"POST", "/v1/plans/{id}/reject", "v1PlanReject", h.v1PlanReject},
		{"GET", "/v1/rejections", "v1RejectionsList", h.v1RejectionsList},
		{"POST", "/v1/reload", "v1Reload", h.v1Reload},
	}
	auth := newAuthorizer(opts.Token)
	v1 := http.NewServeMux()
	methods := map[string][]string{}
	for _, rt := range routes {
		v1.Handle(rt.method+" "+rt.pattern, h.logged(rt.name, rt.handler))
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	// A known path with another method is 405 with Allow, in JSON; an
	// unknown path is 404.
	for pattern, ms := range methods {
		allow := strings.Join(ms, ", ")
		v1.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed here; allowed: "+allow)
		})
	}
	v1.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path)
	})

	mux := http.NewServeMux()
	mux.Handle("/v1/", auth.wrap(v1))
	diag := Diagnostics(svc, opts.Metrics)
	mux.Handle("/livez", diag)
	mux.Handle("/readyz", diag)
	mux.Handle("/metrics", diag)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path)
	})
	return mux
}

// logged logs each call's route, status and duration at debug level, and
// a server error at error level.
func (h *handlers) logged(name string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next(sw, r)
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelError
		}
		h.opts.Logger.Log(r.Context(), level, "api", "route", name, "status", sw.status, "duration", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Diagnostics serves /livez, /readyz and /metrics (the separate metrics
// address serves the same).
func Diagnostics(svc Service, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		hl := svc.Health(r.Context())
		status := http.StatusOK
		if !hl.Live {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, hl)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		hl := svc.Health(r.Context())
		status := http.StatusOK
		if !hl.Ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, hl)
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.URL.Path)
	})
	return mux
}
