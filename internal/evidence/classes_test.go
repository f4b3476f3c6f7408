package evidence

import (
	"path/filepath"
	"testing"
)

// TestClasses checks one small log per report class that the guilty-frame
// policy, trace attachment and other architectures added (testdata/classes,
// written by hand in the kernels' formats, wants in their headers): kind,
// guilty, RIP (the PC elsewhere), title and, where the class shows it,
// the architecture.
func TestClasses(t *testing.T) {
	logs, _ := filepath.Glob("testdata/classes/*.log")
	if len(logs) == 0 {
		t.Fatal("no logs under testdata/classes")
	}
	arch := map[string]string{"arm64.log": ArchARM64, "arm.log": ArchARM, "ppc.log": ArchPowerPC,
		"riscv.log": ArchRISCV, "guard.log": ArchAMD64, "softlockup.log": ArchAMD64}
	for _, log := range logs {
		in, ws := readLog(t, log)
		got := ParseBytes(in)
		if len(got) != len(ws) {
			t.Errorf("%s: %d reports; want %d", log, len(got), len(ws))
			continue
		}
		for i, w := range ws {
			o := got[i]
			if string(o.Kind) != w.kind || o.Guilty != w.guilty || o.RIP != w.rip || o.Title != w.title {
				t.Errorf("%s[%d] = kind %q guilty %q rip %q title %q; want kind %q guilty %q rip %q title %q",
					log, i, o.Kind, o.Guilty, o.RIP, o.Title, w.kind, w.guilty, w.rip, w.title)
			}
		}
		if a, ok := arch[filepath.Base(log)]; ok && got[0].Arch != a {
			t.Errorf("%s: arch %q; want %q", log, got[0].Arch, a)
		}
	}
}
