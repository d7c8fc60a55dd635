package qr

import (
	"context"
	"errors"
	"fmt"
	"github.com/sonogate/sonogate/auth"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
)

// Services a peer may be permitted (config peers[].services).
const (
	ServiceFind   = "find"
	ServiceMove   = "move"
	ServiceGet    = "get"
	ServiceCommit = "commit"
)

// Peer is a remote AE known by title: where to reach it and what it may do
// (the configuration's peers, as they are).
type Peer = config.Peer

// Config configures a Handler.
type Config struct {
	Catalog *catalog.Catalog
	// Path resolves a catalog RelPath to a file (store.Store.Path).
	Path func(rel string) string
	// Peers are the known AEs: move destinations and permissions. A
	// calling AE that is not listed, or lacks the service, is refused
	// (0x0124 Refused: Not Authorized).
	Peers []Peer
	// Namespace maps the called AE title to a catalog namespace;
	// nil means "clinical" for every title.
	Namespace func(calledAE string) string
	Logger    *slog.Logger
}

// Handler implements dimse.FindHandler and dimse.RetrieveHandler.
type Handler struct {
	cfg          Config
	log          *slog.Logger
	peers        map[string]Peer
	openLoopback bool // no peer granted any service: loopback clients may query
}

// New returns a Handler.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, log: cfg.Logger, peers: map[string]Peer{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = h.log.With("component", "qr")
	h.openLoopback = true
	for _, p := range cfg.Peers {
		h.peers[p.AETitle] = p
		if len(p.Services) > 0 {
			h.openLoopback = false
		}
	}
	if h.openLoopback {
		h.log.Warn("query/retrieve open to loopback clients only: no peer is granted a service in the configuration")
	}
	return h
}

// Permitted reports whether the association's calling AE may use service:
// a configured peer listing the service. With no peer granted any service
// (the embedded default configuration), any calling AE on a loopback
// address may query and retrieve, as the HTTP side allows loopback
// clients then.
func (h *Handler) Permitted(a dimse.AssociationInfo, service string) bool {
	if h.openLoopback {
		return a.RemoteAddr != nil && auth.IsLoopback(a.RemoteAddr.String())
	}
	p, ok := h.peers[a.CallingAE]
	if !ok {
		return false
	}
	for _, s := range p.Services {
		if s == service {
			return true
		}
	}
	return false
}

func (h *Handler) namespace(calledAE string) string {
	if h.cfg.Namespace == nil {
		return "clinical"
	}
	return h.cfg.Namespace(calledAE)
}

func modelOf(sopClass string) Model {
	switch sopClass {
	case dimse.UIDPatientRootQueryRetrieveInformationModelFind, dimse.UIDPatientRootQueryRetrieveInformationModelMove,
		dimse.UIDPatientRootQueryRetrieveInformationModelGet:
		return PatientRoot
	}
	return StudyRoot
}

func identifierFailure(err error) dimse.Response {
	var ie *IdentifierError
	r := dimse.Response{Status: dimse.StatusDataSetDoesNotMatchSOPClass, ErrorComment: "identifier does not match SOP class"}
	if errors.As(err, &ie) {
		r.ErrorComment = ie.Reason
		if ie.Tag != 0 {
			r.OffendingElement = []uint32{uint32(ie.Tag)}
		}
	}
	return r
}

// matchKeys turns identifier keys into catalog match keys: keys the catalog
// indexes at or above the level are matched; the rest are return keys only
// (answered empty when the catalog does not hold them).
func matchKeys(id *Identifier) []catalog.MatchKey {
	var out []catalog.MatchKey
	for _, k := range id.Keys {
		a, ok := catalog.LookupAttribute(uint32(k.Tag))
		if !ok || k.VR == dcm.SQ {
			continue
		}
		if rank(a.Level) > rank(id.Level) && !(k.Tag == 0x00080060 && id.Level == catalog.LevelStudy) {
			continue
		}
		out = append(out, catalog.MatchKey{Tag: uint32(k.Tag), Value: k.Value})
	}
	return out
}

// HandleCFind answers C-FIND (PS3.4 §C.4.1): one pending response per
// matching record, streamed from the catalog.
func (h *Handler) HandleCFind(ctx context.Context, req *dimse.FindRequest, send func([]byte) error) dimse.Response {
	if !h.Permitted(req.Assoc, ServiceFind) {
		return dimse.Response{Status: dimse.StatusNotAuthorized, ErrorComment: "calling AE may not query"}
	}
	model := modelOf(req.AffectedSOPClassUID)
	id, err := ParseIdentifier(req.Identifier, req.TransferSyntaxUID, model)
	if err != nil {
		return identifierFailure(err)
	}
	// Return keys: those asked for plus the unique keys of this level and
	// the levels above it (PS3.4 §C.4.1.2.3).
	keys := append([]Key(nil), id.Keys...)
	for _, l := range levels[:rank(id.Level)+1] {
		if model == StudyRoot && l == catalog.LevelPatient {
			continue
		}
		if t := uniqueKey[l]; id.findKey(t) < 0 {
			keys = append(keys, Key{Tag: t, VR: dcm.DictionaryVR(t)})
		}
	}
	q := catalog.Query{Namespace: h.namespace(req.Assoc.CalledAE), Level: id.Level, Keys: matchKeys(id)}
	n := 0
	err = h.cfg.Catalog.Find(ctx, q, func(r catalog.Record) error {
		out := make([]Key, len(keys))
		for i, k := range keys {
			out[i] = k
			out[i].Value = ""
			if v, ok := r.Value(uint32(k.Tag)); ok {
				out[i].Value = v
			}
		}
		b, err := encodeIdentifier(req.TransferSyntaxUID, id.Level, out)
		if err != nil {
			return err
		}
		n++
		return send(b)
	})
	var qe *catalog.QueryError
	switch {
	case err == nil:
		return dimse.Response{Status: dimse.StatusSuccess}
	case errors.Is(err, dimse.ErrCancelled) || errors.Is(context.Cause(ctx), dimse.ErrCancelled):
		return dimse.Response{Status: dimse.StatusCancel}
	case errors.As(err, &qe):
		r := dimse.Response{Status: dimse.StatusDataSetDoesNotMatchSOPClass, ErrorComment: qe.Reason}
		if qe.Tag != 0 {
			r.OffendingElement = []uint32{qe.Tag}
		}
		return r
	}
	h.log.Warn("C-FIND failed", "assoc_id", req.Assoc.ID, "matches", n, "err", err)
	return dimse.Response{Status: dimse.StatusCannotUnderstand, ErrorComment: "unable to process"}
}

func (id *Identifier) findKey(t dcm.Tag) int {
	for i, k := range id.Keys {
		if k.Tag == t {
			return i
		}
	}
	return -1
}

// HandleRetrieve resolves a C-MOVE or C-GET identifier into instances
// (PS3.4 §C.4.2.2, §C.4.3.2): the unique key of the retrieve level must be
// present; unique keys of the levels above narrow the match.
func (h *Handler) HandleRetrieve(ctx context.Context, req *dimse.RetrieveRequest) dimse.RetrieveResult {
	service := ServiceGet
	if req.CommandField == dimse.CommandCMoveRQ {
		service = ServiceMove
	}
	refuse := func(st dimse.Status, comment string) dimse.RetrieveResult {
		return dimse.RetrieveResult{Response: dimse.Response{Status: st, ErrorComment: comment}}
	}
	if !h.Permitted(req.Assoc, service) {
		return refuse(dimse.StatusNotAuthorized, "calling AE may not "+service)
	}
	var res dimse.RetrieveResult
	if service == ServiceMove {
		p, ok := h.peers[req.MoveDestination]
		if !ok || p.Host == "" || p.Port == 0 {
			return refuse(dimse.StatusMoveDestinationUnknown, "move destination unknown")
		}
		res.Destination = dimse.Destination{AETitle: p.AETitle, Addr: net.JoinHostPort(p.Host, strconv.Itoa(p.Port))}
	}
	model := modelOf(req.AffectedSOPClassUID)
	id, err := ParseIdentifier(req.Identifier, req.TransferSyntaxUID, model)
	if err != nil {
		return dimse.RetrieveResult{Response: identifierFailure(err)}
	}
	var keys []catalog.MatchKey
	for _, l := range levels[:rank(id.Level)+1] {
		t := uniqueKey[l]
		v := id.Value(t)
		if l == id.Level && v == "" {
			return dimse.RetrieveResult{Response: dimse.Response{Status: dimse.StatusDataSetDoesNotMatchSOPClass,
				ErrorComment: fmt.Sprintf("unique key %s missing", t.Keyword()), OffendingElement: []uint32{uint32(t)}}}
		}
		if v != "" && !(model == StudyRoot && l == catalog.LevelPatient) {
			keys = append(keys, catalog.MatchKey{Tag: uint32(t), Value: v})
		}
	}
	q := catalog.Query{Namespace: h.namespace(req.Assoc.CalledAE), Level: catalog.LevelImage, Keys: keys}
	err = h.cfg.Catalog.Find(ctx, q, func(r catalog.Record) error {
		in := r.Instance
		res.Instances = append(res.Instances, dimse.RetrieveInstance{SOPClassUID: in.SOPClassUID, SOPInstanceUID: in.SOPInstanceUID,
			TransferSyntaxUID: in.TransferSyntaxUID, Open: h.opener(in)})
		return nil
	})
	if err != nil {
		var qe *catalog.QueryError
		if errors.As(err, &qe) {
			return refuse(dimse.StatusDataSetDoesNotMatchSOPClass, qe.Reason)
		}
		h.log.Warn("retrieve: catalog query failed", "assoc_id", req.Assoc.ID, "err", err)
		return refuse(dimse.StatusOutOfResourcesUnableToCalculateMatches, "unable to calculate matches")
	}
	h.log.Info("retrieve resolved", "assoc_id", req.Assoc.ID, "level", string(id.Level), "instances", len(res.Instances),
		"move_destination", req.MoveDestination)
	return res
}

// opener returns the data set bytes of a stored instance as stored (its
// transfer syntax, no preamble or meta group).
func (h *Handler) opener(in catalog.Instance) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(h.cfg.Path(in.RelPath))
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.NewSectionReader(f, in.DataOffset, st.Size()-in.DataOffset), f}, nil
	}
}
