package qr

import (
	"net"
	"testing"

	"github.com/sonogate/sonogate/dimse"
)

func TestPermitted(t *testing.T) {
	loop := dimse.AssociationInfo{CallingAE: "FINDSCU", RemoteAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5000}}
	remote := dimse.AssociationInfo{CallingAE: "FINDSCU", RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5000}}
	ws := dimse.AssociationInfo{CallingAE: "WS1", RemoteAddr: remote.RemoteAddr}

	open := New(Config{Peers: []Peer{{AETitle: "SINK", Host: "127.0.0.1", Port: 24250}}})
	if !open.Permitted(loop, ServiceFind) || open.Permitted(remote, ServiceFind) {
		t.Fatal("with no peer granted a service, only loopback clients may query")
	}
	strict := New(Config{Peers: []Peer{{AETitle: "WS1", Services: []string{ServiceFind}}}})
	cases := []struct {
		a       dimse.AssociationInfo
		service string
		want    bool
	}{
		{ws, ServiceFind, true},
		{ws, ServiceMove, false},
		{loop, ServiceFind, false}, // not a listed peer, even on loopback
	}
	for _, c := range cases {
		if got := strict.Permitted(c.a, c.service); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.a.CallingAE, c.service, got, c.want)
		}
	}
}
