// Command lab boots pinned Debian kernels in QEMU, runs experiments that
// misuse kernel modules (rmmod while a file is open) and writes down what the
// kernel did.
//
// Synopsis:
//
//	lab run [--kernel NAME] EXPERIMENT...
//	lab list
//	lab images
//	lab evidence [FILE|-]
//
// Exit status: 0 when every verdict is pass, 1 when one is fail, 2 on error.
package main

import (
	"os"

	"github.com/kernel-lab/lab/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
