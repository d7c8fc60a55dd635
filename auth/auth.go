// Package auth decides who is calling sonogate's HTTP services and what
// they may reach: bearer tokens from the configuration, each with scopes.
//
//   - clinical: the clinical namespace (identified data) and the research one
//   - research: the research namespace only (de-identified data), read-only
//   - admin:    everything, including queue changes and re-identification
//
// With no tokens configured (the embedded default configuration), clients
// on a loopback address are admitted as "loopback" with every scope and
// every other client is refused; New announces that mode in the log.
package auth

import (
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/sonogate/sonogate/config"
)

// Scopes a token may hold.
const (
	ScopeClinical = "clinical"
	ScopeResearch = "research"
	ScopeAdmin    = "admin"
)

// Principal is an authenticated caller.
type Principal struct {
	Name   string // the token's name, "loopback" in open mode
	Scopes []string
}

// Has reports whether p holds scope (admin holds every scope).
func (p Principal) Has(scope string) bool {
	return slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, scope)
}

// Authenticator checks bearer tokens.
type Authenticator struct {
	tokens       []config.Token
	openLoopback bool
}

// New returns an Authenticator over cfg's tokens. When there are none it
// logs (at Warn) that the HTTP services are open to loopback clients only.
func New(cfg config.Auth, log *slog.Logger) *Authenticator {
	a := &Authenticator{tokens: cfg.Tokens, openLoopback: len(cfg.Tokens) == 0}
	if a.openLoopback && log != nil {
		log.Warn("HTTP open access for loopback clients only: no auth tokens configured; other clients get 401",
			"component", "auth")
	}
	return a
}

// OpenLoopback reports whether no tokens are configured.
func (a *Authenticator) OpenLoopback() bool { return a.openLoopback }

// Authenticate returns the caller of r, or false (name "anonymous" or
// "unknown-token" for the audit log).
func (a *Authenticator) Authenticate(r *http.Request) (Principal, bool) {
	if a.openLoopback {
		if IsLoopback(r.RemoteAddr) {
			return Principal{Name: "loopback", Scopes: []string{ScopeAdmin}}, true
		}
		return Principal{Name: "anonymous"}, false
	}
	scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return Principal{Name: "anonymous"}, false
	}
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(t.Token.Reveal()), []byte(tok)) == 1 {
			return Principal{Name: t.Name, Scopes: t.Scopes}, true
		}
	}
	return Principal{Name: "unknown-token"}, false
}

// Unauthorized answers 401 with the Bearer challenge.
func Unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="sonogate"`)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte("a valid bearer token is required\n"))
}

// IsLoopback reports whether a remote address (host:port or host) is a
// loopback address.
func IsLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
