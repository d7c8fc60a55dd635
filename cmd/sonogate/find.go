package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
	"github.com/sonogate/sonogate/qr"
)

// keyList collects repeated -k TAG=VALUE flags.
type keyList []qr.Key

func (k *keyList) String() string { return fmt.Sprint(len(*k)) }
func (k *keyList) Set(s string) error {
	key, err := qr.ParseKey(s)
	if err != nil {
		return err
	}
	*k = append(*k, key)
	return nil
}

// qrFlags are the arguments shared by find, move and get.
type qrFlags struct {
	scuFlags
	keys         keyList
	level        string
	patient      bool
	study        bool
	format       string
	dest, outDir string
}

func parseQRFlags(name, synopsis string, args []string, stderr io.Writer, extra func(*flag.FlagSet, *qrFlags)) (*qrFlags, string, error) {
	fs := newFlagSet(name, synopsis, stderr)
	f := &qrFlags{}
	addSCUFlags(fs, &f.scuFlags)
	fs.Var(&f.keys, "k", "query key TAG[=VALUE], TAG a keyword or gggg,eeee (repeatable)")
	fs.StringVar(&f.level, "level", "", "Query/Retrieve level: PATIENT, STUDY, SERIES or IMAGE (or -k QueryRetrieveLevel=...)")
	fs.BoolVar(&f.patient, "P", false, "use the Patient Root information model")
	fs.BoolVar(&f.study, "S", false, "use the Study Root information model (default)")
	if extra != nil {
		extra(fs, f)
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, "", exitError{2}
	}
	if len(pos) != 1 {
		return nil, "", usageError(fs, "need exactly one HOST:PORT")
	}
	addr, err := hostPort(pos[0])
	if err != nil {
		return nil, "", usageError(fs, "%v", err)
	}
	var keys keyList
	for _, k := range f.keys {
		if k.Tag == 0x00080052 {
			if f.level == "" {
				f.level = k.Value
			}
			continue
		}
		keys = append(keys, k)
	}
	f.keys = keys
	f.level = strings.ToUpper(strings.TrimSpace(f.level))
	switch catalog.Level(f.level) {
	case catalog.LevelPatient, catalog.LevelStudy, catalog.LevelSeries, catalog.LevelImage:
	case "":
		return nil, "", usageError(fs, "need --level or -k QueryRetrieveLevel=...")
	default:
		return nil, "", usageError(fs, "unknown level %q", f.level)
	}
	if f.patient && f.study {
		return nil, "", usageError(fs, "-P and -S exclude each other")
	}
	return f, addr, nil
}

// sopClass returns the information model's SOP class for the operation
// (0: FIND, 1: MOVE, 2: GET).
func (f *qrFlags) sopClass(op int) string {
	if f.patient {
		return []string{dimse.UIDPatientRootQueryRetrieveInformationModelFind, dimse.UIDPatientRootQueryRetrieveInformationModelMove, dimse.UIDPatientRootQueryRetrieveInformationModelGet}[op]
	}
	return []string{dimse.UIDStudyRootQueryRetrieveInformationModelFind, dimse.UIDStudyRootQueryRetrieveInformationModelMove, dimse.UIDStudyRootQueryRetrieveInformationModelGet}[op]
}

var leSyntaxes = []string{dcm.ExplicitVRLittleEndian.UID, dcm.ImplicitVRLittleEndian.UID}

// dialQR opens the association and encodes the identifier.
func dialQR(ctx context.Context, f *qrFlags, addr string, op int, extra []dimse.PresentationContextRequest, scpRoles []string) (*dimse.Association, dimse.QueryOptions, []byte, error) {
	o := dimse.QueryOptions{SOPClassUID: f.sopClass(op)}
	cc := f.client()
	cc.SCPRoles = scpRoles
	// The response timeout bounds the wait between pending responses only;
	// a retrieval may take long as a whole.
	pcs := append([]dimse.PresentationContextRequest{{AbstractSyntax: o.SOPClassUID, TransferSyntaxes: leSyntaxes}}, extra...)
	a, err := dimse.Dial(ctx, addr, cc, pcs)
	if err != nil {
		return nil, o, nil, fmt.Errorf("association with %s (%s) failed: %w", addr, f.aec, err)
	}
	ts, err := a.QueryTransferSyntax(o)
	if err != nil {
		a.Abort()
		return nil, o, nil, fmt.Errorf("%s (%s) did not accept %s: %w", addr, f.aec, o.SOPClassUID, err)
	}
	o.TransferSyntaxUID = ts
	b, err := qr.EncodeQuery(ts, catalog.Level(f.level), f.keys)
	if err != nil {
		a.Abort()
		return nil, o, nil, err
	}
	return a, o, b, nil
}

func cmdFind(args []string, stdout, stderr io.Writer) error {
	f, addr, err := parseQRFlags("find", "find [-P|-S] [--level L] [-k TAG[=VALUE]]... [--format json|text] [--aet AE] [--aec AE] HOST:PORT", args, stderr,
		func(fs *flag.FlagSet, f *qrFlags) {
			fs.StringVar(&f.format, "format", "json", "output: json (one object per line) or text (dcmdump-like)")
		})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a, o, ident, err := dialQR(ctx, f, addr, 0, nil, nil)
	if err != nil {
		return err
	}
	n := 0
	rsp, err := a.Find(ctx, o, ident, func(b []byte) error {
		n++
		return printIdentifier(stdout, f.format, o.TransferSyntaxUID, b, n)
	})
	return finish(ctx, a, stderr, "C-FIND", rsp, err, fmt.Sprintf("%d matches", n))
}

// finish releases the association and reports the final status.
func finish(ctx context.Context, a *dimse.Association, stderr io.Writer, op string, rsp dimse.Response, err error, summary string) error {
	var se *dimse.StatusError
	if err != nil && !errors.As(err, &se) {
		a.Abort()
		return fmt.Errorf("%s failed: %w", op, err)
	}
	a.Release(context.WithoutCancel(ctx))
	fmt.Fprintf(stderr, "%s: status 0x%04X %s, %s\n", op, uint16(rsp.Status), rsp.Status, summary)
	if rsp.ErrorComment != "" {
		fmt.Fprintf(stderr, "%s: error comment: %s\n", op, rsp.ErrorComment)
	}
	switch {
	case rsp.Status.IsCancel():
		return exitError{130}
	case !rsp.Status.IsSuccess():
		return exitError{1}
	}
	return nil
}

// printIdentifier writes one identifier as a JSON object keyed by keyword
// (or gggg,eeee) or as dcmdump-like text.
func printIdentifier(w io.Writer, format, ts string, b []byte, n int) error {
	syn, _ := dcm.LookupTransferSyntax(ts)
	ds, err := dcm.Parse(bytes.NewReader(b), syn, dcm.Options{Size: int64(len(b))})
	if err != nil {
		return fmt.Errorf("response %d: %w", n, err)
	}
	if format == "text" {
		fmt.Fprintf(w, "# response %d\n", n)
		for _, e := range ds.Elements {
			fmt.Fprintf(w, "%v %s [%s] %s\n", e.Tag, e.VR, strings.Join(ds.DecodeStrings(e), `\`), e.Tag.Keyword())
		}
		return nil
	}
	obj := map[string]string{}
	for _, e := range ds.Elements {
		name := e.Tag.Keyword()
		if name == "" {
			name = fmt.Sprintf("%04X,%04X", e.Tag.Group(), e.Tag.Element())
		}
		obj[name] = strings.Join(ds.DecodeStrings(e), `\`)
	}
	line, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

func retrieveSummary(r dimse.RetrieveResponse) string {
	s := fmt.Sprintf("completed %d, failed %d, warning %d", r.Completed, r.Failed, r.Warning)
	if len(r.Identifier) > 0 {
		s += fmt.Sprintf(" (failed SOP instances in a %d-byte identifier)", len(r.Identifier))
	}
	return s
}

func cmdMove(args []string, stdout, stderr io.Writer) error {
	f, addr, err := parseQRFlags("move", "move [-P|-S] --dest AE [--level L] [-k TAG=VALUE]... [--aet AE] [--aec AE] HOST:PORT", args, stderr,
		func(fs *flag.FlagSet, f *qrFlags) {
			fs.StringVar(&f.dest, "dest", "", "move destination AE title (required)")
		})
	if err != nil {
		return err
	}
	if f.dest == "" {
		fmt.Fprintln(stderr, "sonogate move: --dest is required")
		return exitError{2}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a, o, ident, err := dialQR(ctx, f, addr, 1, nil, nil)
	if err != nil {
		return err
	}
	o.MoveDestination = f.dest
	rsp, err := a.Move(ctx, o, ident, func(c dimse.SubOperations) {
		fmt.Fprintf(stdout, "pending: remaining %d, completed %d, failed %d, warning %d\n", c.Remaining, c.Completed, c.Failed, c.Warning)
	})
	return finish(ctx, a, stderr, "C-MOVE", rsp.Response, err, retrieveSummary(rsp))
}

// storageClasses are proposed, with the SCP role, by get.
var storageClasses = []string{
	dimse.UIDUltrasoundImageStorage, dimse.UIDUltrasoundMultiFrameImageStorage, dimse.UIDEnhancedUSVolumeStorage,
	dimse.UIDUltrasoundImageStorageRetired, dimse.UIDUltrasoundMultiFrameImageStorageRetired, dimse.UIDSecondaryCaptureImageStorage,
	dimse.UIDMultiFrameGrayscaleByteSecondaryCaptureImageStorage, dimse.UIDMultiFrameTrueColorSecondaryCaptureImageStorage,
	dimse.UIDComprehensiveSRStorage, dimse.UIDEnhancedSRStorage, dimse.UIDBasicTextSRStorage,
}

func cmdGet(args []string, stdout, stderr io.Writer) error {
	f, addr, err := parseQRFlags("get", "get [-P|-S] [--level L] [-k TAG=VALUE]... [--out DIR] [--aet AE] [--aec AE] HOST:PORT", args, stderr,
		func(fs *flag.FlagSet, f *qrFlags) {
			fs.StringVar(&f.outDir, "out", ".", "directory for the received files")
		})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.outDir, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// One context per storage class and transfer syntax, so that whatever
	// syntax an instance is stored in, a context fits (B09).
	var pcs []dimse.PresentationContextRequest
	for _, uid := range storageClasses {
		for _, ts := range dimse.DefaultTransferSyntaxes() {
			if len(pcs) < 120 && (ts == dcm.ExplicitVRLittleEndian.UID || ts == dcm.ImplicitVRLittleEndian.UID || ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.5" || ts == "1.2.840.10008.1.2.4.70") {
				pcs = append(pcs, dimse.PresentationContextRequest{AbstractSyntax: uid, TransferSyntaxes: []string{ts}})
			}
		}
	}
	a, o, ident, err := dialQR(ctx, f, addr, 2, pcs, storageClasses)
	if err != nil {
		return err
	}
	received := 0
	store := dimse.StoreHandlerFunc(func(_ context.Context, req *dimse.StoreRequest) dimse.StoreResponse {
		path := filepath.Join(f.outDir, safeName(req.AffectedSOPInstanceUID)+".dcm")
		if err := writeDICOM(path, req); err != nil {
			fmt.Fprintf(stderr, "sonogate get: %s: %v\n", path, err)
			return dimse.StoreResponse{Status: dimse.StatusOutOfResources, ErrorComment: "cannot write file"}
		}
		received++
		fmt.Fprintln(stdout, path)
		return dimse.StoreResponse{Status: dimse.StatusSuccess}
	})
	rsp, err := a.Get(ctx, o, ident, store, nil)
	return finish(ctx, a, stderr, "C-GET", rsp.Response, err, retrieveSummary(rsp)+fmt.Sprintf(", %d files written", received))
}

func safeName(uid string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, uid)
}

// writeDICOM writes a received data set as a Part 10 file.
func writeDICOM(path string, req *dimse.StoreRequest) error {
	tmp := path + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	meta := dcm.EncodeFileMeta(dcm.FileMeta{MediaStorageSOPClassUID: req.AffectedSOPClassUID, MediaStorageSOPInstanceUID: req.AffectedSOPInstanceUID,
		TransferSyntaxUID: req.TransferSyntaxUID, ImplementationClassUID: dimse.ImplementationClassUID, ImplementationVersionName: dimse.ImplementationVersionName})
	_, err = out.Write(meta)
	if err == nil {
		_, err = io.Copy(out, req.Data)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
