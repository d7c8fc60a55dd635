package routing

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: time.Second, Max: 10 * time.Second, Rand: func() float64 { return 0.5 }}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := b.Ceiling(1000); got != 10*time.Second {
		t.Errorf("Ceiling(1000) = %v (overflow?)", got)
	}
	if got := b.Ceiling(0); got != time.Second {
		t.Errorf("Ceiling(0) = %v", got)
	}
	top := Backoff{Base: time.Second, Max: time.Minute, Rand: func() float64 { return 0.999999 }}
	if got := top.Delay(100); got >= time.Minute || got < 59*time.Second {
		t.Errorf("Delay near max = %v", got)
	}
	zero := Backoff{Base: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}
	if got := zero.Delay(3); got != 0 {
		t.Errorf("full jitter lower bound = %v", got)
	}
	bad := Backoff{Base: time.Second, Max: time.Minute, Rand: func() float64 { return 1.5 }}
	if got := bad.Delay(3); got != 0 {
		t.Errorf("out-of-range rand not clamped: %v", got)
	}
	for range 1000 {
		if d := (Backoff{Base: time.Millisecond, Max: time.Second}).Delay(5); d < 0 || d >= 16*time.Millisecond {
			t.Fatalf("default rand delay out of range: %v", d)
		}
	}
}
