//go:build linux

// Command execbench measures what a host tool pays for one request to a
// credential helper: fork, exec, the request on stdin, the answer on stdout,
// exit. It runs a command many times and prints the median, 10th and 90th
// percentile wall time and the peak resident set size of the child.
//
//	execbench [-n 200] [-warmup 10] [-stdin TEXT] NAME -- COMMAND [ARG...]
//
// Output is one tab-separated line: NAME, median ms, p10 ms, p90 ms, peak RSS
// KiB. A run that exits non-zero stops the benchmark: a failing get would
// measure nothing.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 200, "measured runs")
	warmup := flag.Int("warmup", 10, "unmeasured runs first")
	stdin := flag.String("stdin", "", "text sent on the command's stdin")
	flag.Parse()
	args := flag.Args()
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: execbench [-n N] [-warmup N] [-stdin TEXT] NAME -- COMMAND [ARG...]")
		os.Exit(2)
	}
	name, argv := args[0], args[2:]
	var times []time.Duration
	var peak int64
	for i := 0; i < *warmup+*n; i++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = bytes.NewReader([]byte(*stdin))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: run %d: %v\nstdout: %s\nstderr: %s\n", name, i, err, out.Bytes(), errb.Bytes())
			os.Exit(1)
		}
		if i < *warmup {
			continue
		}
		times = append(times, d)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
			peak = ru.Maxrss // KiB on Linux
		}
	}
	slices.Sort(times)
	q := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Microseconds()) / 1000 }
	fmt.Printf("%s\t%.2f\t%.2f\t%.2f\t%d\n", name, q(0.5), q(0.1), q(0.9), peak)
}
