package routing

import (
	"math/rand/v2"
	"time"
)

// Backoff computes retry delays: exponential growth from Base, capped at
// Max, with full jitter (the delay is uniform in [0, cap)), so that many
// jobs failing together do not retry in lock step.
type Backoff struct {
	Base time.Duration
	Max  time.Duration
	// Rand returns a float in [0, 1); nil uses math/rand/v2.
	Rand func() float64
}

// Delay returns the delay before retry number attempt (1 for the first
// retry). Values of attempt below 1 are treated as 1.
func (b Backoff) Delay(attempt int) time.Duration {
	return time.Duration(b.rand() * float64(b.Ceiling(attempt)))
}

// Ceiling is the upper bound of Delay for attempt: min(Max, Base·2^(attempt-1)).
func (b Backoff) Ceiling(attempt int) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if maxd < base {
		maxd = base
	}
	attempt = max(attempt, 1)
	d := base
	for i := 1; i < attempt; i++ {
		if d >= maxd/2 {
			return maxd
		}
		d *= 2
	}
	return min(d, maxd)
}

func (b Backoff) rand() float64 {
	if b.Rand != nil {
		f := b.Rand()
		if f < 0 || f >= 1 || f != f {
			return 0
		}
		return f
	}
	return rand.Float64()
}
