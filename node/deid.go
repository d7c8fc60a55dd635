package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/sonogate/sonogate/anonymize"
	"github.com/sonogate/sonogate/catalog"
	"github.com/sonogate/sonogate/dcm"
	"github.com/sonogate/sonogate/ingest"
	"github.com/sonogate/sonogate/routing"
	"github.com/sonogate/sonogate/store"
)

// quarantinePrefix starts the dead-letter reason of a job whose instance
// could not be de-identified safely (GET /api/quarantine lists them).
const quarantinePrefix = "quarantined: "

// deidDestination de-identifies each instance with a profile before an
// inner destination sends it (DESIGN.md §1 step 4): the de-identified copy
// is committed to the research namespace through the ordinary ingest path
// (so it is indexed, its reports extracted, and served by the research
// APIs), then the inner destination sends that copy. The mapping is
// deterministic, so a retried job re-creates the same copy and ingest
// treats it as an identical resend.
type deidDestination struct {
	inner    routing.Destination
	profile  *anonymize.Profile
	ingester *ingest.Ingester
	catalog  *catalog.Catalog
	store    *store.Store
	tmpDir   string
	log      *slog.Logger
}

func (d *deidDestination) Name() string { return d.inner.Name() }

func (d *deidDestination) Send(ctx context.Context, inst *catalog.Instance, path string) error {
	if inst.Namespace != string(store.NamespaceClinical) {
		return routing.MarkPermanent(fmt.Errorf("refusing to de-identify a %s instance again", inst.Namespace))
	}
	copyInst, _, err := deidentifyToResearch(ctx, d.profile, d.ingester, d.catalog, d.tmpDir, path)
	var qe *anonymize.QuarantineError
	switch {
	case errors.As(err, &qe):
		d.log.Warn("instance quarantined: not sent", "component", "deid", "destination", d.inner.Name(),
			"sop_instance_uid", inst.SOPInstanceUID, "reason", qe.Reason)
		return routing.MarkPermanent(errors.New(quarantinePrefix + qe.Reason))
	case err != nil:
		return err
	}
	return d.inner.Send(ctx, copyInst, d.store.Path(copyInst.RelPath))
}

// deidentifyToResearch de-identifies the clinical file at path with
// profile p and ingests the copy into the research namespace (indexed,
// reports extracted from it, served by the research APIs), returning its
// catalog row. It is shared by de-identifying destinations and research
// pulls. The mapping is deterministic, so doing it again re-creates the
// same copy and ingest treats it as an identical resend. Errors: a
// *anonymize.QuarantineError when the instance must not leave the clinical
// namespace; permanent failures are marked with routing.MarkPermanent.
func deidentifyToResearch(ctx context.Context, p *anonymize.Profile, ing *ingest.Ingester, cat *catalog.Catalog, tmpDir, path string) (*catalog.Instance, *anonymize.Result, error) {
	tmp := filepath.Join(tmpDir, "deid-"+uuid.NewString()+".dcm")
	defer os.Remove(tmp)
	res, err := p.AnonymizeFile(ctx, path, tmp)
	var qe *anonymize.QuarantineError
	switch {
	case errors.As(err, &qe):
		return nil, nil, qe
	case err != nil && ctx.Err() != nil:
		return nil, nil, err
	case err != nil:
		return nil, nil, routing.MarkPermanent(fmt.Errorf("de-identification failed: %w", err))
	}
	inst, err := commitResearchCopy(ctx, ing, cat, tmp, res)
	return inst, res, err
}

// commitResearchCopy ingests the de-identified file into the research
// namespace and returns its catalog row.
func commitResearchCopy(ctx context.Context, ing *ingest.Ingester, cat *catalog.Catalog, file string, res *anonymize.Result) (*catalog.Instance, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	meta, err := dcm.ReadFile(br)
	if err != nil {
		return nil, routing.MarkPermanent(fmt.Errorf("de-identified output unreadable: %w", err))
	}
	r, err := ing.Ingest(ctx, ingest.Request{
		Namespace:         store.NamespaceResearch,
		SOPClassUID:       res.SOPClassUID,
		SOPInstanceUID:    res.SOPInstanceUID,
		TransferSyntaxUID: meta.Syntax.UID,
		Data:              br,
	})
	if err != nil {
		var ie *ingest.Error
		if errors.As(err, &ie) && !errors.Is(err, ingest.ErrResources) {
			return nil, routing.MarkPermanent(fmt.Errorf("research copy refused: %w", err))
		}
		return nil, fmt.Errorf("research copy: %w", err)
	}
	return cat.InstanceByID(ctx, r.InstanceID)
}

// pseudonymStore keeps the profiles' pseudonyms in the catalog.
type pseudonymStore struct{ c *catalog.Catalog }

func (p pseudonymStore) Lookup(ctx context.Context, profile, realID, realName string) (anonymize.Pseudonym, bool, error) {
	e, found, err := p.c.LookupPseudonym(ctx, profile, realID, realName)
	return anonymize.Pseudonym{ID: e.PseudoID, Name: e.PseudoName}, found, err
}

func (p pseudonymStore) Save(ctx context.Context, profile, realID, realName string, ps anonymize.Pseudonym) error {
	return p.c.SavePseudonym(ctx, catalog.PseudonymEntry{Profile: profile, RealID: realID, RealName: realName, PseudoID: ps.ID, PseudoName: ps.Name})
}
