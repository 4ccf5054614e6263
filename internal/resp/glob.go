package resp

// globMatch reports whether s matches the glob pattern as Redis's
// stringmatchlen does: '*' any run, '?' one byte, '[abc]', '[^abc]',
// '[a-z]' classes, '\' escapes the next byte. nocase folds ASCII case.
//
// Every element but '*' matches exactly one byte, so backtracking to the
// last '*' only is enough: time is O(len(pattern) * len(s)) whatever the
// pattern, where a recursive matcher is exponential on "a*a*a*...b".
func globMatch(p, s []byte, nocase bool) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			if p[pi] == '*' {
				starP, starS = pi, si
				pi++
				continue
			}
			if n, ok := matchOne(p[pi:], s[si], nocase); ok {
				pi += n
				si++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' take one more byte and retry from there.
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchOne matches the pattern element at the start of p (not '*')
// against c. It returns the element's length in bytes and whether c
// matches it.
func matchOne(p []byte, c byte, nocase bool) (int, bool) {
	fold := func(c byte) byte {
		if nocase && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch p[0] {
	case '?':
		return 1, true
	case '[':
		i := 1
		not := i < len(p) && p[i] == '^'
		if not {
			i++
		}
		matched := false
		for i < len(p) && p[i] != ']' {
			switch {
			case p[i] == '\\' && i+1 < len(p):
				if fold(p[i+1]) == fold(c) {
					matched = true
				}
				i += 2
			case i+2 < len(p) && p[i+1] == '-':
				lo, hi := fold(p[i]), fold(p[i+2])
				if lo > hi {
					lo, hi = hi, lo
				}
				if fc := fold(c); lo <= fc && fc <= hi {
					matched = true
				}
				i += 3
			default:
				if fold(p[i]) == fold(c) {
					matched = true
				}
				i++
			}
		}
		if i < len(p) {
			i++ // the ']'; an unclosed class ends with the pattern
		}
		return i, matched != not
	case '\\':
		if len(p) >= 2 {
			return 2, fold(p[1]) == fold(c)
		}
		return 1, c == '\\' // a trailing backslash is literal
	default:
		return 1, fold(p[0]) == fold(c)
	}
}

// globPrefix returns the literal bytes a glob pattern's matches must all
// start with (nil if none), so SCAN can seek to them instead of reading
// the whole dataspace.
func globPrefix(pattern []byte) []byte {
	var prefix []byte
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?', '[':
			return prefix
		case '\\':
			if i+1 == len(pattern) {
				return prefix
			}
			i++
			prefix = append(prefix, pattern[i])
		default:
			prefix = append(prefix, c)
		}
	}
	return prefix
}
