package monitor

import (
	"bytes"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// fleetLinkHTML is added to asynqmon's page, whose single-page UI has no
// place for links of ours: a small fixed button to the fleet page.
const fleetLinkHTML = `<a id="tuskq-fleet-link" href="{{.}}/fleet" title="Worker processes, their plugins and versions" ` +
	`style="position:fixed;right:20px;bottom:20px;z-index:2000;padding:8px 16px;border-radius:18px;` +
	`background:#1565c0;color:#fff;font:500 14px Roboto,Arial,sans-serif;text-decoration:none;` +
	`box-shadow:0 2px 6px rgba(0,0,0,.35)">Fleet</a>`

// withFleetLink adds the link to the fleet page to the HTML pages of
// asynqmon: GET requests outside <root>/api/ whose last path segment has no
// extension (the index and the UI's client-side routes; never its assets).
func withFleetLink(rootPath string, next http.Handler) http.Handler {
	var link bytes.Buffer
	// Executing a constant template with a string cannot fail.
	_ = template.Must(template.New("link").Parse(fleetLinkHTML)).Execute(&link, rootPath)
	snippet := link.Bytes()
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
