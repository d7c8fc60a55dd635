package config

import (
	"strings"
	"testing"
)

func TestQRFields(t *testing.T) {
	good := `
node: {ae_title: GW, research_ae_title: GW_RES}
peers:
  - {ae_title: US01, host: 127.0.0.1, port: 104, services: [find, move, get, commit]}
destinations:
  - {name: pacs, dimse: {ae_title: PACS, host: 127.0.0.1, port: 11112}}
commitment: {after_delivery_to: pacs}
`
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.ResearchAETitle != "GW_RES" || len(c.Peers[0].Services) != 4 || c.Commitment.AfterDeliveryTo != "pacs" {
		t.Errorf("parsed %+v %+v %+v", c.Node, c.Peers, c.Commitment)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"node: {ae_title: GW, research_ae_title: GW}", "node.research_ae_title: must differ from node.ae_title"},
		{"peers: [{ae_title: US01, host: h, port: 1, services: [find, fly]}]", `peers[0].services[1]: unknown service "fly"`},
		{"peers: [{ae_title: US01, host: h, port: 1, services: [get, get]}]", `peers[0].services[1]: duplicate service "get"`},
		{"commitment: {after_delivery_to: nowhere}", `commitment.after_delivery_to: no destination named "nowhere"`},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
