package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// contentTypes is fixed here rather than taken from the host's MIME
// tables, which differ between distributions (.js has been served as
// text/plain on some, and browsers refuse such scripts under nosniff).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".ico":  "image/x-icon",
	".png":  "image/png",
}

// csp allows only the node's own origin: no inline scripts, no CDNs.
// Inline SVG built with DOM calls needs no style exception.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the embedded dashboard: "/" and "/ui/" give index.html,
// "/ui/<name>" a static file; anything else is 404.
type Handler struct {
	files map[string]file // by name below static/, e.g. "app.js"
}

// New loads the embedded files.
func New() *Handler {
	h := &Handler{files: map[string]file{}}
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.files[strings.TrimPrefix(p, "static/")] = file{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return h
}

// Register mounts the dashboard on mux at "/" (exactly) and "/ui/".
func Register(mux *http.ServeMux) {
	h := New()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /ui/", h)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := ""
	switch p := r.URL.Path; {
	case p == "/" || p == "/ui" || p == "/ui/":
		name = "index.html"
	case strings.HasPrefix(p, "/ui/"):
		name = strings.TrimPrefix(p, "/ui/")
	}
	f, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if name == "index.html" {
		hd.Set("Content-Security-Policy", csp)
	}
	// No modification time: embedded files have none; the ETag serves revalidation.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
