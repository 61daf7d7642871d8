package monitor

import (
	"bytes"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/tuskq/tuskq/internal/monitor/ui"
)

// withNav adds tuskq's navigation (ui.AsynqmonNav: the fleet, schedules,
// limits and other tuskq pages, as entries of asynqmon's side drawer) to
// the HTML pages of asynqmon: GET requests outside <root>/api/ whose last
// path segment has no extension (the index and the UI's client-side
// routes; never its assets).
func withNav(rootPath string, next http.Handler) http.Handler {
	snippet := ui.AsynqmonNav(rootPath)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || strings.HasPrefix(r.URL.Path, rootPath+"/api/") || strings.Contains(path.Base(r.URL.Path), ".") {
			next.ServeHTTP(w, r)
			return
		}
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		ct := rec.header.Get("Content-Type")
		if ct == "" {
			ct = http.DetectContentType(body)
		}
		if rec.code == http.StatusOK && strings.HasPrefix(ct, "text/html") {
			if i := bytes.LastIndex(body, []byte("</body>")); i >= 0 {
				body = append(body[:i:i], append(append([]byte{}, snippet...), body[i:]...)...)
				rec.header.Set("Content-Type", ct)
			}
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.code)
		_, _ = w.Write(body)
	})
}

// bufferedResponse records a response in memory.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}
