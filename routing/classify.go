package routing

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/sonogate/sonogate/dimse"
)

// Class says what to do with a failed delivery.
type Class int

// Classes of delivery errors.
const (
	// Retry: the failure may go away (network, timeouts, resources); back
	// off and try again until the attempts are exhausted.
	Retry Class = iota
	// Permanent: the destination refused the instance itself; retrying
	// cannot help, so the job goes to the dead letter state at once.
	Permanent
)

func (c Class) String() string {
	if c == Permanent {
		return "permanent"
	}
	return "retry"
}

// PermanentError marks an error as not worth retrying.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// MarkPermanent wraps err so that Classify returns Permanent.
func MarkPermanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// HTTPStatusError is returned by HTTP destinations (STOW-RS) for a non-2xx
// answer.
type HTTPStatusError struct {
	StatusCode int
	Body       string // start of the response body, for the operator
}

func (e *HTTPStatusError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("http status %d: %s", e.StatusCode, e.Body)
	}
	return fmt.Sprintf("http status %d", e.StatusCode)
}

// transient is implemented by association rejections
// (*dimse.AssociateRejectError, PS3.8 §7.1.1.9: result 2 is
// "rejected-transient").
type transient interface{ Transient() bool }

// Classify decides whether a delivery error is retried.
//
//   - MarkPermanent errors, a missing local file: Permanent.
//   - dimse.StatusError: 0xA7xx (Refused: Out of Resources) and other
//     failures Retry; 0xA9xx (Error: Data Set does not match SOP Class),
//     0xCxxx (Error: Cannot understand), 0x0122 (SOP Class not supported),
//     0x0117 (Invalid object instance) and 0x0124 (Not authorized) Permanent.
//   - association rejection: Retry if transient, else Permanent.
//   - HTTPStatusError: 5xx, 408 and 429 Retry; other codes Permanent.
//   - network errors, timeouts, EOF, cancellation and anything unknown: Retry
//     (bounded by the maximum number of attempts).
func Classify(err error) Class {
	if err == nil {
		return Retry
	}
	var pe *PermanentError
	if errors.As(err, &pe) {
		return Permanent
	}
	var se *dimse.StatusError
	if errors.As(err, &se) {
		return classifyStatus(se.Status)
	}
	var tr transient
	if errors.As(err, &tr) {
		if tr.Transient() {
			return Retry
		}
		return Permanent
	}
	var he *HTTPStatusError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode >= 500, he.StatusCode == 408, he.StatusCode == 429:
			return Retry
		case he.StatusCode >= 400:
			return Permanent
		}
		return Retry
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Permanent
	}
	// Network errors (net.Error, ECONNREFUSED, ECONNRESET, EPIPE), timeouts,
	// EOF, cancellation and anything unknown.
	return Retry
}

func classifyStatus(s dimse.Status) Class {
	switch {
	case s&0xFF00 == 0xA700:
		return Retry
	case s&0xFF00 == 0xA900, s&0xF000 == 0xC000:
		return Permanent
	case s == 0x0122, s == 0x0117, s == 0x0124:
		return Permanent
	}
	return Retry
}
