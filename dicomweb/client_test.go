package dicomweb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/internal/testenv"
	"github.com/sonogate/sonogate/routing"
	"github.com/sonogate/sonogate/store"
)

// TestSTOWDestination sends a stored instance to another sonogate over
// STOW-RS and checks the error classes of failing receivers.
func TestSTOWDestination(t *testing.T) {
	src := newEnv(t, config.Auth{})
	dst := newEnv(t, config.Auth{Tokens: []config.Token{{Name: "router", Token: "tok", Scopes: []string{"clinical"}}}})
	sop, _ := src.ingestFile(filepath.Join(testenv.SharedTestdata(t, "dicom/ultrasound"), "US1_J2KI.dcm"), store.NamespaceClinical)
	in, _ := src.cat.InstancesBySOP(t.Context(), "clinical", sop)
	path := src.srv.cfg.Store.Path(in[0].RelPath)

	d := NewSTOWDestination("peer", config.STOWDest{URL: dst.http.URL + "/dicom-web/studies", Token: "tok"}, nil, nil)
	if err := d.Send(context.Background(), &in[0], path); err != nil {
		t.Fatal(err)
	}
	got, _ := dst.cat.InstancesBySOP(t.Context(), "clinical", sop)
	if len(got) != 1 || got[0].SHA256 != in[0].SHA256 {
		t.Fatalf("receiver holds %v, want the same bytes", got)
	}
	bad := NewSTOWDestination("peer", config.STOWDest{URL: dst.http.URL + "/dicom-web/studies", Token: "nope"}, nil, nil)
	var he *routing.HTTPStatusError
	if err := bad.Send(context.Background(), &in[0], path); !errors.As(err, &he) || he.StatusCode != 401 || routing.Classify(err) != routing.Permanent {
		t.Errorf("401: %v", err)
	}
	for code, class := range map[int]routing.Class{503: routing.Retry, 500: routing.Retry, 409: routing.Permanent} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		err := NewSTOWDestination("x", config.STOWDest{URL: hs.URL}, nil, nil).Send(context.Background(), &in[0], path)
		if routing.Classify(err) != class {
			t.Errorf("%d: %v classified %v", code, err, routing.Classify(err))
		}
		hs.Close()
	}
	// Unreachable: a network error, retried.
	err := NewSTOWDestination("x", config.STOWDest{URL: "http://127.0.0.1:1/studies"}, nil, nil).Send(context.Background(), &in[0], path)
	if err == nil || routing.Classify(err) != routing.Retry {
		t.Errorf("unreachable: %v", err)
	}
}
