package evidence

import (
	"regexp"
	"strings"
)

// Where a report's parts come from when they are not where its banner
// is: a banner a mailer wrapped, and a banner that is the message of the
// WARNING printed after it.

var (
	// reWarnTail is the rest of a wrapped "WARNING: CPU: 0 PID: 0 at"
	// banner: "kernel/context_tracking.c:128 ct_kernel_exit.constprop.0+0xe0/0xe8",
	// or the function alone when only it was wrapped.
	reWarnTail = regexp.MustCompile(`^(?:(\S+:\d+) )?(\S+(?: \[[^\]]+\])?)$`)
	// reDentry is fs/dcache.c's umount_check: "BUG: Dentry
	// ffff88807d684a48{i=1a,n=#3}  still in use (1) [unmount of f2fs
	// loop0]", printed just before its WARN.
	reDentry = regexp.MustCompile(`^BUG: Dentry .* still in use \(\d+\) \[(\w+) of [^\]]*\]`)
)

// bannerRest takes the line after a banner a mailer wrapped, and tells
// whether it was the banner's rest: a WARNING's location and function, a
// fault's "virtual address ...".
func (r *report) bannerRest(t string) bool {
	if r.o.Kind == KindWarning {
		m := reWarnTail.FindStringSubmatch(t)
		if m == nil || !isFrame(m[2]) && !isIdent(m[2]) {
			return false
		}
		if r.o.Location == "" {
			r.o.Location = m[1]
		}
		r.culprit = strings.TrimSuffix(m[2], "()")
		return true
	}
	rest, ok := strings.CutPrefix(t, "virtual address ")
	if !ok {
		rest, ok = strings.CutPrefix(t, "address ")
	}
	if f := strings.Fields(rest); ok && len(f) > 0 {
		r.o.Address = strings.TrimSuffix(f[0], ",")
		return true
	}
	return false
}

// dentryHeader recognises umount_check's "BUG: Dentry ... still in use
// (1) [unmount of fs dev]". syzbot titles it by the action alone, "BUG:
// Dentry still in use in unmount" (the file system and device would
// split one bug into many), and the WARNING that umount_check raises
// right after is the same report: it brings the registers and trace.
func dentryHeader(t string) *report {
	m := reDentry.FindStringSubmatch(t)
	if m == nil {
		return nil
	}
	r := newReport(KindBug, endStack, t, "BUG: Dentry still in use in "+m[1])
	r.fixedTitle = true
	r.joinsNext = true
	return r
}

// joins tells whether a report that starts (n) is the open one's (c)
// own: the WARNING or kernel BUG whose message c's banner was.
func (c *report) joins(n *report) bool {
	return c.joinsNext && (n.o.Kind == KindWarning || n.o.Kind == KindBug && n.base == "kernel BUG") &&
		len(c.o.Text) <= 2
}

// join makes the WARNING or BUG that starts (n) part of the open report
// (c): its location, banner frame, CPU and end.
func (c *report) join(n *report, msg string) {
	c.joinsNext = false
	c.culprit = n.culprit
	c.o.Location = n.o.Location
	if c.o.CPU < 0 {
		c.o.CPU = n.o.CPU
	}
	if c.o.PID == 0 {
		c.o.PID, c.o.Comm = n.o.PID, n.o.Comm
	}
	c.end, c.wantsDie = n.end, n.wantsDie
	c.text(msg)
}
