package image

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"
)

// ExpandSnapshot is the snapshot archive URI for p: {archive} becomes
// debian-security for a security suite and debian otherwise, {timestamp}
// the lock date of p as YYYYMMDDTHHMMSSZ (the form Debian's snapshot
// service takes). A URI without them is used as it is.
func ExpandSnapshot(uri string, p Package) (string, error) {
	archive := "debian"
	if IsSecuritySuite(p.Suite) {
		archive = "debian-security"
	}
	uri = strings.ReplaceAll(uri, "{archive}", archive)
	if strings.Contains(uri, "{timestamp}") {
		t, err := time.Parse(time.RFC3339, p.Date)
		if err != nil {
			return "", fmt.Errorf("snapshot archive %s needs a {timestamp}, and the lock gives %s %s no date", uri, p.Name, p.Version)
		}
		uri = strings.ReplaceAll(uri, "{timestamp}", t.UTC().Format("20060102T150405Z"))
	}
	return strings.TrimRight(uri, "/"), nil
}

// snapshotDebs downloads pkgs (locked packages the mirror dropped) from
// the snapshot archive; those it cannot get are absent from the result.
func snapshotDebs(ctx context.Context, spec *Spec, pkgs []Package, opts FetchOptions, log *slog.Logger) (map[string]string, error) {
	groups := map[aptSource][]Package{}
	var order []aptSource
	var errs []error
	for _, p := range pkgs {
		p.Suite = spec.PackageSuite(p)
		uri, err := ExpandSnapshot(opts.SnapshotMirror, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		src := aptSource{suite: p.Suite, uri: uri, snapshot: true}
		if _, ok := groups[src]; !ok {
			order = append(order, src)
		}
		groups[src] = append(groups[src], p)
	}
	got := map[string]string{}
	for _, src := range order {
		a, err := newAptStateFor(opts, []aptSource{src}, aptArchs(spec.ArchOrDefault()))
		if err != nil {
			return got, err
		}
		log.Info("asking the snapshot archive", "uri", src.uri, "suite", src.suite, "packages", len(groups[src]))
		files, err := downloadFrom(ctx, a, spec, groups[src], opts, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		maps.Copy(got, files)
	}
	return got, errors.Join(errs...)
}
