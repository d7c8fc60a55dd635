package auth

import (
	"net/http/httptest"
	"testing"

	"github.com/sonogate/sonogate/config"
)

func TestAuthenticate(t *testing.T) {
	a := New(config.Auth{Tokens: []config.Token{
		{Name: "repo", Token: "research-token-0123456789", Scopes: []string{ScopeResearch}},
		{Name: "ops", Token: "admin-token-0123456789ab", Scopes: []string{ScopeAdmin}},
	}}, nil)
	cases := []struct {
		authz, remote string
		ok            bool
		name          string
		research, adm bool
	}{
		{"Bearer research-token-0123456789", "10.0.0.5:1234", true, "repo", true, false},
		{"bearer admin-token-0123456789ab", "10.0.0.5:1234", true, "ops", true, true},
		{"Bearer wrong", "127.0.0.1:1", false, "unknown-token", false, false},
		{"", "127.0.0.1:1", false, "anonymous", false, false},
		{"Basic research-token-0123456789", "127.0.0.1:1", false, "anonymous", false, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = c.remote
		if c.authz != "" {
			r.Header.Set("Authorization", c.authz)
		}
		p, ok := a.Authenticate(r)
		if ok != c.ok || p.Name != c.name || p.Has(ScopeResearch) != c.research || p.Has(ScopeAdmin) != c.adm {
			t.Errorf("%q from %s: %+v %v", c.authz, c.remote, p, ok)
		}
	}
	open := New(config.Auth{}, nil)
	r := httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = "[::1]:5000"
	if p, ok := open.Authenticate(r); !ok || !p.Has(ScopeAdmin) {
		t.Fatalf("loopback in open mode: %+v %v", p, ok)
	}
	r.RemoteAddr = "192.0.2.1:5000"
	if _, ok := open.Authenticate(r); ok {
		t.Fatal("a remote client was admitted in open mode")
	}
}
