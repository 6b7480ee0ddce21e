package wechatauth

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// returnCase is one safeReturnURL input and whether it must be kept.
type returnCase struct {
	raw  string
	keep bool
}

// expandShapes fills {A} with each spelling of the site's own host and {E} with
// each evil host, so every attack shape is tried against every spelling.
func expandShapes(shapes []string, as, es []string, keep bool) []returnCase {
	var out []returnCase
	for _, shape := range shapes {
		aList, eList := []string{""}, []string{""}
		if strings.Contains(shape, "{A}") {
			aList = as
		}
		if strings.Contains(shape, "{E}") {
			eList = es
		}
		for _, a := range aList {
			for _, e := range eList {
				raw := strings.ReplaceAll(strings.ReplaceAll(shape, "{A}", a), "{E}", e)
				out = append(out, returnCase{raw, keep})
			}
		}
	}
	return out
}

var (
	// Spellings of https://allowed.com's own host and port.
	sameHosts = []string{"allowed.com", "ALLOWED.COM", "Allowed.Com", "allowed.com:443", "aLLowed.com:443", "allowed.com.", "allowed.com.:443", "allowed.com:"}
	// Hosts that are not the site, including look-alikes.
	evilHosts = []string{"evil.com", "EVIL.com", "evil.com:443", "127.0.0.1", "[::1]", "[::1]:443", "allowed.com.evil.com", "xn--llowed-4ve.com"}

	// refusedShapes are attack shapes that must become "/" whatever {A}/{E}.
	refusedShapes = []string{
		// scheme-relative and slash/backslash confusions
		"//{E}", "//{E}/", "//{E}/path", "///{E}", "////{E}", "//{A}", "//{A}/x",
		"/\\{E}", "/\\/{E}", "\\/{E}", "\\\\{E}", "\\{E}", "/\\\\{E}", "https://{A}\\@{E}", "https://{E}\\.{A}",
		// encoded slashes, backslashes, whitespace and controls in the path
		"/%2F{E}", "/%2F/{E}", "/%2f/{E}", "/%2F%2F{E}", "/%5C{E}", "/%5c{E}", "/%5C%5C{E}",
		"/%09/{E}", "/%0a/{E}", "/%0A/{E}", "/%0d/{E}", "/%0D%0A/{E}", "/%00/{E}", "/%20/{E}", "/%7f/{E}", "/%1f/{E}",
		"/%09%2F{E}", "/x/%0d%0aLocation:%20http://{E}",
		// raw whitespace and controls anywhere
		"/\t/{E}", "/\n/{E}", "/\r/{E}", " /{E}", "/{E} ", "\t//{E}", "/{E}\x00", "\x00//{E}", "/\x7f/{E}",
		"https://{A}/\t", "https://{A}/ x", "https://\t{E}", "https://{A}\n.{E}",
		// scheme tricks
		"https:{E}", "http:{E}", "https:/{E}", "http:/{E}", "https:///{E}", "https:\\\\{E}", "https:{A}",
		"javascript:alert(1)", "JavaScript:alert(document.domain)", "javascript://{A}/%0aalert(1)",
		"javascript:%2F%2F{A}%0aalert(1)", "data:text/html,<script>alert(1)</script>",
		"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)", "file:///etc/passwd",
		"ftp://{A}/", "ws://{A}/", "wss://{A}/", "blob:https://{A}/uuid", "view-source:https://{A}/",
		"https://", "http://", "https:", "https:/", "https://:443/",
		// userinfo
		"https://{A}@{E}", "https://{A}@{E}/", "https://{A}:443@{E}/", "https://{A}%40{E}/", "https://user:pass@{A}/",
		"https://@{A}/", "https://{E}@{A}/", "https://{A}%2540{E}/",
		// path, query and fragment that merely mention the site
		"https://{E}/{A}", "https://{E}?{A}", "https://{E}?.{A}", "https://{E}#.{A}", "https://{E}#@{A}",
		"https://{E}/?next=https://{A}/", "https://{E}:443/{A}",
		// the site's name inside an evil host
		"https://{A}.{E}/", "https://{A}evil.com/", "https://{A}-evil.com/", "https://evil{A}/", "https://x{A}/",
		// IDN homographs, raw and encoded
		"https://аllowed.com/", "https://аllowed.com:443/", "https://%D0%B0llowed.com/", "https://allowed.com%E3%80%82evil.com/",
		"https://allowed。com/", "https://ａｌｌｏｗｅｄ.com/",
		// ports: same host, another port or the wrong default
		"https://{A}:8443/", "https://allowed.com:80/", "https://allowed.com:0443/", "https://allowed.com:443443/",
		"https://allowed.com:-1/", "https://allowed.com:443:443/", "https://allowed.com:x/",
		// another scheme on the same host is another origin
		"http://allowed.com/", "http://allowed.com:443/", "http://ALLOWED.com/x",
		// IP literals that are not the site
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[fe80::1%25eth0]/", "https://0x7f000001/",
		"https://2130706433/", "https://127.1/", "https://[allowed.com]/",
		// not absolute-path relative references
		"{E}", "{E}/x", "a/b", "./a", "../a", "?x=1", "#x", ".", "",
		// encoded characters in the host
		"https://allowed%2Ecom/", "https://allowed.com%2F@{E}/", "https://allowed.com%00.{E}/",
		// raw non-ASCII in an absolute URL, or not valid UTF-8, or hiding a
		// scheme-relative URL (relative raw UTF-8 is kept in its encoded
		// form: TestSafeReturnURLKeepsRawUTF8RelativeURLsEncoded)
		"https://allowed.com/é", "//中文.{E}/", "/\xff\xfe", "/\xe4\xb8",
		// raw backslash anywhere, even where a browser would keep it
		"/a?x=\\", "/a#\\", "https://allowed.com/?x=\\",
	}

	// keptShapes are same-site return URLs that must be kept as they are.
	keptShapes = []string{
		"https://{A}", "https://{A}/", "https://{A}/a/b?c=d#e", "https://{A}?x=1", "https://{A}#frag",
		"https://{A}/%E4%B8%AD%E6%96%87?q=%E2%9C%93", "https://{A}/a%2Fb", "https://{A}/?next=//evil.com",
	}

	// keptRelative are paths on this site, with queries and encoded characters.
	keptRelative = []string{
		"/", "/a", "/a/b/", "/a/b?c=d", "/a/b?c=d&e=f#g", "/a?next=//evil.com", "/a?next=https://evil.com/",
		"/a?next=%2F%2Fevil.com", "/a?x=%09&y=%0a&z=%20", "/a?x=%5C", "/a#//evil.com", "/a#https://evil.com",
		"/%E4%B8%AD%E6%96%87/%F0%9F%98%80", "/a%2Fb", "/a%252F%252Fevil.com", "/.well-known/x", "/a/./b/../c",
		"/a;b=c", "/~user/", "/a?q=a+b", "/wechat_auth/login?rd=%2Fx", "/a:b", "/@evil.com", "/a@b",
		"/?", "/#", "/a?", "/a?b=c?d", "/.//evil.com", "/a/..//evil.com", "/%2e%2e//evil.com",
		"/" + strings.Repeat("a", 4095),
	}
)

func allowedSite() origin { return origin{Scheme: "https", Host: "allowed.com"} }

// checkReturn runs one case and, for kept absolute or relative URLs,
// confirms with a browser's URL parser that the redirect stays on an
// allowed origin.
func checkReturn(t *testing.T, site origin, rules []string, c returnCase) {
	t.Helper()
	parsed := make([]domainRule, 0, len(rules))
	for _, r := range rules {
		rule, err := parseDomainRule(r)
		if err != nil {
			t.Fatalf("rule %q: %v", r, err)
		}
		parsed = append(parsed, rule)
	}
	got := safeReturnURL(c.raw, site, parsed)
	want := "/"
	if c.keep {
		want = c.raw
	}
	if got != want {
		t.Errorf("site %s rules %q: safeReturnURL(%q) = %q, want %q", site, rules, c.raw, got, want)
		return
	}
	if got != "/" {
		if loc, ok := allowedByOracle(t, site, rules, got); !ok {
			t.Errorf("kept %q, but a browser following Location %q leaves the allowed origins", got, loc)
		}
	}
}

func TestSafeReturnURLRefusesAttackShapesOnTheDefaultSite(t *testing.T) {
	cases := expandShapes(refusedShapes, sameHosts, evilHosts, false)
	if len(cases) < 400 {
		t.Fatalf("only %d generated cases", len(cases))
	}
	for _, c := range cases {
		checkReturn(t, allowedSite(), nil, c)
	}
}

func TestSafeReturnURLRefusesAttackShapesEvenWithRedirectDomains(t *testing.T) {
	// Rules for other hosts must not open any of the attack shapes.
	rules := []string{"foo.bar", ".bar.foo", "*.star.foo", "port.foo:8080", "any.foo:*"}
	for _, c := range expandShapes(refusedShapes, sameHosts, evilHosts, false) {
		checkReturn(t, allowedSite(), rules, c)
	}
}

func TestSafeReturnURLKeepsSameSiteURLsInEverySpelling(t *testing.T) {
	for _, c := range expandShapes(keptShapes, sameHosts, nil, true) {
		checkReturn(t, allowedSite(), nil, c)
	}
}

func TestSafeReturnURLKeepsRelativePathsWithQueriesAndEncodings(t *testing.T) {
	for _, raw := range keptRelative {
		checkReturn(t, allowedSite(), nil, returnCase{raw, true})
	}
}

func TestSafeReturnURLRefusesOverlongInput(t *testing.T) {
	for _, raw := range []string{"/" + strings.Repeat("a", 4096), "https://allowed.com/" + strings.Repeat("a", 5000), "/?" + strings.Repeat("q", 64<<10)} {
		if got := safeReturnURL(raw, allowedSite(), nil); got != "/" {
			t.Errorf("a %d-byte return URL was kept", len(raw))
		}
	}
}

func TestSafeReturnURLRefusesEveryControlAndSpaceByteRawOrEncoded(t *testing.T) {
	for b := 0; b <= 0x20; b++ {
		for _, shape := range []string{"/a%sb", "/%s/evil.com", "https://allowed.com/a%sb"} {
			raw := fmt.Sprintf(shape, string(rune(b)))
			checkReturn(t, allowedSite(), nil, returnCase{raw, false})
			enc := fmt.Sprintf(shape, fmt.Sprintf("%%%02X", b))
			checkReturn(t, allowedSite(), nil, returnCase{enc, false})
			checkReturn(t, allowedSite(), nil, returnCase{strings.ToLower(enc), false})
		}
	}
	checkReturn(t, allowedSite(), nil, returnCase{"/a\x7fb", false})
	checkReturn(t, allowedSite(), nil, returnCase{"/a%7Fb", false})
	for b := 0x80; b <= 0xff; b += 0x11 {
		checkReturn(t, allowedSite(), nil, returnCase{"/a" + string([]byte{byte(b)}), false})
	}
}

func TestSafeReturnURLHonoursTheSitesOwnPortAndScheme(t *testing.T) {
	cases := []struct {
		site origin
		raw  string
		keep bool
	}{
		{origin{"http", "allowed.com:8080"}, "http://allowed.com:8080/x", true},
		{origin{"http", "allowed.com:8080"}, "http://ALLOWED.COM:8080/x?y#z", true},
		{origin{"http", "allowed.com:8080"}, "http://allowed.com/x", false},
		{origin{"http", "allowed.com:8080"}, "http://allowed.com:80/x", false},
		{origin{"http", "allowed.com:8080"}, "http://allowed.com:8081/x", false},
		{origin{"http", "allowed.com:8080"}, "https://allowed.com:8080/x", false},
		{origin{"http", "allowed.com:8080"}, "/x", true},
		{origin{"http", "allowed.com"}, "http://allowed.com/x", true},
		{origin{"http", "allowed.com"}, "http://allowed.com:80/x", true},
		{origin{"http", "allowed.com"}, "https://allowed.com/x", false},
		{origin{"http", "allowed.com"}, "https://allowed.com:80/x", false},
		{origin{"http", "allowed.com"}, "http://allowed.com:443/x", false},
		{origin{"https", "allowed.com:8443"}, "https://allowed.com:8443/", true},
		{origin{"https", "allowed.com:8443"}, "https://allowed.com/", false},
		{origin{"https", "allowed.com:8443"}, "https://allowed.com:443/", false},
		{origin{"https", "127.0.0.1:8443"}, "https://127.0.0.1:8443/x", true},
		{origin{"https", "127.0.0.1:8443"}, "https://127.0.0.1/x", false},
		{origin{"https", "127.0.0.1:8443"}, "https://127.0.0.2:8443/x", false},
		{origin{"https", "[::1]"}, "https://[::1]/x", true},
		{origin{"https", "[::1]"}, "https://[::2]/x", false},
		{origin{"https", "[::1]"}, "https://[::1]:8443/x", false},
		{origin{"https", "[::1]"}, "http://[::1]/x", false},
	}
	for _, c := range cases {
		checkReturn(t, c.site, nil, returnCase{c.raw, c.keep})
	}
}

// ruleCase lists, for one redirect_domains entry, return hosts it must open
// and hosts it must not.
type ruleCase struct {
	rule string
	keep []string
	drop []string
}

var ruleCases = []ruleCase{
	{
		rule: "foo.bar",
		keep: []string{"https://foo.bar/", "http://foo.bar/x?y", "https://FOO.BAR/", "https://Foo.Bar/x", "http://foo.bar:80/", "https://foo.bar:443/", "https://foo.bar./"},
		drop: []string{"https://foo.bar:8443/", "http://foo.bar:8080/", "http://foo.bar:443/", "https://foo.bar:80/", "https://x.foo.bar/", "https://xfoo.bar/", "https://foo.bar.evil/", "https://foo.barr/", "https://foo.bar@evil/", "https://evil/foo.bar", "https://evil?.foo.bar", "https://evil#.foo.bar", "//foo.bar/", "https://fоo.bar/"},
	},
	{
		rule: "FOO.Bar",
		keep: []string{"https://foo.bar/", "https://FOO.bar/"},
		drop: []string{"https://foo.bar:1/"},
	},
	{
		rule: ".bar.foo",
		keep: []string{"https://bar.foo/", "https://x.bar.foo/", "https://a.b.c.bar.foo/x", "https://X.BAR.FOO/", "https://x.bar.foo:443/", "http://x.bar.foo:80/", "https://x.bar.foo./"},
		drop: []string{"https://xbar.foo/", "https://bar.foo.evil/", "https://x.bar.foo.evil/", "https://bar.foo:8080/", "https://x.bar.foo:8443/", "https://bar.fooo/", "https://ar.foo/", "https://foo/", "https://evil.com/.bar.foo", "https://evil.com?.bar.foo", "https://x.bar.foo@evil.com/", "https://evil.com\\.bar.foo/", "https://x.bar%2Efoo/",
			// not host names: refused rather than guessed at
			"https://a!b.bar.foo/", "https://a'b.bar.foo/", "https://a(b).bar.foo/", "https://a;b.bar.foo/", "https://a_b.bar.foo/", "https://%D0%B0.bar.foo/"},
	},
	{
		rule: "*.bar.foo",
		keep: []string{"https://bar.foo/", "https://x.bar.foo/", "https://a.b.bar.foo/"},
		drop: []string{"https://xbar.foo/", "https://bar.foo.evil/", "https://x.bar.foo:8080/", "https://evil.com/x.bar.foo"},
	},
	{
		rule: "host.example:8080",
		keep: []string{"http://host.example:8080/", "https://host.example:8080/x", "http://HOST.example:8080/"},
		drop: []string{"http://host.example/", "https://host.example/", "http://host.example:8081/", "http://host.example:80/", "http://sub.host.example:8080/", "http://host.example:08080/"},
	},
	{
		rule: "host.example:*",
		keep: []string{"http://host.example/", "https://host.example/", "http://host.example:1/", "https://host.example:65535/x"},
		drop: []string{"http://sub.host.example:1/", "http://xhost.example/", "http://host.example.evil:8080/"},
	},
	{
		rule: ".w.example:*",
		keep: []string{"https://w.example:1234/", "https://a.w.example/", "http://a.w.example:9/"},
		drop: []string{"https://aw.example:1234/", "https://w.example.evil/"},
	},
	{
		rule: "*.w2.example:8443",
		keep: []string{"https://w2.example:8443/", "https://a.w2.example:8443/"},
		drop: []string{"https://a.w2.example/", "https://a.w2.example:443/", "https://aw2.example:8443/"},
	},
	{
		rule: "10.0.0.1:8080",
		keep: []string{"http://10.0.0.1:8080/"},
		drop: []string{"http://10.0.0.1/", "http://10.0.0.2:8080/", "http://10.0.0.1.evil:8080/"},
	},
}

func TestSafeReturnURLAppliesRedirectDomainRules(t *testing.T) {
	n := 0
	for _, rc := range ruleCases {
		for _, raw := range rc.keep {
			checkReturn(t, allowedSite(), []string{rc.rule}, returnCase{raw, true})
			n++
		}
		for _, raw := range rc.drop {
			checkReturn(t, allowedSite(), []string{rc.rule}, returnCase{raw, false})
			n++
		}
	}
	// Every attack shape against a rule's own host stays refused too.
	for _, c := range expandShapes(refusedShapes, []string{"foo.bar", "x.bar.foo"}, []string{"evil.com"}, false) {
		if strings.HasPrefix(c.raw, "https://foo.bar") || strings.HasPrefix(c.raw, "https://x.bar.foo") ||
			strings.HasPrefix(c.raw, "https://evilx.bar.foo") || strings.HasPrefix(c.raw, "https://xx.bar.foo") {
			continue // the rule's own host, or a subdomain under .bar.foo: legitimately kept
		}
		checkReturn(t, allowedSite(), []string{"foo.bar", ".bar.foo"}, c)
		n++
	}
	if n < 150 {
		t.Fatalf("only %d rule cases", n)
	}
}

func TestSafeReturnURLKeepsAbsoluteURLWhenAnyRuleMatches(t *testing.T) {
	rules := []string{"a.example", "b.example:8080", ".c.example"}
	for _, raw := range []string{"https://a.example/", "http://b.example:8080/", "https://x.c.example/", "https://allowed.com/"} {
		checkReturn(t, allowedSite(), rules, returnCase{raw, true})
	}
	for _, raw := range []string{"https://b.example/", "https://a.example:8080/", "https://xc.example/"} {
		checkReturn(t, allowedSite(), rules, returnCase{raw, false})
	}
}

func TestParseDomainRuleForms(t *testing.T) {
	cases := []struct {
		in     string
		host   string
		suffix bool
		port   string
	}{
		{"foo.bar", "foo.bar", false, ""},
		{"FOO.Bar", "foo.bar", false, ""},
		{"  foo.bar  ", "foo.bar", false, ""},
		{".bar.foo", "bar.foo", true, ""},
		{"*.bar.foo", "bar.foo", true, ""},
		{"host:8080", "host", false, "8080"},
		{"host:*", "host", false, "*"},
		{"*.x.y:*", "x.y", true, "*"},
		{".x.y:443", "x.y", true, "443"},
		{"10.0.0.1:8080", "10.0.0.1", false, "8080"},
		{"localhost", "localhost", false, ""},
	}
	for _, c := range cases {
		r, err := parseDomainRule(c.in)
		if err != nil {
			t.Errorf("parseDomainRule(%q): %v", c.in, err)
			continue
		}
		if r.host != c.host || r.suffix != c.suffix || r.port != c.port || r.original != c.in {
			t.Errorf("parseDomainRule(%q) = %+v, want host %q suffix %v port %q", c.in, r, c.host, c.suffix, c.port)
		}
	}
}

func TestParseDomainRuleRejectsMalformedEntries(t *testing.T) {
	bad := map[string]string{
		"":                     "write a host name",
		"   ":                  "write a host name",
		"*":                    "write a host name",
		"*.":                   "write a host name",
		".":                    "write a host name",
		"..":                   "write a host name",
		"..x":                  "write a host name",
		"x.":                   "write a host name",
		"*.*.x":                "write a host name",
		"x.*.y":                "write a host name",
		"*x.y":                 "write a host name",
		"https://x.y":          "write a host name",
		"x.y/path":             "write a host name",
		"x.y\\":                "write a host name",
		"user@x.y":             "write a host name",
		"x.y?q":                "write a host name",
		"x.y#f":                "write a host name",
		"x%2ey":                "write a host name",
		"x y":                  "write a host name",
		"x\ty":                 "write a host name",
		"x.y:":                 "is not a number or *",
		"x.y:http":             "is not a number or *",
		"x.y:123456":           "is not a number or *",
		"x.y:-1":               "is not a number or *",
		"x.y:**":               "is not a number or *",
		"x.y:8080:1":           "write a host name",
		"[::1]":                "write a host name",
		":8080":                "write a host name",
		":*":                   "write a host name",
		"*:8080":               "write a host name",
		"//x.y":                "write a host name",
		"x.y:8080/":            "write a host name",
		"secret-looking.host/": "redirect_domains",
	}
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, in := range keys {
		_, err := parseDomainRule(in)
		if err == nil {
			t.Errorf("parseDomainRule(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), bad[in]) || !strings.Contains(err.Error(), "redirect_domains") {
			t.Errorf("parseDomainRule(%q) = %q, want it to name redirect_domains and say %q", in, err, bad[in])
		}
	}
}

// TestSafeReturnURLKeepsRawUTF8RelativeURLsEncoded: a relative return URL in
// raw UTF-8 is what a browser sends percent-encoded, so it is judged and kept
// in that form (issue 12), never refused where its encoded twin is kept.
func TestSafeReturnURLKeepsRawUTF8RelativeURLsEncoded(t *testing.T) {
	site := allowedSite()
	for raw, want := range map[string]string{
		"/中文/页面?q=微信":         "/%E4%B8%AD%E6%96%87/%E9%A1%B5%E9%9D%A2?q=%E5%BE%AE%E4%BF%A1",
		"/a?q=中文":             "/a?q=%E4%B8%AD%E6%96%87",
		"/é#片段":               "/%C3%A9#%E7%89%87%E6%AE%B5",
		"/%E4%B8%AD%E6%96%87": "/%E4%B8%AD%E6%96%87",
	} {
		if got := safeReturnURL(raw, site, nil); got != want {
			t.Errorf("safeReturnURL(%q) = %q, want %q", raw, got, want)
		}
		if enc := safeReturnURL(want, site, nil); enc != want {
			t.Errorf("its encoded form %q is not kept: %q", want, enc)
		}
	}
	for _, raw := range []string{"/中文\\x", "/中文 x", "/中文\x00", "//中文.com/x"} {
		if got := safeReturnURL(raw, site, nil); got != "/" {
			t.Errorf("safeReturnURL(%q) = %q, want /", raw, got)
		}
	}
}
