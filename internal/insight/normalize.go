package insight

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxErrorText bounds a normalized error text, in bytes.
const maxErrorText = 160

var (
	reUUID   = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	reHex    = regexp.MustCompile(`\b(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b(0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b`)
	reIP     = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b`)
	reNumber = regexp.MustCompile(`\d{4,}`)
	reQuoted = regexp.MustCompile(`"[^"]{0,200}"`)
	reSpace  = regexp.MustCompile(`\s+`)
)

// NormalizeError turns an error text into the form failures are grouped
// by: identifiers that differ between attempts of the same failure (UUIDs,
// hexadecimal IDs of 8 characters or more, IP addresses, numbers of four
// digits or more, double-quoted strings) become placeholders, runs of
// white space one space, and the text is cut to 160 bytes. Short numbers
// stay, so "timeout after 30s" and "status 503" keep their meaning.
func NormalizeError(s string) string {
	s = reUUID.ReplaceAllString(s, "<id>")
	s = reIP.ReplaceAllString(s, "<ip>")
	s = reHex.ReplaceAllStringFunc(s, func(m string) string {
		if len(strings.TrimPrefix(m, "0x")) < 8 {
			return m
		}
		return "<id>"
	})
	s = reNumber.ReplaceAllString(s, "<n>")
	s = reQuoted.ReplaceAllString(s, `"…"`)
	s = strings.TrimSpace(reSpace.ReplaceAllString(s, " "))
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
