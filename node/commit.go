package node

import (
	"github.com/sonogate/sonogate/commit"
	"github.com/sonogate/sonogate/dimse"
)

// registerCommit builds the Storage Commitment Push Model SCP (PS3.4
// Annex J) and adds N-ACTION to the DIMSE server. Requesters must be peers
// permitted "commit"; reports go to their host and port when the N-ACTION
// association is gone, from the AE title they called (B12).
func (n *Node) registerCommit() {
	n.commit = commit.New(n.commitConfig())
	n.dimse.RegisterCommitment(n.commit)
}

func (n *Node) commitConfig() commit.Config {
	cfg := n.cfg
	return commit.Config{
		Catalog:         n.catalog,
		Peers:           cfg.Peers,
		AfterDeliveryTo: cfg.Commitment.AfterDeliveryTo,
		Namespace: func(calledAE string) string {
			if cfg.Node.ResearchAETitle != "" && calledAE == cfg.Node.ResearchAETitle {
				return "research"
			}
			return "clinical"
		},
		DialTimeout:     cfg.Node.Timeouts.Connect.Std(),
		ResponseTimeout: cfg.Node.Timeouts.Response.Std(),
		MaxPDULength:    cfg.Node.MaxPDULength,
		Logger:          n.log,
	}
}

var _ dimse.CommitmentHandler = (*commit.Manager)(nil)
