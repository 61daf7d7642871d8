package httpserve

import (
	"net/http"
	"strings"
)

// Mux is an http.ServeMux (Go 1.22 method patterns such as
// "GET /v1/queues/{queue}/tasks/{id}") whose 404 and 405 answers are the
// caller's: an API answers them as problems, not as ServeMux's text.
type Mux struct {
	*http.ServeMux
	// NotFound answers a request no pattern matches. Nil keeps ServeMux's.
	NotFound func(w http.ResponseWriter, r *http.Request)
	// MethodNotAllowed answers a request whose path a pattern matches but
	// not with its method; allow lists the methods that path accepts. The
	// Allow header is already set. Nil keeps ServeMux's.
	MethodNotAllowed func(w http.ResponseWriter, r *http.Request, allow []string)
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// ServeHTTP serves r with the handler of its pattern, or answers 404 and
// 405 with NotFound and MethodNotAllowed.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := m.Handler(r)
	if pattern != "" || (m.NotFound == nil && m.MethodNotAllowed == nil) {
		m.ServeMux.ServeHTTP(w, r)
		return
	}
	// No pattern: ServeMux's own answer is a 404, a 405 or a redirect to
	// the clean path. Record it, and answer 404 and 405 our way.
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch {
	case rec.code == http.StatusNotFound && m.NotFound != nil:
		m.NotFound(w, r)
		return
	case rec.code == http.StatusMethodNotAllowed && m.MethodNotAllowed != nil:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		m.MethodNotAllowed(w, r, strings.Split(allow, ", "))
		return
	}
	m.ServeMux.ServeHTTP(w, r)
}

// recorder keeps the status and headers of ServeMux's own answers.
type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return len(b), nil
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
