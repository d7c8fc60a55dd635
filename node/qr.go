package node

import (
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/qr"
)

// additionalAETitles are the called AE titles the DIMSE server answers to
// besides node.ae_title.
func additionalAETitles(cfg config.Config) []string {
	if cfg.Node.ResearchAETitle == "" {
		return nil
	}
	return []string{cfg.Node.ResearchAETitle}
}

// registerQR builds the Query/Retrieve handlers over the catalog and adds
// C-FIND, C-MOVE and C-GET to the DIMSE server. The called AE title selects
// the namespace: node.research_ae_title → research, else clinical.
func (n *Node) registerQR() {
	cfg := n.cfg
	h := qr.New(qr.Config{
		Catalog: n.catalog,
		Path:    n.store.Path,
		Peers:   cfg.Peers,
		Namespace: func(calledAE string) string {
			if cfg.Node.ResearchAETitle != "" && calledAE == cfg.Node.ResearchAETitle {
				return "research"
			}
			return "clinical"
		},
		Logger: n.log,
	})
	n.dimse.RegisterQueryRetrieve(dimse.QueryRetrieve{
		Find: h, Retrieve: h, Get: true,
		DialTimeout:     cfg.Node.Timeouts.Connect.Std(),
		ResponseTimeout: cfg.Node.Timeouts.Response.Std(),
		MaxPDULength:    cfg.Node.MaxPDULength,
	})
}
