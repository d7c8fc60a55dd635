package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func serve(t *testing.T, method, path string, hdr ...string) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	Register(mux)
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Result()
}

func TestFilesAndContentTypes(t *testing.T) {
	index, _ := staticFS.ReadFile("static/index.html")
	for _, c := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/ui/app.js" defer></script>`},
		{"/ui/", "text/html; charset=utf-8", `<title>sonogate</title>`},
		{"/ui/index.html", "text/html; charset=utf-8", `<title>sonogate</title>`},
		{"/ui/app.js", "text/javascript; charset=utf-8", `"use strict";`},
		{"/ui/app.css", "text/css; charset=utf-8", `table.grid`},
		{"/ui/favicon.svg", "image/svg+xml", `<svg`},
	} {
		resp := serve(t, "GET", c.path)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(b), c.contains) {
			t.Errorf("GET %s: %d %q, body contains %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.contains, strings.Contains(string(b), c.contains))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s: headers %v", c.path, resp.Header)
		}
		if c.path == "/" && string(b) != string(index) {
			t.Errorf("/ is not index.html byte for byte")
		}
	}
}

// The page's policy forbids inline and foreign scripts, so injected
// markup could not run even if some code path inserted it as HTML.
func TestIndexSecurityHeaders(t *testing.T) {
	resp := serve(t, "GET", "/")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http") {
		t.Errorf("CSP too loose: %q", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", resp.Header)
	}
}

func TestNotFound(t *testing.T) {
	for _, p := range []string{"/nope", "/ui/nope.js", "/index.html", "/ui/static/app.js", "/favicon.ico", "/api"} {
		if resp := serve(t, "GET", p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	// The mux cleans dot segments first; the handler alone must not walk
	// out of the embedded directory either.
	h := New()
	for _, p := range []string{"/ui/../web.go", "/ui/../static/app.js", "/ui//app.js", "/ui/./app.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, &http.Request{Method: "GET", URL: &url.URL{Path: p}})
		if rec.Code != http.StatusNotFound {
			t.Errorf("handler %s: %d, want 404", p, rec.Code)
		}
	}
	if resp := serve(t, "POST", "/"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
}

func TestConditionalAndHead(t *testing.T) {
	etag := serve(t, "GET", "/ui/app.js").Header.Get("ETag")
	if resp := serve(t, "GET", "/ui/app.js", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	resp := serve(t, "HEAD", "/")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD /: %d %d bytes %q", resp.StatusCode, len(b), resp.Header.Get("Content-Type"))
	}
}

// No external resources: the dashboard must work on a hospital network
// without internet, and nothing may leak patient context to a CDN.
func TestNoExternalResources(t *testing.T) {
	for name, f := range New().files {
		s := string(f.body)
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if name == "favicon.svg" && bad == "http://" {
				continue // the SVG namespace URI
			}
			if strings.Contains(s, bad) && !(name == "app.js" && bad == "http://" && strings.Count(s, "http://") == strings.Count(s, `"http://www.w3.org/2000/svg"`)) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
