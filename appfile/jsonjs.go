package appfile

// PM2 reads a .json app file as a JavaScript expression (it evaluates
// "(" + file + ")"), so its users' JSON files carry // and /* */ comments
// and trailing commas. jsonAsPM2Reads blanks those out, keeping every other
// byte and every line break where it was, so errors keep their lines.
func jsonAsPM2Reads(data []byte) []byte {
	out := append([]byte(nil), data...)
	blank := func(from, to int) {
		for i := from; i < to && i < len(out); i++ {
			if out[i] != '\n' && out[i] != '\r' {
				out[i] = ' '
			}
		}
	}
	lastValue := -1 // where the last byte that is not space or comment is
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case c == '"' || c == '\'':
			lastValue = i
			for i++; i < len(out) && out[i] != c; i++ {
				if out[i] == '\\' {
					i++
				}
			}
			lastValue = i
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			end := i
			for end < len(out) && out[end] != '\n' && out[end] != '\r' {
				end++
			}
			blank(i, end)
			i = end - 1
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := i + 2
			for end+1 < len(out) && !(out[end] == '*' && out[end+1] == '/') {
				end++
			}
			blank(i, end+2)
			i = end + 1
		case c == '}' || c == ']':
			if lastValue >= 0 && out[lastValue] == ',' {
				out[lastValue] = ' ' // a trailing comma
			}
			lastValue = i
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			lastValue = i
		}
	}
	return out
}

// looksLikeJSON says whether data starts as a JSON file does: with {, [ or
// a comment.
func looksLikeJSON(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[', '/':
			return true
		}
		return false
	}
	return false
}
