package evidence

import "strings"

// Lockdep reports name the locks they are about on lines of their own,
// each lock followed by where it was taken:
//
//	bash/1556 is trying to acquire lock:
//	 (&sb->s_type->i_mutex_key#8){+.+.+.}, at: do_lookup+0x267/0x2b1
//	but task is already holding lock:
//	 (&sig->cred_guard_mutex){+.+.+.}, at: [<ffffffff811c5a1d>] prepare_bprm_creds+0x2d/0x69
//
// ("takes:" for an inconsistent lock state, "just changed the state of
// lock:" for an irq lock inversion, and "is trying to release lock (x)
// at:" with the frame on the next line for a bad unlock balance). Those
// frames name the report even where the log holds no stack backtrace
// (older reports, and reports cut short), which is why syzbot titles
// lockdep reports from them (syzkaller's pkg/report linux.go).

// lockdepLine takes a line of a lockdep report that introduces or holds
// a lock's "at:", and tells whether it was one.
func (r *report) lockdepLine(t string) bool {
	if r.lockNext {
		r.lockNext = false
		s := t
		if i := strings.Index(t, "at: "); i >= 0 {
			s = t[i+len("at: "):]
		}
		s = stripAddr(strings.TrimSpace(s))
		if isFrame(s) && funcName(s) != "" {
			r.lockAt = append(r.lockAt, s)
			return true
		}
	}
	switch {
	case strings.HasSuffix(t, "is trying to acquire lock:"), strings.HasSuffix(t, "is already holding lock:"),
		strings.HasSuffix(t, "] takes:"), strings.HasSuffix(t, "just changed the state of lock:"):
		r.lockNext = true
	case strings.Contains(t, "is trying to release lock") && strings.HasSuffix(t, " at:"):
		r.lockNext = true
	default:
		return false
	}
	return true
}

// lockdepDirect is the function a lockdep report is titled by as
// printed, past no skip list, or "": recursive locking and irq lock
// inversion name the "at:" of the lock being taken (syzbot's titles
// come from those lines alone; a stack, if any, is not consulted). The
// other reports try their "at:" frames first, then the stack, with the
// skip rules: a circular dependency's "at:" may be in a lock helper.
func (r *report) lockdepDirect() string {
	if strings.Contains(r.o.Message, "recursive locking") || strings.Contains(r.o.Message, "irq lock inversion") {
		return funcName(r.lockAt[0])
	}
	return ""
}
