package contact

// ProblemKind says which rule an input breaks.
type ProblemKind int

const (
	// DuplicateName: two items of one list have the same name. Msg is
	// "duplicate newsletter name" (or waitlist).
	DuplicateName ProblemKind = iota + 1
	// InvalidSource: an item's source is not an absolute URL. Msg says why.
	InvalidSource
	// BrokenFieldRule: a waitlist's fields break a waitlist field rule. Rule
	// holds the details; Field is the member of fields ("" when fields itself is wrong).
	BrokenFieldRule
)

// Problem is one thing the contact rules refuse in a request, located by the
// list ("newsletters" or "waitlists"), the item's index and its field.
type Problem struct {
	Kind  ProblemKind
	List  string
	Index int
	Field string
	Msg   string
	Input any
	Rule  *FieldProblem // BrokenFieldRule only
}

// Validate checks what the API schema cannot: names unique within each list,
// item sources absolute URLs, waitlist fields following the rules (none when
// rules is empty: the HTTP layer checks them as the body is read). It also
// writes each source in its normalised form, the one stored. The problems come
// in the order of the items, each item's as: name, source, fields.
func (p *Patch) Validate(rules FieldRules) []Problem {
	var problems []Problem
	names := make(map[string]bool, max(len(p.Newsletters), len(p.Waitlists)))
	for i := range p.Newsletters {
		n := &p.Newsletters[i]
		problems = checkName(problems, names, "newsletters", "newsletter", i, n.Name)
		problems = normaliseSource(problems, &n.Source, "newsletters", i)
	}
	clear(names)
	for i := range p.Waitlists {
		w := &p.Waitlists[i]
		problems = checkName(problems, names, "waitlists", "waitlist", i, w.Name)
		problems = normaliseSource(problems, &w.Source, "waitlists", i)
		if w.Fields != nil && len(rules) > 0 {
			for _, fp := range rules.Check(w.Name, w.Fields) {
				problems = append(problems, Problem{Kind: BrokenFieldRule, List: "waitlists", Index: i,
					Field: fp.Field, Msg: fp.Msg, Input: fp.Input, Rule: &fp})
			}
		}
	}
	return problems
}

func checkName(problems []Problem, seen map[string]bool, list, kind string, i int, name string) []Problem {
	if seen[name] {
		problems = append(problems, Problem{Kind: DuplicateName, List: list, Index: i, Field: "name",
			Msg: "duplicate " + kind + " name", Input: name})
	}
	seen[name] = true
	return problems
}

func normaliseSource(problems []Problem, src *Change[string], list string, i int) []Problem {
	if src.To == nil {
		return problems
	}
	norm, why := NormaliseSource(*src.To)
	if why != "" {
		return append(problems, Problem{Kind: InvalidSource, List: list, Index: i, Field: "source", Msg: why, Input: *src.To})
	}
	src.To = &norm
	return problems
}
