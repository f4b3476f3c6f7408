package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/image"
)

// TestBadAccel: a bad accelerator, from the flag or from $LAB_ACCEL, is
// refused with exit 2 before anything is fetched (the cache stays empty).
func TestBadAccel(t *testing.T) {
	for _, tc := range []struct{ name, env, flag, want string }{
		{"flag", "", "hvf", `--accel: unknown accelerator "hvf"`},
		{"env", "hvf", "", `$LAB_ACCEL: unknown accelerator "hvf"`},
		{"flag over env", "tcg", "xen", `--accel: unknown accelerator "xen"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(accel.EnvAccel, tc.env)
			dir := t.TempDir()
			cache := filepath.Join(dir, "cache")
			args := []string{"--root", "../..", "--cache", cache, "run", "--results", filepath.Join(dir, "results")}
			if tc.flag != "" {
				args = append(args, "--accel", tc.flag)
			}
			var out, errb bytes.Buffer
			code := Main(append(args, "chardev-safe"), &out, &errb)
			if code != ExitError || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errb.String(), tc.want)
			}
			if _, err := os.Stat(cache); !os.IsNotExist(err) {
				t.Errorf("the cache was touched before the accelerator was refused")
			}
		})
	}
}

// doctor runs lab doctor --json against a fake QEMU whose KVM probe is
// remembered as unusable.
func doctor(t *testing.T, args ...string) (int, map[string]Check, string) {
	t.Helper()
	var out, errb bytes.Buffer
	// --offline: these tests are about the host, not the mirror (see
	// TestDoctorMirrors).
	code := Main(append([]string{"--root", "../..", "doctor", "--json", "--offline"}, args...), &out, &errb)
	var checks []Check
	if err := json.Unmarshal(out.Bytes(), &checks); err != nil {
		t.Fatalf("lab doctor --json = exit %d, %v:\n%s%s", code, err, out.String(), errb.String())
	}
	byName := map[string]Check{}
	for _, c := range checks {
		if c.Status != CheckPass && c.Status != CheckWarn && c.Status != CheckFail {
			t.Errorf("check %s has status %q", c.Name, c.Status)
		}
		byName[c.Name] = c
	}
	return code, byName, errb.String()
}

func TestDoctor(t *testing.T) {
	present := accel.KVMPresent
	accel.KVMPresent = func() bool { return true } // a host whose /dev/kvm opens
	t.Cleanup(func() { accel.KVMPresent = present })
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	qemu := filepath.Join(dir, "qemu-system-x86_64")
	os.WriteFile(qemu, []byte("#!/bin/sh\necho 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u7)'\n"), 0o755)
	p := accel.Prober{QEMU: qemu, CacheDir: cache}
	accel.Remember(cache, &accel.Result{Key: p.Key(), Reason: "QEMU died: failed to set MSR 0x10a to 0x69", When: time.Now().Add(-time.Minute)})
	t.Setenv(accel.EnvAccel, "")

	code, checks, stderr := doctor(t, "--cache", cache, "--qemu", qemu)
	if code != ExitPass {
		t.Errorf("lab doctor = exit %d (%s); want 0: nothing fails, KVM unusable is a warning", code, stderr)
	}
	if c := checks["qemu"]; c.Status != CheckPass || !strings.Contains(c.Detail, qemu+", version 7.2.22") {
		t.Errorf("qemu check = %+v; want pass with path and version", c)
	}
	if c := checks["kvm"]; c.Status != CheckWarn || !strings.Contains(c.Detail, "failed to set MSR 0x10a") || !strings.Contains(c.Detail, "remembered from a probe 1m") || !strings.Contains(c.Detail, "runs use TCG") {
		t.Errorf("kvm check = %+v; want warn with the remembered reason, its age and TCG", c)
	}
	if c := checks["cache"]; c.Status != CheckPass || !strings.HasPrefix(c.Detail, cache+", ") || !strings.Contains(c.Detail, "MiB") {
		t.Errorf("cache check = %+v; want pass with location and size", c)
	}
	if c := checks["u-root"]; c.Status != CheckWarn || !strings.Contains(c.Detail, "not cached") {
		t.Errorf("u-root check = %+v; want warn: an empty cache has no core", c)
	}
	if c := checks["build-roots"]; c.Status != CheckWarn || !strings.Contains(c.Detail, "debian-7.2") {
		t.Errorf("build-roots check = %+v; want warn naming debian-7.2, whose root is not made", c)
	}

	// Asking for kvm on that host is a failure, exit 2.
	t.Setenv(accel.EnvAccel, "kvm")
	code, checks, _ = doctor(t, "--cache", cache, "--qemu", qemu)
	if c := checks["kvm"]; code != ExitError || c.Status != CheckFail || !strings.Contains(c.Detail, "$LAB_ACCEL asks for kvm") {
		t.Errorf("lab doctor with LAB_ACCEL=kvm = exit %d, kvm check %+v; want exit 2 and fail", code, c)
	}
	// A QEMU that is not there fails too.
	t.Setenv(accel.EnvAccel, "tcg")
	code, checks, _ = doctor(t, "--cache", cache, "--qemu", filepath.Join(dir, "none"))
	if c := checks["qemu"]; code != ExitError || c.Status != CheckFail {
		t.Errorf("lab doctor without QEMU = exit %d, qemu check %+v; want exit 2 and fail", code, c)
	}
	if c := checks["kvm"]; c.Status != CheckPass || !strings.Contains(c.Detail, "asks for tcg") {
		t.Errorf("kvm check under LAB_ACCEL=tcg = %+v; want pass, not probed", c)
	}
}

// TestDoctorCrossArches: with an arm64 image the cross check names each
// tool it finds, and each it misses with the package that has it; without
// one it has nothing to check.
func TestDoctorCrossArches(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	sys := t.TempDir()
	old := crossSysroot
	crossSysroot = sys
	t.Cleanup(func() { crossSysroot = old })
	amd := &image.Spec{Name: "debian-6.1", Compiler: "gcc-12"}
	arm := &image.Spec{Name: "debian-6.1-arm64", Arch: "arm64", Compiler: "gcc-12"}

	if c := checkCrossArches(context.Background(), &doctorEnv{specs: []*image.Spec{amd}}); c.Status != CheckPass || !strings.Contains(c.Detail, "no image") {
		t.Errorf("amd64 only: %+v", c)
	}
	c := checkCrossArches(context.Background(), &doctorEnv{specs: []*image.Spec{amd, arm}})
	for _, want := range []string{
		"qemu-system-aarch64 (apt-get install qemu-system-arm)",
		"aarch64-linux-gnu-gcc-12 (apt-get install gcc-12-aarch64-linux-gnu)",
		"aarch64-linux-gnu-objcopy (apt-get install binutils-aarch64-linux-gnu)",
		"libc.a (apt-get install libc6-dev-arm64-cross)",
	} {
		if c.Status != CheckFail || !strings.Contains(c.Detail, want) {
			t.Errorf("nothing installed: %+v; want fail naming %q", c, want)
		}
	}
	for _, p := range []string{"qemu-system-aarch64", "aarch64-linux-gnu-gcc-12", "aarch64-linux-gnu-objcopy"} {
		os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755)
	}
	os.MkdirAll(filepath.Join(sys, "aarch64-linux-gnu", "lib"), 0o755)
	os.WriteFile(filepath.Join(sys, "aarch64-linux-gnu", "lib", "libc.a"), nil, 0o644)
	c = checkCrossArches(context.Background(), &doctorEnv{specs: []*image.Spec{amd, arm}})
	if c.Status != CheckPass || !strings.HasPrefix(c.Detail, "arm64: ") || !strings.Contains(c.Detail, filepath.Join(bin, "aarch64-linux-gnu-gcc-12")) {
		t.Errorf("all installed: %+v", c)
	}
}
