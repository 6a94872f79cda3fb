//go:build linux

package chaos

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// readProcess reads pid's command line, state and start time from /proc.
// A missing process is an error wrapping os.ErrNotExist.
func readProcess(pid int) (process, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return process{}, err
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// the fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return process{}, fmt.Errorf("%s/stat: unexpected format", dir)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return process{}, fmt.Errorf("%s/stat: unexpected format", dir)
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64) // field 22, starttime
	if err != nil {
		return process{}, fmt.Errorf("%s/stat: start time: %v", dir, err)
	}
	boot, err := bootTime()
	if err != nil {
		return process{}, err
	}
	p := process{zombie: fields[0] == "Z" || fields[0] == "X",
		start: boot.Add(time.Duration(ticks) * time.Second / clockTicks)}
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return process{}, err
	}
	for _, a := range bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}) {
		if len(a) > 0 {
			p.args = append(p.args, string(a))
		}
	}
	return p, nil
}

// bootTime is when this machine booted, to the second (/proc/stat btime).
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("/proc/stat btime: %v", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("/proc/stat: no btime line")
}

func sigkill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
