package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"time"

	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/dimse"
)

const verificationSOPClass = "1.2.840.10008.1.1"

type scuFlags struct {
	aet, aec string
	timeout  time.Duration
	maxPDU   uint
}

func addSCUFlags(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	UintVar(*uint, string, uint, string)
}, f *scuFlags) {
	fs.StringVar(&f.aet, "aet", "SONOGATE", "calling AE title (ours)")
	fs.StringVar(&f.aec, "aec", "ANY-SCP", "called AE title (the peer's)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "connect and response timeout")
	fs.UintVar(&f.maxPDU, "max-pdu", 1<<20, "maximum PDU length we receive")
}

func (f scuFlags) client() dimse.ClientConfig {
	return dimse.ClientConfig{CallingAE: f.aet, CalledAE: f.aec, MaxPDULength: uint32(f.maxPDU), DialTimeout: f.timeout, ResponseTimeout: f.timeout}
}

func cmdEcho(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("echo", "echo [--aet AE] [--aec AE] HOST:PORT", stderr)
	var f scuFlags
	addSCUFlags(fs, &f)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitError{2}
	}
	if len(pos) != 1 {
		return usageError(fs, "need exactly one HOST:PORT")
	}
	addr, err := hostPort(pos[0])
	if err != nil {
		return usageError(fs, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	a, err := dimse.Dial(ctx, addr, f.client(), []dimse.PresentationContextRequest{{AbstractSyntax: verificationSOPClass, TransferSyntaxes: []string{dcm.ExplicitVRLittleEndian.UID, dcm.ImplicitVRLittleEndian.UID}}})
	if err != nil {
		return fmt.Errorf("association with %s (%s) failed: %w", addr, f.aec, err)
	}
	st, err := a.Echo(ctx)
	if err != nil {
		a.Abort()
		return fmt.Errorf("C-ECHO failed: %w", err)
	}
	a.Release(ctx)
	if !st.IsSuccess() {
		fmt.Fprintf(stdout, "C-ECHO to %s (%s): status 0x%04X %s\n", addr, f.aec, uint16(st), st)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "C-ECHO to %s (%s): Success in %s\n", addr, f.aec, time.Since(start).Round(time.Millisecond))
	return nil
}

// sendFile is one file to send.
type sendFile struct {
	path                 string
	sopClass, sopInst    string
	ts                   dcm.TransferSyntax
	dataOffset, dataSize int64
	err                  error
}

func cmdStore(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("store", "store [--aet AE] [--aec AE] HOST:PORT FILE|DIR...", stderr)
	var f scuFlags
	addSCUFlags(fs, &f)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitError{2}
	}
	if len(pos) < 2 {
		return usageError(fs, "need HOST:PORT and at least one FILE or DIR")
	}
	addr, err := hostPort(pos[0])
	if err != nil {
		return usageError(fs, "%v", err)
	}
	files, err := collectFiles(pos[1:])
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "sonogate store: no files found")
		return exitError{1}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var ok, failed int
	var bytes int64
	start := time.Now()
	report := func(sf *sendFile, status string, err error) {
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %v\n", sf.path, err)
			return
		}
		ok++
		bytes += sf.dataSize
		fmt.Fprintf(stdout, "OK   %s (%s)\n", sf.path, status)
	}
	var sendable []*sendFile
	for _, sf := range files {
		if sf.err != nil {
			report(sf, "", sf.err)
			continue
		}
		sendable = append(sendable, sf)
	}
	for _, batch := range contextBatches(sendable) {
		if ctx.Err() != nil {
			break
		}
		if err := storeBatch(ctx, addr, f, batch, report); err != nil {
			for _, sf := range batch.files {
				if !sf.done {
					report(sf.sendFile, "", err)
				}
			}
		}
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "%d sent, %d failed, %.1f MB in %s (%.1f files/s)\n", ok, failed, float64(bytes)/1e6, el.Round(time.Millisecond), float64(ok)/el.Seconds())
	if failed > 0 || ctx.Err() != nil {
		return exitError{1}
	}
	return nil
}

// collectFiles walks the arguments (directories recursively, sorted) and
// reads each file's meta information or, for a bare data set, its header.
func collectFiles(args []string) ([]*sendFile, error) {
	var paths []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			paths = append(paths, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(paths)
	out := make([]*sendFile, 0, len(paths))
	for _, p := range paths {
		out = append(out, inspect(p))
	}
	return out, nil
}

func inspect(path string) *sendFile {
	sf := &sendFile{path: path}
	fh, err := os.Open(path)
	if err != nil {
		sf.err = err
		return sf
	}
	defer fh.Close()
	st, _ := fh.Stat()
	br := bufio.NewReader(fh)
	file, err := dcm.ReadFile(br)
	if err != nil {
		sf.err = fmt.Errorf("not a readable DICOM file: %w", err)
		return sf
	}
	sf.ts, sf.dataOffset = file.Syntax, file.DataOffset
	sf.dataSize = st.Size() - file.DataOffset
	sf.sopClass, sf.sopInst = file.Meta.MediaStorageSOPClassUID, file.Meta.MediaStorageSOPInstanceUID
	if sf.sopClass == "" || sf.sopInst == "" {
		ds, err := dcm.ParseHeader(br, file.Syntax, dcm.Options{Size: sf.dataSize})
		if err != nil {
			sf.err = fmt.Errorf("no meta information and header unreadable: %w", err)
			return sf
		}
		if sf.sopClass == "" {
			sf.sopClass = ds.String(dcm.TagSOPClassUID)
		}
		if sf.sopInst == "" {
			sf.sopInst = ds.String(dcm.TagSOPInstanceUID)
		}
	}
	if sf.sopClass == "" || sf.sopInst == "" {
		sf.err = errors.New("no SOP Class UID or SOP Instance UID in meta information or data set")
	}
	return sf
}

type batchFile struct {
	*sendFile
	done bool
}

type batch struct {
	pcs   []dimse.PresentationContextRequest
	files []*batchFile
}

// contextBatches groups files so that each association proposes at most
// 128 presentation contexts (odd IDs 1-255, PS3.8 §9.3.2.2), one per
// (SOP class, transfer syntax) pair: files go out as stored, never
// re-encoded, so only the file's own transfer syntax is proposed.
func contextBatches(files []*sendFile) []*batch {
	const maxPCs = 128
	var out []*batch
	cur := &batch{}
	seen := map[[2]string]bool{}
	for _, sf := range files {
		key := [2]string{sf.sopClass, sf.ts.UID}
		if !seen[key] {
			if len(cur.pcs) == maxPCs {
				out = append(out, cur)
				cur, seen = &batch{}, map[[2]string]bool{}
			}
			seen[key] = true
			cur.pcs = append(cur.pcs, dimse.PresentationContextRequest{AbstractSyntax: sf.sopClass, TransferSyntaxes: []string{sf.ts.UID}})
		}
		cur.files = append(cur.files, &batchFile{sendFile: sf})
	}
	if len(cur.files) > 0 {
		out = append(out, cur)
	}
	return out
}

func storeBatch(ctx context.Context, addr string, f scuFlags, b *batch, report func(*sendFile, string, error)) error {
	a, err := dimse.Dial(ctx, addr, f.client(), b.pcs)
	if err != nil {
		return fmt.Errorf("association with %s (%s) failed: %w", addr, f.aec, err)
	}
	defer a.Release(context.WithoutCancel(ctx))
	for _, bf := range b.files {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := sendOne(ctx, a, bf.sendFile)
		bf.done = true
		switch {
		case errors.Is(err, dimse.ErrNoPresentationContext):
			report(bf.sendFile, "", fmt.Errorf("the peer accepted no presentation context for SOP class %s in %s", bf.sopClass, tsName(bf.ts)))
		case err != nil:
			bf.done = false
			report(bf.sendFile, "", err)
			bf.done = true
			// The association may be gone: let the rest of the batch fail fast with the cause.
			if errors.Is(err, dimse.ErrAssociationClosed) {
				return err
			}
		case resp.Status.IsSuccess():
			report(bf.sendFile, "Success", nil)
		case resp.Status.IsWarning():
			report(bf.sendFile, fmt.Sprintf("Warning 0x%04X %s", uint16(resp.Status), resp.ErrorComment), nil)
		default:
			msg := fmt.Sprintf("status 0x%04X %s", uint16(resp.Status), resp.Status)
			if resp.ErrorComment != "" {
				msg += ": " + resp.ErrorComment
			}
			report(bf.sendFile, "", errors.New(msg))
		}
	}
	return nil
}

func tsName(ts dcm.TransferSyntax) string {
	if ts.Keyword != "" {
		return ts.Keyword
	}
	return ts.UID
}

func sendOne(ctx context.Context, a *dimse.Association, sf *sendFile) (dimse.StoreResponse, error) {
	fh, err := os.Open(sf.path)
	if err != nil {
		return dimse.StoreResponse{}, err
	}
	defer fh.Close()
	if _, err := fh.Seek(sf.dataOffset, io.SeekStart); err != nil {
		return dimse.StoreResponse{}, err
	}
	return a.Store(ctx, sf.sopClass, sf.sopInst, sf.ts.UID, bufio.NewReaderSize(fh, 256<<10))
}
