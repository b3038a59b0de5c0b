package launch

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Credential resolves --user and --group: the master binds its
// sockets (privileged ports too) as root, and every worker runs as that
// user, with that group and no supplementary groups. Go's fork sets the
// credentials before the parent-death signal, so the signal survives the
// change of user (a change of credentials would otherwise clear it).
func Credential(userName, groupName string) (*syscall.Credential, []string, error) {
	if userName == "" && groupName == "" {
		return nil, nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, nil, errors.New("--user and --group need the master to run as root")
	}
	cred := &syscall.Credential{Groups: []uint32{}}
	var env []string
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			u, err = user.LookupId(userName)
		}
		switch id, numeric := parseID(userName); {
		case err == nil:
			uid, _ := strconv.ParseUint(u.Uid, 10, 32)
			gid, _ := strconv.ParseUint(u.Gid, 10, 32)
			cred.Uid, cred.Gid = uint32(uid), uint32(gid)
			env = append(env, "USER="+u.Username, "LOGNAME="+u.Username, "HOME="+u.HomeDir)
		case numeric:
			// A uid no passwd file names, as containers often run with:
			// its group is the same number unless --group says otherwise.
			cred.Uid, cred.Gid = id, id
		default:
			return nil, nil, fmt.Errorf("--user %q: no such user", userName)
		}
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			g, err = user.LookupGroupId(groupName)
		}
		switch id, numeric := parseID(groupName); {
		case err == nil:
			gid, _ := strconv.ParseUint(g.Gid, 10, 32)
			cred.Gid = uint32(gid)
		case numeric:
			cred.Gid = id
		default:
			return nil, nil, fmt.Errorf("--group %q: no such group", groupName)
		}
	}
	return cred, env, nil
}

// WithUserEnv replaces the master's USER, LOGNAME and HOME with the
// worker user's, as systemd's User= does.
func WithUserEnv(env, userEnv []string) []string {
	if len(userEnv) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(userEnv))
	for _, kv := range env {
		if !HasKey(kv, "USER") && !HasKey(kv, "LOGNAME") && !HasKey(kv, "HOME") {
			out = append(out, kv)
		}
	}
	return append(out, userEnv...)
}

// parseID reads a numeric uid or gid.
func parseID(s string) (uint32, bool) {
	id, err := strconv.ParseUint(s, 10, 32)
	return uint32(id), err == nil
}
