package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/sonogate/sonogate/dimse"
)

type fakeReject struct{ transient bool }

func (f *fakeReject) Error() string   { return "association rejected" }
func (f *fakeReject) Transient() bool { return f.transient }

func TestClassify(t *testing.T) {
	t.Parallel()
	st := func(s uint16) error { return fmt.Errorf("send: %w", &dimse.StatusError{Status: dimse.Status(s)}) }
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"A700 out of resources", st(0xA700), Retry},
		{"A7FF", st(0xA7FF), Retry},
		{"A900 does not match", st(0xA900), Permanent},
		{"C000 cannot understand", st(0xC000), Permanent},
		{"C211", st(0xC211), Permanent},
		{"0122 SOP class not supported", st(0x0122), Permanent},
		{"0110 processing failure", st(0x0110), Retry},
		{"transient reject", fmt.Errorf("dial: %w", &fakeReject{true}), Retry},
		{"permanent reject", &fakeReject{false}, Permanent},
		{"conn refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, Retry},
		{"reset", fmt.Errorf("x: %w", syscall.ECONNRESET), Retry},
		{"deadline", context.DeadlineExceeded, Retry},
		{"eof", io.ErrUnexpectedEOF, Retry},
		{"http 503", &HTTPStatusError{StatusCode: 503}, Retry},
		{"http 429", &HTTPStatusError{StatusCode: 429}, Retry},
		{"http 409", &HTTPStatusError{StatusCode: 409}, Permanent},
		{"http 400", &HTTPStatusError{StatusCode: 400}, Permanent},
		{"missing file", fmt.Errorf("open: %w", fs.ErrNotExist), Permanent},
		{"marked", MarkPermanent(errors.New("no context")), Permanent},
		{"unknown", errors.New("something"), Retry},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("%s: Classify = %v, want %v", c.name, got, c.want)
		}
	}
}
