package anonymize

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/sonogate/sonogate/config"
)

// Profile is a configured de-identification profile: the Basic Profile
// plus the enabled options, the secret key, the pseudonym sources and the
// pixel masks. It is safe for concurrent use once built.
type Profile struct {
	name        string
	key         []byte
	opts        [numOptions]bool
	safePrivate []safePrivateRule
	table       map[string]Pseudonym
	shiftMax    int
	masks       []config.PixelMask
	store       PseudonymStore
	log         *slog.Logger
}

type safePrivateRule struct {
	group    uint16 // 0 = any
	creator  string
	elements map[uint8]bool // nil = whole block
}

// Pseudonym is the replacement identity of one patient.
type Pseudonym struct {
	ID   string
	Name string
}

// PseudonymStore persists pseudonym pairs for authorised re-identification
// (the catalog implements it). Lookup returns found=false when the real
// patient has no pseudonym yet; Save records the one the profile chose.
type PseudonymStore interface {
	Lookup(ctx context.Context, profile, realID, realName string) (p Pseudonym, found bool, err error)
	Save(ctx context.Context, profile, realID, realName string, p Pseudonym) error
}

// QuarantineError reports an instance that must not leave the gateway
// because it may still identify the patient (for example burned-in text
// in pixel data that cannot be decoded).
type QuarantineError struct {
	Reason string
}

func (e *QuarantineError) Error() string { return "quarantined: " + e.Reason }

// MinKeyLength is the shortest secret key accepted (bytes, after trimming
// surrounding white space).
const MinKeyLength = 16

// NewProfile builds a profile from its configuration, reading the secret
// key from p.KeyFile and the pseudonym table from p.PseudonymTable.
func NewProfile(name string, p config.Profile) (*Profile, error) {
	if p.KeyFile == "" {
		return nil, fmt.Errorf("profile %s: key_file is required", name)
	}
	key, err := os.ReadFile(p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("profile %s: key_file: %w", name, err)
	}
	return NewProfileWithKey(name, p, key)
}

// NewProfileWithKey is NewProfile with the key given directly.
func NewProfileWithKey(name string, p config.Profile, key []byte) (*Profile, error) {
	key = bytes.TrimSpace(key)
	if len(key) < MinKeyLength {
		return nil, fmt.Errorf("profile %s: secret key must have at least %d bytes", name, MinKeyLength)
	}
	pr := &Profile{name: name, key: append([]byte(nil), key...), shiftMax: p.DateShiftMaxDays, masks: p.PixelMasks}
	if pr.shiftMax <= 0 {
		pr.shiftMax = 3650
	}
	for _, s := range p.Options {
		o, err := ParseOption(s)
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", name, err)
		}
		pr.opts[o] = true
	}
	if pr.opts[RetainLongFullDates] && pr.opts[RetainLongModifiedDates] {
		return nil, fmt.Errorf("profile %s: retain_long_full_dates and retain_long_modified_dates exclude each other", name)
	}
	for i, sp := range p.SafePrivate {
		r := safePrivateRule{creator: strings.TrimSpace(sp.Creator)}
		if sp.Group != "" {
			g, err := strconv.ParseUint(sp.Group, 16, 16)
			if err != nil || g%2 == 0 {
				return nil, fmt.Errorf("profile %s: safe_private[%d].group %q is not an odd group", name, i, sp.Group)
			}
			r.group = uint16(g)
		}
		for _, e := range sp.Elements {
			n, err := strconv.ParseUint(e, 16, 8)
			if err != nil {
				return nil, fmt.Errorf("profile %s: safe_private[%d]: element offset %q", name, i, e)
			}
			if r.elements == nil {
				r.elements = map[uint8]bool{}
			}
			r.elements[uint8(n)] = true
		}
		pr.safePrivate = append(pr.safePrivate, r)
	}
	if p.PseudonymTable != "" {
		f, err := os.Open(p.PseudonymTable)
		if err != nil {
			return nil, fmt.Errorf("profile %s: pseudonym_table: %w", name, err)
		}
		defer f.Close()
		if pr.table, err = ReadPseudonymTable(f); err != nil {
			return nil, fmt.Errorf("profile %s: pseudonym_table: %w", name, err)
		}
	}
	pr.log = slog.New(slog.DiscardHandler)
	return pr, nil
}

// ReadPseudonymTable reads a CSV of real_patient_id,pseudo_id,pseudo_name
// rows (a header row starting with "real" is skipped).
func ReadPseudonymTable(r io.Reader) (map[string]Pseudonym, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	out := map[string]Pseudonym{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if line == 1 && len(rec) > 0 && strings.HasPrefix(strings.ToLower(rec[0]), "real") {
			continue
		}
		if len(rec) < 2 || strings.TrimSpace(rec[0]) == "" || strings.TrimSpace(rec[1]) == "" {
			return nil, fmt.Errorf("line %d: want real_patient_id,pseudo_id[,pseudo_name]", line)
		}
		p := Pseudonym{ID: strings.TrimSpace(rec[1])}
		if len(rec) > 2 {
			p.Name = strings.TrimSpace(rec[2])
		}
		if p.Name == "" {
			p.Name = p.ID
		}
		out[strings.TrimSpace(rec[0])] = p
	}
}

// SetPseudonymStore makes the profile look pseudonyms up in s before the
// table and the keyed hash, and save the ones it derives. Call it before
// use.
func (p *Profile) SetPseudonymStore(s PseudonymStore) { p.store = s }

// SetLogger sets the structured logger (nil discards). Logs carry no
// patient identifiers.
func (p *Profile) SetLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	p.log = l.With("component", "anonymize", "profile", p.name)
}

// Name returns the profile name.
func (p *Profile) Name() string { return p.name }

// Has reports whether option o is enabled.
func (p *Profile) Has(o Option) bool { return o >= 0 && o < numOptions && p.opts[o] }

func (p *Profile) mac(domain string, value string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// wellKnownUIDRoot is the root of UIDs defined by the standard (SOP
// classes, transfer syntaxes, coding schemes, well-known instances); they
// are never mapped.
const wellKnownUIDRoot = "1.2.840.10008."

// MapUID is the one place UIDs are mapped: 2.25.<decimal of the first 128
// bits of HMAC-SHA256(key, uid)> (PS3.5 B.2), so the same UID maps the
// same way in every instance, reference and send. Well-known UIDs, empty
// values and (with retain_uids) everything are returned unchanged.
func (p *Profile) MapUID(uid string) string {
	uid = strings.TrimRight(uid, "\x00 ")
	uid = strings.TrimLeft(uid, " ")
	if uid == "" || p.opts[RetainUIDs] || strings.HasPrefix(uid, wellKnownUIDRoot) {
		return uid
	}
	sum := p.mac("uid", uid)
	return "2.25." + new(big.Int).SetBytes(sum[:16]).String()
}

// DateShiftDays returns the per-patient date offset in days (negative:
// dates move back) used by retain_long_modified_dates. It depends only on
// the key and the real patient ID, so every study of the patient shifts
// alike and intervals are kept.
func (p *Profile) DateShiftDays(realPatientID string) int {
	sum := p.mac("dateshift", strings.TrimSpace(realPatientID))
	return -(1 + int(binary.BigEndian.Uint64(sum[:8])%uint64(p.shiftMax)))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// hashPseudonym derives a pseudonym from the key and the real patient ID.
func (p *Profile) hashPseudonym(realID string) Pseudonym {
	code := b32.EncodeToString(p.mac("patient", strings.TrimSpace(realID))[:10])
	return Pseudonym{ID: "ANON-" + code, Name: "ANON^" + code}
}

// Pseudonym returns the pseudonym of a real patient: from the store, else
// the table, else the keyed hash (then saved to the store).
func (p *Profile) Pseudonym(ctx context.Context, realID, realName string) (Pseudonym, error) {
	if p.store != nil {
		ps, found, err := p.store.Lookup(ctx, p.name, realID, realName)
		if err != nil {
			return Pseudonym{}, fmt.Errorf("pseudonym lookup: %w", err)
		}
		if found {
			return ps, nil
		}
	}
	ps, ok := p.table[strings.TrimSpace(realID)]
	if !ok {
		ps = p.hashPseudonym(realID)
	}
	if p.store != nil {
		if err := p.store.Save(ctx, p.name, realID, realName, ps); err != nil {
			return Pseudonym{}, fmt.Errorf("pseudonym save: %w", err)
		}
	}
	return ps, nil
}
