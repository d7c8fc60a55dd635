package dimse

import "fmt"

// Status is a DIMSE status code (0000,0900), PS3.7 Annex C. The constants are
// generated from shared/standard/dimse_status.tsv into status_gen.go.
type Status uint16

type statusCategory uint8

const (
	categoryFailure statusCategory = iota
	categorySuccess
	categoryWarning
	categoryCancel
	categoryPending
)

func (s Status) category() statusCategory {
	if info, ok := statusTable[s]; ok {
		return info.category
	}
	for _, r := range statusRanges {
		if s >= r.lo && s <= r.hi {
			return r.category
		}
	}
	// PS3.7 Annex C: any other code is a failure.
	return categoryFailure
}

// IsSuccess reports whether s is 0x0000.
func (s Status) IsSuccess() bool { return s.category() == categorySuccess }

// IsWarning reports whether s is a warning (0x0001, 0xBxxx, 0x0107, 0x0116).
func (s Status) IsWarning() bool { return s.category() == categoryWarning }

// IsFailure reports whether s is a failure (0xAxxx, 0xCxxx, 0x01xx, 0x02xx, ...).
func (s Status) IsFailure() bool { return s.category() == categoryFailure }

// IsPending reports whether s is 0xFF00 or 0xFF01.
func (s Status) IsPending() bool { return s.category() == categoryPending }

// IsCancel reports whether s is 0xFE00.
func (s Status) IsCancel() bool { return s.category() == categoryCancel }

// String returns the code in hex with its meaning from PS3.7/PS3.4.
func (s Status) String() string {
	if info, ok := statusTable[s]; ok {
		return fmt.Sprintf("0x%04X %s", uint16(s), info.meaning)
	}
	names := [...]string{"Failure", "Success", "Warning", "Cancel", "Pending"}
	return fmt.Sprintf("0x%04X %s", uint16(s), names[s.category()])
}

// StatusError is a non-success DIMSE status as an error. Comment is the
// Error Comment (0000,0902), at most 64 characters on the wire.
type StatusError struct {
	Status  Status
	Comment string
}

func (e *StatusError) Error() string {
	if e.Comment != "" {
		return fmt.Sprintf("dimse: status %v: %s", e.Status, e.Comment)
	}
	return fmt.Sprintf("dimse: status %v", e.Status)
}
