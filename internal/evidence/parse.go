package evidence

import (
	"bufio"
	"bytes"
	"io"
	"sort"
	"strconv"
	"strings"
)

const (
	// maxLine bounds one console line; the rest of a longer line (binary
	// junk on the serial port, a runaway print) is dropped, so no input
	// makes Parse fail with bufio.ErrTooLong.
	maxLine = 1 << 20
	// maxText bounds Report.Text: it is an excerpt for people, and an
	// oops with its summary fits.
	maxText = 80
	// maxUnknown unrecognised lines in a row end an open report: a report
	// cut short (the guest died mid-print) must not swallow what follows.
	maxUnknown = 8
	// maxSeen is how many recent reports a duplicate is looked for among:
	// CI logs print the console and then a dmesg dump of the same
	// records, with the same timestamps.
	maxSeen = 64
)

const (
	cutHere        = "------------[ cut here ]------------"
	recursiveFault = "Fixing recursive fault but reboot is needed!"
)

// stream is the parsing state of one source of lines: the whole log, or
// with CONFIG_PRINTK_CALLER one task or CPU, whose report lines may
// interleave with another's.
type stream struct {
	cur *report
	// prelude holds the lines after "cut here" while no report is open:
	// WARN(cond, fmt, ...) prints its message there, before the WARNING
	// line. nil when no "cut here" is pending.
	prelude []string
	// prev is the last line seen outside a report: CONFIG_DEBUG_LIST
	// prints "list_del corruption. ..." before BUG()'s "cut here".
	prev string
}

type parser struct {
	emit    func(Report)
	main    stream
	callers map[string]*stream // by caller id, when lines carry one
	n       int                // line number of the line being fed
	marked  bool               // some line carried a kernel prefix
	caller  string             // the caller id of the last line with a prefix
	// held is the last closed report, emitted when another report starts
	// or the input ends: a panic on its account, or a recursive fault
	// note, may still join it.
	held   *report
	seen   [maxSeen]string // keys of the last reports emitted
	nseen  int
	sorted bool // reports may close out of order (interleaved callers)
	skip   skipCache
}

// Stream reads a console log and calls emit with each report as soon as
// it is complete (at most one report is held back, for a panic on its
// account to join it), so memory stays flat whatever the log's size.
// With interleaved CONFIG_PRINTK_CALLER streams, reports come in the order
// they end. It returns a read error.
func Stream(r io.Reader, emit func(Report)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	sc.Split(scanLines)
	p := parser{emit: emit}
	partial := false // the last token was the head of an overlong line
	for sc.Scan() {
		tok := sc.Bytes()
		if !partial {
			p.line(string(tok))
		}
		partial = tok[len(tok)-1] != '\n'
	}
	p.finishAll()
	return sc.Err()
}

// Parse reads a console log and returns every report in it, in the order
// they start. It returns what it parsed so far together with a read error.
func Parse(r io.Reader) ([]Report, error) {
	var out []Report
	err := Stream(r, func(o Report) { out = append(out, o) })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out, err
}

// ParseBytes is Parse for a log in memory.
func ParseBytes(b []byte) []Report {
	out, _ := Parse(bytes.NewReader(b)) // a bytes.Reader does not fail, and scanLines never overflows
	return out
}

// scanLines splits at '\n' and keeps it, so that Parse can tell a line
// from the head of one longer than maxLine.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if len(data) > 0 && (atEOF || len(data) >= maxLine) {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// line feeds one input line, split first where two messages were glued
// together.
func (p *parser) line(raw string) {
	p.n++
	l := splitPrefix(raw)
	for {
		head, rest := splitGlued(l.msg)
		l.msg = head
		p.feed(l)
		if rest == "" {
			return
		}
		if next := splitPrefix(rest); next.marked {
			l = next
		} else {
			l.msg = rest // the same record, glued without a prefix
		}
	}
}

// gluePoints are messages that start a report or its trace and that a
// console may glue to the end of the previous message when two CPUs print
// at once or a line lost its newline ("...dffffc0000000000Call Trace:").
var gluePoints = [...]string{"Call Trace:", "BUG: ", "WARNING: ", PanicPrefix, cutHere, "general protection fault"}

// splitGlued splits a line in two where a second timestamped record, or a
// report message glued to a non-blank character, begins.
func splitGlued(s string) (string, string) {
	if n := len(s) - len("Call trace:"); n > 2 && s[n-1] == ' ' && s[n-2] != ' ' && s[n-2] != ':' &&
		(strings.HasSuffix(s, "Call trace:") || strings.HasSuffix(s, "Call Trace:")) {
		// "x0 : 0000000000000300 Call trace:": a trace header ending
		// another line is glued to it, whatever comes before.
		return s[:n], s[n:]
	}
	// A second timestamped record: "foo[   12.2] bar".
	for i := 1; i < len(s); {
		j := strings.IndexByte(s[i:], '[')
		if j < 0 {
			break
		}
		i += j
		if _, _, ok := timestamp(s[i:]); ok && isDigitAt(s, i+1) {
			return s[:i], s[i:]
		}
		i++
	}
	var first [len(gluePoints)]int
	firstGlue(s, &first)
	for gi, g := range gluePoints {
		i := first[gi]
		if i <= 0 {
			continue
		}
		c := s[i-1]
		if c == ' ' || c == ':' || c == ']' || c == '\t' || c == '>' || c == '-' || c == '"' || c == '\'' ||
			c == '_' || 'A' <= c && c <= 'Z' {
			continue // a message quoting it, the start of a record, or a longer word ("ODEBUG: ")
		}
		if g == "BUG: " && strings.HasSuffix(s[:i], "watchdog: ") {
			continue
		}
		return s[:i], s[i:]
	}
	return s, ""
}

// glueStart marks the first bytes of gluePoints.
var glueStart = func() (t [256]bool) {
	for _, g := range gluePoints {
		t[g[0]] = true
	}
	return t
}()

// firstGlue sets first[i] to the index of the first gluePoints[i] in s,
// or -1: what strings.Index gives, in one pass over s rather than one per
// glue point (six scans of every line were a tenth of a parse).
func firstGlue(s string, first *[len(gluePoints)]int) {
	left := len(gluePoints)
	for i := range first {
		first[i] = -1
	}
	for i := 0; i < len(s) && left > 0; i++ {
		if !glueStart[s[i]] {
			continue
		}
		for gi, g := range gluePoints {
			if first[gi] < 0 && g[0] == s[i] && strings.HasPrefix(s[i:], g) {
				first[gi] = i
				left--
			}
		}
	}
}

// isDigitAt tells whether s[i], past the blanks of a timestamp, is a digit.
func isDigitAt(s string, i int) bool {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i < len(s) && isDigit(s[i])
}

func (p *parser) feed(l kline) {
	if l.marked {
		p.marked = true
		p.caller = l.caller
	} else if p.marked {
		// A line a mailer or terminal wrapped continues the record
		// before it, whose caller it shares.
		l.caller = p.caller
		if !p.reportLine(l) {
			return // another program's output on the console
		}
	}
	s := &p.main
	if l.caller != "" {
		s = p.stream(l.caller)
	}
	msg := strings.TrimPrefix(l.msg, "kmemleak: ") // kmemleak.verbose prints its reports to the console
	t := strings.TrimSpace(msg)
	if t == "" {
		return
	}
	if strings.HasPrefix(t, recursiveFault) {
		if s.cur != nil {
			s.cur.o.RecursiveFault = true
			s.cur.text(msg)
		} else if p.held != nil {
			p.held.o.RecursiveFault = true
		}
		return
	}
	if r := s.header(t); r != nil {
		if r.o.Kind == KindPanic && p.panicJoins(s, t, msg) {
			return
		}
		if c := s.cur; c != nil && c.joins(r) {
			c.join(r, msg)
			return
		}
		if c := s.cur; c != nil && r.o.Kind == c.o.Kind && bannerRepeats(r.o.Kind) &&
			onlyBannerLines(c.o.Text) && c.o.Location == r.o.Location && isInlineFrame(c.culprit) {
			// A symbolizer printed the WARNING or sanitizer banner once
			// per inline level (two levels or more: ODEBUG's
			// debug_print_object inlined into __debug_check_no_obj_freed
			// inlined into debug_check_no_obj_freed; KASAN's
			// debug_spin_unlock inlined into do_raw_spin_unlock): the
			// same report, now naming the next level or the real
			// function.
			c.culprit = r.culprit
			c.text(msg)
			return
		}
		p.finish(s)
		if r.o.Kind == KindWarning || r.o.Kind == KindBug {
			r.o.Detail = strings.Join(s.prelude, "\n")
		}
		s.prelude = nil
		r.o.Line = p.n
		r.o.Time = l.time
		r.text(msg)
		s.cur = r
		return
	}
	if t == cutHere {
		if s.cur != nil && s.cur.joinsNext {
			return // the WARN or BUG that the open report's banner announced
		}
		// WARN and BUG print it before their report: whatever was open is over.
		p.finish(s)
		s.prelude = []string{}
		if strings.Contains(s.prev, " corruption") {
			s.prelude = append(s.prelude, s.prev)
		}
		return
	}
	if s.cur != nil {
		if s.cur.body(msg, t) {
			p.finish(s)
		}
		return
	}
	s.prev = t
	if s.prelude != nil {
		if len(s.prelude) == maxUnknown {
			s.prelude = nil // no report came
			return
		}
		s.prelude = append(s.prelude, t)
	}
}

// reportLine tells whether an unmarked line in a marked log continues the
// open report: some consoles print a report's continuation lines (frames,
// register dumps) without the timestamp of its first line.
func (p *parser) reportLine(l kline) bool {
	s := &p.main
	if l.caller != "" {
		s = p.stream(l.caller)
	}
	if s.cur == nil {
		return false
	}
	t := strings.TrimSpace(l.msg)
	return s.cur.bannerTail || isElision(t) || isFrame(stripAddr(strings.TrimPrefix(t, "? "))) || isMarker(t) ||
		strings.HasPrefix(t, "Call Trace:") || hasAnyPrefix(t, regDumpPrefixes) || strings.HasPrefix(t, "---[ end ")
}

// stream returns the state of a caller id's lines.
func (p *parser) stream(id string) *stream {
	if p.callers == nil {
		p.callers = make(map[string]*stream)
	}
	s := p.callers[id]
	if s == nil {
		if len(p.callers) > 256 {
			// Idle streams hold nothing worth keeping; a log with many
			// tasks must not grow the map without bound.
			for k, v := range p.callers {
				if v.cur == nil && v.prelude == nil {
					delete(p.callers, k)
				}
			}
		}
		s = &stream{}
		p.callers[id] = s
	}
	return s
}

// panicJoins makes a panic that __warn or a sanitizer raised because of
// panic_on_warn ("Kernel panic - not syncing: kernel: panic_on_warn set
// ...", "... KASAN: panic_on_warn set ...") part of the report that
// caused it, and tells whether it did.
func (p *parser) panicJoins(s *stream, t, msg string) bool {
	if !strings.Contains(t, "panic_on_warn set") {
		return false
	}
	r := s.cur
	if r == nil && p.held != nil && p.held.o.Kind != KindPanic {
		r = p.held // the report ended first (KASAN's closing "=====")
		p.held = nil
		s.cur = r
	}
	if r == nil || r.o.Kind == KindPanic || r.o.Panic != "" {
		return false
	}
	r.o.Panic = t
	r.o.Complete = false
	r.end = endPanic
	r.phase = inBody
	r.regsDone = true
	r.cpuSeen = true
	// With registers, __warn printed the trace before panicking, and the
	// panic's dump_stack only adds panic and __warn frames; without (old
	// WARN_ON via warn_slowpath), the panic's trace is the WARNING's.
	r.frozen = len(r.o.CallTrace) > 0
	r.flush()
	r.text(msg)
	return true
}

// finish closes the stream's open report: the report held before it is
// emitted, and this one is held in its place.
func (p *parser) finish(s *stream) {
	r := s.cur
	if r == nil {
		return
	}
	s.cur = nil
	if r.end == endStack && r.phase == inTrace && r.frames > 0 && r.depth <= 0 {
		// A trace without markers, ended by the next report.
		r.o.Complete = true
	}
	if r.end == endPanic && r.o.Panic != "" && r.o.Kind != KindPanic && r.phase == inTail {
		r.o.Complete = true
	}
	p.release()
	p.held = r
}

// finishAll closes every stream at the end of the input.
func (p *parser) finishAll() {
	for _, s := range p.allStreams() {
		if r := s.cur; r != nil && r.end == endStack && r.phase == inTrace {
			// The input ended inside the trace: not complete.
			r.frames = 0
		}
		p.finish(s)
	}
	p.release()
}

func (p *parser) allStreams() []*stream {
	out := []*stream{&p.main}
	ids := make([]string, 0, len(p.callers))
	for id := range p.callers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out = append(out, p.callers[id])
	}
	return out
}

// release emits the held report, unless it repeats a recent one.
func (p *parser) release() {
	r := p.held
	if r == nil {
		return
	}
	p.held = nil
	if r.o.CallTrace == nil {
		r.o.CallTrace = []string{} // "call_trace": [] rather than null
	}
	classifyWarn(r)
	if r.o.Arch == "" {
		r.o.Arch = archFrom(r.o.CallTrace)
	}
	if r.o.Arch == "" {
		r.o.Arch = r.weakArch
	}
	r.blame(&p.skip)
	r.o.Title = r.title()
	if r.o.Time > 0 {
		key := strconv.FormatFloat(r.o.Time, 'f', -1, 64) + "\x00" + r.o.Message + "\x00" + r.o.RIP
		for _, k := range p.seen {
			if k == key {
				return // the same record printed again: a dmesg dump after the console
			}
		}
		p.seen[p.nseen%maxSeen] = key
		p.nseen++
	}
	p.emit(r.o)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// bannerRepeats tells the kinds whose banner names a frame that a
// symbolizer prints once per inline level.
func bannerRepeats(k Kind) bool {
	return k == KindWarning || k == KindKASAN || k == KindKMSAN || k == KindKFENCE
}

// onlyBannerLines tells whether a report holds nothing yet but its
// banner lines ("WARNING: ...", "BUG: KASAN: ...").
func onlyBannerLines(text []string) bool {
	for _, l := range text {
		if !strings.Contains(l, "WARNING: ") && !strings.Contains(l, "BUG: K") {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s) // the regexps matched digits; an absurd length gives 0
	return n
}
