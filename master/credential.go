package master

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// workerCredential resolves --user and --group: the master binds its
// sockets (privileged ports too) as root, and every worker runs as that
// user, with that group and no supplementary groups. Go's fork sets the
// credentials before the parent-death signal, so the signal survives the
// change of user (a change of credentials would otherwise clear it).
func workerCredential(userName, groupName string) (*syscall.Credential, []string, error) {
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
			if u, err = user.LookupId(userName); err != nil {
				return nil, nil, fmt.Errorf("--user %q: no such user", userName)
			}
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		env = append(env, "USER="+u.Username, "LOGNAME="+u.Username, "HOME="+u.HomeDir)
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if g, err = user.LookupGroupId(groupName); err != nil {
				return nil, nil, fmt.Errorf("--group %q: no such group", groupName)
			}
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	return cred, env, nil
}

// withUserEnv replaces the master's USER, LOGNAME and HOME with the
// worker user's, as systemd's User= does.
func withUserEnv(env, userEnv []string) []string {
	if len(userEnv) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(userEnv))
	for _, kv := range env {
		if !hasKey(kv, "USER") && !hasKey(kv, "LOGNAME") && !hasKey(kv, "HOME") {
			out = append(out, kv)
		}
	}
	return append(out, userEnv...)
}
