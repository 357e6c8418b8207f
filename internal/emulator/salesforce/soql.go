package salesforce

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The SOQL subset: SELECT f[, f...] | COUNT() FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS
// FIRST|LAST][, ...]] [LIMIT n] [OFFSET n], where cond combines `field op literal`, `field [NOT] IN
// (...)` and `field LIKE 'pattern'` with AND, OR, NOT and parentheses.

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDateTime
	tDate
	tOp
	tComma
	tLParen
	tRParen
)

type token struct {
	kind tokKind
	text string // identifiers and operators as written; the unescaped value for strings
	pos  int
}

type soqlError struct {
	code string
	msg  string
}

func (e *soqlError) Error() string { return e.code + ": " + e.msg }

var (
	reDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2}|[+-]\d{4})`)
	reDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	reNumber   = regexp.MustCompile(`^-?\d+(\.\d+)?`)
)

func malformed(q string, pos int, msg string) *soqlError {
	col := pos + 1
	return &soqlError{"MALFORMED_QUERY", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\n%s", q, strings.Repeat(" ", pos), col, msg)}
}

func lex(q string) ([]token, *soqlError) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',':
			toks = append(toks, token{tComma, ",", i})
			i++
		case c == '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(q) {
				if q[i] == '\\' && i+1 < len(q) {
					switch q[i+1] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(q[i+1])
					}
					i += 2
					continue
				}
				if q[i] == '\'' {
					closed = true
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			if !closed {
				return nil, malformed(q, start, "line 1:"+strconv.Itoa(start)+" mismatched character '<EOF>' expecting '''")
			}
			toks = append(toks, token{tString, b.String(), start})
		case c == '=' || c == '<' || c == '>' || c == '!':
			op := string(c)
			if i+1 < len(q) && (q[i+1] == '=' || (c == '<' && q[i+1] == '>')) {
				op += string(q[i+1])
			}
			if op == "!" {
				return nil, malformed(q, i, "unexpected token: '!'")
			}
			toks = append(toks, token{tOp, op, i})
			i += len(op)
		case c >= '0' && c <= '9' || c == '-':
			rest := q[i:]
			if m := reDateTime.FindString(rest); m != "" {
				toks = append(toks, token{tDateTime, m, i})
				i += len(m)
			} else if m := reDate.FindString(rest); m != "" {
				toks = append(toks, token{tDate, m, i})
				i += len(m)
			} else if m := reNumber.FindString(rest); m != "" {
				toks = append(toks, token{tNumber, m, i})
				i += len(m)
			} else {
				return nil, malformed(q, i, fmt.Sprintf("unexpected token: '%c'", c))
			}
		case c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			start := i
			for i < len(q) && (q[i] == '_' || q[i] == '.' || q[i] >= 'a' && q[i] <= 'z' || q[i] >= 'A' && q[i] <= 'Z' || q[i] >= '0' && q[i] <= '9') {
				i++
			}
			toks = append(toks, token{tIdent, q[start:i], start})
		default:
			return nil, malformed(q, i, fmt.Sprintf("unexpected token: '%c'", c))
		}
	}
	return append(toks, token{tEOF, "<EOF>", len(q)}), nil
}

// soqlQuery is a parsed query bound to an object.
type soqlQuery struct {
	object *sobject
	fields []*Field
	count  bool
	where  cond
	order  []orderItem
	limit  int
	offset int
}

type orderItem struct {
	field      *Field
	desc       bool
	nullsFirst bool
}

type cond interface {
	eval(s *Server, o *sobject, r *record) bool
}

type andCond []cond
type orCond []cond
type notCond struct{ c cond }

func (a andCond) eval(s *Server, o *sobject, r *record) bool {
	for _, c := range a {
		if !c.eval(s, o, r) {
			return false
		}
	}
	return true
}

func (a orCond) eval(s *Server, o *sobject, r *record) bool {
	for _, c := range a {
		if c.eval(s, o, r) {
			return true
		}
	}
	return false
}

func (n notCond) eval(s *Server, o *sobject, r *record) bool { return !n.c.eval(s, o, r) }

type cmpCond struct {
	field *Field
	op    string // = != < <= > >= IN NOTIN LIKE
	vals  []any  // typed literals: string, float64, bool, time.Time, nil
	like  *regexp.Regexp
}

type parser struct {
	q    string
	toks []token
	i    int
	s    *Server
	o    *sobject
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) keyword(kw string) bool {
	t := p.peek()
	if t.kind == tIdent && strings.EqualFold(t.text, kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(kw string) *soqlError {
	if !p.keyword(kw) {
		t := p.peek()
		return malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
	}
	return nil
}

var reserved = map[string]bool{"select": true, "from": true, "where": true, "order": true, "by": true, "limit": true,
	"offset": true, "and": true, "or": true, "not": true, "in": true, "like": true, "asc": true, "desc": true, "nulls": true}

// parseSOQL parses q against the server's objects. The caller holds s.mu.
func (s *Server) parseSOQL(q string) (*soqlQuery, *soqlError) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{q: q, toks: toks, s: s}
	if err := p.expect("SELECT"); err != nil {
		return nil, err
	}
	var names []token
	count := false
	if t := p.peek(); t.kind == tIdent && strings.EqualFold(t.text, "COUNT") && p.toks[p.i+1].kind == tLParen {
		p.i += 2
		if p.next().kind != tRParen {
			return nil, malformed(q, t.pos, "unexpected token: 'COUNT'")
		}
		count = true
	} else {
		for {
			t := p.next()
			if t.kind != tIdent || reserved[strings.ToLower(t.text)] {
				return nil, malformed(q, t.pos, "unexpected token: '"+t.text+"'")
			}
			names = append(names, t)
			if p.peek().kind != tComma {
				break
			}
			p.i++
		}
	}
	if err := p.expect("FROM"); err != nil {
		return nil, err
	}
	ot := p.next()
	if ot.kind != tIdent {
		return nil, malformed(q, ot.pos, "unexpected token: '"+ot.text+"'")
	}
	for name, o := range s.objects {
		if strings.EqualFold(name, ot.text) {
			p.o = o
		}
	}
	if p.o == nil {
		return nil, &soqlError{"INVALID_TYPE", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nsObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q, strings.Repeat(" ", ot.pos), ot.pos+1, ot.text)}
	}
	sq := &soqlQuery{object: p.o, count: count, limit: -1}
	for _, t := range names {
		f, err := p.fieldOf(t)
		if err != nil {
			return nil, err
		}
		sq.fields = append(sq.fields, f)
	}
	if p.keyword("WHERE") {
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		sq.where = c
	}
	if p.keyword("ORDER") {
		if err := p.expect("BY"); err != nil {
			return nil, err
		}
		for {
			t := p.next()
			f, err := p.fieldOf(t)
			if err != nil {
				return nil, err
			}
			it := orderItem{field: f, nullsFirst: true}
			if p.keyword("DESC") {
				it.desc, it.nullsFirst = true, false
			} else {
				p.keyword("ASC")
			}
			if p.keyword("NULLS") {
				switch {
				case p.keyword("FIRST"):
					it.nullsFirst = true
				case p.keyword("LAST"):
					it.nullsFirst = false
				default:
					t := p.peek()
					return nil, malformed(q, t.pos, "unexpected token: '"+t.text+"'")
				}
			}
			sq.order = append(sq.order, it)
			if p.peek().kind != tComma {
				break
			}
			p.i++
		}
	}
	if p.keyword("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed(q, t.pos, "unexpected token: '"+t.text+"'")
		}
		sq.limit = n
	}
	if p.keyword("OFFSET") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			return nil, malformed(q, t.pos, "unexpected token: '"+t.text+"'")
		}
		if n > 2000 {
			return nil, &soqlError{"NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"}
		}
		sq.offset = n
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, malformed(q, t.pos, "unexpected token: '"+t.text+"'")
	}
	return sq, nil
}

func (p *parser) fieldOf(t token) (*Field, *soqlError) {
	if t.kind != tIdent || reserved[strings.ToLower(t.text)] {
		return nil, malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
	}
	if strings.Contains(t.text, ".") {
		rel := t.text[:strings.Index(t.text, ".")]
		return nil, &soqlError{"INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nDidn't understand relationship '%s' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.", p.q, strings.Repeat(" ", t.pos), t.pos+1, rel)}
	}
	f := p.o.field(t.text)
	if f == nil {
		return nil, &soqlError{"INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nNo such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", p.q, strings.Repeat(" ", t.pos), t.pos+1, t.text, p.o.name)}
	}
	return f, nil
}

func (p *parser) parseOr() (cond, *soqlError) {
	c, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	or := orCond{c}
	for p.keyword("OR") {
		c, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		or = append(or, c)
	}
	if len(or) == 1 {
		return c, nil
	}
	return or, nil
}

func (p *parser) parseAnd() (cond, *soqlError) {
	c, err := p.parseFactor()
	if err != nil {
		return nil, err
	}
	and := andCond{c}
	for p.keyword("AND") {
		c, err := p.parseFactor()
		if err != nil {
			return nil, err
		}
		and = append(and, c)
	}
	if len(and) == 1 {
		return c, nil
	}
	return and, nil
}

func (p *parser) parseFactor() (cond, *soqlError) {
	if p.keyword("NOT") {
		c, err := p.parseFactor()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	if p.peek().kind == tLParen {
		p.i++
		c, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tRParen {
			return nil, malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
		}
		return c, nil
	}
	ft := p.next()
	f, err := p.fieldOf(ft)
	if err != nil {
		return nil, err
	}
	c := &cmpCond{field: f}
	switch {
	case p.peek().kind == tOp:
		c.op = p.next().text
		if c.op == "<>" {
			c.op = "!="
		}
		v, err := p.literal(f)
		if err != nil {
			return nil, err
		}
		c.vals = []any{v}
		if v == nil && c.op != "=" && c.op != "!=" {
			t := p.toks[p.i-1]
			return nil, malformed(p.q, t.pos, "unexpected token: 'null'")
		}
	case p.keyword("LIKE"):
		c.op = "LIKE"
		t := p.next()
		if t.kind != tString {
			return nil, malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
		}
		c.like = likePattern(t.text)
	case p.keyword("IN"):
		c.op = "IN"
		if err := p.list(c); err != nil {
			return nil, err
		}
	case p.keyword("NOT"):
		if err := p.expect("IN"); err != nil {
			return nil, err
		}
		c.op = "NOTIN"
		if err := p.list(c); err != nil {
			return nil, err
		}
	default:
		t := p.peek()
		return nil, malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
	}
	return c, nil
}

func (p *parser) list(c *cmpCond) *soqlError {
	if t := p.next(); t.kind != tLParen {
		return malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
	}
	for {
		v, err := p.literal(c.field)
		if err != nil {
			return err
		}
		c.vals = append(c.vals, v)
		t := p.next()
		if t.kind == tRParen {
			return nil
		}
		if t.kind != tComma {
			return malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
		}
	}
}

func likePattern(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range p {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// literal reads a literal and types it for field f, rejecting mismatches as Salesforce does.
func (p *parser) literal(f *Field) (any, *soqlError) {
	t := p.next()
	typeErr := func(want string, quoted bool) *soqlError {
		msg := fmt.Sprintf("value of filter criterion for field '%s' must be of type %s", f.Name, want)
		if !quoted {
			msg += " and should not be enclosed in quotes"
		} else {
			msg += " and should be enclosed in quotes"
		}
		return &soqlError{"INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\n%s", p.q, strings.Repeat(" ", t.pos), t.pos+1, msg)}
	}
	if t.kind == tIdent && strings.EqualFold(t.text, "null") {
		return nil, nil
	}
	switch f.Type {
	case "datetime":
		if t.kind != tDateTime {
			return nil, typeErr("dateTime", false)
		}
		v, ok := parseDateTime(t.text)
		if !ok {
			return nil, malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
		}
		return v, nil
	case "date":
		if t.kind != tDate {
			return nil, typeErr("date", false)
		}
		return t.text, nil
	case "boolean":
		if t.kind == tIdent && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")) {
			return strings.EqualFold(t.text, "true"), nil
		}
		return nil, typeErr("boolean", false)
	case "int", "double", "currency", "percent":
		if t.kind != tNumber {
			return nil, typeErr("number", false)
		}
		n, _ := strconv.ParseFloat(t.text, 64)
		return n, nil
	default:
		if t.kind != tString {
			if t.kind == tEOF || t.kind == tRParen || t.kind == tComma {
				return nil, malformed(p.q, t.pos, "unexpected token: '"+t.text+"'")
			}
			return nil, typeErr("string", true)
		}
		if f.Type == "id" || f.Type == "reference" {
			if n := normalizeID(t.text); n != "" {
				return n, nil
			}
			return nil, &soqlError{"INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\ninvalid ID field: %s", p.q, strings.Repeat(" ", t.pos), t.pos+1, t.text)}
		}
		return t.text, nil
	}
}

// compare orders two non-nil values of one field type: strings case-insensitively.
func compare(a, b any) int {
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return strings.Compare(strings.ToLower(x), strings.ToLower(y))
	case float64:
		y, _ := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		y, _ := b.(time.Time)
		return x.Compare(y)
	}
	return 0
}

func (c *cmpCond) eval(s *Server, o *sobject, r *record) bool {
	v := o.get(s, r, c.field.Name)
	if id, ok := v.(string); ok && (c.field.Type == "id" || c.field.Type == "reference") {
		v = normalizeID(id)
	}
	switch c.op {
	case "LIKE":
		sv, ok := v.(string)
		return ok && c.like.MatchString(sv)
	case "IN", "NOTIN":
		in := false
		for _, lit := range c.vals {
			if lit == nil && v == nil || lit != nil && v != nil && compare(v, lit) == 0 {
				in = true
			}
		}
		return in == (c.op == "IN")
	}
	lit := c.vals[0]
	if lit == nil || v == nil {
		eq := lit == nil && v == nil
		if c.op == "=" {
			return eq
		}
		if c.op == "!=" {
			return !eq
		}
		return false
	}
	n := compare(v, lit)
	switch c.op {
	case "=":
		return n == 0
	case "!=":
		return n != 0
	case "<":
		return n < 0
	case "<=":
		return n <= 0
	case ">":
		return n > 0
	case ">=":
		return n >= 0
	}
	return false
}

// run evaluates the query. all includes recycle-bin records (queryAll). The caller holds s.mu.
func (s *Server) run(q *soqlQuery, all bool) []*record {
	o := q.object
	s.expire(o)
	var out []*record
	for _, r := range o.records {
		if r.deleted && !all {
			continue
		}
		if q.where != nil && !q.where.eval(s, o, r) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		for _, it := range q.order {
			a, b := o.get(s, out[i], it.field.Name), o.get(s, out[j], it.field.Name)
			if a == nil || b == nil {
				if a == nil && b == nil {
					continue
				}
				return (a == nil) == it.nullsFirst
			}
			n := compare(a, b)
			if it.field.Type == "id" {
				n = strings.Compare(a.(string), b.(string))
			}
			if n != 0 {
				return (n < 0) != it.desc
			}
		}
		return out[i].id < out[j].id
	})
	if q.offset > 0 {
		if q.offset >= len(out) {
			out = nil
		} else {
			out = out[q.offset:]
		}
	}
	if q.limit >= 0 && q.limit < len(out) {
		out = out[:q.limit]
	}
	return out
}
