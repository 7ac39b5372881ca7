package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The CPU split comes from /proc, sampled before and after each measured run: the
// service process, PostgreSQL's processes, the whole machine; the load generator's own
// CPU comes from its rusage when it exits.

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat and /proc/stat.
var clockTicks = sync.OnceValue(func() float64 {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
})

// procStat holds the fields of /proc/<pid>/stat the split needs (times in ticks).
type procStat struct {
	state                        string
	ppid                         int
	utime, stime, cutime, cstime float64
}

func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return procStat{}, errors.New("unexpected /proc/pid/stat format")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return procStat{}, errors.New("unexpected /proc/pid/stat format")
	}
	st := procStat{state: f[0]}
	st.ppid, err = strconv.Atoi(f[1])
	nums := []*float64{&st.utime, &st.stime, &st.cutime, &st.cstime} // fields 14-17
	for k, p := range nums {
		if v, e := strconv.ParseFloat(f[11+k], 64); e == nil {
			*p = v
		} else {
			err = e
		}
	}
	return st, err
}

// processCPU is a process's own user+system time so far, in seconds.
func processCPU(pid int) (float64, error) {
	st, err := readProcStat(pid)
	return (st.utime + st.stime) / clockTicks(), err
}

// postgresCPU is PostgreSQL's CPU so far, in seconds: the postmaster's own and its
// reaped children's time, plus the live children's (backends, walwriter, checkpointer…).
// A backend that exits between two samples moves from the second term to the first.
func postgresCPU(postmaster int) (float64, error) {
	st, err := readProcStat(postmaster)
	if err != nil {
		return 0, err
	}
	ticks := st.utime + st.stime + st.cutime + st.cstime
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		if c, err := readProcStat(pid); err == nil && c.ppid == postmaster {
			ticks += c.utime + c.stime
		}
	}
	return ticks / clockTicks(), nil
}

// settle waits (at most 3 s) until no PostgreSQL process is exiting: the postmaster has
// the same number of children on two reads 50 ms apart and none is a zombie. Right after
// pgbench ends, its 64 backends exit; one reaped between postgresCPU's two reads (the
// postmaster's cutime, then the live children) would be missing from both.
func settle(postmaster int) {
	deadline := time.Now().Add(3 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		n, zombies := 0, 0
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if c, err := readProcStat(pid); err == nil && c.ppid == postmaster {
				n++
				if c.state == "Z" {
					zombies++
				}
			}
		}
		if n == last && zombies == 0 {
			return
		}
		last = n
		time.Sleep(50 * time.Millisecond)
	}
}

// machineBusy is the CPU time all CPUs spent not idle (nor waiting for I/O) so far, in
// seconds: the first line of /proc/stat.
func machineBusy() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("unexpected /proc/stat format")
	}
	// user nice system idle iowait irq softirq steal (guest time is inside user)
	var busy float64
	for k, v := range f[1:9] {
		if k == 3 || k == 4 {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, err
		}
		busy += x
	}
	return busy / clockTicks(), nil
}

// cpuSample is one reading of the counters the split is made of.
type cpuSample struct {
	at       time.Time
	server   float64
	postgres float64
	machine  float64
	loadgen  float64 // the load generator's CPU so far (0 before it starts)
	err      error
}

func takeSample(serverPID, postmasterPID int) cpuSample {
	s := cpuSample{at: time.Now()}
	var e1, e2, e3 error
	s.server, e1 = processCPU(serverPID)
	s.postgres, e2 = postgresCPU(postmasterPID)
	s.machine, e3 = machineBusy()
	s.err = errors.Join(e1, e2, e3)
	return s
}

// cpuSplit is CPU seconds spent over one measured run.
type cpuSplit struct {
	server, loadgen, postgres, machine float64
	ok                                 bool
}

// rest is the machine's busy time that is neither the service nor the load generator:
// PostgreSQL, the kernel's network work and whatever else runs on the machine.
func (c cpuSplit) rest() float64 { return c.machine - c.server - c.loadgen }

// splitBetween is the split from a to b; loadgen is the load generator's total at exit.
func splitBetween(a, b cpuSample, loadgen float64) cpuSplit {
	if a.err != nil || b.err != nil {
		return cpuSplit{}
	}
	return cpuSplit{server: b.server - a.server, postgres: b.postgres - a.postgres, machine: b.machine - a.machine,
		loadgen: loadgen - a.loadgen, ok: true}
}

// childCPU is the user+system time of an exited child, in seconds.
func childCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// rssKB reads a VmRSS / VmHWM line of /proc/<pid>/status, in bytes.
func statusBytes(pid int, key string) (int64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}
