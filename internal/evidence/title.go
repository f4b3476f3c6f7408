package evidence

import "strings"

// notGuilty lists functions that a title should look past: the machinery
// that reports a problem (die, __warn, dump_stack), that takes a fault,
// and that a blocked task sleeps in (a hung task's trace always starts in
// __schedule; what matters is who waited). Names are compared without
// compiler suffixes (.cold, .isra.0).
var notGuilty = map[string]bool{
	// reporting
	"dump_stack": true, "dump_stack_lvl": true, "show_stack": true, "panic": true,
	"__warn": true, "warn_slowpath_fmt": true, "warn_slowpath_null": true, "report_bug": true,
	"handle_bug": true, "exc_invalid_op": true, "asm_exc_invalid_op": true, "do_trap": true,
	"do_error_trap": true, "die": true, "__die": true, "__die_body": true, "oops_end": true,
	"__might_resched": true, "__might_sleep": true, "___might_sleep": true, "__might_fault": true,
	// faults
	"page_fault_oops": true, "no_context": true, "__bad_area_nosemaphore": true,
	"bad_area_nosemaphore": true, "do_user_addr_fault": true, "exc_page_fault": true,
	"asm_exc_page_fault": true, "kernelmode_fixup_or_oops": true, "do_page_fault": true,
	"page_fault": true, "exc_general_protection": true, "asm_exc_general_protection": true,
	"general_protection": true,
	// sleeping and waiting
	"__schedule": true, "schedule": true, "schedule_timeout": true, "schedule_hrtimeout": true,
	"schedule_hrtimeout_range": true, "schedule_hrtimeout_range_clock": true,
	"schedule_preempt_disabled": true, "io_schedule": true, "io_schedule_timeout": true,
	"__wait_for_common": true, "wait_for_common": true, "wait_for_common_io": true,
	"__mutex_lock": true, "__mutex_lock_slowpath": true, "mutex_lock": true,
	"mutex_lock_nested": true, "mutex_lock_killable": true, "mutex_lock_interruptible": true,
	"rwsem_down_read_slowpath": true, "rwsem_down_write_slowpath": true, "down_read": true,
	"down_write": true, "down": true, "__down": true, "__down_common": true,
	"__down_timeout": true, "__down_killable": true, "__down_interruptible": true,
	"msleep": true, "msleep_interruptible": true, "usleep_range": true,
	"usleep_range_state": true, "do_nanosleep": true, "hrtimer_nanosleep": true,
	"bit_wait": true, "bit_wait_io": true, "__wait_on_bit": true,
	"out_of_line_wait_on_bit": true, "__flush_work": true, "flush_work": true,
	"percpu_down_write": true, "percpu_rwsem_wait": true, "__percpu_down_read": true,
	"__wait_rcu_gp": true, "wait_rcu_gp": true, "synchronize_rcu": true,
	"__synchronize_srcu": true, "synchronize_srcu": true,
}

// guilty names the function a report blames: the one at RIP, else the
// first reliable frame, past the ones in notGuilty.
func guilty(rip string, trace []string) string {
	if f := funcName(rip); f != "" && !notGuilty[f] && !strings.HasPrefix(f, "wait_for_completion") {
		return f
	}
	for _, fr := range trace {
		if f := funcName(fr); f != "" && !notGuilty[f] && !strings.HasPrefix(f, "wait_for_completion") {
			return f
		}
	}
	return ""
}

// funcName returns the function of a frame: "vfs_read" for
// "vfs_read+0x7f/0x2e0", "device_read" for "device_read.cold+0x5/0x9
// [chardev]", and "" for a bare address.
func funcName(frame string) string {
	s := frame
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	i := strings.IndexByte(s, '+')
	if i <= 0 {
		return ""
	}
	s = s[:i]
	if i := strings.IndexByte(s, '.'); i > 0 {
		s = s[:i]
	}
	return s
}
