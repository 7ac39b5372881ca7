// Package emailaddr validates and normalises e-mail addresses as pydantic's
// EmailStr does: pydantic.networks.validate_email with email-validator 2.2
// (check_deliverability=False, default options), reproducing its error texts.
// `ctms clients create` takes the owner's address through it; the API itself
// stores addresses as given (api/openapi.yaml: "not validated as an address").
package emailaddr

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// Error is why an address is invalid, in email-validator's words.
type Error string

func (e Error) Error() string { return string(e) }

const (
	emailMaxLength      = 254
	localPartMaxLength  = 64
	dnsLabelLengthLimit = 63
	domainMaxLength     = 253
	pydanticMaxLength   = 2048
)

var (
	nameChars          = `[\p{L}\p{N}_!#$%&'*+\-/=?^` + "`" + `{|}~]`
	pySpace            = `[\s\v\x1c-\x1f\x{85}\p{Z}]`
	prettyEmailRegex   = regexp.MustCompile(`^` + pySpace + `*(?:((?:` + nameChars + `+` + pySpace + `+)*` + nameChars + `+)|"((?:[^"]|\")+)")?` + pySpace + `*<(.+)>` + pySpace + `*$`)
	atext              = "a-zA-Z0-9_!#$%&'*+\\-/=?^`{|}~"
	dotAtomText        = regexp.MustCompile(`^[` + atext + `]+(?:\.[` + atext + `]+)*$`)
	dotAtomTextIntl    = regexp.MustCompile(`^[` + atext + `\x{80}-\x{10FFFF}]+(?:\.[` + atext + `\x{80}-\x{10FFFF}]+)*$`)
	hostnameLabel      = `(?:(?:[a-zA-Z0-9][a-zA-Z0-9\-]*)?[a-zA-Z0-9])`
	dotAtomTextHost    = regexp.MustCompile(`^` + hostnameLabel + `(?:\.` + hostnameLabel + `)*$`)
	caseInsensitiveBox = map[string]bool{
		"info": true, "marketing": true, "sales": true, "support": true,
		"abuse": true, "noc": true, "security": true,
		"postmaster": true, "hostmaster": true, "usenet": true, "news": true,
		"webmaster": true, "www": true, "uucp": true, "ftp": true,
	}
	specialUseDomains = []string{"arpa", "invalid", "local", "localhost", "onion", "test"}

	// idnaRemap performs UTS-46 mapping (case folding, NFC, full-width dots)
	// without STD3 rules, like idna.uts46_remap(std3_rules=False).
	idnaRemap = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false),
		idna.ValidateLabels(false), idna.CheckHyphens(false), idna.CheckJoiners(false))
	// idnaStrict encodes and decodes labels with IDNA 2008 validation.
	idnaStrict = idna.New(idna.ValidateLabels(true), idna.CheckHyphens(true), idna.CheckJoiners(true),
		idna.BidiRule(), idna.StrictDomainName(false), idna.VerifyDNSLength(false))
)

// Normalize returns the normalised address or, as the error (an Error), the
// reason email-validator gives for rejecting it.
func Normalize(value string) (string, error) {
	if utf8.RuneCountInString(value) > pydanticMaxLength {
		return "", Error(fmt.Sprintf("Length must not exceed %d characters", pydanticMaxLength))
	}
	if m := prettyEmailRegex.FindStringSubmatch(value); m != nil {
		value = m[3]
	}
	return validateEmail(strings.TrimFunc(value, isPySpace))
}

func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

func validateEmail(email string) (string, error) {
	displayName, local, domain, quoted, err := splitEmail(email)
	if err != nil {
		return "", err
	}
	original := local
	if quoted {
		original = `"` + local + `"`
	}
	original += "@" + domain

	localPart, asciiLocal, err := validateLocalPart(local, quoted)
	if err != nil {
		return "", err
	}
	if quoted {
		return "", Error("Quoting the part before the @-sign is not allowed here.")
	}
	if nfc := norm.NFC.String(localPart); nfc != localPart {
		if _, _, err := validateLocalPart(nfc, false); err != nil {
			return "", Error("After Unicode normalization: " + err.Error())
		}
		localPart = nfc
		if asciiLocal != "" {
			asciiLocal = nfc
		}
	}
	if asciiLocal != "" && caseInsensitiveBox[strings.ToLower(asciiLocal)] {
		asciiLocal = strings.ToLower(asciiLocal)
		localPart = strings.ToLower(localPart)
	}

	var domainI18n, asciiDomain string
	switch {
	case domain == "":
		return "", Error("There must be something after the @-sign.")
	case strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]"):
		if err := validateDomainLiteral(domain[1 : len(domain)-1]); err != nil {
			return "", err
		}
		return "", Error("A bracketed IP address after the @-sign is not allowed here.")
	default:
		if domainI18n, asciiDomain, err = validateDomainName(domain); err != nil {
			return "", err
		}
	}
	normalized := localPart + "@" + domainI18n

	if err := validateEmailLength(original, normalized, asciiLocal, localPart, asciiDomain); err != nil {
		return "", err
	}
	if displayName != nil {
		return "", Error("A display name and angle brackets around the email address are not permitted here.")
	}
	return normalized, nil
}

// splitEmail is email-validator's split_email: split at the first unquoted
// "@" (or "<" that starts "display name <addr>"), then unquote the local part.
func splitEmail(email string) (displayName *string, local, domain string, quoted bool, err error) {
	left, right, err := splitAtUnquotedSpecial(email, "@<")
	if err != nil {
		return nil, "", "", false, err
	}
	if strings.HasPrefix(right, "<") {
		left = strings.TrimRightFunc(left, isPySpace)
		name, nameQuoted, err := unquoteQuotedString(left)
		if err != nil {
			return nil, "", "", false, err
		}
		if !nameQuoted {
			var bad []rune
			for _, c := range name {
				if (!isAtext(c) && c != ' ') || c == '.' {
					bad = append(bad, c)
				}
			}
			if len(bad) > 0 {
				return nil, "", "", false, Error("The display name contains invalid characters when not quoted: " + displayChars(bad) + ".")
			}
		}
		if err := checkUnsafeChars(name, true); err != nil {
			return nil, "", "", false, err
		}
		if !strings.Contains(right, ">") {
			return nil, "", "", false, Error("An open angle bracket at the start of the email address has to be followed by a close angle bracket at the end.")
		}
		right = strings.TrimRight(right, " ")
		if !strings.HasSuffix(right, ">") {
			return nil, "", "", false, Error("There can't be anything after the email address.")
		}
		addrSpec := strings.TrimRight(right[1:], ">")
		if local, domain, err = splitAtUnquotedSpecial(addrSpec, "@"); err != nil {
			return nil, "", "", false, err
		}
		displayName = &name
	} else {
		local, domain = left, right
	}
	domain = strings.TrimPrefix(domain, "@")
	local, quoted, err = unquoteQuotedString(local)
	return displayName, local, domain, quoted, err
}

func splitAtUnquotedSpecial(text, specials string) (string, string, error) {
	insideQuote, escaped := false, false
	for i, c := range text {
		if c == '"' || c == '\\' || strings.ContainsRune(specials, c) {
			// A special character that combines with what follows (as "<"
			// plus U+0338 becomes "≮") is not special.
			if first, _ := utf8.DecodeRuneInString(norm.NFC.String(text[i:])); first != c {
				continue
			}
		}
		switch {
		case insideQuote:
			if c == '\\' && !escaped {
				escaped = true
			} else if c == '"' && !escaped {
				insideQuote, escaped = false, false
			} else {
				escaped = false
			}
		case c == '"':
			insideQuote = true
		case strings.ContainsRune(specials, c):
			return text[:i], text[i:], nil
		}
	}
	return "", "", Error("An email address must have an @-sign.")
}

func unquoteQuotedString(text string) (string, bool, error) {
	var b strings.Builder
	quoted, escaped := false, false
	runes := []rune(text)
	for i, c := range runes {
		switch {
		case quoted:
			switch {
			case escaped:
				b.WriteRune(c)
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				if i != len(runes)-1 {
					var disp []string
					for _, r := range runes[i+1:] {
						disp = append(disp, safeCharDisplay(r))
					}
					return "", false, Error("Extra character(s) found after close quote: " + strings.Join(disp, ", "))
				}
				return b.String(), true, nil
			default:
				b.WriteRune(c)
			}
		case i == 0 && c == '"':
			quoted = true
		default:
			b.WriteRune(c)
		}
	}
	return b.String(), quoted, nil
}

// validateLocalPart returns the local part and, when it is ASCII, its ASCII
// form (empty otherwise).
func validateLocalPart(local string, quoted bool) (string, string, error) {
	n := utf8.RuneCountInString(local)
	if n == 0 {
		return "", "", Error("There must be something before the @-sign.")
	}
	if n > localPartMaxLength {
		return "", "", Error("The email address is too long before the @-sign " + lengthReason(n, localPartMaxLength) + ".")
	}
	if dotAtomText.MatchString(local) {
		return local, local, nil
	}
	valid, smtputf8 := "", false
	if dotAtomTextIntl.MatchString(local) {
		valid, smtputf8 = "dot-atom", true
	} else if quoted {
		var bad []rune
		for _, c := range local {
			if !(c >= 0x20 && c <= 0x7e) && c < 0x80 {
				bad = append(bad, c)
			}
		}
		if len(bad) > 0 {
			return "", "", Error("The email address contains invalid characters in quotes before the @-sign: " + displayChars(bad) + ".")
		}
		for _, c := range local {
			if c < 32 || c > 126 {
				smtputf8 = true
			}
		}
		valid = "quoted"
	}
	if valid != "" {
		if err := checkUnsafeChars(local, valid == "quoted"); err != nil {
			return "", "", err
		}
		if !utf8.ValidString(local) {
			return "", "", Error("The email address contains an invalid character.")
		}
		if valid == "quoted" {
			local = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(local) + `"`
		}
		if smtputf8 {
			return local, "", nil
		}
		return local, local, nil
	}
	var bad []rune
	for _, c := range local {
		if !isAtext(c) && c != '.' && c < 0x80 {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		return "", "", Error("The email address contains invalid characters before the @-sign: " + displayChars(bad) + ".")
	}
	if err := checkDotAtom(local, "An email address cannot start with a %s.", "An email address cannot have a %s immediately before the @-sign.", false); err != nil {
		return "", "", err
	}
	return "", "", Error("The email address contains invalid characters before the @-sign.")
}

func isAtext(c rune) bool {
	return c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.ContainsRune("_!#$%&'*+-/=?^`{|}~", c))
}

func isHostnameIntlChar(c rune) bool {
	return c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
}

func checkUnsafeChars(s string, allowSpace bool) error {
	bad := map[rune]bool{}
	for i, c := range []rune(s) {
		switch {
		case unicode.IsLetter(c), unicode.IsNumber(c), unicode.IsPunct(c), unicode.IsSymbol(c):
		case unicode.IsMark(c):
			if i == 0 {
				bad[c] = true
			}
		case unicode.Is(unicode.Zs, c):
			if !allowSpace {
				bad[c] = true
			}
		default: // Zl, Zp and C*: controls, format, surrogates, private use, unassigned
			bad[c] = true
		}
	}
	if len(bad) == 0 {
		return nil
	}
	chars := make([]rune, 0, len(bad))
	for c := range bad {
		chars = append(chars, c)
	}
	sort.Slice(chars, func(i, j int) bool { return chars[i] < chars[j] })
	disp := make([]string, len(chars))
	for i, c := range chars {
		disp[i] = safeCharDisplay(c)
	}
	return Error("The email address contains unsafe characters: " + strings.Join(disp, ", ") + ".")
}

func checkDotAtom(label, startDescr, endDescr string, isHostname bool) error {
	switch {
	case strings.HasSuffix(label, "."):
		return Error(fmt.Sprintf(endDescr, "period"))
	case strings.HasPrefix(label, "."):
		return Error(fmt.Sprintf(startDescr, "period"))
	case strings.Contains(label, ".."):
		return Error("An email address cannot have two periods in a row.")
	}
	if isHostname {
		switch {
		case strings.HasSuffix(label, "-"):
			return Error(fmt.Sprintf(endDescr, "hyphen"))
		case strings.HasPrefix(label, "-"):
			return Error(fmt.Sprintf(startDescr, "hyphen"))
		case strings.Contains(label, ".-") || strings.Contains(label, "-."):
			return Error("An email address cannot have a period and a hyphen next to each other.")
		}
	}
	return nil
}

// validateDomainName returns the internationalised and the ASCII (IDNA) form.
func validateDomainName(domain string) (string, string, error) {
	if bad := badHostnameChars(domain); bad != "" {
		return "", "", Error("The part after the @-sign contains invalid characters: " + bad + ".")
	}
	if err := checkUnsafeChars(domain, false); err != nil {
		return "", "", err
	}
	original := domain
	if isASCII(domain) {
		domain = strings.ToLower(domain)
	} else {
		mapped, err := idnaRemap.ToUnicode(domain)
		if err != nil {
			return "", "", Error(fmt.Sprintf("The part after the @-sign contains invalid characters (%v).", err))
		}
		domain = mapped
	}
	if bad := badHostnameChars(domain); bad != "" {
		return "", "", Error("The part after the @-sign contains invalid characters after Unicode normalization: " + bad + ".")
	}
	if err := checkDotAtom(domain, "An email address cannot have a %s immediately after the @-sign.", "An email address cannot end with a %s.", true); err != nil {
		return "", "", err
	}
	for _, label := range strings.Split(domain, ".") {
		r := []rune(label)
		if len(r) >= 4 && r[2] == '-' && r[3] == '-' && !strings.EqualFold(string(r[:2]), "xn") {
			return "", "", Error("An email address cannot have two letters followed by two dashes immediately after the @-sign or after a period, except Punycode.")
		}
	}
	asciiDomain := domain
	if !dotAtomTextHost.MatchString(domain) {
		a, err := idnaStrict.ToASCII(domain)
		if err != nil {
			return "", "", Error(fmt.Sprintf("The part after the @-sign is invalid (%v).", err))
		}
		if !dotAtomTextHost.MatchString(a) {
			return "", "", Error("The email address contains invalid characters after the @-sign after IDNA encoding.")
		}
		asciiDomain = a
	}
	if n := len(asciiDomain); n > domainMaxLength {
		if asciiDomain == original {
			return "", "", Error("The email address is too long after the @-sign " + lengthReason(n, domainMaxLength) + ".")
		}
		diff := n - domainMaxLength
		return "", "", Error(fmt.Sprintf("The email address is too long after the @-sign (%d byte%s too many after IDNA encoding).", diff, plural(diff)))
	}
	for _, label := range strings.Split(asciiDomain, ".") {
		if len(label) > dnsLabelLengthLimit {
			return "", "", Error("After the @-sign, periods cannot be separated by so many characters " + lengthReason(len(label), dnsLabelLengthLimit) + ".")
		}
	}
	if !strings.Contains(asciiDomain, ".") {
		return "", "", Error("The part after the @-sign is not valid. It should have a period.")
	}
	if last := asciiDomain[len(asciiDomain)-1]; !(last >= 'a' && last <= 'z' || last >= 'A' && last <= 'Z') {
		return "", "", Error("The part after the @-sign is not valid. It is not within a valid top-level domain.")
	}
	for _, d := range specialUseDomains {
		if asciiDomain == d || strings.HasSuffix(asciiDomain, "."+d) {
			return "", "", Error("The part after the @-sign is a special-use or reserved name that cannot be used with email.")
		}
	}
	domainI18n := asciiDomain
	if strings.Contains(strings.ToLower(asciiDomain), "xn--") {
		u, err := idnaStrict.ToUnicode(asciiDomain)
		if err != nil {
			return "", "", Error(fmt.Sprintf("The part after the @-sign is not valid IDNA (%v).", err))
		}
		domainI18n = u
	}
	return domainI18n, asciiDomain, nil
}

func badHostnameChars(s string) string {
	var bad []rune
	for _, c := range s {
		if !isHostnameIntlChar(c) {
			bad = append(bad, c)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return displayChars(bad)
}

func validateDomainLiteral(lit string) error {
	if lit != "" && strings.Trim(lit, "0123456789.") == "" {
		if _, err := netip.ParseAddr(lit); err != nil || !strings.Contains(lit, ".") {
			reason := "Expected 4 octets in '" + lit + "'"
			if err != nil && strings.Count(lit, ".") == 3 {
				reason = err.Error()
			}
			return Error(fmt.Sprintf("The address in brackets after the @-sign is not valid: It is not an IPv4 address (%s) or is missing an address literal tag.", reason))
		}
		return nil
	}
	if rest, ok := strings.CutPrefix(lit, "IPv6:"); ok {
		if a, err := netip.ParseAddr(rest); err != nil || !a.Is6() || a.Zone() != "" {
			reason := "invalid IPv6 address"
			if err != nil {
				reason = err.Error()
			}
			return Error(fmt.Sprintf("The IPv6 address in brackets after the @-sign is not valid (%s).", reason))
		}
		return nil
	}
	if !strings.Contains(lit, ":") {
		return Error("The part after the @-sign in brackets is not an IPv4 address and has no address literal tag.")
	}
	var bad []rune
	for _, c := range lit {
		if !(c >= 0x21 && c <= 0xfa) {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		return Error("The part after the @-sign contains invalid characters in brackets: " + displayChars(bad) + ".")
	}
	return Error("The part after the @-sign contains an invalid address literal tag in brackets.")
}

// validateEmailLength checks the original, normalised and IDNA-ASCII forms
// against the 254-octet limit, as email-validator's validate_email_length.
func validateEmailLength(original, normalized, asciiLocal, localPart, asciiDomain string) error {
	local := asciiLocal
	if local == "" {
		local = localPart
	}
	for _, c := range []struct{ addr, reason string }{
		{original, ""},
		{normalized, "after normalization"},
		{local + "@" + asciiDomain, "when the part after the @-sign is converted to IDNA ASCII"},
	} {
		chars, octets := utf8.RuneCountInString(c.addr), len(c.addr)
		diff := octets - emailMaxLength
		if diff <= 0 {
			continue
		}
		var reason string
		switch {
		case c.reason == "" && chars == octets:
			reason = lengthReason(chars, emailMaxLength)
		case c.reason == "":
			mbpc := 1
			for _, r := range c.addr {
				mbpc = max(mbpc, utf8.RuneLen(r))
			}
			mchars := max(1, diff/mbpc)
			if mchars == diff {
				reason = fmt.Sprintf("(%d character%s too many)", diff, plural(diff))
			} else {
				reason = fmt.Sprintf("(%d-%d character%s too many)", mchars, diff, plural(diff))
			}
		default:
			reason = fmt.Sprintf("%s (%d byte%s too many)", c.reason, diff, plural(diff))
		}
		return Error("The email address is too long " + reason + ".")
	}
	return nil
}

func lengthReason(n, limit int) string {
	diff := n - limit
	return fmt.Sprintf("(%d character%s too many)", diff, plural(diff))
}

func plural(n int) string {
	if n > 1 {
		return "s"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// displayChars is ", ".join(sorted({safe_character_display(c) for c in chars})).
func displayChars(chars []rune) string {
	set := map[string]bool{}
	for _, c := range chars {
		set[safeCharDisplay(c)] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// safeCharDisplay shows a character as email-validator does: Python's repr()
// for letters, numbers, punctuation and symbols, else its Unicode name or
// U+XXXX.
func safeCharDisplay(c rune) string {
	switch {
	case c == '\\':
		return `"\"`
	case c == '\'':
		return `"'"`
	case unicode.IsLetter(c), unicode.IsNumber(c), unicode.IsPunct(c), unicode.IsSymbol(c):
		return "'" + string(c) + "'"
	}
	if name := runenames.Name(c); name != "" && !strings.HasPrefix(name, "<") {
		return name
	}
	if c < 0xffff {
		return fmt.Sprintf("U+%04X", c)
	}
	return fmt.Sprintf("U+%08X", c)
}
