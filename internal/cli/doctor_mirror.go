package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kernel-lab/lab/internal/image"
	"github.com/kernel-lab/lab/internal/textutil"
)

// checkMirrors says which archive lab reads each image's suite from and
// whether it serves the locked packages: a stale lock is a warning (runs
// follow the series; --locked refuses), a suite or series the mirror does
// not serve is a failure.
func checkMirrors(ctx context.Context, e *doctorEnv) Check {
	ch := Check{Name: "mirrors", Status: CheckPass}
	if e.rootErr != nil {
		ch.Status, ch.Detail = CheckWarn, fmt.Sprintf("images unknown: %v", e.rootErr)
		return ch
	}
	if e.offline {
		ch.Status, ch.Detail = CheckWarn, "not asked (--offline)"
		return ch
	}
	mirrors := map[string]string{}
	var notes []string
	worst := CheckPass
	raise := func(s string) {
		if s == CheckFail || (s == CheckWarn && worst == CheckPass) {
			worst = s
		}
	}
	for _, s := range e.specs {
		uri, err := image.SuiteMirror(s.Suite, e.fetch)
		if err != nil {
			raise(CheckFail)
			notes = append(notes, fmt.Sprintf("%s: %v", s.Name, err))
			continue
		}
		mirrors[s.Suite] = uri
		l, err := image.Resolve(ctx, s, e.fetch, true)
		var gone *image.SeriesGoneError
		switch {
		case errors.As(err, &gone):
			raise(CheckFail)
			notes = append(notes, fmt.Sprintf("%s: %s serves no %s kernel; it serves %s", s.Name, s.Suite, s.Series, strings.Join(gone.Serves, ", ")))
			continue
		case err != nil:
			raise(CheckFail)
			notes = append(notes, fmt.Sprintf("%s: %s", s.Name, textutil.FirstLine(err.Error())))
			continue
		}
		if !s.Locked() {
			raise(CheckWarn)
			notes = append(notes, fmt.Sprintf("%s: no lock; the mirror serves %s (lab images update %s)", s.Name, l.KernelPackage().Version, s.Name))
			continue
		}
		served, err := image.Served(ctx, s, e.fetch)
		switch {
		case err != nil:
			raise(CheckFail)
			notes = append(notes, fmt.Sprintf("%s: %s", s.Name, textutil.FirstLine(err.Error())))
		case !served:
			raise(CheckWarn)
			notes = append(notes, fmt.Sprintf("%s: locked %s is gone, the mirror serves %s (runs follow the series; --locked refuses; lab images update %s)", s.Name, s.PackageVersion(), l.KernelPackage().Version, s.Name))
		case !sameBuild(s.Packages, l.Packages):
			notes = append(notes, fmt.Sprintf("%s: locked %s served, newer %s too", s.Name, s.PackageVersion(), l.KernelPackage().Version))
		default:
			notes = append(notes, fmt.Sprintf("%s: locked %s served", s.Name, s.PackageVersion()))
		}
	}
	var suites []string
	for suite, uri := range mirrors {
		suites = append(suites, suite+" from "+uri)
	}
	sort.Strings(suites)
	ch.Status = worst
	ch.Detail = strings.Join(suites, ", ")
	if len(notes) > 0 {
		ch.Detail += "; " + strings.Join(notes, "; ")
	}
	return ch
}
