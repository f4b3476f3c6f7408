package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kernel-lab/lab/internal/accel"
	"github.com/kernel-lab/lab/internal/arch"
	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/initramfs"
	"github.com/kernel-lab/lab/internal/kmod"
	"github.com/kernel-lab/lab/internal/source"
	"github.com/kernel-lab/lab/internal/vm"
)

// Check statuses: fail makes lab doctor exit 2; warn is worth knowing
// (a slow first run, TCG instead of KVM) but runs will work.
const (
	CheckPass = "pass"
	CheckWarn = "warn"
	CheckFail = "fail"
)

// Check is one line of lab doctor.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// doctorEnv is what the checks look at, found once.
type doctorEnv struct {
	root, cache string // root is "" outside lab's tree
	rootErr     error
	qemu, want  string
	wantFrom    string
	reprobe     bool
	offline     bool
	specs       []*image.Spec
	fetch       image.FetchOptions // mirrors as the flags and environment name them
}

// doctorCheck is one check. Each is independent of the others: adding one
// is writing a function and appending it to doctorChecks.
type doctorCheck func(ctx context.Context, e *doctorEnv) Check

var doctorChecks = []doctorCheck{
	checkQEMU,
	checkKVM,
	checkMirrors,
	checkCache,
	checkBuildRoots,
	checkUroot,
	checkSnapshots,
	checkCrossArches,
}

func (g *globals) doctorCmd() *cobra.Command {
	var asJSON, reprobe, offline bool
	c := &cobra.Command{
		Use:   "doctor",
		Short: "check this host: QEMU, KVM (and the accelerator runs will use), mirrors and locks, the cache, build roots, u-root",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e := &doctorEnv{qemu: g.qemu, want: g.accel, wantFrom: accelSource(cmd), reprobe: reprobe, offline: offline}
			var tree source.Tree
			tree, e.rootErr = g.tree(cmd.Context())
			if e.rootErr == nil {
				e.specs, e.rootErr = g.images(tree, nil)
			}
			cache, err := g.cacheDir()
			if err != nil {
				return err
			}
			e.cache = cache
			e.fetch = g.fetchOptions(cache)
			var checks []Check
			for _, check := range doctorChecks {
				checks = append(checks, check(cmd.Context(), e))
			}
			g.exit = ExitPass
			for _, ch := range checks {
				if ch.Status == CheckFail {
					g.exit = ExitError
				}
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(checks)
			}
			for _, ch := range checks {
				fmt.Fprintf(g.stdout, "%-4s  %-11s %s\n", ch.Status, ch.Name, ch.Detail)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the checks as JSON")
	c.Flags().BoolVar(&offline, "offline", false, "do not ask the mirrors whether they serve the locked packages")
	c.Flags().BoolVar(&reprobe, "reprobe", false, "probe KVM again even when the cache remembers an answer")
	c.Flags().StringVar(&g.accel, "accel", accelDefault(), usageAccel)
	c.Flags().StringVar(&g.qemu, "qemu", "qemu-system-x86_64", usageQEMU)
	return c
}

func checkQEMU(ctx context.Context, e *doctorEnv) Check {
	ch := Check{Name: "qemu"}
	path, err := exec.LookPath(e.qemu)
	if err != nil {
		ch.Status, ch.Detail = CheckFail, fmt.Sprintf("%s not found: install qemu-system-x86", e.qemu)
		return ch
	}
	v := vm.Version(e.qemu)
	if v == "" {
		ch.Status, ch.Detail = CheckFail, fmt.Sprintf("%s does not answer --version", path)
		return ch
	}
	ch.Status, ch.Detail = CheckPass, fmt.Sprintf("%s, version %s", path, v)
	return ch
}

// probeKernel is a cached kernel to probe KVM with: the default image's,
// else any cached one's ("" when none is cached yet).
func (e *doctorEnv) probeKernel() string {
	var any string
	for _, s := range e.specs {
		img := image.New(s, e.cache)
		if !img.Cached() || !s.Target().Native() {
			continue // KVM runs only the host's architecture
		}
		if s.Name == DefaultKernel {
			return img.KernelPath()
		}
		if any == "" {
			any = img.KernelPath()
		}
	}
	return any
}

// checkKVM says whether KVM is there, whether it works (the probe runs
// lab's, or reports its memo) and the accelerator runs will use.
func checkKVM(ctx context.Context, e *doctorEnv) Check {
	ch := Check{Name: "kvm"}
	if err := accel.Validate(e.want, func() bool { return true }); err != nil {
		ch.Status, ch.Detail = CheckFail, fmt.Sprintf("%s: %v", e.wantFrom, err)
		return ch
	}
	if e.want == accel.TCG {
		ch.Status, ch.Detail = CheckPass, fmt.Sprintf("not probed: %s asks for tcg; runs use TCG", e.wantFrom)
		return ch
	}
	if !accel.KVMPresent() {
		ch.Status, ch.Detail = CheckWarn, "no usable /dev/kvm (missing, no permission, or wrong API); runs use TCG (slower)"
		if e.want == accel.KVM {
			ch.Status, ch.Detail = CheckFail, fmt.Sprintf("no usable /dev/kvm, and %s asks for kvm: runs would exit 2", e.wantFrom)
		}
		return ch
	}
	p := accel.Prober{QEMU: e.qemu, Kernel: e.probeKernel(), CacheDir: e.cache}
	res := p.Lookup()
	how := ""
	if res != nil && !e.reprobe {
		how = fmt.Sprintf("remembered from a probe %s ago", res.Age().Round(time.Second))
	} else {
		if p.Kernel == "" {
			ch.Status, ch.Detail = CheckWarn, "/dev/kvm opens; not probed: no kernel cached yet (lab run fetches one and probes)"
			return ch
		}
		r, err := p.Probe(ctx)
		if err != nil {
			ch.Status, ch.Detail = CheckFail, err.Error()
			return ch
		}
		r.Key = p.Key()
		accel.Remember(e.cache, r)
		res, how = r, fmt.Sprintf("probed now in %.1f s", float64(r.MS)/1000)
	}
	switch {
	case res.Usable:
		ch.Status, ch.Detail = CheckPass, fmt.Sprintf("/dev/kvm opens and a kernel boots under it (%s); runs use KVM", how)
	case e.want == accel.KVM:
		ch.Status, ch.Detail = CheckFail, fmt.Sprintf("/dev/kvm opens but KVM is unusable: %s (%s); %s asks for kvm: runs would exit 2", res.Reason, how, e.wantFrom)
	default:
		ch.Status, ch.Detail = CheckWarn, fmt.Sprintf("/dev/kvm opens but KVM is unusable: %s (%s); runs use TCG (slower)", res.Reason, how)
	}
	return ch
}

func checkCache(ctx context.Context, e *doctorEnv) Check {
	ch := Check{Name: "cache"}
	if err := os.MkdirAll(e.cache, 0o755); err != nil {
		ch.Status, ch.Detail = CheckFail, fmt.Sprintf("%s: %v", e.cache, err)
		return ch
	}
	f, err := os.CreateTemp(e.cache, ".doctor-")
	if err != nil {
		ch.Status, ch.Detail = CheckFail, fmt.Sprintf("%s is not writable: %v", e.cache, err)
		return ch
	}
	f.Close()
	os.Remove(f.Name())
	var size int64
	filepath.WalkDir(e.cache, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil // unreadable corners (a build root's root-owned files) are skipped
	})
	cached := 0
	for _, s := range e.specs {
		if image.New(s, e.cache).Cached() {
			cached++
		}
	}
	ch.Status = CheckPass
	ch.Detail = fmt.Sprintf("%s, %.1f MiB, %d of %d kernel images cached", e.cache, float64(size)/(1<<20), cached, len(e.specs))
	return ch
}

// checkBuildRoots reports the build roots the images ask for (kernels
// whose kbuild tools need a newer libc than the host's): made once, with
// root, on the first run that needs one.
func checkBuildRoots(ctx context.Context, e *doctorEnv) Check {
	ch := Check{Name: "build-roots", Status: CheckPass}
	if e.rootErr != nil {
		ch.Status, ch.Detail = CheckWarn, fmt.Sprintf("images unknown: %v", e.rootErr)
		return ch
	}
	var made, missing []string
	for _, s := range e.specs {
		br := kmod.ImageBuildRoot(image.New(s, e.cache), "", s.Compiler)
		if br == nil {
			continue
		}
		if dir, ok := br.Cached(e.cache); ok {
			made = append(made, s.Name+" ("+dir+")")
		} else {
			missing = append(missing, s.Name)
		}
	}
	switch {
	case len(made)+len(missing) == 0:
		ch.Detail = "no image needs one"
	case len(missing) > 0:
		ch.Status = CheckWarn
		ch.Detail = fmt.Sprintf("not made yet for %s (debootstrap, minutes, needs root, on the first run that needs one)", strings.Join(missing, ", "))
		if len(made) > 0 {
			ch.Detail += "; made: " + strings.Join(made, ", ")
		}
	default:
		ch.Detail = "made: " + strings.Join(made, ", ")
	}
	return ch
}

// checkCrossArches checks, for each architecture other than the host's
// that an image names (arm64), the tools its runs need: its QEMU, the
// cross compiler of each such image's compiler version, the cross
// binutils' objcopy and the C library the guest's static programs link.
func checkCrossArches(ctx context.Context, e *doctorEnv) Check {
	ch := Check{Name: "cross"}
	compilers := map[string][]string{} // arch → compilers, in spec order
	var arches []arch.Arch
	for _, s := range e.specs {
		t := s.Target()
		if t.Native() {
			continue
		}
		if _, ok := compilers[t.Name]; !ok {
			arches = append(arches, t)
		}
		if s.Compiler != "" && !slices.Contains(compilers[t.Name], s.Compiler) {
			compilers[t.Name] = append(compilers[t.Name], s.Compiler)
		}
	}
	if len(arches) == 0 {
		ch.Status, ch.Detail = CheckPass, "no image of another architecture than the host's"
		return ch
	}
	var missing, have []string
	// need looks for a program on PATH, or a file by its absolute path.
	need := func(name, pkg string) {
		if filepath.IsAbs(name) {
			if _, err := os.Stat(name); err == nil {
				have = append(have, name)
				return
			}
		} else if p, err := exec.LookPath(name); err == nil {
			have = append(have, p)
			return
		}
		missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", name, pkg))
	}
	for _, a := range arches {
		need(a.QEMU, a.QEMUPackage)
		for _, cc := range compilers[a.Name] {
			need(a.Tool(cc), a.CrossPackage(cc))
		}
		need(a.Tool("objcopy"), a.CrossPackage("binutils"))
		need(filepath.Join(crossSysroot, a.Triplet(), "lib", "libc.a"), a.CrossPackages[len(a.CrossPackages)-1])
	}
	if len(missing) > 0 {
		ch.Status, ch.Detail = CheckFail, "missing for the "+archNames(arches)+" images: "+strings.Join(missing, ", ")
		return ch
	}
	ch.Status, ch.Detail = CheckPass, archNames(arches)+": "+strings.Join(have, ", ")
	return ch
}

// crossSysroot holds Debian's cross C libraries (/usr/aarch64-linux-gnu);
// tests point it elsewhere.
var crossSysroot = "/usr"

func archNames(as []arch.Arch) string {
	var n []string
	for _, a := range as {
		n = append(n, a.Name)
	}
	return strings.Join(n, ", ")
}

func checkUroot(ctx context.Context, e *doctorEnv) Check {
	path, ok := initramfs.CoreCached(e.cache, e.root, arch.AMD64)
	if ok {
		return Check{Name: "u-root", Status: CheckPass, Detail: "core commands cached: " + path}
	}
	return Check{Name: "u-root", Status: CheckWarn, Detail: "core commands not cached: the first run builds them (about a minute)"}
}
