package dimse

import (
	"slices"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse/pdu"
)

// ImplementationClassUID identifies sonogate in A-ASSOCIATE PDUs
// (PS3.7 D.3.3.2), the same UID its Part 10 files carry.
const ImplementationClassUID = dcm.ImplementationClassUID

// ImplementationVersionName is sent in sub-item 0x55 (at most 16 characters).
const ImplementationVersionName = dcm.ImplementationVersionName

// DefaultSOPClasses returns the abstract syntaxes a server accepts by
// default: Verification and the storage SOP classes of us_sop_and_ts.tsv.
func DefaultSOPClasses() []string { return slices.Clone(defaultSOPClasses) }

// DefaultTransferSyntaxes returns the transfer syntaxes a server accepts
// by default, in its order of preference.
func DefaultTransferSyntaxes() []string { return slices.Clone(defaultTransferSyntaxes) }

// acceptorPolicy is what the server accepts during negotiation.
type acceptorPolicy struct {
	aeTitle          string
	aeTitles         []string // further called AE titles answered (ServerConfig.AdditionalAETitles)
	allowedCalling   []string
	sopClasses       map[string]bool
	transferSyntaxes []string // preference order
	maxPDULength     uint32
	// leOnly lists abstract syntaxes whose messages carry identifiers we
	// encode ourselves (Query/Retrieve, Storage Commitment): only the
	// little endian uncompressed transfer syntaxes are accepted for them.
	leOnly map[string]bool
	// scpRole lists SOP classes for which the requestor may take the SCP
	// role (C-GET storage sub-operations, PS3.7 D.3.3.4).
	scpRole map[string]bool
}

// negotiate decides an A-ASSOCIATE-RQ (PS3.8 §7.1, PS3.7 Annex D). It
// returns either the A-ASSOCIATE-AC to send and the accepted contexts, or
// the A-ASSOCIATE-RJ.
func (p *acceptorPolicy) negotiate(rq *pdu.AAssociateRQ) (*pdu.AAssociateAC, map[byte]presentationContext, *pdu.AAssociateRJ) {
	reject := func(result, source, reason byte) (*pdu.AAssociateAC, map[byte]presentationContext, *pdu.AAssociateRJ) {
		return nil, nil, &pdu.AAssociateRJ{Result: result, Source: source, Reason: reason}
	}
	if rq.ApplicationContext != UIDDICOMApplicationContext {
		return reject(pdu.ResultRejectedPermanent, pdu.SourceServiceUser, pdu.ReasonApplicationContextNotSupported)
	}
	if p.aeTitle != "" && rq.CalledAETitle != p.aeTitle && !slices.Contains(p.aeTitles, rq.CalledAETitle) {
		return reject(pdu.ResultRejectedPermanent, pdu.SourceServiceUser, pdu.ReasonCalledAETitleNotRecognized)
	}
	if len(p.allowedCalling) > 0 && !slices.Contains(p.allowedCalling, rq.CallingAETitle) {
		return reject(pdu.ResultRejectedPermanent, pdu.SourceServiceUser, pdu.ReasonCallingAETitleNotRecognized)
	}
	ac := &pdu.AAssociateAC{
		ProtocolVersion:    pdu.ProtocolVersion,
		CalledAETitle:      rq.CalledAETitle,
		CallingAETitle:     rq.CallingAETitle,
		ApplicationContext: UIDDICOMApplicationContext,
		UserInfo: pdu.UserInformation{
			MaxLength:                 p.maxPDULength,
			ImplementationClassUID:    ImplementationClassUID,
			ImplementationVersionName: ImplementationVersionName,
		},
	}
	accepted := map[byte]presentationContext{}
	for _, pc := range rq.PresentationContexts {
		res := pdu.PresentationContextAC{ID: pc.ID}
		switch {
		case !p.sopClasses[pc.AbstractSyntax]:
			res.Result = pdu.ContextAbstractSyntaxNotSupported
		default:
			res.Result = pdu.ContextTransferSyntaxesNotSupported
			prefs := p.transferSyntaxes
			if p.leOnly[pc.AbstractSyntax] {
				prefs = leTransferSyntaxes
			}
			for _, ts := range prefs {
				if slices.Contains(pc.TransferSyntaxes, ts) {
					res.Result, res.TransferSyntax = pdu.ContextAcceptance, ts
					break
				}
			}
		}
		if res.Result != pdu.ContextAcceptance && len(pc.TransferSyntaxes) > 0 {
			// The value is not significant for rejected contexts (PS3.8
			// §9.3.3.2); echo an offered one so strict parsers see a UID.
			res.TransferSyntax = pc.TransferSyntaxes[0]
		}
		if res.Result == pdu.ContextAcceptance {
			accepted[pc.ID] = presentationContext{id: pc.ID, abstractSyntax: pc.AbstractSyntax, transferSyntax: res.TransferSyntax}
		}
		ac.PresentationContexts = append(ac.PresentationContexts, res)
	}
	ui := &rq.UserInfo
	// Asynchronous operations window (PS3.7 D.3.3.3): we perform operations
	// one at a time, so answer 1/1 when asked; absent means synchronous.
	if ui.AsyncOperationsWindow != nil {
		ac.UserInfo.AsyncOperationsWindow = &pdu.AsyncOperationsWindow{MaxOperationsInvoked: 1, MaxOperationsPerformed: 1}
	}
	// SCP/SCU role selection (PS3.7 D.3.3.4): accept the requestor as SCU
	// for the SOP classes we serve, and as SCP for the storage SOP classes
	// when C-GET is served (B09: answered explicitly, never by default).
	for _, r := range ui.RoleSelections {
		scu := byte(0)
		if r.SCURole == 1 && p.sopClasses[r.SOPClassUID] {
			scu = 1
		}
		scp := byte(0)
		if r.SCPRole == 1 && p.scpRole[r.SOPClassUID] {
			scp = 1
		}
		ac.UserInfo.RoleSelections = append(ac.UserInfo.RoleSelections, pdu.RoleSelection{SOPClassUID: r.SOPClassUID, SCURole: scu, SCPRole: scp})
	}
	// User identity (PS3.7 D.3.3.7): accepted without verification; answer
	// only when a positive response was requested.
	if id := ui.UserIdentityRQ; id != nil && id.PositiveResponseRequested {
		ac.UserInfo.UserIdentityAC = &pdu.UserIdentityAC{ServerResponse: []byte{}}
	}
	return ac, accepted, nil
}

// leTransferSyntaxes are accepted for leOnly abstract syntaxes, in order.
var leTransferSyntaxes = []string{"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}
