package config

import (
	"fmt"
	"slices"
)

// PeerServices are the values allowed in peers[].services.
var PeerServices = []string{"find", "move", "get", "commit"}

// Commitment configures the Storage Commitment Push Model SCP (PS3.4 Annex J).
type Commitment struct {
	// AfterDeliveryTo names a destination: an instance counts as committed
	// only once its delivery job to that destination is done. Empty means
	// committed once durably stored here.
	AfterDeliveryTo string `yaml:"after_delivery_to"`
}

func (v *validator) peerServices(path string, s []string) {
	seen := map[string]bool{}
	for i, x := range s {
		switch {
		case !slices.Contains(PeerServices, x):
			v.add(fmt.Sprintf("%s[%d]", path, i), "unknown service %q: use find, move, get or commit", x)
		case seen[x]:
			v.add(fmt.Sprintf("%s[%d]", path, i), "duplicate service %q", x)
		}
		seen[x] = true
	}
}

// validateQR checks node.research_ae_title and commitment.
func (c *Config) validateQR(v *validator) {
	if ae := c.Node.ResearchAETitle; ae != "" {
		v.aeTitle("node.research_ae_title", ae)
		if ae == c.Node.AETitle {
			v.add("node.research_ae_title", "must differ from node.ae_title")
		}
	}
	if d := c.Commitment.AfterDeliveryTo; d != "" {
		found := false
		for _, x := range c.Destinations {
			found = found || x.Name == d
		}
		if !found {
			v.add("commitment.after_delivery_to", "no destination named %q", d)
		}
	}
}
