package v1

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseIndexes reads an Indexed Job's completedIndexes: comma-separated
// indexes and inclusive intervals in increasing order ("1,3-5,7"). The
// empty string is no index.
func ParseIndexes(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	last := -1
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cannot convert string to integer for index: %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < 0 {
				return nil, fmt.Errorf("cannot convert string to integer for index: %q", hi)
			}
			if b <= a {
				return nil, fmt.Errorf("non-increasing order, previous: %d, current: %d", a, b)
			}
		}
		if a <= last {
			return nil, fmt.Errorf("non-increasing order, previous: %d, current: %d", last, a)
		}
		if b-a > maxParallelismForIndexedJob || len(out)+b-a > maxParallelismForIndexedJob {
			return nil, fmt.Errorf("too many indexes: more than %d", maxParallelismForIndexedJob)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
		last = b
	}
	return out, nil
}

// FormatIndexes writes sorted, distinct indexes as ParseIndexes reads
// them, as Kubernetes does: a run of three or more is an interval, a pair
// two indexes ("0,1,3-5").
func FormatIndexes(idx []int) string {
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			sep := byte('-')
			if j == i+1 {
				sep = ','
			}
			b.WriteByte(sep)
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}
