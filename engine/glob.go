package engine

import "strings"

// glob is a compiled shell-style pattern: `*` matches any run of
// characters (slashes included: finding types such as
// "Backdoor:EC2/C&CActivity.B!DNS" contain them) and `?` one character.
// Patterns without wildcards compare by equality, the common case.
type glob struct {
	pattern string
	kind    globKind
	literal string // for exact, prefix and suffix kinds
}

type globKind uint8

const (
	globExact globKind = iota
	globAny
	globPrefix // "abc*"
	globSuffix // "*abc"
	globGeneral
)

func compileGlob(p string) glob {
	g := glob{pattern: p}
	switch {
	case !strings.ContainsAny(p, "*?"):
		g.kind, g.literal = globExact, p
	case strings.Trim(p, "*") == "":
		g.kind = globAny
	case strings.IndexAny(p, "*?") == len(p)-1 && p[len(p)-1] == '*':
		g.kind, g.literal = globPrefix, p[:len(p)-1]
	case strings.LastIndexAny(p, "*?") == 0 && p[0] == '*':
		g.kind, g.literal = globSuffix, p[1:]
	default:
		g.kind = globGeneral
	}
	return g
}

func (g glob) match(s string) bool {
	switch g.kind {
	case globExact:
		return s == g.literal
	case globAny:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.literal)
	case globSuffix:
		return strings.HasSuffix(s, g.literal)
	}
	return wildcardMatch(g.pattern, s)
}

// wildcardMatch is the classic linear-time backtracking matcher for `*`
// and `?` (no character classes: finding types use brackets literally).
func wildcardMatch(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// globs matches if any pattern matches; an empty list matches anything.
type globs []glob

func compileGlobs(ps []string) globs {
	out := make(globs, len(ps))
	for i, p := range ps {
		out[i] = compileGlob(p)
	}
	return out
}

func (gs globs) matchAny(s string) bool {
	if len(gs) == 0 {
		return true
	}
	for _, g := range gs {
		if g.match(s) {
			return true
		}
	}
	return false
}
