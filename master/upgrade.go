package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/tableflip"
	"golang.org/x/sys/unix"

	"github.com/clusterd/clusterd/listener"
)

// Upgrading the master itself (SIGUSR2, `clusterd upgrade`) goes through
// tableflip, which re-executes the binary as it is on disk now and hands
// it descriptors. tableflip replaces only the master (DESIGN-NOTES 13);
// the rest is ours:
//   - every socket goes across, each slot's own with --reuseport, and the
//     control socket, so the listening sockets are the very same
//     (same inode) and no connection waits on a closed one;
//   - the new master starts its own workers and tells tableflip it is
//     ready only once all of them are; the old master then retires its
//     workers gracefully and exits;
//   - a new master that fails never unlinks the control socket: it is not
//     its own until it is ready, and tableflip's Stop, which would unlink
//     sockets it knows, is never called.

// Descriptors handed to the new master through tableflip: the control
// socket, and one end of a socketpair whose queued messages carry every
// listening socket (SCM_RIGHTS) with a manifest saying what each is.
// Why the detour: tableflip keeps an *os.File of every file it passes,
// and os.NewFile registers a non-blocking socket with the Go poller, so a
// listening socket passed directly would wake the new master on every
// connection (DESIGN-NOTES 4 and 13). A socketpair end in the poller sees
// no traffic once read; the sockets it carried arrive as bare fds.
const (
	controlFileName = "control"
	socketsFileName = "sockets"
	// maxFdsPerMessage stays under the kernel's SCM_MAX_FD (253).
	maxFdsPerMessage = 200
)

// upgradeManifest says how the old master's sockets are laid out: the
// instance count (a scale may have changed it), each socket's name and
// network, and which slots have sockets of their own.
type upgradeManifest struct {
	Instances int             `json:"instances"`
	Specs     []listener.Spec `json:"specs"`
	// Own[slot][i]: slot has its own socket i (--reuseport); otherwise
	// it shares slot 0's. Owned sockets are sent in slot, then spec order.
	Own [][]bool `json:"own"`
}

// inheritedUpgrade is what a new master receives from the old one.
type inheritedUpgrade struct {
	instances int
	groups    listener.Groups
	control   *net.UnixListener
}

// takeUpgradeFiles adopts the old master's sockets, or returns nil when
// this master is not the product of an upgrade.
//
// The files are named after the app: a process may run several masters
// (the apps of a config file), and an app the old process did not run
// starts with sockets of its own.
func takeUpgradeFiles(upg *tableflip.Upgrader, app string) (*inheritedUpgrade, error) {
	if upg == nil || !upg.HasParent() {
		return nil, nil
	}
	carrier, err := upg.Fds.File(socketsFileName + "/" + app)
	if err != nil {
		return nil, fmt.Errorf("upgrade: the old master's sockets: %w", err)
	}
	if carrier == nil {
		return nil, nil // an app the old master did not run
	}
	manifest, fds, err := receiveSockets(carrier)
	if err != nil {
		return nil, err
	}
	in := &inheritedUpgrade{instances: manifest.Instances}
	next := 0
	for slot := range manifest.Instances {
		set := make(listener.Set, len(manifest.Specs))
		for i, spec := range manifest.Specs {
			if slot > 0 && !manifest.Own[slot][i] {
				set[i] = in.groups[0][i]
				continue
			}
			if next >= len(fds) {
				return nil, fmt.Errorf("upgrade: the old master sent %d sockets, its manifest names more", len(fds))
			}
			if set[i], err = listener.FromFd(spec, fds[next]); err != nil {
				return nil, err
			}
			next++
		}
		in.groups = append(in.groups, set)
	}
	f, err := upg.Fds.File(controlFileName + "/" + app)
	if err != nil || f == nil {
		return nil, fmt.Errorf("upgrade: the old master passed no control socket (%v)", err)
	}
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("upgrade: control socket: %w", err)
	}
	in.control = ln.(*net.UnixListener)
	// Not ours to remove until we are ready: should this master fail, the
	// old one keeps serving on that path.
	in.control.SetUnlinkOnClose(false)
	return in, nil
}

// receiveSockets reads the messages queued on the carrier: the manifest in
// the first, the descriptors in order across all of them.
func receiveSockets(carrier *os.File) (upgradeManifest, []int, error) {
	var manifest upgradeManifest
	fd, err := bareFd(carrier)
	if err != nil {
		return manifest, nil, err
	}
	defer unix.Close(fd)
	var fds []int
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(maxFdsPerMessage*4))
	for first := true; ; first = false {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		// The old master closed its end after sending: an empty read is
		// the end (every message it sent carries at least one byte).
		if !first && (err == unix.EAGAIN || (err == nil && n == 0 && oobn == 0)) {
			break
		}
		if err == nil && n == 0 {
			err = errors.New("no manifest")
		}
		if err != nil {
			return manifest, nil, fmt.Errorf("upgrade: receiving sockets: %w", err)
		}
		if first {
			if err := json.Unmarshal(buf[:n], &manifest); err != nil || manifest.Instances < 1 {
				return manifest, nil, fmt.Errorf("upgrade: bad socket manifest from the old master (%v)", err)
			}
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return manifest, nil, err
		}
		for _, msg := range msgs {
			rights, err := unix.ParseUnixRights(&msg)
			if err != nil {
				return manifest, nil, err
			}
			fds = append(fds, rights...)
		}
	}
	return manifest, fds, nil
}

// bareFd takes the descriptor out of an *os.File without Fd(), which
// could switch the shared description to blocking (DESIGN-NOTES 2).
func bareFd(f *os.File) (int, error) {
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(orig uintptr) { fd, dupErr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return -1, err
	}
	return fd, dupErr
}

// offerUpgradeFiles gives tableflip the control socket and the carrier of
// every listening socket (see controlFileName). Each goes through an
// *os.File only for the moment tableflip dups it.
func (m *Master) offerUpgradeFiles() error {
	manifest := upgradeManifest{Instances: len(m.slots)}
	for _, s := range m.sockets[0] {
		manifest.Specs = append(manifest.Specs, s.Spec)
	}
	var fds []int
	for slot, set := range m.sockets {
		own := make([]bool, len(set))
		for i, s := range set {
			if own[i] = slot == 0 || s != m.sockets[0][i]; own[i] {
				fds = append(fds, s.Fd())
			}
		}
		manifest.Own = append(manifest.Own, own)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("upgrade: socketpair: %w", err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	payload, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	for len(fds) > 0 || payload != nil {
		chunk := fds[:min(len(fds), maxFdsPerMessage)]
		fds = fds[len(chunk):]
		msg := payload
		if msg == nil {
			msg = []byte{0}
		}
		if err := unix.Sendmsg(pair[0], msg, unix.UnixRights(chunk...), nil, 0); err != nil {
			return fmt.Errorf("upgrade: sending sockets: %w", err)
		}
		payload = nil
	}
	if err := addFdFile(m.upgrader, socketsFileName+"/"+m.cfg.Name, pair[1]); err != nil {
		return err
	}
	raw, err := m.control.Listener().SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = addFdFile(m.upgrader, controlFileName+"/"+m.cfg.Name, int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func addFdFile(upg *tableflip.Upgrader, name string, fd int) error {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return fmt.Errorf("upgrade: dup %s: %w", name, err)
	}
	f := os.NewFile(uintptr(dup), name)
	defer f.Close()
	return upg.Fds.AddFile(name, f)
}

// ErrUpgradeInProgress answers an upgrade asked for during another.
var ErrUpgradeInProgress = errors.New("an upgrade of the master is already in progress")

// upgrades is what the masters of this process share for upgrades:
// tableflip allows one Upgrader per process, and a process may run several
// masters (the apps of a config file), which upgrade together: each offers
// its files, tableflip starts one new process, and each retires once that
// process is ready.
var upgrades struct {
	once        sync.Once
	upgrader    *tableflip.Upgrader
	unavailable error

	mu       sync.Mutex
	masters  []*Master // running, in the order they started
	inFlight bool
}

// processUpgrader is this process's tableflip Upgrader, made by the first
// master; err says why upgrades are unavailable.
func processUpgrader(timeout time.Duration) (*tableflip.Upgrader, error) {
	upgrades.once.Do(func() {
		upgrades.upgrader, upgrades.unavailable = tableflip.New(tableflip.Options{UpgradeTimeout: timeout})
	})
	return upgrades.upgrader, upgrades.unavailable
}

func joinUpgrades(m *Master) {
	upgrades.mu.Lock()
	defer upgrades.mu.Unlock()
	upgrades.masters = append(upgrades.masters, m)
}

func leaveUpgrades(m *Master) {
	upgrades.mu.Lock()
	defer upgrades.mu.Unlock()
	upgrades.masters = slices.DeleteFunc(upgrades.masters, func(o *Master) bool { return o == m })
}

// leadsUpgrades: m is the master of this process that acts on SIGUSR2,
// which every master receives; the first one started.
func (m *Master) leadsUpgrades() bool {
	upgrades.mu.Lock()
	defer upgrades.mu.Unlock()
	return len(upgrades.masters) > 0 && upgrades.masters[0] == m
}

// requestUpgrade starts an upgrade of this process's masters; reply gets
// the outcome: nil once the new master is ready and these are retiring.
func (m *Master) requestUpgrade(reply func(error)) {
	if m.upgrader == nil {
		reply(errors.New("upgrades are not available: " + m.upgradeUnavailable))
		return
	}
	upgrades.mu.Lock()
	if upgrades.inFlight {
		upgrades.mu.Unlock()
		reply(ErrUpgradeInProgress)
		return
	}
	upgrades.inFlight = true
	masters := slices.Clone(upgrades.masters)
	upgrades.mu.Unlock()
	go func() {
		err := upgradeProcess(m.upgrader, masters)
		upgrades.mu.Lock()
		upgrades.inFlight = false
		upgrades.mu.Unlock()
		reply(err)
	}()
}

// upgradeProcess has every master offer its files, starts the new process
// and, on each master's loop, retires it (or, if the upgrade failed, lets
// it serve on). It runs on no master's loop.
func upgradeProcess(upgrader *tableflip.Upgrader, masters []*Master) error {
	started := time.Now()
	var err error
	var prepared []*Master
	for _, m := range masters {
		perr := ErrStopped
		m.call(func() { perr = m.prepareUpgrade() })
		if perr != nil {
			err = perr
			if len(masters) > 1 {
				err = fmt.Errorf("app %s: %w", m.cfg.Name, perr)
			}
			break
		}
		prepared = append(prepared, m)
	}
	if err == nil {
		masters[0].log.Info("upgrading the master: starting the new binary", "binary", os.Args[0])
		if err = upgrader.Upgrade(); err != nil {
			err = fmt.Errorf("upgrade failed, this master keeps serving: %v", err)
		}
	}
	for _, m := range prepared {
		m.call(func() { m.finishUpgrade(err, started) })
	}
	return err
}

// prepareUpgrade offers m's files to tableflip, unless something in m
// forbids an upgrade now.
func (m *Master) prepareUpgrade() error {
	switch {
	case m.stopping:
		return errors.New("the master is stopping")
	case m.reload != nil:
		return errors.New("a reload is in progress: upgrade when it has finished")
	}
	if err := m.offerUpgradeFiles(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	m.upgrading = true
	return nil
}

func (m *Master) finishUpgrade(err error, started time.Time) {
	m.upgrading = false
	if err != nil {
		m.log.Error("upgrade failed: the old master and its workers keep serving", "err", err)
		return
	}
	newPID := m.successorPID()
	m.log.Info("upgrade succeeded: the new master's workers are ready; retiring this master's workers",
		"new_master_pid", newPID, "took", time.Since(started).Round(time.Millisecond))
	// The supervisor must follow the new master (tableflip does not do it).
	if newPID > 0 {
		m.tellSupervisor("MAINPID=" + strconv.Itoa(newPID))
	}
	// The control socket belongs to the new master now: stop answering on
	// it, and leave its path in place.
	m.upgraded = true
	m.control.HandOver()
	m.beginStop("upgraded to a new master")
}

// successorPID finds the new master among our children: the one process
// we started that is not a worker. Children hang off the thread that
// forked them, so every thread's list is read.
func (m *Master) successorPID() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		raw, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(field); err == nil && !isWorker(pid) {
				return pid
			}
		}
	}
	return 0
}

// isWorker: pid is a worker of one of this process's masters.
func isWorker(pid int) bool {
	children.Lock()
	defer children.Unlock()
	return children.owner[pid] != nil
}
