package dicomweb

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"time"

	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/config"
	"github.com/sonogate/sonogate/routing"
)

// STOWDestination is a routing.Destination that stores instances on a
// DICOMweb server with STOW-RS (PS3.18 §10.5): one request per instance,
// the stored Part 10 file as its single application/dicom part, unchanged.
// A non-2xx answer is a *routing.HTTPStatusError (5xx, 408 and 429 are
// retried by the queue, other codes dead-lettered); a 202 whose Failed SOP
// Sequence names the instance is reported as 409 (permanent).
type STOWDestination struct {
	name   string
	url    string
	token  config.Secret
	client *http.Client
	log    *slog.Logger
}

// NewSTOWDestination returns a STOW-RS destination posting to url (the
// studies endpoint, e.g. http://pacs/dicom-web/studies). client nil means
// an http.Client with a 5 minute timeout.
func NewSTOWDestination(name string, d config.STOWDest, client *http.Client, logger *slog.Logger) *STOWDestination {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &STOWDestination{name: name, url: d.URL, token: d.Token, client: client, log: logger.With("component", "stow-client", "destination", name)}
}

// Name implements routing.Destination.
func (d *STOWDestination) Name() string { return d.name }

// Send implements routing.Destination.
func (d *STOWDestination) Send(ctx context.Context, inst *catalog.Instance, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return routing.MarkPermanent(fmt.Errorf("stored file: %w", err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		h := textproto.MIMEHeader{}
		// Plain application/dicom: the Part 10 file carries its transfer
		// syntax in its meta information, and servers such as Orthanc's
		// DICOMweb plugin (1.7) answer 415 to a transfer-syntax parameter.
		h.Set("Content-Type", "application/dicom")
		h.Set("Content-Length", fmt.Sprint(st.Size()))
		part, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, pr)
	if err != nil {
		pr.Close()
		return routing.MarkPermanent(err)
	}
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	req.Header.Set("Accept", "application/dicom+json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token.Reveal())
	}
	resp, err := d.client.Do(req)
	if err != nil {
		pr.Close()
		return fmt.Errorf("STOW-RS to %s: %w", d.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusAccepted:
		// One instance per request: a warning-only 202 lists no failure.
		if len(body) > 0 && containsTag(body, "00081198") {
			return &routing.HTTPStatusError{StatusCode: http.StatusConflict, Body: string(body)}
		}
		return nil
	}
	return &routing.HTTPStatusError{StatusCode: resp.StatusCode, Body: string(body)}
}

func containsTag(body []byte, tag string) bool {
	return bytes.Contains(body, []byte(`"`+tag+`"`))
}
