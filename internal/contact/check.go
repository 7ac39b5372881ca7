package contact

// Problem is a name given twice in one list of a request ("newsletters" or
// "waitlists"): Index is the item that repeats it, Msg "duplicate newsletter
// name" (or waitlist).
type Problem struct {
	List  string
	Index int
	Msg   string
	Input string
}

// Validate checks what the API schema cannot: names unique within each list.
// The rest of an item (source URLs, waitlist fields) is checked, and sources
// normalised, as the body is read (internal/httpapi/input.go). The problems
// come in the order of the items.
func (p *Patch) Validate() []Problem {
	var problems []Problem
	names := make(map[string]bool, max(len(p.Newsletters), len(p.Waitlists)))
	for i := range p.Newsletters {
		problems = checkName(problems, names, "newsletters", "newsletter", i, p.Newsletters[i].Name)
	}
	clear(names)
	for i := range p.Waitlists {
		problems = checkName(problems, names, "waitlists", "waitlist", i, p.Waitlists[i].Name)
	}
	return problems
}

func checkName(problems []Problem, seen map[string]bool, list, kind string, i int, name string) []Problem {
	if seen[name] {
		problems = append(problems, Problem{List: list, Index: i, Msg: "duplicate " + kind + " name", Input: name})
	}
	seen[name] = true
	return problems
}
