package process

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/listener"
	"github.com/clusterd/clusterd/master"
)

// Upgrading the process (SIGUSR2, `clusterd upgrade`) goes through
// tableflip, which re-executes the binary as it is on disk now and hands
// it descriptors. tableflip replaces only the process; the rest is ours:
//   - every app hands over its sockets (each slot's own with --reuseport)
//     and its control socket, named after the app, so the listening sockets
//     are the very same and no connection waits on a closed one;
//   - the new process starts its apps and tells tableflip it is ready only
//     once every app is; this one then retires its workers gracefully and
//     exits;
//   - a new process that fails never unlinks a socket's path: tableflip's
//     Stop, which would, is never called, and an app owns its control
//     socket's path only once it is ready.
//
// A stop asked for during an upgrade waits for its end: the sockets' paths
// are the new process's, or still ours, and only then is it known which.

// newUpgrader is the process's tableflip Upgrader; tableflip allows one per
// process. PID 1 gets none: tableflip replaces a process by starting its
// successor and exiting, and PID 1 exiting ends the whole pid namespace
// (a container), workers and successor included.
func newUpgrader(timeout time.Duration) (*tableflip.Upgrader, error) {
	if os.Getpid() == 1 {
		return nil, errors.New("the master is PID 1 (a container's init): restart the container with the new image instead")
	}
	return tableflip.New(tableflip.Options{UpgradeTimeout: timeout})
}

// takeHandoff is what the old process handed over for the app named name,
// or nil when this process is not an upgrade or the old one did not run
// that app.
func (p *Process) takeHandoff(name string) (*listener.AppHandoff, error) {
	if p.upgrader == nil || !p.upgrader.HasParent() {
		return nil, nil
	}
	return listener.TakeAppHandoff(func(kind string) (*os.File, error) { return p.upgrader.Fds.File(kind + "/" + name) })
}

// upgrade replaces the process: every app offers its files, tableflip
// starts the new process and waits until it is ready, then every app
// retires (or, if the upgrade failed, serves on). reply gets the outcome.
func (p *Process) upgrade(reply func(error)) {
	switch {
	case p.upgrader == nil:
		reply(errors.New("upgrades are not available: " + p.upgradeErr.Error()))
		return
	case p.upgrading:
		reply(errors.New("an upgrade of the master is already in progress"))
		return
	case p.stopping:
		reply(master.ErrStopping)
		return
	}
	p.upgrading = true
	apps := make([]*master.Master, 0, len(p.apps))
	for _, name := range p.appNames() {
		apps = append(apps, p.apps[name].m)
	}
	go func() {
		err := p.runUpgrade(apps)
		p.post(func() { p.upgradeFinished(err, reply) })
	}()
}

// runUpgrade runs on no loop: it waits for the apps and for tableflip.
func (p *Process) runUpgrade(apps []*master.Master) error {
	started := time.Now()
	var err error
	var prepared []*master.Master
	for _, m := range apps {
		offer := func(kind string, fd int) error { return offerFd(p.upgrader, kind+"/"+m.Name(), fd) }
		if err = m.PrepareUpgrade(offer); err != nil {
			if len(apps) > 1 {
				err = fmt.Errorf("app %s: %w", m.Name(), err)
			}
			break
		}
		prepared = append(prepared, m)
	}
	if err == nil {
		p.log.Info("upgrading the master: starting the new binary", "binary", os.Args[0])
		if err = p.upgrader.Upgrade(); err != nil {
			err = fmt.Errorf("upgrade failed, this master keeps serving: %v", err)
		}
	}
	if err == nil {
		successor := p.successorPID()
		p.log.Info("upgrade: the new master is ready", "new_master_pid", successor,
			"took", time.Since(started).Round(time.Millisecond))
		// The supervisor must follow the new master (tableflip does not
		// do it).
		if successor > 0 {
			p.notifier.tell("MAINPID=" + strconv.Itoa(successor))
		}
	}
	for _, m := range prepared {
		m.FinishUpgrade(err)
	}
	return err
}

func (p *Process) upgradeFinished(err error, reply func(error)) {
	p.upgrading = false
	if err == nil {
		// Every app is retiring; the process ends with the last.
		p.stopping = true
	} else if why := p.stopAfterUpgrade; why != "" {
		p.stop(why)
	}
	reply(err)
}

// successorPID finds the new process among our children: the one in our
// own session that is not a worker (workers lead sessions of their own).
func (p *Process) successorPID() int {
	pids := p.children.nonWorkerChildren()
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

// offerFd gives tableflip a duplicate of fd under name: it goes through an
// *os.File only for the moment tableflip dups it.
func offerFd(upg *tableflip.Upgrader, name string, fd int) error {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return fmt.Errorf("dup %s: %w", name, err)
	}
	f := os.NewFile(uintptr(dup), name)
	defer f.Close()
	return upg.Fds.AddFile(name, f)
}
