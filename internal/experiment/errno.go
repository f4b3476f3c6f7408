package experiment

import "golang.org/x/sys/unix"

// errnoAliases are names of the same errno value: delete_module with
// O_NONBLOCK fails with EWOULDBLOCK, which is EAGAIN on Linux.
var errnoAliases = map[string]string{
	"EWOULDBLOCK": "EAGAIN",
	"EDEADLOCK":   "EDEADLK",
	"ENOTSUP":     "EOPNOTSUPP",
}

func canonicalErrno(name string) string {
	if c, ok := errnoAliases[name]; ok {
		return c
	}
	return name
}

func knownErrno(name string) bool {
	name = canonicalErrno(name)
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return true
		}
	}
	return false
}

// sameErrno says whether two errno names mean the same value.
func sameErrno(a, b string) bool { return canonicalErrno(a) == canonicalErrno(b) }
