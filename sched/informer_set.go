package sched

import "math/bits"

// indexSet is the keys filed under one value of one index, by number: a
// map of the numbers while the set is sparse, a bitmap once it holds a
// large share of the informer's numbers (a namespace's, a common label's),
// where adding a key sets a bit instead of growing a map of 100,000s of
// entries, and each member costs a bit instead of a map slot's ~10 bytes.
type indexSet struct {
	// ids holds the members while the set is sparse (nil when dense).
	ids map[uint32]struct{}
	// words is the bitmap of a dense set: number id is bit id%64 of word
	// id/64.
	words []uint64
	// n is the number of members.
	n int
}

// Dense sets: a set becomes a bitmap once it holds at least denseMin
// members and 1/denseShare of the numbers in use, and a map again when it
// falls under 1/sparseShare of them (the gap keeps a set near one bound
// from changing form back and forth), so a bitmap takes about
// sparseShare/8 bytes per member at most.
const (
	denseMin    = 64
	denseShare  = 16
	sparseShare = 64
)

func newIndexSet() *indexSet { return &indexSet{ids: map[uint32]struct{}{}} }

// add adds id; numbers is how many numbers the informer has in use.
func (s *indexSet) add(id uint32, numbers int) {
	if s.ids != nil {
		if _, ok := s.ids[id]; ok {
			return
		}
		s.ids[id] = struct{}{}
		s.n++
		if s.n >= denseMin && s.n*denseShare >= numbers {
			s.toDense()
		}
		return
	}
	w := int(id / 64)
	if w >= len(s.words) {
		s.words = append(s.words, make([]uint64, w+1-len(s.words))...)
	}
	if bit := uint64(1) << (id % 64); s.words[w]&bit == 0 {
		s.words[w] |= bit
		s.n++
	}
	if s.n*sparseShare < numbers {
		s.toSparse() // the informer grew around the set
	}
}

// remove removes id; numbers is how many numbers the informer has in use.
func (s *indexSet) remove(id uint32, numbers int) {
	if s.ids != nil {
		if _, ok := s.ids[id]; ok {
			delete(s.ids, id)
			s.n--
		}
		return
	}
	w := int(id / 64)
	if w >= len(s.words) {
		return
	}
	if bit := uint64(1) << (id % 64); s.words[w]&bit != 0 {
		s.words[w] &^= bit
		s.n--
	}
	if s.n*sparseShare < numbers {
		s.toSparse()
	}
}

// len returns the number of members.
func (s *indexSet) len() int { return s.n }

// each calls fn with each member.
func (s *indexSet) each(fn func(id uint32)) {
	if s.ids != nil {
		for id := range s.ids {
			fn(id)
		}
		return
	}
	for w, word := range s.words {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			fn(uint32(w*64 + b))
			word &= word - 1
		}
	}
}

func (s *indexSet) toDense() {
	var words []uint64
	for id := range s.ids {
		w := int(id / 64)
		if w >= len(words) {
			words = append(words, make([]uint64, w+1-len(words))...)
		}
		words[w] |= 1 << (id % 64)
	}
	s.ids, s.words = nil, words
}

func (s *indexSet) toSparse() {
	ids := make(map[uint32]struct{}, s.n)
	s.each(func(id uint32) { ids[id] = struct{}{} })
	s.ids, s.words = ids, nil
}
