package fastapi

// pyJSONError is where and why CPython's json.loads refuses text (its C
// scanner, Python 3.12, as FastAPI calls it for a request body): the message
// FastAPI puts in json_invalid's ctx.error and the position, in characters, it
// puts in loc. ok is false when CPython would accept text (e.g. NaN, which
// CTMS-Go refuses all the same, for PostgreSQL cannot store it).
func pyJSONError(data []byte) (msg string, pos int, ok bool) {
	s := []rune(string(data))
	sc := &pyScanner{s: s}
	i := sc.space(0)
	end, err := sc.value(i)
	if err == nil {
		if end = sc.space(end); end != len(s) {
			return "Extra data", end, true
		}
		return "", 0, false
	}
	return err.msg, err.pos, true
}

type pyErr struct {
	msg string
	pos int
}

// stop is the scanner's StopIteration: no value starts at pos, which
// json.loads reports as "Expecting value" wherever it happens.
func stop(pos int) *pyErr { return &pyErr{"Expecting value", pos} }

type pyScanner struct {
	s     []rune
	depth int
}

func (sc *pyScanner) space(i int) int {
	for i < len(sc.s) && (sc.s[i] == ' ' || sc.s[i] == '\t' || sc.s[i] == '\n' || sc.s[i] == '\r') {
		i++
	}
	return i
}

func (sc *pyScanner) has(i int, word string) bool {
	w := []rune(word)
	if i+len(w) > len(sc.s) {
		return false
	}
	for k, r := range w {
		if sc.s[i+k] != r {
			return false
		}
	}
	return true
}

// value is scan_once: the end of the value that starts at i.
func (sc *pyScanner) value(i int) (int, *pyErr) {
	if i >= len(sc.s) {
		return 0, stop(i)
	}
	switch c := sc.s[i]; {
	case c == '"':
		return sc.str(i + 1)
	case c == '{':
		return sc.object(i + 1)
	case c == '[':
		return sc.array(i + 1)
	case c == 'n' && sc.has(i, "null"):
		return i + 4, nil
	case c == 't' && sc.has(i, "true"):
		return i + 4, nil
	case c == 'f' && sc.has(i, "false"):
		return i + 5, nil
	case c == 'N' && sc.has(i, "NaN"):
		return i + 3, nil
	case c == 'I' && sc.has(i, "Infinity"):
		return i + 8, nil
	case c == '-' && sc.has(i, "-Infinity"):
		return i + 9, nil
	}
	return sc.number(i)
}

// number is _match_number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?,
// taking a fraction or exponent only when digits follow.
func (sc *pyScanner) number(i int) (int, *pyErr) {
	s, j := sc.s, i
	digit := func(k int) bool { return k < len(s) && s[k] >= '0' && s[k] <= '9' }
	if j < len(s) && s[j] == '-' {
		j++
	}
	switch {
	case digit(j) && s[j] != '0':
		for digit(j) {
			j++
		}
	case digit(j):
		j++
	default:
		return 0, stop(i)
	}
	if j < len(s) && s[j] == '.' && digit(j+1) {
		for j++; digit(j); j++ {
		}
	}
	if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		k := j + 1
		if k < len(s) && (s[k] == '-' || s[k] == '+') {
			k++
		}
		if digit(k) {
			for j = k; digit(j); j++ {
			}
		}
	}
	return j, nil
}

// str is scanstring: i is just after the opening quote.
func (sc *pyScanner) str(i int) (int, *pyErr) {
	s, begin := sc.s, i-1
	for j := i; ; j++ {
		if j >= len(s) {
			return 0, &pyErr{"Unterminated string starting at", begin}
		}
		switch c := s[j]; {
		case c == '"':
			return j + 1, nil
		case c < 0x20:
			return 0, &pyErr{"Invalid control character at", j}
		case c == '\\':
			j++
			if j >= len(s) {
				return 0, &pyErr{"Unterminated string starting at", begin}
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				// Both failures point at the "u".
				if j+5 >= len(s) {
					return 0, &pyErr{"Invalid \\uXXXX escape", j}
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHex(s[k]) {
						return 0, &pyErr{"Invalid \\uXXXX escape", j}
					}
				}
				j += 4
			default:
				return 0, &pyErr{"Invalid \\escape", j - 1}
			}
		}
	}
}

// object is _parse_object: i is just after the "{".
func (sc *pyScanner) object(i int) (int, *pyErr) {
	s := sc.s
	i = sc.space(i)
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, &pyErr{"Expecting property name enclosed in double quotes", i}
		}
		end, err := sc.str(i + 1)
		if err != nil {
			return 0, err
		}
		if i = sc.space(end); i >= len(s) || s[i] != ':' {
			return 0, &pyErr{"Expecting ':' delimiter", i}
		}
		if i, err = sc.value(sc.space(i + 1)); err != nil {
			return 0, err
		}
		if i = sc.space(i); i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		if i >= len(s) || s[i] != ',' {
			return 0, &pyErr{"Expecting ',' delimiter", i}
		}
		i = sc.space(i + 1)
	}
}

// array is _parse_array: i is just after the "[".
func (sc *pyScanner) array(i int) (int, *pyErr) {
	s := sc.s
	i = sc.space(i)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	for {
		var err *pyErr
		if i, err = sc.value(i); err != nil {
			return 0, err
		}
		if i = sc.space(i); i < len(s) && s[i] == ']' {
			return i + 1, nil
		}
		if i >= len(s) || s[i] != ',' {
			return 0, &pyErr{"Expecting ',' delimiter", i}
		}
		i = sc.space(i + 1)
	}
}
