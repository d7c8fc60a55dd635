package elastography

import (
	"math"
	"slices"
)

// quantile returns the p-quantile of sorted xs by one of Hyndman & Fan's
// sample quantile definitions (Am Stat 1996;50:361): "type7" (linear
// interpolation between order statistics, R's default and Excel's
// QUARTILE.INC), "type6" (the "exclusive" method of Minitab and Excel's
// QUARTILE.EXC) or "type2" (inverse of the empirical CDF, averaging at
// discontinuities). The median is the same for all three.
func quantile(xs []float64, p float64, method string) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	if n == 1 {
		return xs[0]
	}
	at := func(k int) float64 { // 1-based, clamped
		return xs[min(max(k, 1), n)-1]
	}
	switch method {
	case "type2":
		np := float64(n) * p
		j := math.Floor(np)
		if np == j {
			return (at(int(j)) + at(int(j)+1)) / 2
		}
		return at(int(j) + 1)
	case "type6":
		h := float64(n+1) * p
		j := math.Floor(h)
		return at(int(j)) + (h-j)*(at(int(j)+1)-at(int(j)))
	default: // type7
		h := float64(n-1)*p + 1
		j := math.Floor(h)
		return at(int(j)) + (h-j)*(at(int(j)+1)-at(int(j)))
	}
}

// stats are the recomputed summary statistics of one unit.
type stats struct {
	median, q1, q3, iqr, ratioPct, mean, sd float64
}

func summarize(vals []float64, method string) (stats, bool) {
	if len(vals) == 0 {
		return stats{}, false
	}
	xs := slices.Clone(vals)
	slices.Sort(xs)
	s := stats{median: quantile(xs, 0.5, method), q1: quantile(xs, 0.25, method), q3: quantile(xs, 0.75, method)}
	s.iqr = s.q3 - s.q1
	if s.median != 0 {
		s.ratioPct = 100 * s.iqr / s.median
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	s.mean = sum / float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.mean) * (x - s.mean)
		}
		s.sd = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s, true
}

// kpaFromMPS is E = 3·ρ·c² with ρ = 1000 kg/m³: E[kPa] = 3·c²[m/s]
// (elastography.md §6.3).
func kpaFromMPS(c float64) float64 { return 3 * c * c }

// mpsFromKPa inverts kpaFromMPS: c = √(E/3).
func mpsFromKPa(e float64) float64 { return math.Sqrt(e / 3) }

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

func ptr[T any](v T) *T { return &v }
