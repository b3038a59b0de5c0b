package appfile

import (
	"fmt"
	"strings"
)

// momentTokens are the tokens of PM2's log_date_format (day.js, the
// moment.js vocabulary) that Go's time layouts can say, with Go's
// spelling. Go has no unpadded 24-hour hour: H is written padded (HH).
var momentTokens = map[string]string{
	"YYYY": "2006", "YY": "06",
	"M": "1", "MM": "01", "MMM": "Jan", "MMMM": "January",
	"D": "2", "DD": "02", "DDDD": "002",
	"ddd": "Mon", "dddd": "Monday",
	"H": "15", "HH": "15", "h": "3", "hh": "03",
	"m": "4", "mm": "04", "s": "5", "ss": "05",
	"S": "0", "SS": "00", "SSS": "000",
	"A": "PM", "a": "pm",
	"Z": "-07:00", "ZZ": "-0700", "z": "MST", "zz": "MST",
}

// momentLetters are the letters day.js and moment.js read as tokens; a run
// of one of them that momentTokens lacks (Do, X, Q, W, dd, ...) has no Go
// layout.
const momentLetters = "YMDdHhmsSZAaXxQWwEeGgkzN"

// goLayoutWords are what Go's time.Format reads as a field wherever it is
// in a layout: literal text holding one would print a number or a name.
var goLayoutWords = []string{"Jan", "Mon", "MST", "PM", "pm", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// GoTimeLayout translates a moment.js/day.js format, PM2's
// log_date_format, to a Go time layout: "YYYY-MM-DD HH:mm:ss Z" is
// "2006-01-02 15:04:05 -07:00". Text in [brackets] is literal, as in
// day.js. A format that Go cannot say is an error naming why: a token Go
// lacks, fractional seconds without a "." or "," before them, or literal
// text Go would read as a field (a digit, Jan, Mon, PM, MST).
func GoTimeLayout(format string) (string, error) {
	var layout strings.Builder
	literal := func(text string) error {
		for _, w := range goLayoutWords {
			if strings.Contains(text, w) {
				return fmt.Errorf("the text %q would read as a time field in Go's layouts", text)
			}
		}
		layout.WriteString(text)
		return nil
	}
	for i := 0; i < len(format); {
		c := format[i]
		if c == '[' {
			end := strings.IndexByte(format[i:], ']')
			if end < 0 {
				return "", fmt.Errorf("a [ without its ]")
			}
			if err := literal(format[i+1 : i+end]); err != nil {
				return "", err
			}
			i += end + 1
			continue
		}
		if !strings.ContainsRune(momentLetters, rune(c)) {
			j := i
			for j < len(format) && format[j] != '[' && !strings.ContainsRune(momentLetters, rune(format[j])) {
				j++
			}
			if err := literal(format[i:j]); err != nil {
				return "", err
			}
			i = j
			continue
		}
		j := i
		for j < len(format) && format[j] == c {
			j++
		}
		if j < len(format) && format[j] == 'o' && strings.ContainsRune("DMQdwWE", rune(c)) {
			j++ // an ordinal: Do is 1st, 2nd, ...
		}
		token := format[i:j]
		goToken, ok := momentTokens[token]
		if !ok {
			return "", fmt.Errorf("%s has no Go time layout", token)
		}
		if c == 'S' {
			// Go knows fractional seconds only after a separator.
			if s := layout.String(); !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, ",") {
				return "", fmt.Errorf("%s without a . or , before it has no Go time layout", token)
			}
		}
		layout.WriteString(goToken)
		i = j
	}
	return layout.String(), nil
}
